"""Which DAG runs `make demo` triggers: every example import once, and one example event
of each operation with the payload from devtools/demo_events.yaml."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import yaml

DEMO_EVENTS = Path(__file__).with_name("demo_events.yaml")


def example_runs(mappings_dir: Path, resolve_card: Callable[[dict], str] | None = None) -> list[tuple[str, dict]]:
    """``(dag_id, conf)`` pairs; ``{esm_card: {...}}`` conf values become card ids via ``resolve_card``."""
    runs: list[tuple[str, dict]] = []
    for path in sorted(mappings_dir.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text()) or {}
        if doc.get("kind") == "scheduled":
            runs.append((doc["name"], {}))
    if DEMO_EVENTS.exists():
        for dag_id, conf in (yaml.safe_load(DEMO_EVENTS.read_text()) or {}).items():
            runs.append((dag_id, {k: _resolve(v, resolve_card) for k, v in conf.items()}))
    return runs


def _resolve(value: Any, resolve_card: Callable[[dict], str] | None) -> Any:
    if isinstance(value, dict) and set(value) == {"esm_card"}:
        if resolve_card is None:
            raise ValueError("an {esm_card: ...} value needs an ESM connection to resolve it")
        return resolve_card(value["esm_card"])
    return value


def esm_card_resolver(esm: Any) -> Callable[[dict], str]:
    """Find the card with exactly the given attribute values, or create it; return its id."""
    from jira_esm_connector.esm import eql

    def resolve(spec: dict) -> str:
        template, folder, data = spec["template"], spec["folder"], dict(spec["data"])
        wanted = eql.eql_and(*(eql.eq(attr, str(value)) for attr, value in data.items()))
        for card in esm.iter_cards(template, filter=wanted, selected_attributes=list(data), page_size=1):
            return str(card.data_card_id)
        return str(esm.create_card(template, data, folder=folder))

    return resolve
