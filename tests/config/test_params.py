"""Params JSON schema for event DAGs, checked with a real JSON-schema validator."""
from __future__ import annotations

import jsonschema
import pytest
from jsonschema import Draft202012Validator

from jira_esm_connector.config import (
    allowed_keys,
    load_task_file,
    param_kwargs,
    params_schema,
)


@pytest.fixture
def create(examples):
    return load_task_file(examples / "create_jira_issue_from_incident.yaml")


def validator(task):
    schema = params_schema(task)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def errors(task, conf):
    return sorted((list(e.path), e.validator) for e in validator(task).iter_errors(conf))


GOOD = {"event_id": "inc-4711-create", "datacard_id": "4711", "subject": "Printer on fire", "priority": "2 - High"}


def test_good_payload_passes(create):
    assert errors(create, GOOD) == []
    assert errors(create, {**GOOD, "description": None, "priority": None}) == []


@pytest.mark.parametrize("conf,expected", [
    ({k: v for k, v in GOOD.items() if k != "event_id"}, ([], "required")),
    ({**GOOD, "event_id": "x" * 201}, (["event_id"], "maxLength")),
    ({k: v for k, v in GOOD.items() if k != "datacard_id"}, ([], "required")),  # write_back needs it
    ({k: v for k, v in GOOD.items() if k != "subject"}, ([], "required")),
    ({**GOOD, "subject": "x" * 256}, (["subject"], "maxLength")),
    ({**GOOD, "subject": 42}, (["subject"], "type")),
    ({**GOOD, "priority": "4 - Low"}, (["priority"], "enum")),
    ({**GOOD, "reporter_email": "not-an-email"}, (["reporter_email"], "format")),
    ({**GOOD, "sneaky": "x"}, ([], "additionalProperties")),
])
def test_bad_payloads_refused_naming_the_field(create, conf, expected):
    assert errors(create, conf) == [expected]


def test_required_flags_and_titles(create):
    schema = params_schema(create)
    assert schema["required"] == ["event_id", "datacard_id", "subject"]
    assert schema["properties"]["subject"]["description"] == "Incident subject"
    assert schema["properties"]["reporter_email"]["title"] == "Reporter email"
    assert schema["additionalProperties"] is False


def test_datacard_optional_without_write_back(examples):
    t = load_task_file(examples / "transition_jira_issue.yaml")
    assert "datacard_id" not in params_schema(t)["required"]
    assert errors(t, {"event_id": "e", "issue_key": "SUP-1", "status": "Done"}) == []
    assert errors(t, {"event_id": "e", "issue_key": "sup 1 OR x", "status": "Done"}) == [(["issue_key"], "pattern")]


def test_allowed_keys(create):
    assert allowed_keys(create) == {"event_id", "datacard_id", "subject", "description", "priority", "reporter_email"}


def test_param_kwargs_are_plain_json_schema_per_field(create):
    kwargs = param_kwargs(create)
    assert list(kwargs)[:3] == ["event_id", "datacard_id", "subject"]
    assert "default" not in kwargs["subject"] and kwargs["subject"]["maxLength"] == 255
    assert kwargs["priority"]["default"] is None
    assert kwargs["priority"]["type"] == ["null", "string"]
    assert None in kwargs["priority"]["enum"]
    # each field's kwargs (minus default/description/title) are a valid schema for that value
    for name, kw in kwargs.items():
        schema = {k: v for k, v in kw.items() if k != "default"}
        Draft202012Validator.check_schema(schema)
        if "default" in kw:
            jsonschema.validate(kw["default"], schema)


def test_param_kwargs_build_airflow_params_that_validate(create):
    """The DAG factory does Param(**kwargs); check Airflow accepts and enforces them."""
    from airflow.sdk import Param
    from airflow.sdk.exceptions import ParamValidationError

    params = {name: Param(**kw) for name, kw in param_kwargs(create).items()}
    assert params["priority"].resolve(None) is None
    assert params["priority"].resolve("2 - High") == "2 - High"
    with pytest.raises(ParamValidationError):
        params["priority"].resolve("9 - Whatever")
    with pytest.raises(ParamValidationError):
        params["subject"].resolve("x" * 256)
    with pytest.raises(ParamValidationError):
        params["event_id"].resolve(None)  # required: no default
    assert params["subject"].description == "Incident subject"


@pytest.mark.parametrize("card_id, validator_name", [
    ("abc", "pattern"),
    ("INC-4711", "pattern"),
    ("0", "pattern"),
    ("0042", "pattern"),
    ("-5", "pattern"),
    ("4711\n", "pattern"),  # Python's $ would let a final line break through
    (" 4711", "pattern"),
    ("4711 OR 1=1", "pattern"),
    ("1" * 19, "pattern"),
    ("", "pattern"),
    (0, "minimum"),
    (-4711, "minimum"),
    (10**18, "maximum"),
    (47.5, "type"),
    (True, "type"),
    ([4711], "type"),
])
def test_datacard_id_must_be_a_card_id(create, card_id, validator_name):
    assert errors(create, {**GOOD, "datacard_id": card_id}) == [(["datacard_id"], validator_name)]


@pytest.mark.parametrize("card_id", ["4711", "1", "9" * 18, 4711, 1])
def test_datacard_id_as_digits_or_integer_passes(create, card_id):
    assert errors(create, {**GOOD, "datacard_id": card_id}) == []


