"""The Airflow UI as an operator uses it, in a real browser (issue 11, item 6).

Playwright drives Debian's Chromium (/usr/bin/chromium, never a downloaded browser) against the
session's `airflow standalone` (the `airflow_e2e` fixture) wired to the simulators:

* the SimpleAuthManager login page, then every task file's DAG in the DAG list with its tags,
  and its docs (the "Dag Docs" dialog);
* an event DAG's trigger form filled with valid values and submitted; the run succeeds in the
  grid, the Jira group exists and its id is written back to the ESM card;
* the task log shows the run's summary line ("Event result: ...");
* Admin -> Connections lists `jira_default` and `esm_default` (stored in the metadata DB the
  way the demo stores them, `LocalAirflow.prepare`) and their Test button succeeds.

The UI is a React app: locators are roles, visible text and the UI's own data-testid
attributes; every wait is an explicit wait on something visible. Screenshots of each step go to
.test-logs/ui-screenshots/ (printed at the start).
"""
from __future__ import annotations

import json
import re
import shutil
import uuid
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import expect, sync_playwright

from devtools.airflow_standalone import REPO_ROOT, connection_json
from jira_esm_connector.esm import EsmClient
from jira_esm_connector.jira import JiraClient

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO_ROOT / ".test-logs" / "ui-screenshots"
MAPPINGS_DIR = REPO_ROOT / "include" / "mappings"
# Chromium as root on a machine without outside network: no sandbox, no GPU, and none of the
# background connections (updates, sync, QUIC) that the closed network would refuse.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
UI_TIMEOUT_MS = 30_000  # one UI step on a loaded 2-core machine
RUN_TIMEOUT_MS = 120_000  # an event run, queued behind the session's scheduled imports
EVENT_DAG = "create_jira_group"

pytestmark = [
    pytest.mark.airflow_e2e,
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install -y chromium)"),
]


def _task_files() -> list[dict]:
    """Every task file the deployment loads (the fixture's JIRA_ESM_MAPPINGS_DIR)."""
    files = [yaml.safe_load(path.read_text()) for path in sorted(MAPPINGS_DIR.glob("*.yaml"))]
    assert files, f"no task files in {MAPPINGS_DIR}"
    return files


class Screenshots:
    """Full-page screenshots numbered in the order they were taken."""

    def __init__(self, folder: Path):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self.folder = folder
        self.count = 0

    def take(self, page, name: str) -> None:
        self.count += 1
        page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def screenshots(request) -> Screenshots:
    shots = Screenshots(SCREENSHOTS)
    # printed past pytest's output capture, so a passing run shows it too
    with request.config.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
        print(f"\nUI screenshots: {shots.folder}", flush=True)
    return shots


@pytest.fixture(scope="module")
def airflow(airflow_e2e, jira_sim, esm_sim):
    """The session's Airflow with the connections also stored in its metadata DB, as the demo
    does (the same values as its AIRFLOW_CONN_* variables), and every task file's DAG parsed."""
    airflow_e2e.prepare({
        "jira_default": json.loads(connection_json(
            "jira_cloud", jira_sim.base_url, jira_sim.email, jira_sim.token, ca_pem=jira_sim.ca_pem)),
        "esm_default": json.loads(connection_json(
            "efecte_esm", esm_sim.base_url, esm_sim.username, esm_sim.password, ca_pem=esm_sim.ca_pem)),
    })
    for task_file in _task_files():
        airflow_e2e.wait_for_dag(task_file["name"], timeout=180)
    return airflow_e2e


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, airflow, screenshots, request):
    """A fresh browser context (no cookies) per test; a screenshot of where it ended."""
    expect.set_options(timeout=UI_TIMEOUT_MS)
    context = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=airflow.base_url)
    context.set_default_timeout(UI_TIMEOUT_MS)
    tab = context.new_page()
    try:
        yield tab
    finally:
        screenshots.take(tab, f"{request.node.name}-end")
        context.close()


def _log_in(page, airflow, screenshots) -> None:
    """The SimpleAuthManager login page, as an operator sees it first."""
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/auth/login"))
    expect(page.get_by_text("Sign into Airflow")).to_be_visible()
    screenshots.take(page, "login")
    page.get_by_label("Username").fill(airflow.username)
    page.get_by_label("Password").fill(airflow.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("nav-dags-link")).to_be_visible()
    expect(page).not_to_have_url(re.compile(r"/auth/login"))


