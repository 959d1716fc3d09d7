"""The command line: --db reuse across restarts, --reseed, plain http only when asked."""
from __future__ import annotations

import requests

from tests.fixtures.jira_simulator import start_jira_simulator, stop_jira_simulator


def summary(sim, key="SUP-1"):
    return sim.session().get(f"{sim.base_url}/rest/api/3/issue/{key}", params={"fields": "summary"}).json()["fields"]["summary"]


def test_db_is_reused_across_restarts_and_reseed_forces_a_fresh_seed(tmp_path):
    sim = start_jira_simulator(tmp_path)
    try:
        original = summary(sim)
        sim.admin("PATCH", "issues/SUP-1", json={"summary": "kept across restarts"})
    finally:
        stop_jira_simulator(sim)
    sim = start_jira_simulator(tmp_path)
    try:
        assert summary(sim) == "kept across restarts"
    finally:
        stop_jira_simulator(sim)
    sim = start_jira_simulator(tmp_path, ["--reseed"])
    try:
        assert summary(sim) == original
    finally:
        stop_jira_simulator(sim)


def test_plain_http_only_with_the_flag(tmp_path):
    sim = start_jira_simulator(tmp_path, ["--insecure-http"])
    try:
        assert sim.base_url.startswith("http://")
        s = requests.Session()
        s.trust_env = False
        r = s.get(sim.base_url + "/rest/api/3/myself", auth=(sim.email, sim.token))
        assert r.status_code == 200 and r.json()["emailAddress"] == sim.email
    finally:
        stop_jira_simulator(sim)


def test_the_simulator_exits_when_its_parent_pid_is_gone(tmp_path):
    import subprocess
    import sys
    import time

    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    sim = start_jira_simulator(tmp_path, ["--parent-pid", str(parent.pid)])
    try:
        assert sim.process.poll() is None
        parent.kill()
        parent.wait()  # reaped: the pid is gone, not a zombie
        deadline = time.monotonic() + 20
        while sim.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sim.process.poll() is not None, "the simulator outlived its parent"
    finally:
        parent.kill()
        stop_jira_simulator(sim)
