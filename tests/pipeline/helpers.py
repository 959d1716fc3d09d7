"""Small helpers for the pipeline tests: reading ESM and Jira through their real APIs."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from jira_esm_connector.esm import eql
from jira_esm_connector.pipeline import RemovalLimitError, diff, extract, finish, load, mark_removed, run_dir, transform


def esm_cards(esm, template: str, task_name: str | None = None) -> dict[str, Any]:
    """``{card id: EsmCard}`` of a template (optionally only those stamped with a task)."""
    flt = eql.eq("task_id", task_name) if task_name else None
    return {c.data_card_id: c for c in esm.iter_cards(template, filter=flt)}


def by_attr(cards: dict[str, Any], attribute: str) -> dict[str, Any]:
    return {str(c.value(attribute)): c for c in cards.values()}


def esm_writes(esm_sim) -> int:
    """How many writing requests ESM received since its stats were last reset (login excluded)."""
    stats = esm_sim.admin("GET", "stats")["requests"]
    return sum(
        n for key, n in stats.items()
        if key.split(" ")[0] in ("PUT", "POST", "PATCH", "DELETE") and "login" not in key and "/_admin/" not in key
    )


def reset_esm_stats(esm_sim) -> None:
    esm_sim.admin("POST", "stats/reset")


def jira_issues(jira, jql: str, fields=("summary", "updated", "status", "labels")) -> dict[str, dict]:
    return {i["key"]: i for i in jira.search(jql, fields=list(fields), page_size=100)}


def issues_changed_ago(jira_sim, ages: dict[str, timedelta], summary: str = "issue") -> dict[str, str]:
    """Create one SUP issue per name, its ``updated`` that long ago; returns name -> issue key."""
    now = datetime.now(timezone.utc)
    return {name: jira_sim.admin("POST", "issues", json={
        "project": "SUP", "summary": f"{summary} {name}", "updated": (now - age).isoformat(),
    }).json()["key"] for name, age in ages.items()}


def run_id(n: int | str) -> str:
    return f"manual__test_{n}"


def utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def esm_stats(esm_sim) -> dict:
    return esm_sim.admin("GET", "stats")["requests"]


def run_with_refused_removal_set_to_success(task, jira, esm, state, staging, n: int) -> dict:
    """Run ``n`` step by step as the DAG runs it, its ``mark_removed`` refusing (a safety limit:
    the caller's listing must make it refuse), then ``finish`` as Airflow runs it once the
    operator marked ``mark_removed`` "success" by hand: with no removal result. Returns extract's result."""
    path = run_dir(staging, task.name, run_id(n))
    extracted = extract(task, jira, state, path)
    transformed = transform(task, extracted, path)
    diffed = diff(task, transformed, state, path)
    loaded = load(task, diffed, esm, state)
    with pytest.raises(RemovalLimitError):
        mark_removed(task, extracted, esm, state)
    finish(task, state, run_id(n), extracted, transformed, diffed, loaded, None, staging_root=staging)
    return extracted


def extract_losing_a_page(task, jira, jira_sim, state, staging) -> dict:
    """A second run's extract of ``task`` whose second search/jql page comes back empty although
    the listing goes on (the simulator pages by 5 -- ``max_results_cap`` -- so 5 issues are
    lost). The caller removes the faults (``DELETE faults``) when done."""
    path = run_dir(staging, task.name, run_id(2))
    jira_sim.admin("POST", "faults", json={"type": "empty", "count": 1, "path": "/rest/api/3/search/jql", "after": 1})
    return extract(task, jira, state, path, clear_cache=True)
