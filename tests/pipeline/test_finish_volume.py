"""finish recorded a full run's volume although its mark_removed step gave no result.

In the DAG, ``finish`` takes mark_removed's XCom. When the removal step stopped on the shrink
limit and an operator then marks that task instance "success" in the Airflow UI (to get the
run's loads through without marking), Airflow resolves the missing return value to ``None``
(``PlainXComArg.resolve``: a missing ``return_value`` XCom is ``None``) and ``finish`` runs
with ``removed=None`` -- which it accepts silently. It then records the short fetch as the
task's volume, i.e. the baseline of the shrink limit, so the next run with the same short
listing marks the cards the limit had just protected.
"""
from __future__ import annotations

import pytest

from jira_esm_connector.pipeline import ShrinkLimitError, run_import

from .conftest import USERS_TASK, make_task
from .helpers import by_attr, esm_cards, run_id, run_with_refused_removal_set_to_success
from .test_removal_safety import _delete_users, _people


def test_a_run_whose_removal_step_gave_no_result_is_not_the_new_shrink_baseline(jira, jira_sim, esm, state, staging):
    task = make_task(USERS_TASK)
    first = run_import(task, jira, esm, state, staging, run_id(1))
    _delete_users(jira_sim, _people(jira, jira_sim)[:6])  # a listing 15 % shorter (say, a lost permission)

    run_with_refused_removal_set_to_success(task, jira, esm, state, staging, 2)

    assert state.last_volume(task.name) == first["fetched"], "the refused listing became the shrink baseline"
    with pytest.raises(ShrinkLimitError):  # the same short listing must still be refused
        run_import(task, jira, esm, state, staging, run_id(3))
    cards = by_attr(esm_cards(esm, "person", task.name), "jira_account_id")
    assert all(c.value("accountStatus") != "Deleted" for c in cards.values())
