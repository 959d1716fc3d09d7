"""Connection type registration, hook configuration, token expiry warnings, JQL escaping."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import jsonschema
import pytest

from jira_esm_connector.http import InsecureURLError
from jira_esm_connector.jira import JiraClient, jql_list, jql_quote
from jira_esm_connector.jira.paginators import OffsetArrayPaginator, PagingError, StartAtPaginator, TokenPaginator
from jira_esm_connector.provider import CONNECTION_TYPES, get_provider_info

VENV_BIN = Path(sys.executable).parent


def test_the_clients_import_no_airflow():
    """jira/ and esm/ are plain clients; the Airflow hooks live in hooks/."""
    code = (
        "import sys, jira_esm_connector.jira, jira_esm_connector.esm, jira_esm_connector.hooks; "
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_provider_info_matches_airflow_schema():
    import airflow

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    jira = next(c for c in info["connection-types"] if c["connection-type"] == "jira_cloud")
    assert jira["hook-class-name"] == "jira_esm_connector.hooks.jira.JiraCloudHook"
    assert set(jira["conn-fields"]) >= {"expiry_date", "ca_bundle", "verify", "allow_insecure_http"}
    assert isinstance(CONNECTION_TYPES, list)


def test_provider_module_imports_nothing_heavy():
    code = "import sys, jira_esm_connector.provider as p; p.get_provider_info(); print(sorted(m for m in ('airflow','requests','urllib3','pydantic') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_providers_manager_registers_jira_cloud():
    from airflow.providers_manager import ProvidersManager

    pm = ProvidersManager()
    hook = pm.hooks.get("jira_cloud")
    assert hook is not None
    assert hook.hook_class_name == "jira_esm_connector.hooks.jira.JiraCloudHook"
    assert hook.connection_id_attribute_name == "jira_conn_id"
    assert hook.connection_testable
    widgets = pm.connection_form_widgets
    assert "extra__jira_cloud__expiry_date" in widgets
    assert widgets["extra__jira_cloud__verify"].field["value"] is True
    assert pm.field_behaviours["jira_cloud"]["relabeling"]["password"] == "API token"


def test_airflow_providers_hooks_cli_lists_jira_cloud(tmp_path):
    import os

    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    out = subprocess.run(
        [str(VENV_BIN / "airflow"), "providers", "hooks", "--output", "json"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    rows = json.loads(out.stdout[out.stdout.index("[") :])
    jira = [r for r in rows if r.get("connection_type") == "jira_cloud"]
    assert jira and jira[0]["class"] == "jira_esm_connector.hooks.jira.JiraCloudHook"


def _conn(monkeypatch, **conn):
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_UNIT", json.dumps({"conn_type": "jira_cloud", **conn}))


def test_hook_builds_client_from_connection(monkeypatch, tmp_path):
    from jira_esm_connector.hooks.jira import JiraCloudHook

    ca = tmp_path / "ca.pem"
    ca.write_text("not used before a request")
    _conn(
        monkeypatch, host="https://acme.atlassian.net/", login="ops@acme.example", password="tok-SECRET-1",
        extra={"token_expires": "2099-01-31", "ca_bundle": str(ca), "verify": "true"},
    )
    hook = JiraCloudHook(jira_conn_id="jira_unit")
    client = hook.get_client()
    assert client.base_url == "https://acme.atlassian.net"
    assert client.email == "ops@acme.example"
    assert client.token_expires == date(2099, 1, 31)
    assert client._session.verify == str(ca)
    assert hook.get_client() is client  # one client, one reused session
    assert "tok-SECRET-1" not in repr(client) + repr(hook) + repr(client._session)


def test_hook_puts_the_port_of_a_bare_host_name_before_any_path(monkeypatch, jira_sim):
    from urllib.parse import urlsplit

    from jira_esm_connector.hooks.jira import JiraCloudHook

    site = urlsplit(jira_sim.base_url)
    _conn(monkeypatch, host=f"{site.hostname}/", port=site.port, login=jira_sim.email, password=jira_sim.token,
          extra={"ca_bundle": jira_sim.ca_pem})
    assert JiraCloudHook(jira_conn_id="jira_unit").get_client().base_url == f"https://{site.hostname}:{site.port}"
    ok, message = JiraCloudHook(jira_conn_id="jira_unit").test_connection()
    assert ok, message


def test_hook_passes_the_rate_and_concurrency_settings_and_clients_share_the_site_limiter(monkeypatch):
    from jira_esm_connector.hooks.jira import JiraCloudHook

    _conn(monkeypatch, host="https://limits.atlassian.net", login="ops@acme.example", password="tok")
    monkeypatch.setenv("JIRA_ESM_JIRA_RATE_LIMIT", "12.5")
    monkeypatch.setenv("JIRA_ESM_JIRA_CONCURRENCY", "24")
    first = JiraCloudHook(jira_conn_id="jira_unit").get_client()
    second = JiraCloudHook(jira_conn_id="jira_unit").get_client()
    assert first is not second and first.limiter is second.limiter  # one limiter per site and process
    assert (first.concurrency, first.limiter.rate, first.limiter.max_concurrency) == (24, 12.5, 24)
    adapter = first._session.get_adapter("https://limits.atlassian.net/rest/api/3/issue/bulkfetch")
    assert adapter._pool_maxsize >= 24 and adapter.limiter is first.limiter  # a connection per sender


def test_hook_refuses_http_without_opt_in(monkeypatch):
    from jira_esm_connector.hooks.jira import JiraCloudHook

    _conn(monkeypatch, host="http://localhost:1", login="a@b.c", password="tok-SECRET-2")
    ok, message = JiraCloudHook(jira_conn_id="jira_unit").test_connection()
    assert ok is False
    assert "Refusing plain http" in message and "tok-SECRET-2" not in message
    with pytest.raises(InsecureURLError):
        JiraCloudHook(jira_conn_id="jira_unit").get_client()


def test_hook_reports_bad_extras_plainly(monkeypatch):
    from jira_esm_connector.hooks.jira import JiraCloudHook

    _conn(monkeypatch, host="https://acme.atlassian.net", login="a@b.c", password="tok-SECRET-3", extra={"token_expires": "31.01.2027"})
    ok, message = JiraCloudHook(jira_conn_id="jira_unit").test_connection()
    assert ok is False and "expiry_date) must be a date written YYYY-MM-DD" in message
    _conn(monkeypatch, host="https://acme.atlassian.net", login="a@b.c", password="")
    ok, message = JiraCloudHook(jira_conn_id="jira_unit").test_connection()
    assert ok is False and "no password" in message


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (45, None),
        (30, "expires on {d} (30 days left)"),
        (1, "expires on {d} (1 day left)"),
        (0, "expires today, {d}"),
        (-3, "expired on {d} (recorded expiry)"),
    ],
)
def test_token_expiry_warning_on_every_client_creation(caplog, days, expected):
    expiry = date.today() + timedelta(days=days)
    logger = logging.getLogger("tests.jira.expiry")
    caplog.set_level(logging.INFO, logger=logger.name)
    for _ in range(2):
        JiraClient("https://acme.atlassian.net", "ops@acme.example", "tok-SECRET-4", token_expires=expiry, logger=logger)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    if expected is None:
        assert warnings == []
    else:
        assert len(warnings) == 2
        assert expected.format(d=expiry.isoformat()) in warnings[0].getMessage()
    assert "tok-SECRET-4" not in caplog.text


def test_jql_quote_keeps_payloads_inside_one_value():
    assert jql_quote("SUP-1") == '"SUP-1"'
    assert jql_quote(42) == '"42"'
    evil = 'x" OR project != "SUP'
    quoted = jql_quote(evil)
    assert quoted == '"x\\" OR project != \\"SUP"'
    # the only unescaped quotes are the outer two
    inner = quoted[1:-1].replace("\\\\", "").replace('\\"', "")
    assert '"' not in inner
    assert jql_quote("back\\slash") == '"back\\\\slash"'
    assert jql_quote("it's") == '"it\\\'s"'
    assert jql_quote("a\nb") == '"a\\nb"'
    with pytest.raises(ValueError):
        jql_quote("bell\x07")
    with pytest.raises(TypeError):
        jql_quote(None)  # type: ignore[arg-type]
    assert jql_list(["A", 'B"']) == '("A", "B\\"")'
    with pytest.raises(ValueError):
        jql_list([])


def test_paginators_cursor_logic():
    tok = TokenPaginator(2)
    assert tok.first() == {"maxResults": 2}
    assert tok.next({"issues": [1, 2], "nextPageToken": "t1"}, [1, 2]) == {"maxResults": 2, "nextPageToken": "t1"}
    assert tok.next({"issues": [3], "isLast": True, "nextPageToken": None}, [3]) is None
    loop = TokenPaginator(2)
    loop.next({"nextPageToken": "same"}, [1])
    with pytest.raises(PagingError):
        loop.next({"nextPageToken": "same"}, [1])
    # "more pages follow" with no token to ask for them: not the end (a full import would
    # take the unread pages for removed issues)
    with pytest.raises(PagingError, match="isLast: false"):
        TokenPaginator(2).next({"issues": [{"id": "1"}], "isLast": False}, [{"id": "1"}])

    def step(paginator, page):
        items = paginator.items(page)
        return items, paginator.next(page, items)

    def ids(*numbers):
        return [{"id": str(n), "accountId": str(n)} for n in numbers]

    # every page after the first starts one item early, at the item read last
    start = StartAtPaginator(2, items_key="comments")
    assert start.first() == {"startAt": 0, "maxResults": 2}
    assert step(start, {"startAt": 0, "total": 4, "comments": ids(1, 2)}) == (ids(1, 2), {"startAt": 1, "maxResults": 2})
    assert step(start, {"startAt": 1, "total": 4, "comments": ids(2, 3)}) == (ids(3), {"startAt": 2, "maxResults": 2})
    assert step(start, {"startAt": 2, "total": 4, "comments": ids(3, 4)}) == (ids(4), None)
    capped = StartAtPaginator(100)  # server caps the page: isLast decides, not the size
    assert step(capped, {"startAt": 0, "isLast": False, "values": ids(*range(50))})[1] == {"startAt": 49, "maxResults": 100}
    bare = StartAtPaginator(100)  # neither isLast nor total: a short page is not the end, an empty one is
    assert step(bare, {"startAt": 0, "values": ids(*range(30))})[1] == {"startAt": 29, "maxResults": 100}
    # only the item read last: the end, or pages of one item -- the next page starts at the boundary,
    # and a look-back asks for the item read last again afterwards: an empty page is the end only
    # once that item is still where it was
    assert step(bare, {"startAt": 29, "values": ids(29)}) == ([], {"startAt": 30, "maxResults": 100})
    assert step(bare, {"startAt": 30, "values": []}) == ([], {"startAt": 29, "maxResults": 100})
    assert step(bare, {"startAt": 29, "values": ids(29)}) == ([], None)

    arr = OffsetArrayPaginator(3)
    assert step(arr, ids(1, 2, 3)) == (ids(1, 2, 3), {"startAt": 2, "maxResults": 3})
    # a short page is not the end (Jira caps page sizes at will): only an empty page is
    assert step(arr, ids(3, 4)) == (ids(4), {"startAt": 3, "maxResults": 3})
    assert step(arr, ids(4)) == ([], {"startAt": 4, "maxResults": 3})
    assert step(arr, []) == ([], {"startAt": 3, "maxResults": 3})
    assert step(arr, ids(4)) == ([], None)
    assert arr.restarts == 0 and arr.items_read == 4

    # pages of one item: each page beyond the boundary is checked by a look-back at the item
    # before it; an item deleted in between slid the next one behind the cursor: read again
    one = OffsetArrayPaginator(3)
    assert step(one, ids(1)) == (ids(1), {"startAt": 0, "maxResults": 3})
    assert step(one, ids(1)) == ([], {"startAt": 1, "maxResults": 3})
    assert step(one, ids(2)) == (ids(2), {"startAt": 0, "maxResults": 3})  # look back at 1
    assert step(one, ids(1)) == ([], {"startAt": 2, "maxResults": 3})  # 1 still there: 2 was its successor
    assert step(one, ids(4)) == (ids(4), {"startAt": 1, "maxResults": 3})  # 2 deleted meanwhile: 3 slid to 1
    assert step(one, ids(3)) == ([], {"startAt": 0, "maxResults": 3})  # not 2: read again from the start
    assert "reading it again from the start (1 of 3)" in one.notice
    assert step(one, ids(1)) == ([], {"startAt": 0, "maxResults": 3})
    assert step(one, ids(1)) == ([], {"startAt": 1, "maxResults": 3})
    assert step(one, ids(3)) == (ids(3), {"startAt": 0, "maxResults": 3})  # 3 read now
    assert step(one, ids(1)) == ([], {"startAt": 2, "maxResults": 3})
    assert step(one, ids(4)) == ([], {"startAt": 1, "maxResults": 3})  # 4 handed out already
    assert step(one, ids(3)) == ([], {"startAt": 3, "maxResults": 3})
    assert step(one, []) == ([], {"startAt": 2, "maxResults": 3})
    assert step(one, ids(4)) == ([], None)
    # a look-back answered with more than one item checks them against the page it checks
    grown = OffsetArrayPaginator(3)
    step(grown, ids(1)), step(grown, ids(1))
    assert step(grown, ids(2)) == (ids(2), {"startAt": 0, "maxResults": 3})
    assert step(grown, ids(1, 2, 3)) == (ids(3), {"startAt": 2, "maxResults": 3})
    assert step(grown, ids(3)) == ([], {"startAt": 3, "maxResults": 3})
    wrong = OffsetArrayPaginator(3)
    step(wrong, ids(1)), step(wrong, ids(1)), step(wrong, ids(2))
    assert step(wrong, ids(1, 3)) == ([], {"startAt": 0, "maxResults": 3})  # 2 is no longer 1's successor
    # records with an account id that names no one ("unknown") are told apart by their place
    unnamed = OffsetArrayPaginator(2, anonymous=frozenset({"unknown"}))
    ghost = {"accountId": "unknown"}
    assert step(unnamed, [ghost, *ids(1)]) == ([ghost, *ids(1)], {"startAt": 1, "maxResults": 2})
    # a record that names no one is never the anchor: the next check starts at 1 again
    assert step(unnamed, [*ids(1), ghost]) == ([ghost], {"startAt": 1, "maxResults": 2})
    assert step(unnamed, [*ids(1), ghost]) == ([], {"startAt": 3, "maxResults": 2})
    assert step(unnamed, []) == ([], {"startAt": 1, "maxResults": 2})
    assert step(unnamed, [*ids(1), ghost]) == ([], None)
    assert unnamed.restarts == 0
    # 1 and 2 read, then both deleted: another unnamed record in the first one's place does not pass
    # for it -- the check starts at 2, the last named record, and finds 3 there
    slid = OffsetArrayPaginator(3, anonymous=frozenset({"unknown"}))
    assert step(slid, [*ids(1, 2), ghost]) == ([*ids(1, 2), ghost], {"startAt": 1, "maxResults": 3})
    assert step(slid, [*ids(3), ghost, *ids(4)]) == ([], {"startAt": 0, "maxResults": 3})
    # a server that ignores startAt, answering the same unnamed record: bounded, not endless
    ghosts = OffsetArrayPaginator(1, anonymous=frozenset({"unknown"}))
    ghosts.MAX_UNNAMED_RUN = 10
    with pytest.raises(PagingError, match="name no one"):
        for _ in range(100):
            step(ghosts, [ghost])

    # an item read already was deleted in Jira: the item read last is not where it was, so
    # the listing is read again from the start, and what was handed out is not handed out again
    moved = OffsetArrayPaginator(2)
    assert step(moved, ids(1, 2)) == (ids(1, 2), {"startAt": 1, "maxResults": 2})
    assert step(moved, ids(3, 4)) == ([], {"startAt": 0, "maxResults": 2})  # 1 deleted: 3 slid back to 1
    assert "reading it again from the start (1 of 3)" in moved.notice
    assert step(moved, ids(2, 3)) == (ids(3), {"startAt": 1, "maxResults": 2})
    assert step(moved, ids(3, 4)) == (ids(4), {"startAt": 2, "maxResults": 2})
    assert step(moved, ids(4)) == ([], {"startAt": 3, "maxResults": 2})
    assert step(moved, []) == ([], {"startAt": 2, "maxResults": 2})
    assert step(moved, ids(4)) == ([], None)
    # an item added before the boundary: an earlier item comes again, read again from the start
    added = StartAtPaginator(2)
    step(added, {"values": ids(1, 2)})
    assert step(added, {"values": ids(1, 2)}) == ([], {"startAt": 0, "maxResults": 2})
    # a server ignoring startAt (or a list that never holds still) must not loop for ever
    same = OffsetArrayPaginator(2)
    step(same, ids(1, 2))
    with pytest.raises(PagingError, match="changed between its pages 4 times"):
        for _ in range(10):
            step(same, ids(1, 2))
    same_one = StartAtPaginator(1)  # pages of one item, startAt ignored
    with pytest.raises(PagingError):
        for _ in range(20):
            step(same_one, {"values": ids(1)})
    assert OffsetArrayPaginator(5000).page_size == 1000
