"""Which DAG runs `make demo` triggers: every example import once, and one example event
of each operation with the payload from devtools/demo_events.yaml."""
from __future__ import annotations

from pathlib import Path

import yaml

DEMO_EVENTS = Path(__file__).with_name("demo_events.yaml")


def example_runs(mappings_dir: Path) -> list[tuple[str, dict]]:
    runs: list[tuple[str, dict]] = []
    for path in sorted(mappings_dir.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text()) or {}
        if doc.get("kind") == "scheduled":
            runs.append((doc["name"], {}))
    if DEMO_EVENTS.exists():
        for dag_id, conf in (yaml.safe_load(DEMO_EVENTS.read_text()) or {}).items():
            runs.append((dag_id, conf))
    return runs
