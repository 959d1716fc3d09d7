"""Data (and issued tokens) survive a restart of the simulator on the same database."""
from __future__ import annotations

import sqlite3

import requests

from tests.fixtures.esm_simulator import EsmSimulatorProcess


def test_data_survives_restart(tmp_path):
    sim = EsmSimulatorProcess(tmp_path, extra_args=("--persons", "3", "--incidents", "2", "--seed", "5"))
    sim.start()
    try:
        session = sim.session()
        first = session.get(f"{sim.base_url}/dc/person/data", params={"limit": 10}, timeout=30).json()
        assert first["meta"]["count"] == 3
        created = session.put(f"{sim.base_url}/dc/person/data", timeout=30, json=[
            {"folderCode": "persons", "data": {"display_name": {"values": [{"value": "Kept Across Restart"}]}}}]).json()
        new_id = created["data"][0]["dataCard"]["dataCardId"]
        session.close()
        token = sim.login()
        sim.restart()  # same port, same database; seeding is skipped because cards exist
        card = requests.get(f"{sim.base_url}/dc/person/data/{new_id}", headers={"Authorization": token},
                            verify=sim.ca_pem, timeout=30)
        assert card.status_code == 200, card.text  # the signing secret is stored too
        assert card.json()["name"] == "Kept Across Restart"
        again = sim.session().get(f"{sim.base_url}/dc/person/data", params={"limit": 10}, timeout=30).json()
        assert again["meta"]["count"] == 4
        assert "seeded" not in sim.log_text()
    finally:
        sim.stop()
    with sqlite3.connect(sim.db_path) as db:  # tests can inspect the storage directly
        assert db.execute("SELECT COUNT(*) FROM cards WHERE template = 'person'").fetchone()[0] == 4
        assert db.execute("SELECT COUNT(*) FROM card_values WHERE attr = 'display_name'").fetchone()[0] == 4


def test_knobs_given_at_start(tmp_path):
    sim = EsmSimulatorProcess(tmp_path, extra_args=("--inject-errors", "2:502", "--token-ttl", "77", "--rate-limit", "1000"))
    sim.start()
    try:
        first = requests.get(f"{sim.base_url}/echo", verify=sim.ca_pem, timeout=30)
        second = requests.get(f"{sim.base_url}/echo", verify=sim.ca_pem, timeout=30)
        assert (first.status_code, second.status_code) == (502, 502)
        login = requests.post(f"{sim.base_url}/users/login", data={"login": sim.username, "password": sim.password},
                              verify=sim.ca_pem, timeout=30)
        assert login.status_code == 200 and login.headers["X-Token-Expires-In"] == "77"
        knobs = sim.admin("GET", "config")["knobs"]
        assert knobs["rate_limit"] == 1000 and knobs["error_count"] == 0
    finally:
        sim.stop()


def test_seed_alone_gives_the_demo_set_and_parent_watch_stops_the_server(tmp_path):
    import subprocess
    import sys
    import time

    # a short-lived "parent" whose end must stop the simulator
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    sim = EsmSimulatorProcess(tmp_path, extra_args=("--seed", "42", "--parent-pid", str(parent.pid)))
    sim.start()
    try:
        counts = sim.admin("GET", "stats")["cards"]
        assert {k: v["active"] for k, v in counts.items()} == {"person": 60, "group": 12, "incident": 250}
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 20
        while sim.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sim.proc.poll() is not None, "the simulator outlived its parent"
    finally:
        parent.kill()
        sim.stop()
