"""run_event end to end on the simulators: payload checks, exactly once, crash recovery,
faults before and after Jira acted, write-back, and payload values that look like JQL,
are very long or are not Latin."""
from __future__ import annotations

import threading
import time

import pytest

from jira_esm_connector.events import (
    EventRefused,
    PayloadError,
    check_payload,
    find_issue_for_event,
    run_event,
)
from jira_esm_connector.events.errors import is_permanent
from jira_esm_connector.mapping import adf_to_text
from jira_esm_connector.http.errors import ServiceUnavailableError
from jira_esm_connector.markers import ISSUE_EVENT_PROPERTY, EventRef, worklog_marker

from .conftest import FAST_RETRY, FirstCallFails, example_task, make_task, unique
from .zombies import StallAfterClaim, StallBeforeNote, frozen_try

CREATE = "event_create_issue.yaml"


def _incident_card(esm, subject="from ESM") -> str:
    return esm.create_card("incident", {"subject": subject}, folder="incident_management")


def _issues_for(jira, task_name, event_id):
    ref = EventRef(task_name, event_id)
    return list(jira.search(f'labels = "{ref.label}"', fields=["summary"]))


class CrashAfterJira:
    """A state store whose worker "dies" after Jira answered: no outcome is ever recorded."""

    def __init__(self, store):
        self.store = store

    def begin_event(self, *a, **kw):
        return self.store.begin_event(*a, **kw)

    def note_event(self, *a, **kw):
        return self.store.note_event(*a, **kw)

    def complete_event(self, *a, **kw):
        raise SystemExit("worker killed before recording the outcome")

    def fail_event(self, *a, **kw):
        raise SystemExit("worker killed")


# ---- payload ------------------------------------------------------------------------------

def test_payload_refuses_unknown_keys_and_missing_event_id():
    task = example_task(CREATE)
    with pytest.raises(PayloadError, match="keys this event does not take: colour"):
        check_payload(task, {"event_id": "e1", "datacard_id": "1", "subject": "s", "colour": "red"})
    with pytest.raises(PayloadError, match="no event_id"):
        check_payload(task, {"datacard_id": "1", "subject": "s"})
    with pytest.raises(PayloadError, match="subject"):
        check_payload(task, {"event_id": "e1", "datacard_id": "1", "subject": "x" * 256})
    with pytest.raises(PayloadError, match="priority"):
        check_payload(task, {"event_id": "e1", "datacard_id": "1", "subject": "s", "priority": "9 - Whatever"})
    ok = check_payload(task, {"event_id": "e1", "datacard_id": "1", "subject": "s"})
    assert ok["priority"] is None and ok["description"] is None


@pytest.mark.parametrize("value", [4711, True, ["inc-4711"]])
def test_an_event_id_of_the_wrong_type_is_refused_as_such_not_as_missing(value):
    """ESM's workflow sends the card number as the event id, as a JSON number: the refusal
    says what is wrong with it. Before, it said the payload had no event_id."""
    task = example_task(CREATE)
    with pytest.raises(PayloadError) as err:
        check_payload(task, {"event_id": value, "datacard_id": "1", "subject": "s"})
    assert "no event_id" not in str(err.value)
    assert f"event_id: {value!r} must be printable text" in str(err.value)


def test_bad_payload_fails_before_touching_jira_or_the_state(jira, state, jira_sim):
    task = example_task(CREATE)
    before = jira_sim.stats()["total"]
    with pytest.raises(PayloadError) as err:
        run_event(task, {"event_id": "e-bad", "datacard_id": "1", "subject": "s", "extra": 1}, jira, None, state)
    assert is_permanent(err.value)
    assert state.get_event(task.name, "e-bad") is None
    assert jira_sim.stats()["total"] == before


def _writes(stats) -> int:
    """Requests that could change Jira (anything but GET)."""
    return sum(n for endpoint, n in stats["endpoints"].items() if not endpoint.startswith("GET "))


@pytest.mark.parametrize("field, value", [
    ("datacard_id", "INC-4711"),
    ("datacard_id", "0"),
    ("datacard_id", -3),
    ("datacard_id", "4711\n"),
    ("event_id", "inc-4711\ncreate"),
    ("event_id", "inc\x1b[31m-4711"),
    ("event_id", "x" * 201),
])
def test_malformed_card_or_event_id_is_refused_before_any_jira_call(jira, esm, state, jira_sim, field, value):
    """A caller that does not go through Airflow's Params gets the same refusal: before the
    claim, before Jira -- not an issue created and then a failed write-back."""
    task = example_task(CREATE)
    conf = {"event_id": unique(), "datacard_id": _incident_card(esm), "subject": "bad id"}
    conf[field] = value
    before = jira_sim.stats()
    with pytest.raises(PayloadError) as err:
        run_event(task, conf, jira, esm, state)
    assert is_permanent(err.value)
    assert str(err.value).count(f"{field}:") == 1  # names the field
    assert "\n" not in str(err.value) and "\x1b" not in str(err.value)  # shown escaped, not raw
    after = jira_sim.stats()
    assert after["total"] == before["total"] and _writes(after) == _writes(before)
    assert state.get_event(task.name, conf["event_id"]) is None


def test_an_integer_card_id_is_written_back_as_esms_string_id(jira, esm, state):
    task = example_task(CREATE)
    card = _incident_card(esm)
    result = run_event(task, {"event_id": unique(), "datacard_id": int(card), "subject": "integer id"}, jira, esm, state)
    assert result["written_back"]["datacard_id"] == card
    assert esm.get_card("incident", card).value("jira_key") == result["issue_key"]