def test_datacard_id_stays_optional_but_checked_without_write_back(examples):
    t = load_task_file(examples / "transition_jira_issue.yaml")
    ok = {"event_id": "e", "issue_key": "SUP-1", "status": "Done"}
    assert errors(t, {**ok, "datacard_id": None}) == []
    assert errors(t, {**ok, "datacard_id": 12}) == []
    assert errors(t, {**ok, "datacard_id": "twelve"}) == [(["datacard_id"], "pattern")]


@pytest.mark.parametrize("event_id", [
    "inc-4711\ncreate", "inc-4711\n", "inc\r4711", "inc\t4711", "inc\x00", "inc\x1b[31m", "inc\x7f",
    "inc\x85", "inc\u2028x", "   ", "\n",
])
def test_event_id_must_be_printable_text(create, event_id):
    assert errors(create, {**GOOD, "event_id": event_id}) == [(["event_id"], "pattern")]


def test_empty_event_id_is_refused(create):
    assert errors(create, {**GOOD, "event_id": ""}) == [(["event_id"], "minLength"), (["event_id"], "pattern")]


@pytest.mark.parametrize("event_id", [
    "inc-4711-create", "a", " spaced out ", 'quotes " and \\ and OR', "Ääkköset 漢字 принтер", "x" * 200,
])
def test_printable_event_ids_pass(create, event_id):
    assert errors(create, {**GOOD, "event_id": event_id}) == []


def test_airflow_params_refuse_bad_card_and_event_ids(create):
    """What Airflow checks at trigger time (HTTP 400): the same schema through Param."""
    from airflow.sdk import Param
    from airflow.sdk.exceptions import ParamValidationError

    params = {name: Param(**kw) for name, kw in param_kwargs(create).items()}
    assert params["datacard_id"].resolve("4711") == "4711"
    assert params["datacard_id"].resolve(4711) == 4711
    for bad in ("abc", "0", 0, "4711\n"):
        with pytest.raises(ParamValidationError):
            params["datacard_id"].resolve(bad)
    assert params["event_id"].resolve("inc-4711") == "inc-4711"
    for bad in ("inc\n4711", "inc\x00", "x" * 201):
        with pytest.raises(ParamValidationError):
            params["event_id"].resolve(bad)


def test_a_huge_event_id_is_refused_quickly(create):
    """Airflow checks the pattern even when the id is far too long: the check must stay linear
    (a pattern with nested repetition took minutes here, holding the API server)."""
    import time

    for huge in ("a" * 40000 + "\n", " " * 40000 + "\x00", "a " * 20000 + "\n"):
        started = time.perf_counter()
        found = errors(create, {**GOOD, "event_id": huge})
        assert time.perf_counter() - started < 2
        assert (["event_id"], "pattern") in found and (["event_id"], "maxLength") in found


def test_an_empty_optional_text_is_not_a_bad_value(create):
    """An ESM workflow sends an empty attribute as "": an optional field's rules (enum, format,
    pattern) hold for a value, not for "" -- which run_event reads as not sent. A required
    field's "" and a bad non-empty value are still refused."""
    assert errors(create, {**GOOD, "priority": "", "reporter_email": "", "description": ""}) == []
    assert errors(create, {**GOOD, "reporter_email": "not-an-email"}) == [(["reporter_email"], "format")]
    assert errors(create, {**GOOD, "priority": "4 - Low"}) == [(["priority"], "enum")]
    assert errors(create, {**GOOD, "subject": ""}) == [(["subject"], "minLength")]


def test_airflow_params_take_an_empty_optional_text(create):
    from airflow.sdk import Param
    from airflow.sdk.exceptions import ParamValidationError

    params = {name: Param(**kw) for name, kw in param_kwargs(create).items()}
    assert params["priority"].resolve("") == ""
    assert params["reporter_email"].resolve("") == ""
    for name, bad in (("reporter_email", "not-an-email"), ("priority", "9 - Whatever"), ("subject", "")):
        with pytest.raises(ParamValidationError):
            params[name].resolve(bad)


def test_run_event_reads_an_empty_optional_text_as_not_sent(create):
    from jira_esm_connector.events.runner import check_payload

    payload = check_payload(create, {**GOOD, "priority": "", "reporter_email": ""})
    assert payload["priority"] is None and payload["reporter_email"] is None
    assert check_payload(create, GOOD)["priority"] == "2 - High"


def test_an_empty_optional_datacard_id_counts_as_not_sent(examples):
    """Without write_back the card id is optional: ESM's workflow sends an empty attribute as
    "", which is no card id -- like the other optional fields, not a bad one. Before, Airflow's
    Params and run_event refused it (pattern). With write_back it stays required: "" refused."""
    from airflow.sdk import Param

    from jira_esm_connector.events.runner import check_payload

    t = load_task_file(examples / "transition_jira_issue.yaml")
    ok = {"event_id": "e", "issue_key": "SUP-1", "status": "Done"}
    assert errors(t, {**ok, "datacard_id": ""}) == []
    assert Param(**param_kwargs(t)["datacard_id"]).resolve("") == ""
    assert check_payload(t, {**ok, "datacard_id": ""})["datacard_id"] is None
    assert errors(t, {**ok, "datacard_id": " "}) == [(["datacard_id"], "pattern")]
    assert errors(t, {**ok, "datacard_id": 0}) == [(["datacard_id"], "minimum")]
