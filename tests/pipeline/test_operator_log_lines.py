"""What an operator reads in a task log at 3 a.m., pinned where it was wrong or a flood.

* (A watermark held back by refused records: tests/pipeline/test_finish_watermark.py.)
* The first data-quality check of a task process imported great-expectations before its
  loggers were quietened: some 200 INFO lines ("Skipping registering function ... because it
  is a closure") in every task log that ran an expectation.
* Both removal safety limits tripping gave one error whose two refusals ran together on one
  line, each naming only its own override: following the first only met the second next run.
* A removal value ESM refuses logged one warning per card, with no cap and no count at the
  end: 50,000 lines for a clean-up of 50,000 users.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from jira_esm_connector.pipeline import ShrinkLimitError, run_import

from .conftest import REPO_ROOT, USERS_TASK, make_task
from .helpers import run_id


def test_the_first_quality_check_of_a_process_logs_no_great_expectations_chatter():
    script = textwrap.dedent("""
        import logging, sys
        logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(levelname)s %(name)s: %(message)s")
        from types import SimpleNamespace
        import pandas as pd
        from jira_esm_connector.pipeline import quality
        frame = pd.DataFrame({"subject": ["a", None]})
        rule = SimpleNamespace(name="expect_column_values_to_not_be_null",
                               class_name="ExpectColumnValuesToNotBeNull", kwargs={"column": "subject"})
        print("FAILURES", len(quality.validate_frame(frame, [rule])))
    """)
    env = dict(os.environ, PYTHONPATH=f"{REPO_ROOT / 'plugins'}{os.pathsep}{REPO_ROOT}")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)

    assert "FAILURES 1" in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]
    chatter = [line for line in out.stdout.splitlines() if line.startswith("INFO great_expectations")]
    assert chatter == [], f"{len(chatter)} INFO lines from great-expectations, first: {chatter[:3]}"


def test_both_removal_limits_tripping_says_both_overrides_are_needed(jira, jira_sim, esm, state, staging, run_log):
    """Each refusal told the operator to trigger the DAG with its own parameter, the two
    run together on one line: following the first alone only met the second limit."""
    task = make_task(USERS_TASK)
    run_import(task, jira, esm, state, staging, run_id(1))
    jira_sim.admin("PUT", "config", json={"users_listing_max": 15})  # 26 of 41 users not listed

    with pytest.raises(ShrinkLimitError) as err:
        run_import(task, jira, esm, state, staging, run_id(2), logger=run_log)

    text = str(err.value)
    share, shrink, both = text.split("\n")
    assert "allow_mass_removal = true" in share and "removed.max_share" in share
    assert "allow_shrink = true" in shrink and "removed.max_shrink" in shrink
    assert both == ("Both safety limits stopped this run: a run that is to mark these cards needs both parameters, "
                    "allow_mass_removal = true and allow_shrink = true.")
    assert text in run_log.messages


def _users_gone(jira_sim, how_many: int) -> None:
    """``how_many`` more Jira users, for a first run to import; returns nothing: the caller's
    second run finds them deleted (see ``_delete_added``)."""
    for n in range(how_many):
        jira_sim.admin("POST", "users", json={"email": f"gone.{n}@example.com", "displayName": f"Gone {n}",
                                              "accountId": f"gone-{n:04d}"})


def _delete_added(jira_sim, how_many: int) -> None:
    for n in range(how_many):
        jira_sim.admin("DELETE", f"users/gone-{n:04d}")


def test_a_removal_value_esm_refuses_lists_the_first_hundred_cards_not_each(jira, jira_sim, esm, state, staging,
                                                                              run_log):
    """A removal value ESM does not know is refused for every card: one WARNING per card, no
    cap and no count at the end -- 50,000 lines when a directory clean-up removes 50,000 users.
    Refused records of a load are listed for the first 100, then one line says more follow;
    the marking does the same now and ends with the count. (Each card *marked* keeps its line:
    what was de-provisioned, tests/pipeline/test_template_lock_lost.py.)"""
    task = make_task(USERS_TASK, removed={"attribute": "accountStatus", "value": "Gone for good"})
    _users_gone(jira_sim, 130)
    assert run_import(task, jira, esm, state, staging, run_id(1))["created"] >= 130
    _delete_added(jira_sim, 130)

    second = run_import(task, jira, esm, state, staging, run_id(2), logger=run_log,
                        allow_mass_removal=True, allow_shrink=True)

    assert second["refused_removals"] == 130 and second["marked_removed"] == 0
    per_card = [m for m in run_log.messages if m.startswith("ESM refused to mark ") and " (card " in m]
    assert len(per_card) == 100, f"{len(per_card)} lines of one card each"
    assert len([m for m in run_log.messages if m.startswith("ESM refused to mark more cards")]) == 1
    assert "Marked 0 of 130 'person' card(s) removed (accountStatus = Gone for good); ESM refused 130." \
        in run_log.messages