def test_a_write_back_to_a_template_the_account_may_not_write_is_refused_saying_so(jira, esm, esm_sim, state):
    """ESM refuses every write to the template (the account lost its role): the event fails
    for good, naming the issue made, the card, the 403 and the likely cause."""
    task = example_task(CREATE)
    card = _incident_card(esm)
    esm_sim.admin("POST", "forbidden", {"templates": ["incident"]})
    try:
        with pytest.raises(EventRefused) as err:
            run_event(task, {"event_id": unique(), "datacard_id": card, "subject": "no rights"}, jira, esm, state)
    finally:
        esm_sim.admin("POST", "forbidden", {})
    text = str(err.value)
    assert "write-back of issue_key SUP-" in text and f"incident card {card}, attribute jira_key" in text, text
    assert "forbidden to update data cards of template 'incident'" in text and "(403:" in text, text
    assert "may have lost its rights" in text and is_permanent(err.value)


# ---- exactly once ---------------------------------------------------------------------------

def test_same_event_twice_creates_one_issue_and_replays_the_result(jira, esm, state):
    task = example_task(CREATE)
    card = _incident_card(esm)
    conf = {"event_id": unique(), "datacard_id": card, "subject": "Printer on fire", "priority": "2 - High",
            "description": "Smoke.\n\nFire brigade called."}
    first = run_event(task, conf, jira, esm, state, owner="run-1")
    second = run_event(task, conf, jira, esm, state, owner="run-2")
    assert first["replayed"] is False and second["replayed"] is True
    assert second["issue_key"] == first["issue_key"] and second["event_id"] == conf["event_id"]
    assert len(_issues_for(jira, task.name, conf["event_id"])) == 1
    fields = jira.get_issue(first["issue_key"], fields=["summary", "priority", "description", "customfield_10050"])["fields"]
    assert fields["summary"] == "Printer on fire"
    assert fields["priority"]["name"] == "High"
    assert adf_to_text(fields["description"]) == "Smoke.\n\nFire brigade called."
    assert fields["customfield_10050"] == card  # "ESM reference", mapped by field name
    # write-back landed on the incident card
    assert esm.get_card("incident", card).value("jira_key") == first["issue_key"]


def test_a_replay_with_another_payload_is_told_not_passed_over(jira, state, caplog):
    """An event id reused for another event (say the card id taken for the event id): the
    replay acts on nothing, so the operator and the workflow are told the payload differs."""
    task = example_task(CREATE, write_back=None)
    conf = {"event_id": unique(), "datacard_id": "1", "subject": "first words"}
    first = run_event(task, conf, jira, None, state, owner="run-1")
    same = run_event(task, dict(reversed(list(conf.items()))), jira, None, state, owner="run-2")
    assert same["replayed"] is True and "payload_differs" not in same  # keys in another order: the same event
    with caplog.at_level("WARNING", logger="jira_esm_connector.events"):
        other = run_event(task, {**conf, "subject": "second words"}, jira, None, state, owner="run-3")
    assert other["replayed"] is True and other["payload_differs"] is True
    assert other["issue_key"] == first["issue_key"]
    assert len(_issues_for(jira, task.name, conf["event_id"])) == 1
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("handled before with another payload" in m and conf["event_id"] in m for m in warned), warned
    assert not any("second words" in m for m in warned)  # payload values stay out of the log


def test_a_resumed_try_with_another_payload_is_told_its_payload_was_not_acted_on(jira, state, caplog):
    """A try created the issue and crashed before its record; the event id is then sent again
    with another payload. The resumed try finds the issue the first made (from the first
    payload) and keeps it -- the workflow is told the new payload differs, as for a replay."""
    task = example_task(CREATE, write_back=None)
    conf = {"event_id": unique(), "datacard_id": "1", "subject": "first words"}
    with pytest.raises(SystemExit):
        run_event(task, conf, jira, None, CrashAfterJira(state), owner="run-1")
    with caplog.at_level("WARNING", logger="jira_esm_connector.events"):
        resumed = run_event(task, {**conf, "subject": "second words"}, jira, None, state, owner="run-1")
    assert resumed["replayed"] is False and resumed["payload_differs"] is True
    issues = _issues_for(jira, task.name, conf["event_id"])
    assert [i["key"] for i in issues] == [resumed["issue_key"]]
    assert jira.get_issue(resumed["issue_key"], fields=["summary"])["fields"]["summary"] == "first words"
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("with another payload" in m and conf["event_id"] in m for m in warned), warned
    assert not any("second words" in m for m in warned)


def test_crash_between_jiras_answer_and_the_record_does_not_duplicate(jira, state):
    task = example_task(CREATE, write_back=None)
    conf = {"event_id": unique(), "datacard_id": "1", "subject": "crash test"}
    with pytest.raises(SystemExit):
        run_event(task, conf, jira, None, CrashAfterJira(state), owner="run-9")
    assert state.get_event(task.name, conf["event_id"]).status == "running"
    # Airflow retries the task (same run): the event is resumed, Jira is checked first
    retried = run_event(task, conf, jira, None, state, owner="run-9")
    assert retried["replayed"] is False and "payload_differs" not in retried
    issues = _issues_for(jira, task.name, conf["event_id"])
    assert [i["key"] for i in issues] == [retried["issue_key"]]
    assert state.get_event(task.name, conf["event_id"]).status == "done"


