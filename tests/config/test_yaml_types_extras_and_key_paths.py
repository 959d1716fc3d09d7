"""Task-file values that YAML 1.1 read as something else than was written.

The loader already reads ``yes``/``no``/``on``/``off`` as text (YAML 1.2). The other YAML 1.1
implicit types changed what a task file said just as silently: ``0777`` (an octal number, 511),
``12:30`` (a base-60 number, 750), ``1_000`` (1000), ``0b11`` (3) and dates (``2024-05-01``, a
``date`` object, which a value map's text keys never equal) -- a constant, a map key or a
removal value was written to ESM, or compared, as another value.
"""
from __future__ import annotations

import textwrap

import pytest

from jira_esm_connector.config import TaskFileError, load_task_file
from jira_esm_connector.mapping import compile_attributes

IMPORT = textwrap.dedent(
    """\
    name: jira_issues
    kind: scheduled
    jira_conn_id: jira_default
    esm_conn_id: esm_default
    schedule: null
    mode: full
    mapping_type: generic
    jql: project = SUP
    template: incident
    folder: incident_management
    key: {jira: key, esm: jira_key}
    removed: {attribute: status, value: 07}
    attributes:
      subject: fields.summary
      code: {value: 0777}
      start: {value: 12:30}
      budget: {value: 1_000}
      flags: {value: 0b11}
      since: {value: 2024-05-01}
      category:
        from: fields.customfield_1
        map: {010: ten, 1:30: ninety, 2024-05-01: may}
        default: other
    """
)


def _load(write, text: str = IMPORT):
    return load_task_file(write("jira_issues.yaml", text))


def test_yaml_1_1_numbers_and_dates_are_the_text_written(write):
    task = _load(write)
    apply = compile_attributes(task.effective_attributes, options=task.mapping_options())
    row = apply({"key": "SUP-1", "fields": {"summary": "s", "customfield_1": "010"}})
    assert row["code"] == "0777"  # not 511 (YAML 1.1 octal)
    assert row["start"] == "12:30"  # not 750 (YAML 1.1 base 60)
    assert row["budget"] == "1_000"
    assert row["flags"] == "0b11"
    assert row["since"] == "2024-05-01"  # text, as it would reach ESM
    assert row["category"] == "ten"
    assert task.removal.value == "07"  # cards are marked with the value written, not "7"


@pytest.mark.parametrize("jira_value, expected", [("1:30", "ninety"), ("2024-05-01", "may"), ("10", "other")])
def test_value_map_keys_match_the_text_written(write, jira_value, expected):
    task = _load(write)
    apply = compile_attributes(task.effective_attributes, options=task.mapping_options())
    assert apply({"key": "SUP-1", "fields": {"customfield_1": jira_value}})["category"] == expected


def test_plain_numbers_still_are_numbers(write):
    text = IMPORT.replace("mode: full", "mode: full\npage_size: 0100\noverlap_minutes: 0").replace(
        "removed: {attribute: status, value: 07}",
        "removed: {attribute: status, value: 07, max_share: .25, max_shrink: 1.0e-1}",
    ).replace("code: {value: 0777}", "code: {value: -12}\n  hex: {value: 0x1F}\n  ratio: {value: 2.5}")
    task = _load(write, text)
    assert task.page_size == 100 and task.overlap_minutes == 0
    assert task.removal.max_share == 0.25 and task.removal.max_shrink == pytest.approx(0.1)
    apply = compile_attributes(task.effective_attributes, options=task.mapping_options())
    row = apply({"key": "SUP-1", "fields": {}})
    assert (row["code"], row["hex"], row["ratio"]) == (-12, 31, 2.5)


def test_a_date_default_of_a_text_payload_field_is_its_text(write):
    text = textwrap.dedent(
        """\
        name: push_due
        kind: event
        operation: update_issue
        jira_conn_id: jira_default
        esm_conn_id: esm_default
        payload:
          issue_key: {required: true}
          due: {format: date, default: 2024-05-01}
        issue: "{{ issue_key }}"
        fields:
          duedate: "{{ due }}"
        """
    )
    task = load_task_file(write("push_due.yaml", text))
    assert task.payload["due"].default == "2024-05-01"


def test_an_equals_sign_is_a_value(write):
    text = IMPORT.replace("code: {value: 0777}", "code: {value: =}")
    try:
        task = _load(write, text)
    except TaskFileError as exc:  # YAML 1.1's "value" tag has no constructor
        pytest.fail(str(exc))
    apply = compile_attributes(task.effective_attributes, options=task.mapping_options())
    assert apply({"key": "SUP-1", "fields": {}})["code"] == "="


# --- Airflow connections whose extra fields are not a JSON object ----------------------------------
# Airflow's ``extra_dejson`` turns such extras into {} with only a log line: the connection then
# quietly lost its CA bundle, timeouts or http opt-in, and the error the operator saw blamed
# something else (an untrusted certificate, "set allow_insecure_http" -- which they had set).

