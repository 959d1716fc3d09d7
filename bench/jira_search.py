"""Benchmark 1: the Jira Cloud simulator at scale (default 500,000 seeded issues).

Measures

* seeding time (the simulator's own figure) and start-up to the ready line, and the
  simulator's RSS once seeded;
* ``POST /rest/api/3/search/jql`` page latency for the **first** page and for a page
  **near the end** of the result (keyset paging: they should cost about the same), for a
  few JQL shapes. The deep position is reached by walking the whole result with cheap
  id-only pages of 5,000 (also timed: ids/s) and keeping the token of the last page; the
  timed pages then ask for 100 issues with realistic fields from the first position and
  from that token;
* the connector's real :class:`~jira_esm_connector.jira.JiraClient` paging a large result
  (``search()`` with fields, 100 per page): issues/s.
"""
from __future__ import annotations

import time
from typing import Any

import requests

from .common import (
    JIRA_EMAIL,
    JIRA_TOKEN,
    BenchResult,
    Budget,
    jira_client,
    jira_seed_seconds,
    no_ca_bundle_env,
    running,
    start_jira_simulator,
    summary_ms,
    time_alternating,
    time_calls,
    workspace,
)

NAME = "jira"
TITLE = "1. Jira Cloud simulator: seeding, search/jql first vs deep page, JiraClient paging"

# What an import asks for (fields of a realistic issue mapping).
PAGE_FIELDS = ["summary", "description", "status", "priority", "labels", "created", "updated", "assignee", "reporter"]
PAGE_SIZE = 100
WALK_PAGE_SIZE = 5000  # id-only pages may hold 5,000 issues


def jql_shapes(opts: Any) -> list[tuple[str, str]]:
    since = getattr(opts, "jira_since", "2025-07-01")
    return [
        ("project = SUP ORDER BY key", "one project, by key"),
        (f'updated >= "{since}" ORDER BY updated ASC, key ASC', "all projects changed since a date (incremental shape)"),
        (f'project = SUP AND updated >= "{since}" ORDER BY updated ASC, key ASC', "one project changed since a date"),
    ]


