"""A full run must not carry issues whose cached fingerprint was written under ANOTHER
mapping (pipeline/carry.py); it did.

The carry trusts the task cache ("ESM accepted its current data") whenever the digest
stored by the last *successful* full run equals the current one. But a full run under a
different mapping that loads records and then does not succeed (refusals, a failure in
mark_removed or finish) leaves the old (since, digest) in ``full_syncs`` while the cache
now holds that other mapping's fingerprints. Reverting the task file to the old mapping
made the digests equal again, so the next full run carried every unchanged issue: ESM
kept the reverted mapping's values (until the next cache clear, never with no clear hours). Now any run under another digest marks the stored one superseded.
"""
from __future__ import annotations

from types import SimpleNamespace

from jira_esm_connector.pipeline import run_import

from .helpers import by_attr, esm_cards, jira_issues, run_id
from .test_full_run_carry import FULL, make_task

NO_CLEAR = SimpleNamespace(cache_clear_hours=[])


def test_reverting_a_mapping_after_a_run_with_refusals_does_not_leave_the_other_mappings_data(
    jira, jira_sim, esm, state, staging,
):
    m1 = make_task(FULL)
    first = run_import(m1, jira, esm, state, staging, run_id(1), settings=NO_CLEAR)
    assert first["refused"] == 0 and state.get_full_sync(m1.name) is not None
    issues = jira_issues(jira, "project = SUP")
    statuses = {i["fields"]["status"]["name"] for i in issues.values()}
    assert "Closed" in statuses and len(statuses) > 1

    # an operator edits the mapping: subjects in upper case, and a status value ESM refuses
    status = dict(FULL["attributes"]["status"], map={"Closed": "99 - No such status"})
    m2 = make_task(FULL, attributes=dict(FULL["attributes"], subject={"from": "fields.summary", "transform": "upper"},
                                         status=status))
    second = run_import(m2, jira, esm, state, staging, run_id(2), settings=NO_CLEAR)
    assert second["refused"] > 0 and second["updated"] > 0  # most cards now carry M2's upper-case subjects

    # ... sees the refusals and reverts the task file to what it was
    m1_again = make_task(FULL)
    run_import(m1_again, jira, esm, state, staging, run_id(3), settings=NO_CLEAR)

    cards = by_attr(esm_cards(esm, "incident", m1.name), "jira_key")
    wrong = sorted(k for k, i in issues.items() if cards[k].value("subject") != i["fields"]["summary"])
    assert wrong == [], f"{len(wrong)} of {len(issues)} cards keep the reverted mapping's subject, e.g. {wrong[:5]}"


def test_back_to_full_after_an_incremental_interlude_with_another_mapping_reads_again(
    jira, jira_sim, esm, state, staging,
):
    """The same through a change of mode: incremental runs never record a full sync, but
    their first run writes every record (here under another mapping)."""
    full = make_task(FULL)
    run_import(full, jira, esm, state, staging, run_id(1), settings=NO_CLEAR)
    issues = jira_issues(jira, "project = SUP")

    interlude = make_task(FULL, mode="incremental", removed=False,
                          attributes=dict(FULL["attributes"], subject={"from": "fields.summary", "transform": "upper"}))
    assert run_import(interlude, jira, esm, state, staging, run_id(2), settings=NO_CLEAR)["updated"] == len(issues)

    run_import(make_task(FULL), jira, esm, state, staging, run_id(3), settings=NO_CLEAR)
    cards = by_attr(esm_cards(esm, "incident", full.name), "jira_key")
    wrong = sorted(k for k, i in issues.items() if cards[k].value("subject") != i["fields"]["summary"])
    assert wrong == [], f"{len(wrong)} of {len(issues)} cards keep the incremental mapping's subject, e.g. {wrong[:5]}"
