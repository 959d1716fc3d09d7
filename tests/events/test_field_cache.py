"""The Jira field list is cached per process, per site and account (short TTL): a second push
makes no ``GET /rest/api/3/field``; a field name the cached list does not know is looked up
once more in a fresh list, so a custom field created after the list was cached is found.
Counted on the Jira simulator's own request statistics (``/_admin/stats``)."""
from __future__ import annotations

import json
import time

import pytest

from jira_esm_connector.events import EventConfigError, FieldResolver, run_event

from .conftest import example_task, make_task, unique

FIELD = "GET /rest/api/3/field"
HIDDEN_ID = "customfield_10050"  # "ESM reference", mapped by name in event_create_issue.yaml


def _reset(jira_sim) -> None:
    jira_sim.admin("DELETE", "stats")


def _field_calls(jira_sim) -> int:
    return int(jira_sim.stats()["endpoints"].get(FIELD, 0))


def _incident_card(esm) -> str:
    return esm.create_card("incident", {"subject": "from ESM"}, folder="incident_management")


def _conf(card: str, subject: str = "Printer on fire") -> dict:
    return {"event_id": unique(), "datacard_id": card, "subject": subject, "priority": "2 - High"}


def test_two_pushes_read_the_field_list_once(jira, esm, state, jira_sim):
    task = example_task("event_create_issue.yaml")
    _reset(jira_sim)
    keys = []
    for n in range(2):
        card = _incident_card(esm)
        out = run_event(task, _conf(card, f"push {n}"), jira, esm, state, owner=f"run-{n}")
        assert out["replayed"] is False
        fields = jira.get_issue(out["issue_key"], fields=[HIDDEN_ID])["fields"]
        assert fields[HIDDEN_ID] == card  # the name still resolves from the cached list
        keys.append(out["issue_key"])
    assert len(set(keys)) == 2
    assert _field_calls(jira_sim) == 1


def _hide_field(body: bytes) -> bytes:
    return json.dumps([f for f in json.loads(body) if f.get("id") != HIDDEN_ID]).encode()


def test_a_custom_field_created_after_the_list_was_cached_is_found(proxied_jira, proxy, esm, state, jira_sim):
    # Jira does not have "ESM reference" yet (the proxy hides it from /field)
    proxy.rewrite_response("GET", "/rest/api/3/field", _hide_field)
    before = make_task(
        name="create_without_reference", operation="create_issue",
        payload={"subject": {"type": "string", "required": True}},
        fields={"project": {"value": {"key": "SUP"}}, "issuetype": {"value": {"name": "Bug"}},
                "summary": "{{ subject }}", "Priority": {"value": {"name": "High"}}},  # by name
    )
    _reset(jira_sim)
    first = run_event(before, {"event_id": unique(), "subject": "before"}, proxied_jira, None, state, owner="r1")
    assert first["issue_key"] and _field_calls(jira_sim) == 1  # the cache is filled without the field

    # an admin creates the custom field; the next push maps it by name: a miss, one refetch
    proxy.rewrite_response("GET", "/rest/api/3/field", None)
    task = example_task("event_create_issue.yaml")
    card = _incident_card(esm)
    out = run_event(task, _conf(card), proxied_jira, esm, state, owner="r2")
    assert _field_calls(jira_sim) == 2
    assert proxied_jira.get_issue(out["issue_key"], fields=[HIDDEN_ID])["fields"][HIDDEN_ID] == card

    # the refetched list is cached for everyone after it
    run_event(task, _conf(_incident_card(esm)), proxied_jira, esm, state, owner="r3")
    assert _field_calls(jira_sim) == 2


def test_an_unknown_name_is_refetched_once_then_fails_plainly(jira, jira_sim):
    FieldResolver(jira).resolve("ESM reference")  # fills the cache
    _reset(jira_sim)
    resolver = FieldResolver(jira)
    assert resolver.resolve("Team") == "customfield_10020"
    assert _field_calls(jira_sim) == 0  # from the cache
    with pytest.raises(EventConfigError, match="no field with that id or name"):
        resolver.resolve("No such field")
    assert _field_calls(jira_sim) == 1
    with pytest.raises(EventConfigError):
        resolver.resolve("Still no such field")  # this resolver's list is fresh: no second refetch
    assert _field_calls(jira_sim) == 1


def test_the_cache_expires_and_is_kept_per_site(jira, proxied_jira, jira_sim):
    _reset(jira_sim)
    FieldResolver(jira, ttl=0.3).resolve("ESM reference")
    FieldResolver(jira, ttl=0.3).resolve("ESM reference")
    assert _field_calls(jira_sim) == 1
    FieldResolver(proxied_jira).resolve("ESM reference")  # another site URL: its own list
    assert _field_calls(jira_sim) == 2
    time.sleep(0.35)
    FieldResolver(jira, ttl=0.3).resolve("ESM reference")  # expired: read again
    assert _field_calls(jira_sim) == 3
