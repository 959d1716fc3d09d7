"""Deterministic seeding: ``seed(store, catalog, seed_value=42, persons=N, groups=N, incidents=N)``.

Seeded cards look like what ESM holds before the connector ever ran (no ``task_id``):
persons (Active, a few Disabled), groups with person members, incidents referencing a
reporter and carrying a worklog. The same seed and counts give the same cards.
"""
from __future__ import annotations

import datetime as dt
import random
from typing import Any

from .store import Store
from .templates import Catalog

FIRST = ["Aino", "Eero", "Liisa", "Mikko", "Sanna", "Juha", "Emma", "Ville", "Anna", "Oskari",
         "Maria", "Lars", "Ingrid", "Karin", "Erik", "Sofia", "Noah", "Olivia", "Lucas", "Elsa"]
LAST = ["Virtanen", "Korhonen", "Nieminen", "Mäkinen", "Hämäläinen", "Andersson", "Johansson",
        "Karlsson", "Nilsson", "Lindqvist", "Laine", "Heikkinen", "Berg", "Svensson", "Koskinen"]
TOPICS = ["VPN connection drops", "Printer on fire", "Laptop does not boot", "Password reset needed",
          "E-mail not syncing", "Monitor flickers", "Access to shared drive", "Teams crashes on start",
          "Slow network on floor 3", "New phone request", "Keyboard is not working", "Mouse is not working"]
STATUSES = ["01 - New", "02 - Solving", "03 - Waiting for customer", "05 - Solved", "06 - Closed"]
PRIORITIES = ["1 - Critical", "2 - High", "3 - Normal", "3 - Normal", "4 - Low"]
BATCH = 5000


def _v(value: Any) -> list[dict[str, Any]]:
    return [{"value": value}]


def _static(catalog: Catalog, template: str, attr: str, value: str) -> list[dict[str, Any]]:
    found = catalog.templates[template].attributes[attr].find_static(value, None)
    assert found is not None, (template, attr, value)
    return [{"value": found.value, "code": found.code}]


def seed(store: Store, catalog: Catalog, *, seed_value: int = 42, persons: int = 0, groups: int = 0,
         incidents: int = 0) -> dict[str, int]:
    rng = random.Random(seed_value)
    person_ids: list[int] = []
    rows: list[dict[str, Any]] = []

    def flush(target: list[int] | None) -> None:
        if rows:
            ids = store.bulk_insert(rows)
            if target is not None:
                target.extend(ids)
            rows.clear()

    for i in range(persons):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        display = f"{first} {last}"
        status = "Disabled" if rng.random() < 0.03 else "Active"
        rows.append({"template": "person", "folder": "persons", "name": display, "data": {
            "jira_account_id": _v(f"{rng.getrandbits(96):024x}"),
            "email": _v(f"{first}.{last}.{i}@example.com".lower()),
            "display_name": _v(display), "first_name": _v(first), "last_name": _v(last),
            "accountStatus": _static(catalog, "person", "accountStatus", status),
        }})
        if len(rows) >= BATCH:
            flush(person_ids)
    flush(person_ids)

    group_ids: list[int] = []
    for i in range(groups):
        name = f"{rng.choice(['it', 'hr', 'sales', 'dev', 'ops', 'support'])}-team-{i}"
        members = sorted(set(rng.sample(person_ids, min(len(person_ids), rng.randint(0, 12))))) if person_ids else []
        rows.append({"template": "group", "folder": "groups", "name": name, "data": {
            "jira_group_id": _v(f"{rng.getrandbits(128):032x}"),
            "name": _v(name), "description": _v(f"Seeded group {name}"),
            "members": [{"dataCardId": str(m)} for m in members],
            "status": _static(catalog, "group", "status", "1 - Active"),
        }})
        if len(rows) >= BATCH:
            flush(group_ids)
    flush(group_ids)

    base = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    made = 0
    for i in range(incidents):
        created = base + dt.timedelta(minutes=rng.randint(0, 525_600))
        updated = created + dt.timedelta(minutes=rng.randint(0, 20_000))
        subject = f"{rng.choice(TOPICS)} #{i + 1}"
        data: dict[str, Any] = {
            "jira_key": _v(f"SUP-{i + 1}"), "subject": _v(subject),
            "description": _v(f"{subject}. Reported by phone."),
            "status": _static(catalog, "incident", "status", rng.choice(STATUSES)),
            "priority": _static(catalog, "incident", "priority", rng.choice(PRIORITIES)),
            "created": _v(created.strftime("%Y-%m-%dT%H:%M:%SZ")),
            "updated": _v(updated.strftime("%Y-%m-%dT%H:%M:%SZ")),
            "worklog": [{"author": "seed", "value": "Ticket registered", "date": created.strftime("%Y-%m-%dT%H:%M:%SZ")}],
        }
        if person_ids:
            data["reporter"] = [{"dataCardId": str(rng.choice(person_ids))}]
        rows.append({"template": "incident", "folder": "incident_management", "name": subject, "data": data})
        if len(rows) >= BATCH:
            made += len(rows)
            flush(None)
    made += len(rows)
    flush(None)
    return {"persons": len(person_ids), "groups": len(group_ids), "incidents": made}
