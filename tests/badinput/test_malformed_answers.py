"""Malformed Jira and ESM answers, served by a scripted local HTTP server.

Every client call either returns well-formed data (the answer was fine after all) or
raises a typed :class:`ConnectorHTTPError` whose message names the endpoint (path, never
the query string or a secret) and stays short -- never a raw KeyError, TypeError,
AttributeError or JSONDecodeError. Steps that write (an import's load, an event's create)
write nothing when what they read first was malformed.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jira_esm_connector.esm.models import BulkImportResult, EsmCard, TemplateInfo, TemplateSummary
from jira_esm_connector.http import ConnectorHTTPError
from jira_esm_connector.pipeline.quality import QualityError
from jira_esm_connector.pipeline.transform import TransformError

from .conftest import ESM_PASSWORD, ESM_ROOT, MAX_MESSAGE, SECRET_TOKEN, esm_login_route
from .fakeserver import PROXY_502_PAGE, Answer, FakeServer, js
from .tally import record


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str  # as the connector sends it (regex-safe: no special characters besides '.')
    good: Any  # a well-formed answer
    call: Callable[[Any], Any]
    well_formed: Callable[[Any], bool]
    offset_paged: bool = False  # a bare-array listing: the client pages on until an empty page


def _serve(fake: FakeServer, ep: Endpoint, answer: Answer) -> None:
    """Route ``answer`` for ``ep``; an offset-paged listing gets it as its first page and an
    empty page after it (the client stops only on an empty page: Jira shortens pages at will)."""
    if not ep.offset_paged:
        fake.route(ep.method, ep.path, answer)
        return
    fake.route(ep.method, ep.path, lambda req: answer if req.query.get("startAt", ["0"])[0] == "0" else js([]))


def _dicts(result: Any) -> bool:
    return isinstance(result, list) and all(isinstance(i, dict) for i in result)


def _dict_with(*keys: str) -> Callable[[Any], bool]:
    return lambda r: isinstance(r, dict) and all(r.get(k) not in (None, "") for k in keys)


ISSUE = {"id": "10001", "key": "SUP-1", "fields": {"summary": "s", "updated": "2026-01-01T00:00:00.000+0000"}}

JIRA_ENDPOINTS = [
    Endpoint("search", "POST", "/rest/api/3/search/jql", {"issues": [ISSUE], "isLast": True},
             lambda c: list(c.search("project = SUP", fields=["summary"])), _dicts),
    Endpoint("fields", "GET", "/rest/api/3/field", [{"id": "summary", "name": "Summary"}],
             lambda c: c.fields(), _dicts),
    Endpoint("transitions", "GET", "/rest/api/3/issue/SUP-1/transitions",
             {"transitions": [{"id": "31", "name": "Done", "to": {"name": "Done"}}]},
             lambda c: c.get_transitions("SUP-1"), _dicts),
    Endpoint("users", "GET", "/rest/api/3/users/search", [{"accountId": "a1", "displayName": "A"}],
             lambda c: list(c.iter_users()), _dicts, offset_paged=True),
    Endpoint("find_users", "GET", "/rest/api/3/user/search", [{"accountId": "a1", "emailAddress": "a@x.org"}],
             lambda c: c.find_users("a@x.org"), _dicts, offset_paged=True),
    Endpoint("groups", "GET", "/rest/api/3/group/bulk", {"values": [{"groupId": "g1", "name": "team"}], "isLast": True},
             lambda c: list(c.iter_groups()), _dicts),
    Endpoint("members", "GET", "/rest/api/3/group/member", {"values": [{"accountId": "a1"}], "isLast": True},
             lambda c: list(c.iter_group_members(group_id="g1")), _dicts),
    Endpoint("comments", "GET", "/rest/api/3/issue/SUP-1/comment",
             {"comments": [{"id": "5", "body": {"type": "doc", "version": 1, "content": []}}], "startAt": 0, "total": 1},
             lambda c: list(c.iter_comments("SUP-1")), _dicts),
    Endpoint("get_issue", "GET", "/rest/api/3/issue/SUP-1", ISSUE,
             lambda c: c.get_issue("SUP-1", fields=["status"]), _dict_with("key")),
    Endpoint("bulk_fetch", "POST", "/rest/api/3/issue/bulkfetch", {"issues": [ISSUE], "issueErrors": []},
             lambda c: c.bulk_fetch(["SUP-1"]), _dicts),
    Endpoint("approximate_count", "POST", "/rest/api/3/search/approximate-count", {"count": 3},
             lambda c: c.approximate_count("project = SUP"), lambda r: isinstance(r, int) and not isinstance(r, bool)),
    Endpoint("issue_property", "GET", "/rest/api/3/issue/SUP-1/properties/p.x", {"key": "p.x", "value": {"event_id": "e"}},
             lambda c: c.get_issue_property("SUP-1", "p.x"), lambda r: r is None or isinstance(r, (dict, list, str, int, float, bool))),
    Endpoint("create_issue", "POST", "/rest/api/3/issue", {"id": "10002", "key": "SUP-2", "self": "x"},
             lambda c: c.create_issue({"project": {"key": "SUP"}, "issuetype": {"name": "Bug"}, "summary": "s"}),
             _dict_with("key")),
    Endpoint("add_comment", "POST", "/rest/api/3/issue/SUP-1/comment", {"id": "77"},
             lambda c: c.add_comment("SUP-1", {"type": "doc", "version": 1, "content": []}), _dict_with("id")),
    Endpoint("create_user", "POST", "/rest/api/3/user", {"accountId": "a9", "emailAddress": "n@x.org"},
             lambda c: c.create_user("n@x.org", ["jira-software"]), _dict_with("accountId")),
    Endpoint("create_group", "POST", "/rest/api/3/group", {"groupId": "g9", "name": "new"},
             lambda c: c.create_group("new"), _dict_with("groupId")),
]

CARD = {"dataCardId": "5", "name": "c", "templateCode": "incident", "data": {"subject": {"values": [{"value": "x"}]}}}


def _cards(result: Any) -> bool:
    return isinstance(result, list) and all(isinstance(c, EsmCard) and c.data_card_id not in ("", "None") for c in result)


ESM_ENDPOINTS = [
    Endpoint("templates", "GET", ESM_ROOT + "/dc", [{"templateCode": "incident", "name": "Incident"}],
             lambda c: c.templates(), lambda r: isinstance(r, list) and all(isinstance(t, TemplateSummary) for t in r)),
    Endpoint("template", "GET", ESM_ROOT + "/dc/incident",
             {"code": "incident", "name": "Incident", "attributes": {"subject": {"name": "Subject", "type": "string"}},
              "allowedFolders": [{"folderCode": "f", "folderName": "F"}]},
             lambda c: c.template("incident"), lambda r: isinstance(r, TemplateInfo)),
    Endpoint("iter_cards", "GET", ESM_ROOT + "/dc/incident/data", {"data": [CARD], "meta": {}},
             lambda c: list(c.iter_cards("incident")), _cards),
    Endpoint("get_card", "GET", ESM_ROOT + "/dc/incident/data/5", CARD,
             lambda c: c.get_card("incident", "5"), lambda r: _cards([r])),
    Endpoint("bulk_import", "PUT", ESM_ROOT + "/dc/incident/data",
             {"data": [{"dataCard": {"dataCardId": "7"}}], "meta": {"importResult": {"savedDataCards": 1}}},
             lambda c: c.bulk_import("incident", [{"data": {"subject": "x"}, "folder": "f"}]),
             lambda r: isinstance(r, BulkImportResult) and all(o.status in ("created", "updated", "refused") for o in r.outcomes)),
    Endpoint("patch_card", "PATCH", ESM_ROOT + "/dc/incident/data/5", {"dataCard": {"dataCardId": "5"}, "meta": {}},
             lambda c: c.patch_card("incident", "5", {"subject": "x"}), lambda r: r is None),
]

# ---- strategies: how an answer goes wrong ------------------------------------------------------

WRONG_VALUES = st.one_of(
    st.none(),
    st.text(max_size=20),
    st.integers(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.one_of(st.integers(), st.text(max_size=5), st.none()), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place inside a JSON value (top level, keys, first list items), depth <= 3."""
    out = [prefix]
    if len(prefix) >= 3:
        return out
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(value, list) and value:
        out += _paths(value[0], prefix + (0,))
    return out


