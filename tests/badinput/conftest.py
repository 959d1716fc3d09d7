"""The bad-input suite (issue 8): task files, event payloads, malformed Jira/ESM answers.

* hypothesis runs a modest number of examples (profile ``badinput``) so the suite stays
  well under two minutes on a shared CI runner;
* at the end of the run a table says, per input class, how many cases were generated,
  refused with a clear error, passed inertly, and how many had partial effects (must be 0).
"""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from jira_esm_connector.esm import EsmClient
from jira_esm_connector.http import RetryPolicy
from jira_esm_connector.jira import JiraClient

from .fakeserver import FakeServer, js
from .tally import TALLY, table

_COMMON = dict(
    deadline=None,
    database=None,  # no .hypothesis/ folder in the work tree; failures print their blob instead
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
# CI: the same examples on every run (a red build is reproducible, not luck); ~1 minute.
settings.register_profile("badinput", max_examples=60, derandomize=True, **_COMMON)
# Hunting for new defects locally: BADINPUT_PROFILE=explore (random, many more examples).
settings.register_profile("explore", max_examples=500, **_COMMON)

# Retries would only slow the malformed-answer cases down: fail on the first answer.
NO_RETRY = RetryPolicy(total=0, connect_retries=0, read_retries=0, backoff_base=0, backoff_cap=0, jitter=0)

MAX_MESSAGE = 2000  # an error message longer than this is not "plain" any more

def pytest_configure(config: pytest.Config) -> None:
    settings.load_profile(os.environ.get("BADINPUT_PROFILE", "badinput"))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001
    if not TALLY:
        return
    terminalreporter.section("bad-input suite")
    for line in table():
        terminalreporter.write_line(line)
    partial = sum(c["partial"] for c in TALLY.values())
    terminalreporter.write_line(f"partial effects: {partial} (must be 0)")


# ---- a scripted local HTTP server standing in for Jira and ESM ---------------------------------

@pytest.fixture(scope="session")
def fake_server():
    with FakeServer() as srv:
        yield srv


@pytest.fixture
def fake(fake_server: FakeServer) -> FakeServer:
    fake_server.reset()
    return fake_server


SECRET_TOKEN = "s3cr3t-api-token-do-not-show"
ESM_PASSWORD = "esm-pa55word-do-not-show"
ESM_ROOT = "/rest-api/itsm/v1"


@pytest.fixture(scope="session")
def jira_client(fake_server: FakeServer):
    client = JiraClient(
        fake_server.url, "tester@example.com", SECRET_TOKEN, retry=NO_RETRY, allow_insecure_http=True, timeout=(2, 5)
    )
    yield client
    client.close()


def esm_login_route(srv: FakeServer) -> None:
    srv.route("POST", ESM_ROOT + "/users/login", js({"token": "header.payload.signature"}))


@pytest.fixture(scope="session")
def esm_client(fake_server: FakeServer):
    client = EsmClient(
        fake_server.url + ESM_ROOT, "tester", ESM_PASSWORD, retry=NO_RETRY, allow_insecure_http=True, timeout=(2, 5)
    )
    yield client
    client.close()