def test_a_claim_is_not_taken_from_a_run_that_may_still_be_at_work(jira, state):
    """With an event timeout of 30 min, a run 15 min into its work is not taken for crashed:
    a re-trigger waits for it instead of acting as well (the store's own default is 10 min)."""
    from datetime import datetime, timedelta, timezone

    from jira_esm_connector.events.runner import EventBusy, claim_stale_after

    assert claim_stale_after(5) == timedelta(minutes=10)
    assert claim_stale_after(30) == timedelta(minutes=31)
    task = example_task(CREATE, write_back=None)
    conf = {"event_id": unique(), "subject": "slow run"}
    state.begin_event(task.name, conf["event_id"], owner="run-1",
                      now=datetime.now(timezone.utc) - timedelta(minutes=15))
    with pytest.raises(EventBusy):
        run_event(task, conf, jira, None, state, owner="run-2", wait_for_other=0, stale_after=claim_stale_after(30))
    assert _issues_for(jira, task.name, conf["event_id"]) == []
    # the same claim under the store's default counts as crashed and is taken over
    taken = run_event(task, conf, jira, None, state, owner="run-2", wait_for_other=0)
    assert [i["key"] for i in _issues_for(jira, task.name, conf["event_id"])] == [taken["issue_key"]]


def test_concurrent_duplicate_triggers_act_once(jira, tmp_path):
    from jira_esm_connector.state import StateStore

    task = example_task(CREATE, write_back=None)
    conf = {"event_id": unique(), "subject": "two at once"}
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    results, errors = [], []

    def trigger(owner):
        store = StateStore(url)
        try:
            results.append(run_event(task, conf, jira, None, store, owner=owner, wait_for_other=20))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            store.engine.dispose()

    threads = [threading.Thread(target=trigger, args=(f"run-{n}",)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len({r["issue_key"] for r in results}) == 1
    assert sorted(r["replayed"] for r in results) == [False, True, True]
    assert len(_issues_for(jira, task.name, conf["event_id"])) == 1


def test_a_late_failure_of_a_run_whose_claim_was_taken_over_lets_no_third_run_act(jira_clients, jira, state):
    """Run A stalls inside its create (its claim goes stale) and run B takes the event over.
    A then fails: that is A's failure, not the event's -- B is still creating the issue. A
    third delivery must wait for B, not claim the event too and create a second issue."""
    from datetime import timedelta

    from jira_esm_connector.events.runner import EventBusy

    task = example_task(CREATE, write_back=None)
    conf = {"event_id": unique(), "subject": "late failure"}
    a_in_create, a_wakes, b_in_create, b_goes = (threading.Event() for _ in range(4))
    jira_a, jira_b = jira_clients(retry=FAST_RETRY), jira_clients(retry=FAST_RETRY)
    real_create = jira_b.create_issue

    def a_create(*args, **kwargs):
        a_in_create.set()
        assert a_wakes.wait(60)
        raise RuntimeError("worker A stalled, then lost its connection")

    def b_create(*args, **kwargs):
        b_in_create.set()
        assert b_goes.wait(60)
        return real_create(*args, **kwargs)

    jira_a.create_issue, jira_b.create_issue = a_create, b_create
    outcomes: dict[str, object] = {}

    def push(name, client, **kwargs):
        try:
            outcomes[name] = run_event(task, conf, client, None, state, owner=f"run-{name}", index_lag_s=0, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            outcomes[name] = exc

    run_a = threading.Thread(target=push, args=("a", jira_a))
    run_b = threading.Thread(target=push, args=("b", jira_b), kwargs={"stale_after": timedelta(0)})
    run_a.start()
    assert a_in_create.wait(60)
    run_b.start()  # A's claim counts as stale for B: B takes the event over
    try:
        assert b_in_create.wait(60), outcomes
        a_wakes.set()
        run_a.join(60)
        assert isinstance(outcomes["a"], RuntimeError), outcomes
        push("c", jira, wait_for_other=0)
    finally:
        a_wakes.set()
        b_goes.set()
        run_a.join(60)
        run_b.join(60)
    assert isinstance(outcomes["c"], EventBusy), outcomes
    assert [i["key"] for i in _issues_for(jira, task.name, conf["event_id"])] == [outcomes["b"]["issue_key"]]
    assert state.get_event(task.name, conf["event_id"]).status == "done"



def _zombie_and_its_retry(task, conf, jira, state, stalling, when_stalled=lambda: None):
    """Try 1 of run-1 runs on a ``stalling`` state store until it freezes; try 2 of the same
    run then handles the event; try 1 wakes. Returns (try 1's result or error, try 2's result)."""
    def retry():
        when_stalled()
        return run_event(task, conf, jira, None, state, owner="run-1")

    return frozen_try(lambda stalled, wakes: run_event(task, conf, jira, None, stalling(state, stalled, wakes),
                                                       owner="run-1"), retry)


def test_a_zombie_try_whose_retry_took_the_event_over_does_not_create_too(jira, jira_sim, state):
    """Try 1 of a run freezes after its checks, just before its create; Airflow starts try 2
    of the same run, which takes the event over at once, finds nothing in Jira and creates the
    issue. When try 1 wakes, the event is no longer its own: it stops instead of sending a
    second create."""
    from jira_esm_connector.events.runner import EventBusy

    task = example_task(CREATE, write_back=None)
    conf = {"event_id": unique(), "subject": "zombie try"}
    posts: list[int] = []
    zombie, retry = _zombie_and_its_retry(task, conf, jira, state, StallBeforeNote,
                                          when_stalled=lambda: posts.append(_posts(jira_sim)))
    assert isinstance(zombie, EventBusy), zombie
    assert _posts(jira_sim) - posts[0] == 1  # the retry's create only
    assert [i["key"] for i in _issues_for(jira, task.name, conf["event_id"])] == [retry["issue_key"]]
    assert state.get_event(task.name, conf["event_id"]).result["issue_key"] == retry["issue_key"]


def test_a_zombie_try_whose_retry_took_the_event_over_does_not_comment_too(jira, state):
    """As above for a comment (found by reading the issue's comments, no index wait): try 1
    freezes right after its claim, try 2 of the same run takes the event over and adds the
    comment; try 1 wakes and must not add it a second time."""
    from jira_esm_connector.events.runner import EventBusy

    key = jira.create_issue({"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "zombie comment"})["key"]
    task = example_task("event_add_comment.yaml")
    conf = {"event_id": unique(), "issue_key": key, "text": "Called the user."}
    zombie, retry = _zombie_and_its_retry(task, conf, jira, state, StallAfterClaim)
    assert isinstance(zombie, EventBusy), zombie
    assert [str(c["id"]) for c in jira.iter_comments(key)] == [retry["comment_id"]]

@pytest.mark.parametrize("kind", ["502", "reset"])
def test_failure_after_jira_created_the_issue_then_retry_ends_with_one_issue(proxied_jira, proxy, jira, state, kind):
    task = example_task(CREATE, write_back=None)
    conf = {"event_id": unique(), "subject": f"after-effect {kind}"}
    proxy.fail_after("POST", "/rest/api/3/issue", kind=kind)
    result = run_event(task, conf, proxied_jira, None, state, owner="run-1")
    # Jira created it on the first POST; the connector checked instead of posting again
    assert proxy.count("POST", "/rest/api/3/issue") == 1
    assert [i["key"] for i in _issues_for(jira, task.name, conf["event_id"])] == [result["issue_key"]]


def test_a_503_on_create_is_looked_for_in_jira_before_the_create_is_sent_again(jira, jira_sim, state):
    """A 503 does not prove Jira did not act (a gateway answers 503 too after Jira took the
    request): the create is looked for in Jira's search for as long as the index may lag, and
    only a later attempt, whose search has had that time, sends it again -- once."""
    task = example_task(CREATE, write_back=None)
    conf = {"event_id": unique(), "subject": "503 first"}
    jira_sim.admin("POST", "faults", json={"type": "status", "status": 503, "count": 1, "path": "/rest/api/3/issue", "method": "POST"})
    try:
        with pytest.raises(Exception) as err:
            run_event(task, conf, jira, None, state, owner="run-1", index_lag_s=1)
    finally:
        jira_sim.admin("DELETE", "faults")
    assert not is_permanent(err.value) and "could not confirm" in str(err.value)
    result = run_event(task, conf, jira, None, state, owner="run-1", index_lag_s=1)
    assert [i["key"] for i in _issues_for(jira, task.name, conf["event_id"])] == [result["issue_key"]]


def test_a_failed_run_then_a_retrigger_ends_with_one_issue(proxied_jira, proxy, jira, state):
    """Jira created the issue but the run failed every attempt (gateway keeps failing);
    a later re-trigger of the same event finds it instead of creating a second."""
    task = example_task(CREATE, write_back=None)
    conf = {"event_id": unique(), "subject": "keeps failing"}
    proxy.fail_after("POST", "/rest/api/3/issue", kind="502", count=1)
    proxy.fail_after("POST", "/rest/api/3/search/jql", kind="502", count=99)
    with pytest.raises(Exception) as err:
        run_event(task, conf, proxied_jira, None, state, owner="run-1")
    assert not is_permanent(err.value)  # transient: Airflow may retry
    assert state.get_event(task.name, conf["event_id"]).status == "failed"
    proxy.faults.clear()
    again = run_event(task, conf, proxied_jira, None, state, owner="run-2")
    assert [i["key"] for i in _issues_for(jira, task.name, conf["event_id"])] == [again["issue_key"]]
    assert proxy.count("POST", "/rest/api/3/issue") == 1


def test_jira_refusal_fails_permanently_and_is_recorded(jira, state):
    task = make_task(
        name="refused_create", operation="create_issue",
        payload={"subject": {"type": "string", "required": True}},
        fields={"project": {"value": {"key": "NOPE"}}, "issuetype": {"value": {"name": "Bug"}}, "summary": "{{ subject }}"},
    )
    with pytest.raises(EventRefused) as err:
        run_event(task, {"event_id": "r1", "subject": "x"}, jira, None, state)
    assert is_permanent(err.value)
    assert "Specify a valid project ID or key" in str(err.value)
    record = state.get_event(task.name, "r1")
    assert record.status == "failed" and "Specify a valid project ID or key" in record.error
    # a refused create took no effect: nothing for a later attempt to wait for
    assert "ambiguous_create_at" not in record.notes


# ---- Jira's search index lags behind creates ------------------------------------------------

@pytest.fixture
def search_lag(jira_sim):
    """Set the simulator's search lag (seconds) for one test; faults and lag cleared after."""
    def set_lag(seconds: float) -> None:
        jira_sim.admin("PUT", "config", json={"search_lag_seconds": seconds})

    yield set_lag
    jira_sim.admin("PUT", "config", json={"search_lag_seconds": 0})
    jira_sim.admin("DELETE", "faults")


def _posts(jira_sim) -> int:
    return int(jira_sim.stats()["endpoints"].get("POST /rest/api/3/issue", 0))


def _fault_on_create(jira_sim, kind: str) -> None:
    jira_sim.admin("POST", "faults", json={"type": kind, "count": 1, "path": "/rest/api/3/issue", "method": "POST"})


def _indexed_issues_for(jira, jira_sim, task_name, event_id):
    """Every issue of the event, once the index has caught up (lag switched off)."""
    jira_sim.admin("PUT", "config", json={"search_lag_seconds": 0})
    return _issues_for(jira, task_name, event_id)


def test_create_answered_by_a_dropped_connection_under_index_lag_creates_once(jira, jira_sim, state, search_lag):
    """Jira creates the issue but the answer is lost, and search shows new issues only 3 s
    later: the connector keeps searching instead of creating a second issue (its searches
    0.5 s and 1.5 s after the create miss the issue, the one at 3.5 s finds it)."""
    task = example_task(CREATE, write_back=None)
    conf = {"event_id": unique(), "subject": "dropped answer, lagging index"}
    search_lag(3)
    _fault_on_create(jira_sim, "drop_after")
    posts = _posts(jira_sim)
    result = run_event(task, conf, jira, None, state, owner="run-1")  # default bound: 60 s
    assert _posts(jira_sim) - posts == 1  # the one POST that took effect; never repeated
    assert [i["key"] for i in _indexed_issues_for(jira, jira_sim, task.name, conf["event_id"])] == [result["issue_key"]]
    record = state.get_event(task.name, conf["event_id"])
    assert record.status == "done" and record.result["issue_key"] == result["issue_key"]


def test_unconfirmed_create_fails_retriably_and_only_a_later_attempt_creates(jira, jira_sim, state, search_lag):
    """A gateway answers the first POST with 502 without passing it on: nothing was created,
    but the connector cannot know. It does not create again until a search made after the index lag
    bound still misses the issue: the attempt fails plainly and retriably, the event row keeps
    when the unconfirmed create was sent, an early retry still does not create, a later one does."""
    from jira_esm_connector.events import CreateUnconfirmed

    task = example_task(CREATE, write_back=None)
    conf = {"event_id": unique(), "subject": "lost on the way"}
    search_lag(10)
    jira_sim.admin("POST", "faults", json={"type": "status", "status": 502, "count": 1, "path": "/rest/api/3/issue", "method": "POST"})
    posts = _posts(jira_sim)
    with pytest.raises(CreateUnconfirmed) as err:
        run_event(task, conf, jira, None, state, owner="run-1", index_lag_s=1.5)
    assert not is_permanent(err.value)  # Airflow retries it
    assert "could not confirm whether the request to create the issue took effect" in str(err.value)
    assert "retrying later" in str(err.value)
    record = state.get_event(task.name, conf["event_id"])
    assert record.status == "failed" and "ambiguous_create_at" in record.notes
    sent_at = record.notes["ambiguous_create_at"]
    assert _posts(jira_sim) - posts == 1

    # a retry whose bound has not passed since that create searches, finds nothing, and
    # still does not create
    with pytest.raises(CreateUnconfirmed):
        run_event(task, conf, jira, None, state, owner="run-1", index_lag_s=4)
    assert _posts(jira_sim) - posts == 1
    assert state.get_event(task.name, conf["event_id"]).notes["ambiguous_create_at"] == sent_at

    # now the bound has passed: the search missing it means it was never created
    result = run_event(task, conf, jira, None, state, owner="run-1", index_lag_s=4)
    assert _posts(jira_sim) - posts == 2
    assert [i["key"] for i in _indexed_issues_for(jira, jira_sim, task.name, conf["event_id"])] == [result["issue_key"]]
    assert state.get_event(task.name, conf["event_id"]).result["issue_key"] == result["issue_key"]


def test_worker_killed_after_jira_created_under_index_lag_does_not_duplicate(jira, jira_sim, state, search_lag):
    """The worker dies after Jira created the issue; the next attempt comes at once, while the
    index still misses the issue: the time the create was sent is in the event row, so the
    attempt waits for the index instead of creating."""
    task = example_task(CREATE, write_back=None)
    conf = {"event_id": unique(), "subject": "killed worker, lagging index"}
    search_lag(3)
    with pytest.raises(SystemExit):
        run_event(task, conf, jira, None, CrashAfterJira(state), owner="run-7")
    posts = _posts(jira_sim)
    retried = run_event(task, conf, jira, None, state, owner="run-7")
    assert _posts(jira_sim) == posts  # found, not created again
    assert state.get_event(task.name, conf["event_id"]).status == "done"
    assert [i["key"] for i in _indexed_issues_for(jira, jira_sim, task.name, conf["event_id"])] == [retried["issue_key"]]



def test_a_late_refusal_of_a_run_whose_claim_was_taken_over_keeps_the_new_runs_create_note(
        jira_clients, jira, jira_sim, state, search_lag):
    """Run A stalls inside its create and run B takes the event over, sends its own create and
    dies without learning the outcome (noted with the event). A then wakes and Jira refuses its
    create: A's "nothing was created" is A's view only -- B's note must stay, or the next
    attempt trusts the lagging search at once and creates a second issue."""
    from datetime import timedelta

    task = example_task(CREATE, write_back=None)
    conf = {"event_id": unique(), "subject": "late refusal"}
    search_lag(5)
    a_in_create, a_wakes = threading.Event(), threading.Event()
    jira_a, jira_b = jira_clients(retry=FAST_RETRY), jira_clients(retry=FAST_RETRY)
    real_a, real_b = jira_a.create_issue, jira_b.create_issue

    def a_create(fields, **kwargs):
        a_in_create.set()
        assert a_wakes.wait(60)
        return real_a({**fields, "project": {"key": "NOPE"}}, **kwargs)  # Jira refuses it (400)

    def b_create(*args, **kwargs):
        real_b(*args, **kwargs)
        raise SystemExit("worker B killed after Jira created the issue")

    jira_a.create_issue, jira_b.create_issue = a_create, b_create
    outcomes: dict[str, object] = {}

    def push(name, client, **kwargs):
        try:
            outcomes[name] = run_event(task, conf, client, None, state, owner=f"run-{name}", **kwargs)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            outcomes[name] = exc

    run_a = threading.Thread(target=push, args=("a", jira_a), kwargs={"index_lag_s": 0})
    run_a.start()
    try:
        assert a_in_create.wait(60)
        push("b", jira_b, stale_after=timedelta(0), index_lag_s=0)  # A's claim counts as stale for B
        assert isinstance(outcomes["b"], SystemExit), outcomes
        b_sent = state.get_event(task.name, conf["event_id"]).notes["ambiguous_create_at"]
    finally:
        a_wakes.set()
        run_a.join(60)
    assert isinstance(outcomes["a"], EventRefused), outcomes
    assert state.get_event(task.name, conf["event_id"]).notes["ambiguous_create_at"] == b_sent
    push("c", jira, index_lag_s=6)  # waits for the index to show B's issue
    assert [i["key"] for i in _indexed_issues_for(jira, jira_sim, task.name, conf["event_id"])] == [
        outcomes["c"]["issue_key"]]

def test_429_on_create_is_not_ambiguous_and_leaves_no_wait_behind(jira, jira_sim, state, search_lag):
    """Jira refused before acting (429, rate limited): sending again at once is safe, and no
    note makes a later attempt wait for the index. (A 503 is not taken so: a gateway answers
    503 too after Jira took the request -- tests/faults/test_event_faults.py.)"""
    task = example_task(CREATE, write_back=None)
    conf = {"event_id": unique(), "subject": "429 under lag"}
    search_lag(10)
    jira_sim.admin("POST", "faults", json={"type": "status", "status": 429, "count": 12, "retry_after": 0,
                                           "path": "/rest/api/3/issue", "method": "POST"})
    with pytest.raises(Exception) as err:
        run_event(task, conf, jira, None, state, owner="run-1", index_lag_s=60)
    assert not is_permanent(err.value)
    assert "ambiguous_create_at" not in state.get_event(task.name, conf["event_id"]).notes
    started = time.monotonic()
    result = run_event(task, conf, jira, None, state, owner="run-1", index_lag_s=60)
    assert time.monotonic() - started < 5  # one search, then the create: no index wait
    assert [i["key"] for i in _indexed_issues_for(jira, jira_sim, task.name, conf["event_id"])] == [result["issue_key"]]


def test_comment_group_and_user_creates_with_a_dropped_answer_are_found_at_once(jira, jira_sim, state, search_lag):
    """Comments, groups and users are looked up by reading Jira's database (the issue's
    comment list, group/bulk, user/search), not through the lagging issue search: a create
    whose answer was lost is found right away and not repeated, however long the index lags."""
    search_lag(30)
    key = jira.create_issue({"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "comment target"})["key"]
    stats = jira_sim.stats
    cases = [
        ("/rest/api/3/issue/" + key + "/comment", "POST /rest/api/3/issue/{issueIdOrKey}/comment",
         example_task("event_add_comment.yaml"), {"event_id": unique(), "issue_key": key, "text": "Called the user."}),
        ("/rest/api/3/group", "POST /rest/api/3/group",
         example_task("event_create_group.yaml", write_back=None), {"event_id": unique(), "name": unique("grp")}),
        ("/rest/api/3/user", "POST /rest/api/3/user",
         example_task("event_create_user.yaml", write_back=None), {"event_id": unique(), "email": f"{unique('u')}@example.com"}),
    ]
    for path, endpoint, task, conf in cases:
        jira_sim.admin("POST", "faults", json={"type": "drop_after", "count": 1, "path": path, "method": "POST"})
        before = int(stats()["endpoints"].get(endpoint, 0))
        started = time.monotonic()
        result = run_event(task, conf, jira, None, state)
        assert int(stats()["endpoints"].get(endpoint, 0)) - before == 1, endpoint
        assert time.monotonic() - started < 5, endpoint  # no index wait
        assert result["replayed"] is False
    assert len(list(jira.iter_comments(key))) == 1


# ---- tricky values --------------------------------------------------------------------------

def test_jql_looking_long_and_non_latin_values_arrive_exactly(jira, state):
    task = example_task(CREATE, write_back=None)
    sly = '" OR project = X OR summary ~ "'
    summary = ("Tulostin ei toimi – 打印机坏了 – принтер " + sly)[:255]
    long_text = ("Ääkköset ja 漢字 " * 2500)[:32000]
    conf = {"event_id": f'{sly} {unique()}', "subject": summary, "description": long_text}
    result = run_event(task, conf, jira, None, state)
    fields = jira.get_issue(result["issue_key"], fields=["summary", "description"])["fields"]
    assert fields["summary"] == summary
    assert adf_to_text(fields["description"]) == long_text
    assert find_issue_for_event(jira, EventRef(task.name, conf["event_id"]))["issue_key"] == result["issue_key"]
    # a replay with the same odd event id is recognised
    assert run_event(task, conf, jira, None, state)["replayed"] is True
    prop = jira.get_issue_property(result["issue_key"], ISSUE_EVENT_PROPERTY)
    assert prop["event_id"] == conf["event_id"]


# ---- the other operations through run_event -------------------------------------------------

def test_comment_transition_update_via_run_event(jira, state):
    created = run_event(example_task(CREATE, write_back=None), {"event_id": unique(), "subject": "flow"}, jira, None, state)
    key = created["issue_key"]
    upd = run_event(example_task("event_update_issue.yaml"),
                    {"event_id": unique(), "issue_key": key, "subject": "flow, updated", "priority": "1 - Critical"},
                    jira, None, state)
    assert upd["issue_key"] == key
    comment_conf = {"event_id": unique(), "issue_key": key, "text": "Soitettu käyttäjälle.", "author": "ESM Desk"}
    c1 = run_event(example_task("event_add_comment.yaml"), comment_conf, jira, None, state)
    c2 = run_event(example_task("event_add_comment.yaml"), comment_conf, jira, None, state)
    assert c1["comment_id"] == c2["comment_id"] and c2["replayed"] is True
    tr = run_event(example_task("event_transition_issue.yaml"),
                   {"event_id": unique(), "issue_key": key, "status": "05 - Solved", "comment": "Solved in ESM."},
                   jira, None, state)
    assert tr["status"] in ("Done", "Resolved")  # whichever the project's workflow has
    fields = jira.get_issue(key, fields=["summary", "priority", "status", "resolution"])["fields"]
    assert fields["summary"] == "flow, updated" and fields["priority"]["name"] == "Highest"
    assert fields["status"]["name"] == tr["status"] and fields["resolution"]["name"] == "Done"
    bodies = [adf_to_text(c["body"]) for c in jira.iter_comments(key)]
    assert bodies == ["ESM Desk (ESM): Soitettu käyttäjälle.", "Solved in ESM."]


def test_an_empty_optional_field_leaves_that_jira_field_alone(jira, state):
    created = run_event(example_task(CREATE, write_back=None),
                        {"event_id": unique(), "subject": "empty", "priority": "1 - Critical"}, jira, None, state)
    key = created["issue_key"]
    run_event(example_task("event_update_issue.yaml"),
              {"event_id": unique(), "issue_key": key, "subject": "empty, updated", "priority": ""}, jira, None, state)
    fields = jira.get_issue(key, fields=["summary", "priority"])["fields"]
    assert fields["summary"] == "empty, updated" and fields["priority"]["name"] == "Highest"


def test_user_and_group_events_with_write_back(jira, esm, state, close_accounts_after):
    email = f"{unique('hire')}@example.com"
    group = unique("esm-admins")
    person = esm.create_card("person", {"email": email}, folder="persons")
    group_card = esm.create_card("group", {"name": group}, folder="groups")
    user = run_event(example_task("event_create_user.yaml"), {"event_id": unique(), "datacard_id": person, "email": email}, jira, esm, state)
    close_accounts_after.append(user["account_id"])
    grp = run_event(example_task("event_create_group.yaml"), {"event_id": unique(), "datacard_id": group_card, "name": group}, jira, esm, state)
    assert esm.get_card("person", person).value("jira_account_id") == user["account_id"]
    assert esm.get_card("group", group_card).value("jira_group_id") == grp["group_id"]
    run_event(example_task("event_add_user_to_group.yaml"), {"event_id": unique(), "email": email, "group": group}, jira, esm, state)
    assert user["account_id"] in {m["accountId"] for m in jira.iter_group_members(group_name=group)}
    # an ESM workflow sends the card's empty e-mail as "": the account id decides
    run_event(example_task("event_remove_user_from_group.yaml"),
              {"event_id": unique(), "account_id": user["account_id"], "email": "", "group": group}, jira, esm, state)
    assert user["account_id"] not in {m["accountId"] for m in jira.iter_group_members(group_name=group)}
    run_event(example_task("event_delete_group.yaml"), {"event_id": unique(), "name": group}, jira, esm, state)
    assert jira.find_group(group) is None
    gone = run_event(example_task("event_delete_user.yaml"), {"event_id": unique(), "email": email}, jira, esm, state)
    assert gone["deleted"] is True and gone["account_id"] == user["account_id"]


def test_a_comment_that_came_from_jira_is_not_pushed_back(jira, state):
    key = jira.create_issue({"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "ping-pong"})["key"]
    task = example_task("event_add_comment.yaml")
    # the entry exactly as the comment import writes it: author "Jira: <name>", text ending with the marker
    result = run_event(task, {"event_id": unique(), "issue_key": key, "text": f"Looked at it.\n\n{worklog_marker('10001')}",
                              "author": "Jira: Aino Virtanen"}, jira, None, state)
    assert result["comment_id"] is None and "no ping-pong" in result["skipped"]
    marked = run_event(task, {"event_id": unique(), "issue_key": key, "text": f"Looked at it.\n\n{worklog_marker('10002')}",
                              "author": "Aino (ESM desk)"}, jira, None, state)
    assert marked["comment_id"] is None and list(jira.iter_comments(key)) == []
    pushed = run_event(task, {"event_id": unique(), "issue_key": key, "text": "Looked at it.", "author": "Aino (ESM desk)"},
                       jira, None, state)
    assert [c["id"] for c in jira.iter_comments(key)] == [pushed["comment_id"]]


def test_payload_errors_stay_short_whatever_the_conf_holds():
    task = example_task(CREATE)
    many_keys = {f"k{i}-" + "y" * 5000: 1 for i in range(1000)}
    with pytest.raises(PayloadError) as info:
        check_payload(task, {"event_id": "e1", "datacard_id": "1", "subject": "s", **many_keys})
    assert len(str(info.value)) < 2000 and "and 990 more" in str(info.value)
    huge = [["z" * 1000] * 1000] * 100  # a list where text belongs
    with pytest.raises(PayloadError) as info:
        check_payload(task, {"event_id": "e1", "datacard_id": "1", "subject": huge})
    assert "subject" in str(info.value) and len(str(info.value)) < 500


def test_a_comment_that_merely_starts_with_jira_is_pushed(jira, state):
    """Only the import's exact marker means "came from Jira": a person's words that start with
    "Jira:", or an author named that way without the marker, are a real ESM comment."""
    key = jira.create_issue({"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "not ping-pong"})["key"]
    task = example_task("event_add_comment.yaml")
    own = run_event(task, {"event_id": unique(), "issue_key": key, "text": "Jira: the board shows the wrong sprint."},
                    jira, None, state)
    by_author = run_event(task, {"event_id": unique(), "issue_key": key, "text": "Checked the logs.",
                                 "author": "Jira: Aino Virtanen"}, jira, None, state)
    quoted = run_event(task, {"event_id": unique(), "issue_key": key,
                              "text": f"See {worklog_marker('10001')} for what the customer said; called back."}, jira, None, state)
    assert own["comment_id"] and by_author["comment_id"] and quoted["comment_id"]
    assert [c["id"] for c in jira.iter_comments(key)] == [own["comment_id"], by_author["comment_id"], quoted["comment_id"]]


def test_came_from_jira_knows_only_the_imports_exact_marker():
    from jira_esm_connector.markers import came_from_jira

    assert came_from_jira(f"Looked at it.\n\n{worklog_marker('10001')}")
    assert came_from_jira(f"Aino (ESM): Looked at it.\n\n{worklog_marker('7')}\n")
    assert not came_from_jira("Jira: Looked at it.")
    assert not came_from_jira("Jira:")
    assert not came_from_jira(f"{worklog_marker('7')} was wrong, fixed now")
    assert not came_from_jira("Looked at it. [Jira comment x]")
    assert not came_from_jira("")


@pytest.mark.parametrize("key", [".", ".."])
def test_an_issue_key_that_is_a_path_step_is_a_payload_error_not_retried(jira, state, jira_sim, key):
    """A task file without a key pattern lets "." or ".." through; it names no issue, and a
    retry cannot change that: refused at once (permanent), before Jira is asked."""
    task = make_task(name="comment_anywhere", operation="add_comment",
                     payload={"issue_key": {"type": "string", "required": True}, "text": {"type": "string", "required": True}},
                     issue="{{ issue_key }}", comment="{{ text }}")
    before = jira_sim.stats()["total"]
    with pytest.raises(PayloadError, match="names no issue") as err:
        run_event(task, {"event_id": unique(), "issue_key": key, "text": "hello"}, jira, None, state)
    assert is_permanent(err.value)
    assert jira_sim.stats()["total"] == before


def test_a_payload_that_cannot_be_mapped_fails_the_claimed_event_and_notes_its_card(jira, state):
    """Rendered once, before the claim: a mapping error is raised only after the claim, so the
    event is recorded as failed with it, and the claim still notes the card it writes back to."""
    task = example_task("event_create_user.yaml", user={"email": {"from": "email", "transform": "date"}})
    conf = {"event_id": unique(), "datacard_id": "4711", "email": "not.a.date@example.com"}
    with pytest.raises(PayloadError, match="cannot map the payload: attribute 'email'"):
        run_event(task, conf, jira, None, state, owner="run-1")
    record = state.get_event(task.name, conf["event_id"])
    assert record.status == "failed" and "not a Jira date/time" in record.error
    assert state.event_origins("person", "jira_account_id") == [
        (task.name, conf["event_id"], {"template": "person", "attribute": "jira_account_id", "card_id": "4711"})]


def test_a_third_try_is_still_told_its_payload_was_not_acted_on(jira, state):
    """The first try created the issue with the first payload and crashed; a second try with
    another payload failed before it could finish (Jira answered 503), and a third try comes
    with that same other payload. The issue in Jira still holds the first payload's words, so
    the third try is told its payload differs -- the try just before it is not the one that acted."""
    task = example_task(CREATE, write_back=None)
    conf = {"event_id": unique(), "datacard_id": "1", "subject": "first words"}
    with pytest.raises(SystemExit):
        run_event(task, conf, jira, None, CrashAfterJira(state), owner="run-1")
    other = {**conf, "subject": "second words"}
    down = FirstCallFails(jira, "get_issue", ServiceUnavailableError("Jira answered 503", status=503))
    with pytest.raises(ServiceUnavailableError):
        run_event(task, other, down, None, state, owner="run-1")
    assert down.failed
    third = run_event(task, other, jira, None, state, owner="run-1")
    assert third["replayed"] is False and third["payload_differs"] is True
    assert jira.get_issue(third["issue_key"], fields=["summary"])["fields"]["summary"] == "first words"
    assert len(_issues_for(jira, task.name, conf["event_id"])) == 1