def _replace(doc: Any, path: tuple, new: Any, delete: bool) -> Any:
    if not path:
        return new
    doc = copy.deepcopy(doc)
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return doc


@st.composite
def malformed_answers(draw, good: Any) -> tuple[str, Answer]:
    raw = json.dumps(good).encode()
    kind = draw(st.sampled_from(["truncated", "cut off in transfer", "html page", "wrong type", "missing key"]))
    if kind == "truncated":
        return kind, Answer(200, raw[: draw(st.integers(0, len(raw) - 1))])
    if kind == "cut off in transfer":
        return kind, Answer(200, raw[: draw(st.integers(0, len(raw) - 1))], cut_short=True)
    if kind == "html page":
        status = draw(st.sampled_from([200, 502, 503, 500, 404]))
        return kind, Answer(status, PROXY_502_PAGE, "text/html")
    places = [p for p in _paths(good) if kind == "wrong type" or (p and isinstance(p[-1], str))]
    path = draw(st.sampled_from(places))
    if kind == "missing key":
        return kind, js(_replace(good, path, None, delete=True))
    return kind, js(_replace(good, path, draw(WRONG_VALUES), delete=False))


def _check(ep: Endpoint, client: Any, srv: FakeServer, input_class: str) -> None:
    try:
        result = ep.call(client)
    except ConnectorHTTPError as exc:
        msg = str(exc)
        assert ep.path.replace(ESM_ROOT, "") in msg or ep.path in msg, f"the error does not name {ep.path}: {msg}"
        assert len(msg) < MAX_MESSAGE, f"unbounded message ({len(msg)} characters)"
        for secret in (SECRET_TOKEN, ESM_PASSWORD, "maxResults=", "startAt="):
            assert secret not in msg and secret not in repr(exc)
        record(input_class, "refused")
    except Exception as exc:  # noqa: BLE001 - the point of the suite
        pytest.fail(f"{ep.name}: raw {type(exc).__name__} instead of a typed error: {exc!s:.300}")
    else:
        assert ep.well_formed(result), f"{ep.name} returned malformed data without complaint: {result!r:.300}"
        record(input_class, "inert")