def test_every_task_files_dag_is_listed_with_its_tags_and_docs(page, airflow, screenshots):
    _log_in(page, airflow, screenshots)
    page.goto("/dags")
    task_files = _task_files()
    for task_file in task_files:
        dag_id = task_file["name"]
        card = page.get_by_test_id("dag-card").filter(has=page.get_by_test_id("dag-id").get_by_text(dag_id, exact=True))
        expect(card).to_have_count(1)
        expected = {tag["name"] for tag in airflow.wait_for_dag(dag_id)["tags"]}
        assert {"jira-esm-connector", "event" if task_file["kind"] == "event" else "import"} <= expected
        shown = card.get_by_test_id("limited-items-list").get_by_role("link")
        expect(shown).to_have_text(sorted(expected))
    screenshots.take(page, "dag-list")

    for task_file in task_files:
        page.goto(f"/dags/{task_file['name']}")
        page.get_by_role("button", name="Dag Docs").click()
        docs = page.get_by_role("dialog")
        expect(docs).to_contain_text("Dag Documentation")
        # doc_md's own heading names the task (rendered markdown, not the raw text)
        expect(docs.get_by_role("heading", name=re.compile(re.escape(task_file["name"])))).to_be_visible()
        expect(docs).to_contain_text(task_file["description"])
        if task_file["name"] == EVENT_DAG:
            screenshots.take(page, f"docs-{EVENT_DAG}")
        page.keyboard.press("Escape")
        expect(docs).to_be_hidden()


def test_event_triggered_from_the_form_succeeds_in_the_grid_and_logs_its_summary(page, airflow, screenshots,
                                                                                  jira_sim, esm_sim):
    tag = uuid.uuid4().hex[:10]
    event_id, group, run_id = f"ui-{tag}", f"ui-group-{tag}", f"ui_browser_{tag}"
    esm = EsmClient(esm_sim.base_url, esm_sim.username, esm_sim.password, verify=esm_sim.ca_pem)
    jira = JiraClient(jira_sim.base_url, jira_sim.email, jira_sim.token, verify=jira_sim.ca_pem)
    try:
        card = esm.create_card("group", {"name": group}, folder="groups")
        _log_in(page, airflow, screenshots)
        page.goto(f"/dags/{EVENT_DAG}")
        page.get_by_role("button", name="Trigger Dag").click()
        form = page.get_by_role("dialog")
        expect(form).to_contain_text(f"Trigger Dag - {EVENT_DAG}")
        # The form's fields are the DAG's Params, named element_<payload key> by the UI.
        form.locator("[name=element_event_id]").fill(event_id)
        form.locator("[name=element_datacard_id]").fill(str(card))
        form.locator("[name=element_name]").fill(group)
        form.get_by_role("button", name="Advanced Options").click()
        form.get_by_label("Run ID").fill(run_id)
        submit = form.get_by_test_id("trigger-dag-submit")
        expect(submit).to_be_enabled()
        screenshots.take(page, "trigger-form")
        submit.click()
        expect(form).to_be_hidden()

        # The UI opens the new run; it refreshes itself until the run ends.
        expect(page).to_have_url(re.compile(rf"/dags/{EVENT_DAG}/runs/{run_id}"))
        run_state = page.get_by_test_id("header-card").get_by_test_id("state-badge")
        expect(run_state).to_have_text(re.compile("Success|Failed"), timeout=RUN_TIMEOUT_MS)
        expect(run_state).to_have_text("Success")

        page.goto(f"/dags/{EVENT_DAG}")
        cell = page.get_by_test_id(f"grid-{run_id}-push")
        cell.hover()
        tooltip = page.get_by_role("tooltip").filter(has_text=f"Run ID: {run_id}")
        expect(tooltip).to_contain_text("State: Success")
        screenshots.take(page, "grid-run-success")

        cell.click()
        expect(page).to_have_url(re.compile(rf"/runs/{run_id}/tasks/push"))
        summary = page.get_by_text(re.compile(rf"Event result: .*event_id={event_id}"))
        expect(summary).to_be_visible()
        screenshots.take(page, "task-log-summary")
        group_id = re.search(r"group_id=([^,\s]+)", summary.inner_text()).group(1)

        # What the summary says happened, happened.
        assert jira.find_group(group)["groupId"] == group_id
        assert esm.get_card("group", card).value("jira_group_id") == group_id
    finally:
        jira.close()
        esm.close()


def test_connection_test_succeeds_in_admin_connections(page, airflow, screenshots):
    _log_in(page, airflow, screenshots)
    page.get_by_role("button", name="Admin").click()
    page.get_by_role("menuitem", name="Connections").click()
    expect(page).to_have_url(re.compile(r"/connections"))
    # conn_id -> the start of what its hook's test_connection answers on success
    for conn_id, says in (("jira_default", "Connected to Jira at"), ("esm_default", "Logged in to ESM at")):
        row = page.get_by_role("row").filter(
            has=page.get_by_test_id("table-cell-connection_id").get_by_text(conn_id, exact=True))
        expect(row).to_have_count(1)
        with page.expect_response(lambda r: r.url.endswith("/api/v2/connections/test")) as answer:
            row.get_by_role("button", name="Test Connection").click()
        result = answer.value
        assert result.ok, f"{conn_id}: Test answered HTTP {result.status}: {result.text()}"
        assert result.json()["status"] is True, f"{conn_id}: {result.json()}"
        assert result.json()["message"].startswith(says), f"{conn_id}: {result.json()}"
        toast = page.get_by_role("status").filter(has_text=says)
        expect(toast).to_contain_text("Test Connection Successful")
        screenshots.take(page, f"connection-test-{conn_id}")
        page.keyboard.press("Escape")
