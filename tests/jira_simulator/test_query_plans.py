"""Keyset pages are index seeks: the page at the end of a large result costs what the first does.

Checked structurally, never by timing (a shared CI machine makes timings useless):

- SQLite's ``EXPLAIN QUERY PLAN`` of every statement a deep page runs (an index SEARCH with a
  range bound, no table SCAN, no sorting for the indexed shapes);
- the number of SQLite virtual-machine steps a page costs (``set_progress_handler``): a page
  near the end of the result must cost about what the first page costs. A keyset condition
  SQLite cannot seek with (the row value ``(project_key, num, id) > (?, ?, ?)`` it used before)
  walks the index from the start of the result and costs ~the result size instead;
- and that paging any order shape (ASC, DESC, mixed) returns exactly the rows of the whole
  ordered result, each once, in order.
"""
from __future__ import annotations

import pytest

from devtools.jira_simulator.jql import compile_query, parse
from devtools.jira_simulator.store import SeedSpec, Store

PAGE = 25


@pytest.fixture(scope="module")
def store():
    return Store(SeedSpec(seed=7, issues=6000, projects=3, users=30, groups=3))


def compiled_of(store, jql):
    return compile_query(parse(jql), store, account_id=None, tz="Europe/Helsinki", now_ms=0)


def whole_result(store, compiled):
    """Every matching row in the query's order (one statement, no keyset)."""
    sql, params = store.search_statements(compiled, None)[0]
    return store.conn.execute(sql.replace(" LIMIT ?", ""), params).fetchall()


def deep_position(store, compiled):
    """Sort position of the row ``PAGE + 1`` rows before the end (its next page is the last)."""
    rows = whole_result(store, compiled)
    assert len(rows) > 20 * PAGE, "the result must be much larger than a page"
    row = rows[-(PAGE + 2)]
    return [row[f"_s{i}"] for i in range(len(store._full_order(compiled)))]


def vm_steps(store, compiled, after):
    """SQLite VM instructions (in units of 10) spent on one page of ``PAGE`` rows."""
    steps = [0]

    def tick():
        steps[0] += 1
        return 0

    store.conn.set_progress_handler(tick, 10)
    try:
        rows, _ = store.search(compiled, PAGE, after)
    finally:
        store.conn.set_progress_handler(None, 10)
    assert rows
    return steps[0]


# (JQL, indexes the deep page's statements may use); None: not fully indexed, cost only checked
SHAPES = [
    ("project = SUP ORDER BY key", {"issues_key"}),
    ("project = SUP ORDER BY key DESC", {"issues_key"}),
    ("project in (SUP, OPS) ORDER BY key", {"issues_key"}),
    ('updated >= "2025-01-01" ORDER BY updated ASC, key ASC', {"issues_updated_key", "issues_key"}),
    ('updated >= "2025-01-01" ORDER BY updated DESC, key DESC', {"issues_updated_key", "issues_key"}),
    ('project = SUP AND updated >= "2025-01-01" ORDER BY updated ASC, key ASC',
     {"issues_project_updated_key", "issues_updated_key", "issues_key"}),
    ("project = ENG ORDER BY updated DESC", {"issues_project_updated"}),
    ("project = ENG ORDER BY updated ASC", {"issues_project_updated"}),
    ('updated >= "2025-01-01" ORDER BY updated', {"issues_updated"}),
    ('updated >= "2025-01-01" ORDER BY key', {"issues_key"}),
    ("project = SUP", {"issues_project_id"}),
    ("project in (SUP, OPS) ORDER BY created DESC", {"issues_created"}),
    ("project = SUP ORDER BY created ASC, key DESC", None),  # mixed directions
    ("project = SUP ORDER BY status DESC, created ASC", None),  # mixed, status has no order index
]


@pytest.mark.parametrize("jql,indexes", [s for s in SHAPES if s[1] is not None])
def test_deep_page_statements_are_index_seeks(store, jql, indexes):
    compiled = compiled_of(store, jql)
    statements = store.search_statements(compiled, deep_position(store, compiled))
    assert len(statements) >= 1
    for sql, params in statements:
        plan = " | ".join(
            row[3] for row in store.conn.execute("EXPLAIN QUERY PLAN " + sql, [*params, PAGE])
        )
        assert plan.startswith("SEARCH issues USING "), plan
        assert any(f"INDEX {index} (" in plan for index in indexes), plan
        assert "SCAN" not in plan and "TEMP B-TREE" not in plan, plan
        # every statement is bounded by its keyset range, not only by the filter's equalities
        assert ">?" in plan or "<?" in plan or plan.count("=?") > 1, plan