@pytest.mark.parametrize("ep", JIRA_ENDPOINTS, ids=lambda e: e.name)
def test_good_jira_answers_are_accepted(ep: Endpoint, fake: FakeServer, jira_client) -> None:
    _serve(fake, ep, js(ep.good))
    assert ep.well_formed(ep.call(jira_client))


@pytest.mark.parametrize("ep", ESM_ENDPOINTS, ids=lambda e: e.name)
def test_good_esm_answers_are_accepted(ep: Endpoint, fake: FakeServer, esm_client) -> None:
    esm_login_route(fake)
    _serve(fake, ep, js(ep.good))
    assert ep.well_formed(ep.call(esm_client))


@given(data=st.data())
def test_malformed_jira_answers_give_typed_errors(data, fake: FakeServer, jira_client) -> None:
    ep = data.draw(st.sampled_from(JIRA_ENDPOINTS), label="endpoint")
    kind, answer = data.draw(malformed_answers(ep.good), label="answer")
    fake.reset()
    _serve(fake, ep, answer)
    _check(ep, jira_client, fake, f"Jira answer: {kind}")


@given(data=st.data())
def test_malformed_esm_answers_give_typed_errors(data, fake: FakeServer, esm_client) -> None:
    ep = data.draw(st.sampled_from(ESM_ENDPOINTS), label="endpoint")
    kind, answer = data.draw(malformed_answers(ep.good), label="answer")
    fake.reset()
    esm_login_route(fake)
    _serve(fake, ep, answer)
    _check(ep, esm_client, fake, f"ESM answer: {kind}")


# ---- the shapes that used to pass silently -----------------------------------------------------

@pytest.mark.parametrize(
    "body, wrong",
    [
        ({"issues": None, "isLast": True}, "issues"),
        ({"issues": "SUP-1", "isLast": True}, "issues"),
        ({"isLast": True}, "issues"),
        ({"issues": [1, 2], "isLast": True}, "issues"),
        ([{"key": "SUP-1"}], "object"),
        ({"issues": [ISSUE], "isLast": "no", "nextPageToken": 5}, "nextPageToken"),
        (None, "empty"),
    ],
    ids=["null", "string", "missing", "not-objects", "array", "bad-token", "empty-body"],
)
def test_search_page_of_the_wrong_shape_is_not_an_empty_result(body, wrong, fake: FakeServer, jira_client) -> None:
    """A full import that took ``issues: null`` for "no issues" would mark every card removed."""
    fake.route("POST", "/rest/api/3/search/jql", Answer(200, b"" if body is None else json.dumps(body).encode()))
    with pytest.raises(ConnectorHTTPError) as caught:
        list(jira_client.search("project = SUP"))
    msg = str(caught.value)
    assert "/rest/api/3/search/jql" in msg and wrong.lower() in msg.lower(), msg
    record("Jira answer: wrong shape (search)", "refused")


