"""State DB URLs in messages: the password and every secret-looking query-string value
are masked (``?password=`` is accepted by several drivers), other parameters stay."""
from __future__ import annotations

import pytest

from jira_esm_connector.config.settings import ConnectorSettings
from jira_esm_connector.state import StateStore
from jira_esm_connector.state.store import StateStoreError, safe_db_url

CASES = [
    ("postgresql+psycopg2://svc:pw-in-userinfo@db/state", ["pw-in-userinfo"]),
    ("postgresql://svc@db/state?password=qs-pass-1&sslmode=require", ["qs-pass-1"]),
    ("postgresql://svc@db/state?passwd=qs-pass-2", ["qs-pass-2"]),
    ("postgresql://svc@db/state?pwd=qs-pass-3", ["qs-pass-3"]),
    ("postgresql://svc@db/state?sslpassword=qs-pass-4&sslkey=/keys/client.key", ["qs-pass-4", "/keys/client.key"]),
    ("postgresql://svc@db/state?secret=s-1&token=t-1&api_key=k-1", ["s-1", "t-1", "k-1"]),
    ("postgresql://svc@db/state?PASSWORD=upper-1", ["upper-1"]),
    ("sqlite:////var/lib/state.db?password=sqlite-pass", ["sqlite-pass"]),
    ("postgresql://svc:a@b@db/state?password=x%20y", ["a@b", "x y", "x%20y"]),
]


@pytest.mark.parametrize(("url", "secrets"), CASES)
def test_safe_db_url_masks_password_and_query_secrets(url, secrets):
    out = safe_db_url(url)
    for secret in secrets:
        assert secret not in out, out
    assert "***" in out


def test_other_parameters_stay_readable():
    out = safe_db_url("postgresql://svc@db:5433/state?password=p-1&sslmode=require&application_name=conn")
    assert out.startswith("postgresql://svc@db:5433/state?")
    assert "sslmode=require" in out and "application_name=conn" in out and "p-1" not in out


def test_an_unparseable_url_is_never_echoed():
    assert safe_db_url("not a url password=zzz") == "<unparseable database URL>"


def test_store_repr_hides_a_query_string_password(tmp_path):
    store = StateStore(f"sqlite:///{tmp_path}/s.db?password=hunter2-qs")
    try:
        assert "hunter2-qs" not in repr(store) and "***" in repr(store)
    finally:
        store.dispose()


def test_store_error_hides_query_string_secrets():
    pytest.importorskip("psycopg2")
    url = "postgresql+psycopg2://svc:userinfo-pw@127.0.0.1:1/state?password=qs-secret-9&sslpassword=ssl-secret-9"
    with pytest.raises(StateStoreError) as info:
        StateStore(url, busy_timeout_s=1, connect_backoff_s=0.01)  # every retry, without 7.5 s of waiting
    text = str(info.value)
    assert "cannot open the state database postgresql+psycopg2://svc:***@127.0.0.1:1/state" in text
    for secret in ("userinfo-pw", "qs-secret-9", "ssl-secret-9"):
        assert secret not in text


def test_open_state_registers_the_url_secrets_with_airflows_masker(monkeypatch, tmp_path):
    import airflow.sdk.log as sdk_log

    from jira_esm_connector.dagfactory.common import open_state

    seen: list[str] = []
    monkeypatch.setattr(sdk_log, "mask_secret", lambda secret, name=None: seen.append(secret))
    url = f"sqlite:///{tmp_path}/s.db?password=masked-qs-1"
    with open_state(ConnectorSettings(state_db_url=url)):
        pass
    assert seen == ["masked-qs-1"]
