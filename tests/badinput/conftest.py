"""The bad-input suite (issue 8): task files, event payloads, malformed Jira/ESM answers.

* hypothesis runs a modest number of examples (profile ``badinput``) so the suite stays
  well under two minutes on a shared CI runner;
* :data:`PARALLEL_FIXES` is the ONE list of tests expected to fail until the parallel
  issue-8 work is merged (each gets ``xfail(strict=False)``): the integrator deletes an
  entry once its fix is in and the test passes;
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

# ---- tests waiting for fixes by the parallel issue-8 work (test node id -> what fixes it) ----
_TASKFILES = "fixed by parallel issue 8 work: "
PARALLEL_FIXES: dict[str, str] = {
    # config/yamlio.py, config/loader.py: YAML aliases, file-size caps, bounded reprs, non-UTF-8
    "test_task_files.py::test_yaml_alias_bomb_is_refused_quickly": _TASKFILES + "YAML aliases/anchors refused or capped (config/yamlio.py)",
    "test_task_files.py::test_huge_file_is_refused": _TASKFILES + "task-file size cap (config/loader.py)",
    "test_task_files.py::test_huge_values_give_bounded_messages": _TASKFILES + "bounded reprs in task-file errors (config/loader.py)",
    # config/params.py, config/event.py, events/runner.py: datacard_id / event_id at trigger time
    "test_event_payloads.py::test_datacard_id_must_be_a_positive_integer": _TASKFILES + "datacard_id must be a positive integer or digit string, refused at trigger time (config/params.py, events/runner.py)",
    "test_event_payloads.py::test_event_id_with_control_characters_is_refused": _TASKFILES + "event_id printable without control characters, refused at trigger time (config/params.py, events/runner.py)",
    # pipeline/staging.py: names that map to the same staging folder
    "test_task_files.py::test_names_differing_in_case_or_dots_do_not_share_a_staging_folder": _TASKFILES + "staging-folder name collisions (pipeline/staging.py)",
}


def pytest_configure(config: pytest.Config) -> None:
    settings.load_profile(os.environ.get("BADINPUT_PROFILE", "badinput"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:  # the hook sees the whole session's items: touch only this folder's
        if "tests/badinput/" not in item.nodeid:
            continue
        nodeid = item.nodeid.split("tests/badinput/", 1)[-1].split("[", 1)[0]
        reason = PARALLEL_FIXES.get(nodeid)
        if reason:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=False))


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
