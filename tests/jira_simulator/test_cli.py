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