def _search(session: requests.Session, url: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = session.post(url, json=body, timeout=120)
    if resp.status_code != 200:
        raise RuntimeError(f"search/jql answered {resp.status_code}: {resp.text[:300]}")
    return resp.json()


def approximate_count(session: requests.Session, base_url: str, jql: str) -> int:
    resp = session.post(f"{base_url}/rest/api/3/search/approximate-count", json={"jql": jql}, timeout=120)
    resp.raise_for_status()
    return int(resp.json()["count"])


def walk_page_size(count: int) -> int:
    """Id-only pages of up to 5,000, but at least ~10 pages so the last one is near the end."""
    return max(PAGE_SIZE, min(WALK_PAGE_SIZE, count // 10))


def walk(session: requests.Session, url: str, jql: str, budget: Budget, page_size: int = WALK_PAGE_SIZE) -> tuple[int, int, float, str | None, bool]:
    """Page through the whole result with id-only pages: (issues, pages, seconds, last page's token, complete)."""
    token: str | None = None
    last_token: str | None = None
    count = pages = 0
    t0 = time.perf_counter()
    while True:
        body: dict[str, Any] = {"jql": jql, "maxResults": page_size, "fields": ["id"]}
        if token:
            body["nextPageToken"] = token
        page = _search(session, url, body)
        pages += 1
        count += len(page.get("issues") or [])
        if page.get("isLast") or not page.get("nextPageToken"):
            return count, pages, time.perf_counter() - t0, last_token, True
        last_token = token = page["nextPageToken"]
        if budget.over():
            return count, pages, time.perf_counter() - t0, last_token, False


def run(opts: Any) -> BenchResult:
    issues = int(opts.jira_issues)
    repeat = int(opts.repeat)
    projects = int(getattr(opts, "jira_projects", 5))
    client_limit = int(getattr(opts, "jira_client_limit", 100_000))
    budget = Budget(float(opts.budget))
    result = BenchResult(NAME, TITLE, params={
        "issues": issues, "projects": projects, "timed requests per page kind": repeat,
        "page size (timed pages)": PAGE_SIZE, "TLS": bool(opts.tls),
    })
    no_ca_bundle_env()
    started = time.perf_counter()
    with workspace("jira", keep=opts.keep) as work:
        sim = start_jira_simulator(work, issues=issues, projects=projects, tls=opts.tls)
        with running(sim):
            seeded = jira_seed_seconds(sim)
            result.add("seeding time (simulator's own figure)", seeded if seeded is not None else float("nan"), "s", key="seed_s")
            result.add("start-up to ready line (seeding + TLS + server)", sim.startup_s, "s", key="startup_s")
            result.add("seeding rate", issues / seeded if seeded else float("nan"), "issues/s", key="seed_rate")
            result.add("simulator RSS after seeding", sim.rss_mib(), "MiB", key="sim_rss_mib")

            session = requests.Session()
            session.auth = (JIRA_EMAIL, JIRA_TOKEN)
            session.verify = sim.ca_pem
            session.trust_env = False
            url = f"{sim.base_url}/rest/api/3/search/jql"
            shapes = []
            for jql, what in jql_shapes(opts):
                if budget.over():
                    result.notes.append(f"time budget reached: skipped JQL `{jql}`")
                    continue
                approx = approximate_count(session, sim.base_url, jql)
                walk_size = walk_page_size(approx)
                total, pages, walk_s, deep_token, complete = walk(session, url, jql, budget, walk_size)
                first_body = {"jql": jql, "maxResults": PAGE_SIZE, "fields": PAGE_FIELDS}
                deep_body = dict(first_body, nextPageToken=deep_token) if deep_token else None
                first_page = _search(session, url, first_body)
                if len(first_page["issues"]) == 0:
                    raise RuntimeError(f"JQL `{jql}` selects nothing; the benchmark would measure nothing")
                deep = None
                if deep_body:
                    deep_page = _search(session, url, deep_body)
                    if not deep_page["issues"]:
                        raise RuntimeError("the deep page came back empty")
                    # first and deep page in turn, so load from elsewhere hits both alike
                    a, b = time_alternating(lambda: _search(session, url, first_body),
                                            lambda: _search(session, url, deep_body), repeat, warmup=2)
                    first, deep = summary_ms(a), summary_ms(b)
                else:
                    first = summary_ms(time_calls(lambda: _search(session, url, first_body), repeat, warmup=2))
                shape = {"jql": jql, "what": what, "result_size": total, "complete": complete,
                         "walk_pages": pages, "walk_s": walk_s, "first_ms": first, "deep_ms": deep}
                shapes.append(shape)
                label = f"`{jql}`"
                result.add(f"{label}: result size", total, "issues" + ("" if complete else " (walk stopped by budget)"))
                result.add(f"{label}: walk, id-only pages of {walk_size:,}", total / walk_s if walk_s else float("nan"),
                           f"issues/s ({pages} pages in {walk_s:.1f} s)")
                result.add(f"{label}: first page p50 / p95", f"{first['p50']:.1f} / {first['p95']:.1f}", "ms")
                if deep:
                    ratio = deep["p50"] / first["p50"] if first["p50"] else float("nan")
                    shape["deep_over_first"] = ratio
                    result.add(f"{label}: page near the end p50 / p95", f"{deep['p50']:.1f} / {deep['p95']:.1f}",
                               f"ms (deep/first p50 = {ratio:.2f})")
            result.data["shapes"] = shapes

            # The connector's own client paging a large result, as an import's extract does.
            jql = jql_shapes(opts)[0][0]
            with jira_client(sim) as client:
                for label, fields, page_size, limit in (
                    ("with fields, 100/page", PAGE_FIELDS, PAGE_SIZE, client_limit),
                    ("ids only, 5,000/page", ["id"], WALK_PAGE_SIZE, 10 * issues),
                ):
                    if budget.over():
                        result.notes.append(f"time budget reached: skipped JiraClient paging {label}")
                        continue
                    count = 0
                    t0 = time.perf_counter()
                    stopped = ""
                    for _issue in client.search(jql, fields=fields, page_size=page_size):
                        count += 1
                        if count >= limit:
                            stopped = f" (stopped at the {limit:,} limit)"
                            break
                        if count % 1000 == 0 and budget.over():
                            stopped = " (stopped by the time budget)"
                            break
                    secs = time.perf_counter() - t0
                    key = "client_fields_rate" if fields != ["id"] else "client_ids_rate"
                    result.add(f"JiraClient.search `{jql}` {label}", count / secs if secs else float("nan"),
                               f"issues/s ({count:,} issues in {secs:.1f} s{stopped})", key=key)
            result.add("simulator RSS at the end", sim.rss_mib(), "MiB")
    result.seconds = time.perf_counter() - started
    return result