import json  # noqa: E402


def _airflow_conn(monkeypatch, name: str, conn: dict) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{name.upper()}", json.dumps(conn))


def test_esm_extras_written_as_a_python_dict_are_named_not_ignored(monkeypatch, esm_sim):
    from jira_esm_connector.hooks.esm import EsmHook

    extra = "{'ca_bundle': '%s', 'timeout': '30'}" % esm_sim.ca_pem  # single quotes: not JSON
    _airflow_conn(monkeypatch, "esm_r23", {"conn_type": "efecte_esm", "host": esm_sim.base_url,
                                           "login": esm_sim.username, "password": esm_sim.password, "extra": extra})
    ok, message = EsmHook(esm_conn_id="esm_r23").test_connection()
    assert not ok
    assert "esm_r23" in message and "extra fields are not valid JSON" in message, message
    assert esm_sim.password not in message and esm_sim.ca_pem not in message
    with pytest.raises(ValueError, match="extra fields are not valid JSON"):
        EsmHook(esm_conn_id="esm_r23").get_client()


def test_jira_extras_with_a_trailing_comma_are_named_not_ignored(monkeypatch):
    from jira_esm_connector.hooks.jira import JiraCloudHook

    _airflow_conn(monkeypatch, "jira_r23", {"conn_type": "jira_cloud", "host": "http://localhost:1",
                                            "login": "a@b.c", "password": "tok-SECRET-23",
                                            "extra": '{"allow_insecure_http": true,}'})
    ok, message = JiraCloudHook(jira_conn_id="jira_r23").test_connection()
    assert not ok
    assert "jira_r23" in message and "extra fields are not valid JSON" in message, message
    assert "line 1 column" in message and "tok-SECRET-23" not in message


@pytest.mark.parametrize("extra", ['["verify", false]', '"verify=false"'])
def test_extras_that_are_not_a_json_object_are_refused(monkeypatch, extra):
    from jira_esm_connector.hooks.jira import JiraCloudHook

    _airflow_conn(monkeypatch, "jira_r23", {"conn_type": "jira_cloud", "host": "https://acme.atlassian.net",
                                            "login": "a@b.c", "password": "tok", "extra": extra})
    with pytest.raises(ValueError, match="must be a JSON object"):
        JiraCloudHook(jira_conn_id="jira_r23").get_client()


@pytest.mark.parametrize("extra", ["", "{}", "null", "  "])
def test_empty_extras_are_no_extras(monkeypatch, extra):
    from jira_esm_connector.hooks.jira import JiraCloudHook

    _airflow_conn(monkeypatch, "jira_r23", {"conn_type": "jira_cloud", "host": "https://acme.atlassian.net",
                                            "login": "a@b.c", "password": "tok", "extra": extra})
    assert JiraCloudHook(jira_conn_id="jira_r23").get_client().base_url == "https://acme.atlassian.net"


# --- anchors right after the ':' of a JSON-style key -----------------------------------------------
# libyaml takes a value written straight after the ':' of a quoted key ({"a":1}) or a flow '?'; an
# anchor or alias there slipped past the quick pre-check (it looked for one after a space, '[',
# '{' or ','),
# so a small file could hold an alias bomb that the first thing walking it (the task digest of
# a run, a staged constant) expanded to gigabytes.

def _json_style_bomb(levels: int = 9) -> str:
    parts = ['"l0":&l0 [' + ",".join(['"lol"'] * 9) + "]"]
    for n in range(1, levels):
        parts.append(f'"l{n}":&l{n} {{' + ",".join(f'"k{i}":*l{n - 1}' for i in range(9)) + "}")
    return "{" + ", ".join(parts) + "}"


@pytest.mark.parametrize("text", ['a: {"x":&x [1], "y":*x}\n', "a: {'x':&x 1}\n", 'a: ["x":&x 1]\n',
                                  "a: [?&x 1]\n", "a: {?&x k: 1}\n"])
def test_an_anchor_after_a_quoted_keys_colon_is_refused(text):
    from jira_esm_connector.config.yamlio import YamlProblem, load_yaml

    with pytest.raises(YamlProblem, match="not allowed"):
        load_yaml(text)


def test_a_json_style_alias_bomb_is_refused(write):
    text = textwrap.dedent(IMPORT).replace("subject: fields.summary", "subject: fields.summary\n  big: {value: "
                                           + _json_style_bomb() + "}")
    assert len(text) < 2000
    with pytest.raises(TaskFileError, match="anchor '&l0' is not allowed"):
        load_task_file(write("bomb.yaml", text))


# --- number settings set to nothing ----------------------------------------------------------------
# A text or folder variable set to nothing (``${VAR:-}`` in a compose file) counts as not set;
# a number variable so set failed ConnectorSettings() -- every connector DAG -- with a pydantic
# "unable to parse string as a number".

