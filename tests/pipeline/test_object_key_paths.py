"""Transform: a key path that reads a Jira object is refused, not merged into one card. Real
simulators over HTTPS."""
from __future__ import annotations

import pytest

from jira_esm_connector.pipeline import TransformError, run_import

from .conftest import ISSUES_TASK, make_task
from .helpers import esm_cards, run_id


def test_a_key_path_that_reads_a_jira_object_refuses_the_records_instead_of_merging_them(
    jira_sim, jira, esm, state, staging,
):
    """``key: {jira: fields.customfield_10020}`` -- a select list (the key path's ``.value``
    forgotten). Every issue's key was the Python repr of its option object, so the issues of
    one team shared one key: the run wrote one card for the last of them, the others were
    dropped as "duplicates" without a word about which records, and the card's key was
    ``{'self': 'https://...', 'value': 'Platform', 'id': '10101'}``."""
    keys = [
        jira_sim.admin("POST", "issues", json={"project": "SUP", "summary": f"team issue {n}",
                                                "fields": {"customfield_10020": "Platform"}}).json()["key"]
        for n in (1, 2)
    ]
    task = make_task(ISSUES_TASK, name="object_key", mode="full", removed=False,
                     jql=f"key in ({', '.join(keys)})", key={"jira": "fields.customfield_10020", "esm": "jira_key"})

    with pytest.raises(TransformError) as err:
        run_import(task, jira, esm, state, staging, run_id(1))

    message = str(err.value)
    assert "2 record(s) could not be mapped" in message, message
    assert "the key at 'fields.customfield_10020' is an object" in message, message
    assert "fields.x.value" in message  # what to write instead
    assert esm_cards(esm, "incident", task.name) == {}