def test_card_without_an_id_is_refused(fake: FakeServer, esm_client) -> None:
    esm_login_route(fake)
    fake.route("GET", ESM_ROOT + "/dc/incident/data", js({"data": [{"name": "no id"}], "meta": {}}))
    with pytest.raises(ConnectorHTTPError, match="dataCardId"):
        list(esm_client.iter_cards("incident"))
    record("ESM answer: wrong shape (cards)", "refused")


# ---- no partial effects: a malformed answer stops a step before it writes -------------------------

def _import_task():
    from jira_esm_connector.config import load_task_file, parse_task

    import yaml

    path = __import__("pathlib").Path(__file__).resolve().parents[2] / "include" / "mappings" / "import_3_issues_to_incidents.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc.update(mode="full", removed={"attribute": "status", "value": "07 - Removed"})
    try:
        return parse_task(doc, path.name)
    except Exception:  # the removal block's shape is the task file's business: keep it incremental
        return load_task_file(path)


def _issue(n: int) -> dict[str, Any]:
    return {"id": str(10000 + n), "key": f"SUP-{n}", "fields": {
        "summary": f"issue {n}", "updated": "2026-01-01T00:00:00.000+0000", "status": {"name": "Open"},
        "priority": {"name": "High"}, "description": None}}


def _script_import(srv: FakeServer, page2: Answer) -> None:
    srv.reset()

    def search(req):
        token = req.json().get("nextPageToken")
        if token is None:
            return js({"issues": [_issue(1), _issue(2)], "nextPageToken": "page-2", "isLast": False})
        return page2

    def bulkfetch(req):  # the records of the listed ids, well-formed: the listing is what is malformed here
        known = {str(10000 + n): _issue(n) for n in (1, 2, 3)} | {f"SUP-{n}": _issue(n) for n in (1, 2, 3)}
        asked = [str(i) for i in req.json().get("issueIdsOrKeys") or []]
        return js({"issues": [known[i] for i in asked if i in known],
                   "issueErrors": [{"id": i, "errorMessage": "Issue does not exist"} for i in asked if i not in known]})

    srv.route("POST", "/rest/api/3/search/jql", search)
    srv.route("POST", "/rest/api/3/issue/bulkfetch", bulkfetch)
    srv.route("GET", "/rest/api/3/myself", js({"accountId": "me", "timeZone": "UTC"}))
    esm_login_route(srv)
    srv.route("GET", ESM_ROOT + r"/dc/[a-z_]+/data", js({"data": [], "meta": {}}))
    srv.route("PUT", ESM_ROOT + r"/dc/[a-z_]+/data",
              lambda req: js({"data": [{"dataCard": {"dataCardId": str(900 + i)}} for i, _ in enumerate(req.json())]}))


@settings(max_examples=25)  # a whole import per example
@given(data=st.data())
def test_an_import_with_a_malformed_page_writes_nothing_to_esm(data, fake: FakeServer, jira_client, esm_client, tmp_path_factory) -> None:
    """Page 1 is fine, page 2 is malformed: extract fails, ESM sees no write at all (and a
    full import does not take the broken page for "the other issues are gone")."""
    from jira_esm_connector.pipeline import run_import
    from jira_esm_connector.state import StateStore

    kind, page2 = data.draw(malformed_answers({"issues": [_issue(3)], "isLast": True}), label="page 2")
    _script_import(fake, page2)
    task = _import_task()
    root = tmp_path_factory.mktemp("import", numbered=True)
    state = StateStore(f"sqlite:///{root / 'state.db'}")
    try:
        run_import(task, jira_client, esm_client, state, root / "staging", "manual__badinput")
    except (ConnectorHTTPError, TransformError, QualityError) as exc:
        writes = fake.writes()
        if writes:
            record(f"import: page 2 {kind}", "partial")
        assert not writes, f"the import failed ({exc}) but wrote {[(w.method, w.path) for w in writes]}"
        if isinstance(exc, ConnectorHTTPError):
            assert "/rest/api/3/search/jql" in str(exc), str(exc)
        else:  # an issue without its key or summary: transform / quality gate name it, load nothing
            assert "nothing was loaded to ESM" in str(exc), str(exc)
        assert len(str(exc)) < MAX_MESSAGE
        record(f"import: page 2 {kind}", "refused")
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"raw {type(exc).__name__} from the import: {exc!s:.300}")
    else:  # page 2 was well-formed after all (e.g. an optional key missing): a normal run
        record(f"import: page 2 {kind}", "inert")
    finally:
        state.engine.dispose()


