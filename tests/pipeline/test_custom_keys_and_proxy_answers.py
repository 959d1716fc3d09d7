"""Imports keyed by a custom field (issue ids recorded for every generic import: re-keying
and removal), and events whose create Jira answered with a proxy's page or refused. Real Jira
and ESM simulators over HTTPS, a fresh state store per test."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from jira_esm_connector.pipeline import run_import

from .conftest import ISSUES_TASK, make_task
from .helpers import by_attr, esm_cards, run_id

CF = "customfield_10050"


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


def test_correcting_a_duplicated_custom_field_key_does_not_take_the_other_issues_card(
    jira, jira_sim, esm, state, staging, run_log
):
    """An incremental import keyed by a custom field (an asset tag, an external id). Issue 2 is
    given issue 1's value "A" by mistake (one key, two issues: the card of A gets issue 2's
    data), then corrected to "B". The load finds issue 2 recorded under "A", but another issue
    is recorded under "A" too: a custom field's value is no issue's own, so A's card is not
    re-keyed to "B" (issue 1, unchanged and not fetched again by an incremental run, would lose
    its card for good); "B" gets a card of its own."""
    old = datetime.now(timezone.utc) - timedelta(hours=3)
    one = jira_sim.admin("POST", "issues", {"project": "SUP", "summary": "issue one", "labels": ["dupkey"],
                                            "fields": {CF: "A"}, "updated": _iso(old)}).json()["key"]
    two = jira_sim.admin("POST", "issues", {"project": "SUP", "summary": "issue two", "labels": ["dupkey"],
                                            "fields": {CF: "X"}, "updated": _iso(old + timedelta(minutes=5))}).json()["key"]
    task = make_task(ISSUES_TASK, name="dup_custom_key", mode="incremental", overlap_minutes=0,
                     jql="project = SUP AND labels = dupkey", key={"jira": f"fields.{CF}", "esm": "jira_key"},
                     attributes={"subject": "fields.summary"})
    first = run_import(task, jira, esm, state, staging, run_id(1))
    assert first["created"] == 2, first

    jira_sim.admin("PATCH", f"issues/{two}", json={"fields": {CF: "A"}})  # a mistake: issue 1's value
    second = run_import(task, jira, esm, state, staging, run_id(2), logger=run_log)
    assert second["fetched"] == 1, second  # issue 2 alone (issue 1 did not change)
    jira_sim.admin("PATCH", f"issues/{two}", json={"fields": {CF: "B"}})  # corrected
    third = run_import(task, jira, esm, state, staging, run_id(3), logger=run_log)
    fourth = run_import(task, jira, esm, state, staging, run_id(4), logger=run_log)

    cards = by_attr(esm_cards(esm, "incident", task.name), "jira_key")
    assert "B" in cards, cards
    assert "A" in cards, (
        f"{one} still has the key value 'A' in Jira, but no card holds 'A' any more: correcting {two} from 'A' to "
        f"'B' re-keyed the card of 'A' (issue ids recorded for a custom-field keyed import), and no incremental run "
        f"fetches {one} again. Runs: {third['summary']} / {fourth['summary']}; cards: "
        f"{ {k: c.value('subject') for k, c in cards.items()} }")


REMOVAL = {"attribute": "status", "value": "07 - Cancelled", "max_share": 0.5}


def test_a_card_whose_key_no_issue_has_any_more_is_marked_when_its_issue_took_a_shared_key(
    jira, jira_sim, esm, state, staging, run_log
):
    """A full import keyed by a field several issues share (one card per customer / asset: the
    last issue listed writes it). Issue 1 moves from customer "A" to "B", which other issues
    have; no issue has "A" any more, so A's card is marked removed. The removal asks Jira about
    A's card through the issue id recorded under "A" -- issue 1, which Jira still has and the
    JQL still selects (its record under "B" is never the one written: another B issue is listed
    after it) -- and keeps the card only while that issue still holds "A"."""
    import time

    base = datetime.now(timezone.utc) - timedelta(hours=2)
    keys = {}
    for n, customer in enumerate(["A", "B", *[f"C{i}" for i in range(8)]]):
        keys[customer] = jira_sim.admin("POST", "issues", {
            "project": "SUP", "summary": f"issue of {customer}", "labels": ["sharedkey"], "fields": {CF: customer},
            "updated": _iso(base + timedelta(minutes=n))}).json()["key"]
    task = make_task(ISSUES_TASK, name="shared_custom_key", mode="full", overlap_minutes=0, removed=REMOVAL,
                     jql="project = SUP AND labels = sharedkey", key={"jira": f"fields.{CF}", "esm": "jira_key"},
                     attributes={"subject": "fields.summary"})
    first = run_import(task, jira, esm, state, staging, run_id(1))
    assert first["created"] == 10, first

    jira_sim.admin("PATCH", f"issues/{keys['A']}", json={"fields": {CF: "B"}})  # issue 1: now customer B
    jira_sim.admin("PATCH", f"issues/{keys['B']}", json={"summary": "B's issue, edited later"})
    time.sleep(1.0)
    results = [run_import(task, jira, esm, state, staging, run_id(n), logger=run_log) for n in (2, 3, 4)]

    cards = by_attr(esm_cards(esm, "incident", task.name), "jira_key")
    assert cards["A"].value("status") == "07 - Cancelled", (
        f"no issue has the key value 'A' any more ({keys['A']} is 'B' now), yet its card is still active after "
        f"three full runs: {[r['summary'] for r in results]}; "
        f"{[m for m in run_log.messages if 'not marked removed' in m][-1:]}")


def test_a_proxy_page_answering_an_issue_create_is_not_a_permanent_refusal(jira_sim, proxy, jira, state):
    """Jira created the issue, then a proxy answered the create with its own HTML page and a 200.
    That is not Jira's refusal (taken for one, the event failed for good -- "Jira refused to
    create the issue ... (HTTP 200)" -- and the issue Jira made was never written back): the
    request may have taken effect, so the event fails retriably and the issue is looked for
    before the create is sent again."""
    from jira_esm_connector.events import run_event
    from jira_esm_connector.events.errors import is_permanent
    from jira_esm_connector.jira import JiraClient
    from jira_esm_connector.markers import EventRef

    from tests.events.conftest import FAST_RETRY, example_task, unique

    task = example_task("event_create_issue.yaml", write_back=None)
    conf = {"event_id": unique(), "subject": "answered by a proxy page"}
    client = JiraClient(proxy.url, jira_sim.email, jira_sim.token, retry=FAST_RETRY, allow_insecure_http=True)
    proxy.fail_after("POST", "/rest/api/3/issue", kind="html")
    outcome: object
    try:
        outcome = run_event(task, conf, client, None, state, owner="run-1", index_lag_s=1)
    except Exception as exc:  # noqa: BLE001
        outcome = exc
    finally:
        client.close()
    made = list(jira.search(f'labels = "{EventRef(task.name, conf["event_id"]).label}"', fields=["summary"]))
    assert len(made) == 1  # Jira did create it
    assert not (isinstance(outcome, BaseException) and is_permanent(outcome)), (
        f"Jira created {made[0]['key']}, but the event failed permanently (no Airflow retry, no write-back): "
        f"{type(outcome).__name__}: {outcome}")


def test_a_proxy_page_answering_a_comment_then_a_retrigger_leaves_one_comment(jira_sim, proxy, jira, state):
    """Jira added the comment, a proxy answered with its HTML page and a 200. Taken for Jira's
    refusal, the "sent" note left the event's ledger and the event failed for good; triggered
    again, the new try did not look for the comment first -- a second comment. The answer may
    have come after Jira acted: the ledger keeps the note, and the re-trigger finds the comment."""
    from jira_esm_connector.events import run_event
    from jira_esm_connector.jira import JiraClient

    from tests.events.conftest import FAST_RETRY, example_task, unique

    key = jira.create_issue({"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "html comment"})["key"]
    task = example_task("event_add_comment.yaml", write_back=None)
    conf = {"event_id": unique(), "datacard_id": "1", "issue_key": key, "text": "Called the user."}
    client = JiraClient(proxy.url, jira_sim.email, jira_sim.token, retry=FAST_RETRY, allow_insecure_http=True)
    proxy.fail_after("POST", f"/rest/api/3/issue/{key}/comment", kind="html")
    errors = []
    try:
        for owner in ("run-1", "run-2"):  # the try, then the re-trigger of the same event
            try:
                run_event(task, conf, client, None, state, owner=owner, index_lag_s=1)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        client.close()
    comments = [str(c["id"]) for c in jira.iter_comments(key)]
    assert len(comments) == 1, f"event {conf['event_id']} added {len(comments)} comments to {key}; tries: {errors}"


def test_a_corrected_payload_after_jira_refused_the_create_is_not_reported_as_ignored(jira, jira_sim, state):
    """Jira refuses an issue create (400: nothing created). The event is triggered again under
    its id with a corrected payload, and that try creates the issue from it. The result must
    not say ``payload_differs: true`` -- documented as "nothing is done with the new payload"
    (README): the ``acted_payload`` note, written before the refused create was sent, is taken
    back when Jira refused it."""
    from jira_esm_connector.events import EventRefused, run_event

    from tests.events.conftest import example_task, unique

    task = example_task("event_create_issue.yaml", write_back=None)
    event_id = unique()
    jira_sim.admin("POST", "faults", json={"type": "status", "status": 400, "count": 1, "path": "/rest/api/3/issue",
                                           "method": "POST"})
    try:
        try:
            run_event(task, {"event_id": event_id, "subject": "first try"}, jira, None, state, owner="run-1",
                      index_lag_s=1)
            raise AssertionError("the injected 400 did not refuse the create")
        except EventRefused:
            pass
    finally:
        jira_sim.admin("DELETE", "faults")
    result = run_event(task, {"event_id": event_id, "subject": "corrected"}, jira, None, state, owner="run-2",
                       index_lag_s=1)
    made = jira.get_issue(result["issue_key"], fields=["summary"])
    assert made["fields"]["summary"] == "corrected"  # the new payload was acted on
    assert not result.get("payload_differs"), (
        f"the issue {result['issue_key']} was created from the corrected payload, yet the result says "
        f"payload_differs (documented: nothing was done with the new payload): {result}")