@pytest.mark.parametrize("jql", [s[0] for s in SHAPES])
def test_page_near_the_end_costs_about_the_first_page(store, jql):
    compiled = compiled_of(store, jql)
    total = len(whole_result(store, compiled))
    first = vm_steps(store, compiled, None)
    deep = vm_steps(store, compiled, deep_position(store, compiled))
    # scanning from the start of the result would cost ~total rows; a seek costs ~PAGE rows
    assert deep <= 3 * first + 50, (jql, total, first, deep)


def test_the_filters_lower_bound_does_not_replace_the_keyset_bound(store):
    """``updated >= X`` in the filter and ``updated > v`` from the keyset bound one column:
    the page past the very last row must not walk everything since X."""
    compiled = compiled_of(store, 'updated >= "2020-01-01" ORDER BY updated ASC, key ASC')
    rows = whole_result(store, compiled)
    last = [rows[-1][f"_s{i}"] for i in range(4)]
    first = vm_steps(store, compiled, None)
    steps = [0]

    def tick():
        steps[0] += 1
        return 0

    store.conn.set_progress_handler(tick, 10)
    try:
        page, _ = store.search(compiled, PAGE, last)
    finally:
        store.conn.set_progress_handler(None, 10)
    assert page == []
    assert steps[0] <= first + 50, (len(rows), first, steps[0])


@pytest.mark.parametrize("jql", ["project in (ENG, SUP) ORDER BY key", "project in (SUP, ENG) ORDER BY key DESC"])
def test_page_crossing_to_the_next_project_is_a_seek(store, jql):
    """Position = the last row of the first project: the next page starts the other project
    (the filter pins project_key; the keyset seeks with the remaining IN values)."""
    compiled = compiled_of(store, jql)
    rows = whole_result(store, compiled)
    first_project = rows[0]["project_key"]
    last_of_first = max(i for i, row in enumerate(rows) if row["project_key"] == first_project)
    assert 20 * PAGE < last_of_first < len(rows) - PAGE
    after = [rows[last_of_first][f"_s{i}"] for i in range(3)]
    page, _ = store.search(compiled, PAGE, after)
    assert [r["id"] for r in page] == [r["id"] for r in rows[last_of_first + 1 : last_of_first + 1 + PAGE]]
    assert vm_steps(store, compiled, after) <= 3 * vm_steps(store, compiled, None) + 50
    for sql, params in store.search_statements(compiled, after):
        plan = " | ".join(r[3] for r in store.conn.execute("EXPLAIN QUERY PLAN " + sql, [*params, PAGE]))
        assert plan.startswith("SEARCH issues USING INDEX issues_key (project_key=?"), plan
        assert "TEMP B-TREE" not in plan, plan


@pytest.mark.parametrize("jql", [s[0] for s in SHAPES] + [
    "(project = SUP OR project = ENG) ORDER BY key",
    "project in (SUP, ENG) AND project != ENG ORDER BY key DESC",
    "project in (SUP, ENG) AND project in (ENG, OPS) ORDER BY key",
    "project in (SUP, ENG, OPS) ORDER BY priority ASC, updated DESC",
    "project in (SUP, ENG, OPS) ORDER BY id DESC, updated ASC",
    "project in (SUP, ENG, OPS) ORDER BY assignee DESC, key ASC",
])
@pytest.mark.parametrize("page", [1, 97])
def test_pages_return_the_whole_result_once_in_order(store, jql, page):
    compiled = compiled_of(store, jql)
    expected = [row["id"] for row in whole_result(store, compiled)]
    if page == 1:  # one-row pages: walk only the last 300 rows (every keyset range still occurs)
        start = whole_result(store, compiled)[-301]
        after = [start[f"_s{i}"] for i in range(len(store._full_order(compiled)))]
        expected = expected[-300:]
    else:
        after = None
    got: list[int] = []
    while True:
        rows, positions = store.search(compiled, page, after)
        got.extend(row["id"] for row in rows)
        if len(rows) < page:
            break
        after = positions[-1]
    assert got == expected


def test_position_of_another_order_is_refused(store):
    compiled = compiled_of(store, "project = SUP ORDER BY key")
    with pytest.raises(ValueError):
        store.search(compiled, PAGE, [1, 2])