@pytest.mark.parametrize("answer", [
    Answer(200, b'[{"id": "summary", "name": "Summ'),
    Answer(200, PROXY_502_PAGE, "text/html"),
    Answer(502, PROXY_502_PAGE, "text/html"),
    js({"fields": []}),
    js([{"name": "no id"}]),
    js(None),
], ids=["truncated", "html-200", "html-502", "object", "no-id", "null"])
def test_an_event_with_a_malformed_field_list_creates_nothing(answer: Answer, fake: FakeServer, jira_client, esm_client, tmp_path) -> None:
    """The custom field names are resolved before the create: a broken field list stops the
    event before Jira or ESM is written to."""
    from jira_esm_connector.config import load_task_file
    from jira_esm_connector.events import clear_field_cache, run_event
    from jira_esm_connector.state import StateStore

    task = load_task_file(__import__("pathlib").Path(__file__).resolve().parents[2] / "include" / "mappings" / "event_create_issue.yaml")
    fake.route("GET", "/rest/api/3/field", answer)
    fake.route("POST", "/rest/api/3/issue", js({"id": "1", "key": "SUP-1"}))
    esm_login_route(fake)
    clear_field_cache()
    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        with pytest.raises(ConnectorHTTPError) as caught:
            run_event(task, {"event_id": "e-1", "datacard_id": "4711", "subject": "s"}, jira_client, esm_client, state,
                      owner="run-1", wait_for_other=0)
    finally:
        state.engine.dispose()
    assert "/rest/api/3/field" in str(caught.value)
    assert fake.writes() == []
    record("event: malformed field list", "refused")


@pytest.mark.parametrize("answer", [
    js({"id": "10001"}),  # no key
    Answer(201, b'{"id": "10001", "key": "SU'),  # cut off
], ids=["no-key", "truncated"])
def test_a_malformed_create_answer_is_checked_not_repeated_blindly(answer: Answer, fake: FakeServer, jira_client, tmp_path, monkeypatch) -> None:
    """Jira may have created the issue although its answer was broken: the connector looks
    for it (by the event's property) before creating again, and finds it -- one issue."""
    from jira_esm_connector.config import load_task_file
    from jira_esm_connector.events import clear_field_cache, operations, run_event
    from jira_esm_connector.markers import ISSUE_EVENT_PROPERTY
    from jira_esm_connector.state import StateStore

    monkeypatch.setattr(operations, "LOOKUP_PAUSES", (0.0,))
    task = load_task_file(__import__("pathlib").Path(__file__).resolve().parents[2] / "include" / "mappings" / "event_create_issue.yaml")
    task = task.model_copy(update={"write_back": None})
    created: list[dict] = []

    def create(req):
        created.append(req.json())
        return answer if len(created) == 1 else js({"id": "10002", "key": "SUP-2"})

    fake.route("GET", "/rest/api/3/field", js([{"id": "customfield_10042", "name": "ESM reference"}]))
    fake.route("POST", "/rest/api/3/issue", create)
    fake.route("POST", "/rest/api/3/search/jql", lambda req: js({"issues": [{"id": "10001", "key": "SUP-1"}], "isLast": True}))
    fake.route("GET", f"/rest/api/3/issue/SUP-1/properties/{re_escape(ISSUE_EVENT_PROPERTY)}",
               lambda req: js({"key": ISSUE_EVENT_PROPERTY, "value": created[0]["properties"][0]["value"]}))
    clear_field_cache()
    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        result = run_event(task, {"event_id": "e-9", "subject": "s"}, jira_client, None, state, owner="r", wait_for_other=0)
    finally:
        state.engine.dispose()
    assert result["issue_key"] == "SUP-1" and len(created) == 1
    record("event: malformed create answer", "inert")


def re_escape(text: str) -> str:
    import re

    return re.escape(text)
