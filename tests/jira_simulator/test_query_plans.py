"""Keyset pages are index seeks: the page at the end of a large result costs what the first does.

Checked on SQLite's query plan (deterministic, unlike timings on a shared CI machine) for the
orderings extraction uses. Measured at 500,000 issues: first and near-last pages ~14 ms each.
"""
from __future__ import annotations

import pytest

from devtools.jira_simulator.jql import compile_query, parse
from devtools.jira_simulator.store import SeedSpec, Store


@pytest.fixture(scope="module")
def store():
    return Store(SeedSpec(seed=7, issues=3000, projects=3, users=30, groups=3))


def plan_of_second_page(store, jql):
    compiled = compile_query(parse(jql), store, account_id=None, tz="Europe/Helsinki", now_ms=0)
    rows, positions = store.search(compiled, 50, None)
    captured = {}
    real = store.conn

    class Spy:
        def execute(self, sql, params=()):
            captured["sql"], captured["params"] = sql, params
            return real.execute(sql, params)

    store.conn = Spy()
    try:
        page2, _ = store.search(compiled, 50, positions[-1])
    finally:
        store.conn = real
    assert page2 and not {r["id"] for r in page2} & {r["id"] for r in rows}
    plan = [row[3] for row in real.execute("EXPLAIN QUERY PLAN " + captured["sql"], captured["params"])]
    return " | ".join(plan)


@pytest.mark.parametrize("jql,index", [
    ("project = ENG ORDER BY updated DESC", "issues_project_updated"),
    ("project = ENG ORDER BY updated ASC", "issues_project_updated"),
    ('updated >= "2025-01-01" ORDER BY updated', "issues_updated"),
    ('updated >= "2025-01-01" ORDER BY key', "issues_key"),
    ("project = SUP", "issues_project_id"),
    ("project in (SUP, OPS) ORDER BY created DESC", "issues_created"),
])
def test_keyset_page_uses_an_index_without_sorting(store, jql, index):
    plan = plan_of_second_page(store, jql)
    assert f"USING INDEX {index}" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
    assert "SCAN issues" not in plan, plan
