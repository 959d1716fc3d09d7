"""Bad event payloads (DAG run conf).

Each payload is either refused -- by the DAG's Params JSON schema (what Airflow checks at
trigger time) and by the runner alike, with an error naming the field, and with nothing
written to Jira or ESM -- or it passes through inertly: values reach Jira verbatim, JQL
built from them stays one escaped literal (no payload can widen a query), template syntax
inside a value is never evaluated.

Jira and ESM are a scripted local HTTP server that records every request, so the test sees
exactly the JQL, the issue body and the write-back the connector sent.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jira_esm_connector.config import load_task_file
from jira_esm_connector.config.params import params_schema
from jira_esm_connector.esm import eql
from jira_esm_connector.events import clear_field_cache
from jira_esm_connector.events.errors import PayloadError, shown_key
from jira_esm_connector.markers import ISSUE_EVENT_PROPERTY
from jira_esm_connector.events.runner import check_payload, run_event
from jira_esm_connector.jira.jql import jql_quote
from jira_esm_connector.state import StateStore

from .conftest import ESM_ROOT, MAX_MESSAGE, esm_login_route
from .fakeserver import FakeServer, js
from .tally import record

MAPPINGS = Path(__file__).resolve().parents[2] / "include" / "mappings"
TASK = load_task_file(MAPPINGS / "event_create_issue.yaml")  # create_issue + write-back to an incident
ESM_REFERENCE_FIELD = "customfield_10042"
VALIDATOR = jsonschema.Draft202012Validator(
    params_schema(TASK), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)

# ---- the scripted Jira and ESM ------------------------------------------------------------------

_LITERAL = r'"((?:[^"\\]|\\.)*)"'
JQL_FORMS = {
    "property": re.compile(rf"issue\.property\[{re.escape(ISSUE_EVENT_PROPERTY)}\]\.event_id = {_LITERAL}\Z"),
    "label": re.compile(rf"labels = {_LITERAL}\Z"),
}
_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t"}


def jql_literal(jql: str) -> tuple[str, str]:
    """``(form, value)`` of a lookup JQL the connector sends; fails on anything wider."""
    for form, rx in JQL_FORMS.items():
        m = rx.match(jql)
        if m:
            return form, re.sub(r"\\(.)", lambda g: _UNESCAPE.get(g.group(1), g.group(1)), m.group(1))
    raise AssertionError(f"the connector sent a JQL that is not one escaped literal: {jql!r}")


def script(srv: FakeServer, *, property_jql: bool = True) -> None:
    srv.reset()
    srv.route("GET", "/rest/api/3/field", js([
        {"id": "summary", "name": "Summary"}, {"id": "description", "name": "Description"},
        {"id": ESM_REFERENCE_FIELD, "name": "ESM reference", "custom": True},
    ]))

    def search(req):
        jql = req.json()["jql"]
        form, _ = jql_literal(jql)
        if form == "property" and not property_jql:
            return js({"errorMessages": ["Property JQL is not supported here"]}, 400)
        return js({"issues": [], "isLast": True})

    srv.route("POST", "/rest/api/3/search/jql", search)
    srv.route("POST", "/rest/api/3/issue", js({"id": "10001", "key": "SUP-1", "self": "x"}))
    esm_login_route(srv)
    srv.route("PATCH", ESM_ROOT + r"/dc/incident/data/[^/]+",
              lambda req: js({"dataCard": {"dataCardId": req.path.rsplit("/", 1)[-1]}, "meta": {}}))


@pytest.fixture
def state(tmp_path_factory):
    store = StateStore(f"sqlite:///{tmp_path_factory.mktemp('state', numbered=True) / 'state.db'}")
    yield store
    store.engine.dispose()


@pytest.fixture
def fresh_state(tmp_path_factory):
    """A new, empty state store for each hypothesis example (event ids repeat between examples)."""
    folder = tmp_path_factory.mktemp("states", numbered=True)
    made: list[StateStore] = []

    def new() -> StateStore:
        made.append(StateStore(f"sqlite:///{folder / f'state{len(made)}.db'}"))
        return made[-1]

    yield new
    for store in made:
        store.engine.dispose()


# ---- what a payload can look like -------------------------------------------------------------

JQL_META = ['"', "\\", "'", " OR ", ")", "(", " AND ", "~", "!=", " order by key", 'x" OR project != "Y', "\\\"", "*"]
EQL_META = ["$", "'", "''", "\\'", " or ", " and ", "$status$ = 'x'", "%", "') or ($a$ = '"]
TEMPLATES = ["{{ 7*7 }}", "{{ datacard_id }}", "{{ subject }}", "{% for x in range(3) %}x{% endfor %}",
             "{{ ''.__class__.__mro__ }}", "{{ config }}", "{# c #}", "{{", "{%", "}}", "${jndi:x}"]
CONTROL = [chr(c) for c in range(1, 32)] + ["\x7f", "\u2028", "\u202e", "\x00"]


def _mix(pieces: list[str]) -> st.SearchStrategy[str]:
    return st.lists(st.one_of(st.sampled_from(pieces), st.text(max_size=6)), min_size=1, max_size=6).map("".join)


FAMILIES = {
    "JQL metacharacters": _mix(JQL_META),
    "EQL metacharacters": _mix(EQL_META),
    "template syntax": _mix(TEMPLATES),
    "control characters": _mix(CONTROL),
    "huge values": st.integers(256, 200_000).map(lambda n: "x" * n),
}
WRONG_TYPES = st.one_of(
    st.integers(), st.booleans(), st.floats(allow_nan=False), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), st.just(""),
)
# event_id's control characters and datacard_id's form have their own tests below: here
# event_id only carries printable trouble
PRINTABLE_FAMILIES = ("JQL metacharacters", "EQL metacharacters", "template syntax", "huge values")


@st.composite
def payloads(draw, family: str) -> tuple[str, str, dict[str, Any]]:
    conf: dict[str, Any] = {"event_id": f"inc-{draw(st.integers(1, 10**9))}", "datacard_id": "4711", "subject": "Printer on fire"}
    if draw(st.booleans()):
        conf["description"] = "It is on fire.\nReally."
    if draw(st.booleans()):
        conf["priority"] = "2 - High"
    if family == "unknown keys":
        field = draw(st.one_of(st.text(min_size=1, max_size=20), st.integers(60, 100_000).map(lambda n: "k" * n))
                     .filter(lambda k: k not in conf and k not in TASK.payload))
        conf[field] = draw(st.one_of(st.text(max_size=5), st.integers()))
    elif family == "wrong types":
        field = draw(st.sampled_from(["event_id", "datacard_id", "subject", "description", "priority"]))
        # a card id may come as a JSON number (ESM's workflow sends what it has): a positive
        # whole number is a card id, not a wrong type
        wrong = WRONG_TYPES.filter(lambda v: not (field == "datacard_id" and type(v) in (int, float)
                                                  and v >= 1 and float(v).is_integer() and v < 10**18))
        conf[field] = draw(wrong)
    else:
        fields = ["subject", "description", "priority"] + (["event_id"] if family in PRINTABLE_FAMILIES else [])
        field = draw(st.sampled_from(fields))
        conf[field] = draw(FAMILIES[family])
    return family, field, conf


def _schema_refusals(conf: dict[str, Any]) -> list[str]:
    """Which fields the trigger-time schema refuses (what Airflow answers with HTTP 400)."""
    out = []
    for err in VALIDATOR.iter_errors(conf):
        if err.absolute_path:
            out.append(str(err.absolute_path[0]))
        elif err.validator in ("required", "additionalProperties"):
            out.append(err.message)
        else:
            out.append(f"(whole payload) {err.message[:100]}")
    return out


@pytest.mark.parametrize("family", [*FAMILIES, "wrong types", "unknown keys"])
@settings(max_examples=30)
@given(data=st.data(), resumed=st.booleans(), property_jql=st.booleans())
def test_payloads_are_refused_naming_the_field_or_pass_inertly(
    family: str, data, resumed: bool, property_jql: bool, fake: FakeServer, jira_client, esm_client, fresh_state
) -> None:
    _, field, conf = data.draw(payloads(family), label="payload")
    state = fresh_state()
    script(fake, property_jql=property_jql)
    clear_field_cache()
    schema_says = _schema_refusals(conf)
    if resumed and isinstance(conf.get("event_id"), str) and conf["event_id"]:
        # an earlier attempt began and never recorded an outcome: the connector looks in
        # Jira (by JQL) before creating anything
        state.begin_event(TASK.name, conf["event_id"], owner="run-1")
    try:
        result = run_event(TASK, conf, jira_client, esm_client, state, owner="run-1", wait_for_other=0)
    except PayloadError as exc:
        msg = str(exc)
        writes = fake.writes()
        if writes:
            record(f"payload: {family}", "partial")
        assert not writes, f"refused, but wrote {[(w.method, w.path) for w in writes]}"
        named = field if field in TASK.payload or field in ("event_id", "datacard_id") else shown_key(field)
        assert named in msg, f"the refusal does not name {field!r:.100}: {msg[:300]}"
        assert len(msg) < MAX_MESSAGE, f"unbounded message ({len(msg)} characters)"
        assert schema_says, f"the runner refused what the trigger-time schema accepts: {msg[:300]}"
        assert any(field in s or repr(field)[1:-1][:50] in s for s in schema_says), (
            f"the schema does not name {field!r:.100}: {[s[:200] for s in schema_says]}"
        )
        record(f"payload: {family}", "refused")
        return
    except Exception as exc:  # noqa: BLE001 - the point of the suite
        pytest.fail(f"raw {type(exc).__name__} instead of a clear refusal: {exc!s:.300}")

    assert not schema_says, f"the schema refuses {schema_says} but the runner acted"
    # "" for an optional text is "not sent" (how ESM sends an empty attribute)
    optional_empty = conf.get(field) == "" and field in TASK.payload and not TASK.payload[field].required
    assert family not in ("wrong types", "unknown keys") or optional_empty, f"{field}={conf[field]!r:.100} was accepted"
    # inert: the value arrived as data, exactly
    [create] = fake.calls("POST", "/rest/api/3/issue")
    sent = create.json()["fields"]
    assert sent["summary"] == conf["subject"], "the summary is not the subject as sent"
    assert sent[ESM_REFERENCE_FIELD] == "4711"
    if conf.get("description"):
        # rich text: the same characters, whitespace (line breaks, tabs) aside
        assert _visible(_adf_text(sent.get("description"))) == _visible(conf["description"])
    assert result["issue_key"] == "SUP-1" and result["event_id"] == conf["event_id"]
    for search in fake.calls("POST", "/rest/api/3/search/jql"):
        form, value = jql_literal(search.json()["jql"])
        assert value == (conf["event_id"] if form == "property" else _label(conf["event_id"]))
    if resumed:
        assert fake.calls("POST", "/rest/api/3/search/jql"), "a resumed event did not look in Jira first"
    [patch] = fake.calls("PATCH", ESM_ROOT + "/dc/incident/data/4711")
    assert patch.json()["data"] == {"jira_key": {"values": [{"value": "SUP-1"}]}} or "SUP-1" in json.dumps(patch.json())
    record(f"payload: {family}", "inert")


def _label(event_id: str) -> str:
    from jira_esm_connector.markers import EventRef

    return EventRef(TASK.name, event_id).label


def _visible(text: str) -> str:
    return "".join(c for c in text if not c.isspace())


def _adf_text(node: Any) -> str:
    if isinstance(node, dict):
        if node.get("type") == "text":
            return node.get("text", "")
        if node.get("type") == "hardBreak":
            return "\n"
        return "".join(_adf_text(c) for c in node.get("content") or [])
    if isinstance(node, list):
        return "".join(_adf_text(c) for c in node)
    return ""


@given(value=st.one_of(*FAMILIES.values(), st.text()))
def test_jql_quote_keeps_any_printable_value_one_literal(value: str) -> None:
    """The escaping every JQL built from outside values goes through."""
    try:
        quoted = jql_quote(value)
    except ValueError as exc:  # control characters are refused, by name
        assert "control character" in str(exc)
        assert any(ord(c) < 32 or ord(c) == 127 for c in value if c not in "\n\r\t")
        record("JQL value escaping", "refused")
        return
    form, back = jql_literal(f"labels = {quoted}")
    assert form == "label" and back == value
    record("JQL value escaping", "inert")


@given(value=st.one_of(*FAMILIES.values(), st.text()))
def test_eql_filter_keeps_any_value_one_literal(value: str) -> None:
    """A value in an ESM filter (``eql.eq``) is one literal to ESM's own tokenizer."""
    from devtools.esm_simulator.eql import _tokenise

    try:
        flt = eql.eq("jira_key", value)
    except ValueError as exc:
        assert "NUL" in str(exc) and "\x00" in value
        record("EQL value escaping", "refused")
        return
    kinds = [(t.kind, t.value) for t in _tokenise(flt)]
    assert [k for k, _ in kinds] in (["attr", "op", "str", "end"], ["lpar", "attr", "op", "str", "rpar", "end"]), flt
    assert [v for k, v in kinds if k == "str"] == [value]
    record("EQL value escaping", "inert")


