"""The demo's two simulators agree: no seeded ESM incident card holds a Jira key the demo's
Jira has not given yet. Seeded with cards keyed SUP-1 .. SUP-250 against a Jira holding SUP-1 ..
SUP-100, the demo's own create event (SUP-101) left two active cards for SUP-101, and the
README's curl example (SUP-102) took over an unrelated seeded card.
"""
from __future__ import annotations

from pathlib import Path

import pytest


def _url(log: Path, marker: str) -> str:
    ready = [ln for ln in log.read_text().splitlines() if marker in ln][-1]
    return ready.rsplit(" ", 1)[-1]


def test_the_issue_the_demo_creates_has_no_esm_incident_card_before_the_demo_writes_one(tmp_path, monkeypatch):
    from devtools import demo
    from devtools.tls import ensure_tls_material
    from jira_esm_connector.esm import EsmClient, eql
    from jira_esm_connector.jira import JiraClient

    monkeypatch.setenv("DEMO_JIRA_PORT", "0")
    monkeypatch.setenv("DEMO_ESM_PORT", "0")
    ca = str(ensure_tls_material(tmp_path).ca_pem)
    services = []
    try:
        services.append(demo.start_service("Jira simulator", demo.jira_simulator_args(tmp_path), tmp_path / "jira.log",
                                           ready=r"Jira simulator ready", timeout=120))
        services.append(demo.start_service("ESM simulator", demo.esm_simulator_args(tmp_path), tmp_path / "esm.log",
                                           ready=r"ESM simulator ready", timeout=120))
        jira_url = _url(tmp_path / "jira.log", "Jira simulator ready")
        esm_url = _url(tmp_path / "esm.log", "ESM simulator ready")
        # what the demo's create_jira_issue_from_incident event sends (project SUP, type Bug)
        with JiraClient(jira_url, demo.setting("DEMO_JIRA_EMAIL"), demo.setting("DEMO_JIRA_TOKEN"), verify=ca) as jira:
            key = jira.create_issue({"project": {"key": "SUP"}, "issuetype": {"name": "Bug"},
                                     "summary": "Printer on fire on floor 3"})["key"]
        with EsmClient(esm_url, demo.setting("DEMO_ESM_USER"), demo.setting("DEMO_ESM_PASSWORD"), verify=ca) as esm:
            holders = [
                (card.data_card_id, card.value("subject"))
                for card in esm.iter_cards("incident", filter=eql.eq("jira_key", key),
                                           selected_attributes=["jira_key", "subject"])
            ]
        assert holders == [], (
            f"the demo's ESM already has incident card(s) keyed {key}, the key Jira gives the demo's new "
            f"issue: {holders}; the event's write-back then leaves two active cards for {key}"
        )
    finally:
        for service in reversed(services):
            service.stop()