@pytest.mark.parametrize("var, attr", [
    ("JIRA_ESM_POOL_SLOTS", "pool_slots"), ("JIRA_ESM_INDEX_LAG_SECONDS", "index_lag_seconds"),
    ("JIRA_ESM_TASK_TIMEOUT_MINUTES", "task_timeout_minutes"), ("JIRA_ESM_RUN_TIMEOUT_MINUTES", "run_timeout_minutes"),
    ("JIRA_ESM_LEASE_WAIT_SECONDS", "lease_wait_seconds"), ("JIRA_ESM_LEASE_TTL_SECONDS", "lease_ttl_seconds"),
    ("JIRA_ESM_EVENT_RETRIES", "event_retries"), ("JIRA_ESM_EVENT_RETRY_DELAY_S", "event_retry_delay_s"),
    ("JIRA_ESM_EVENT_TIMEOUT_MINUTES", "event_timeout_minutes"), ("JIRA_ESM_JIRA_RATE_LIMIT", "jira_rate_limit"),
    ("JIRA_ESM_JIRA_CONCURRENCY", "jira_concurrency"), ("JIRA_ESM_ESM_CONCURRENCY", "esm_concurrency"),
    ("JIRA_ESM_STAGING_RETENTION_HOURS", "staging_retention_hours"),
])
def test_empty_number_variables_are_not_set(monkeypatch, var, attr):
    from jira_esm_connector.config import ConnectorSettings

    default = ConnectorSettings.model_fields[attr].default
    for blank in ("", "  "):
        monkeypatch.setenv(var, blank)
        assert getattr(ConnectorSettings(), attr) == default


def test_empty_cache_clear_hours_still_means_never(monkeypatch):
    from jira_esm_connector.config import ConnectorSettings

    monkeypatch.setenv("JIRA_ESM_CACHE_CLEAR_HOURS", "")
    assert ConnectorSettings().cache_clear_hours == []


# --- key.jira that no record has ---------------------------------------------------------------------
# The attributes of an issue import are checked against what an issue holds; its key path was not,
# nor a group import's (``groupID``): the file loaded, and every run stopped at transform with
# "the key path is empty in this record", naming no file.

@pytest.mark.parametrize("path, hint", [("Key", "did you mean 'key'?"), ("renderedFields.summary", "")])
def test_an_issue_key_path_an_issue_does_not_have_is_refused(write, path, hint):
    with pytest.raises(TaskFileError) as info:
        _load(write, IMPORT.replace("key: {jira: key,", f"key: {{jira: {path},"))
    assert info.value.key == "key.jira" and f"is '{path}', which an issue does not have" in str(info.value)
    assert hint in str(info.value)


@pytest.mark.parametrize("path", ["key", "id", "fields.customfield_10010"])
def test_issue_key_paths_that_issues_have_load(write, path):
    assert _load(write, IMPORT.replace("key: {jira: key,", f"key: {{jira: {path},"))


GROUPS = textwrap.dedent(
    """\
    name: jira_groups
    kind: scheduled
    jira_conn_id: jira_default
    esm_conn_id: esm_default
    schedule: null
    mode: full
    mapping_type: group
    template: group
    folder: groups
    key: {jira: groupId, esm: jira_group_id}
    attributes:
      name: name
    """
)


def test_a_group_key_path_other_than_group_id_or_name_is_refused(write):
    with pytest.raises(TaskFileError) as info:
        load_task_file(write("groups.yaml", GROUPS.replace("jira: groupId", "jira: groupID")))
    assert info.value.key == "key.jira" and "did you mean 'groupId'?" in str(info.value)
    for path in ("groupId", "name"):
        assert load_task_file(write("groups.yaml", GROUPS.replace("jira: groupId", f"jira: {path}"))).key.jira == path


# --- libyaml's words for the usual unquoted values -------------------------------------------------
# "schedule: */30 * * * *" without quotes (the most common cron mistake) read "did not find expected
# alphabetic or numeric character", "@hourly" and a tab "found character that cannot start any token".

@pytest.mark.parametrize("line, expected", [
    ('schedule: */30 * * * *', "a value starting with '*' must be quoted"),
    ("schedule: @hourly", "a value starting with '@' must be quoted"),
    ("date_format: %d.%m.%Y", "a value starting with '%' must be quoted"),
])
def test_an_unquoted_cron_preset_or_pattern_says_to_quote_it(write, line, expected):
    text = IMPORT.replace("schedule: null", line)
    with pytest.raises(TaskFileError) as info:
        _load(write, text)
    assert info.value.line == 5 and expected in str(info.value), str(info.value)


def test_a_tab_in_the_indentation_is_named(write):
    text = IMPORT.replace("  subject: fields.summary", "\tsubject: fields.summary")
    with pytest.raises(TaskFileError, match="a tab character: YAML indents with spaces only"):
        _load(write, text)