# ---- fixed by the parallel issue-8 work (xfail until then; see conftest.PARALLEL_FIXES) --------

@pytest.mark.parametrize("datacard_id", ["abc", "-1", "0", "4711 OR 1=1", "../4711", "4711/jira_key", " ", "1e3", "४७११"])
def test_datacard_id_must_be_a_positive_integer(datacard_id: str, fake: FakeServer, jira_client, esm_client, state) -> None:
    """A datacard_id that cannot name an ESM card is refused at trigger time -- not after
    the Jira issue exists and the write-back fails (a partial effect)."""
    script(fake)
    conf = {"event_id": f"dc-{datacard_id}", "datacard_id": datacard_id, "subject": "s"}
    assert any("datacard_id" in s for s in _schema_refusals(conf)), "the trigger-time schema accepts it"
    with pytest.raises(PayloadError, match="datacard_id"):
        run_event(TASK, conf, jira_client, esm_client, state, owner="run-1", wait_for_other=0)
    assert fake.writes() == []
    record("payload: datacard_id form", "refused")


@pytest.mark.parametrize("ch", ["\x00", "\n", "\r", "\t", "\x1b", "\x7f"])
def test_event_id_with_control_characters_is_refused(ch: str, fake: FakeServer, jira_client, esm_client, state) -> None:
    script(fake)
    conf = {"event_id": f"inc{ch}4711", "datacard_id": "4711", "subject": "s"}
    assert any("event_id" in s for s in _schema_refusals(conf)), "the trigger-time schema accepts it"
    with pytest.raises(PayloadError, match="event_id"):
        check_payload(TASK, conf)
    state.begin_event(TASK.name, conf["event_id"], owner="run-1")  # resumed: the JQL lookup path
    with pytest.raises(PayloadError, match="event_id"):
        run_event(TASK, conf, jira_client, esm_client, state, owner="run-1", wait_for_other=0)
    assert fake.writes() == []
    record("payload: event_id control characters", "refused")
