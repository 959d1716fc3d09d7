"""Benchmark 2: the ESM simulator at scale (default 500,000 incident cards).

Measures

* start-up with seeding (``--incidents N`` plus 1,000 persons the incidents reference),
  database size and simulator RSS;
* ``GET /dc/incident/data`` keyset paging latency (``limit=200``) for the **first** page and
  for a page **near the end** (``filterId`` just above the oldest incident), both as info
  elements and as full data cards;
* EQL ``filter`` latency (first page of 200) for a few shapes: one card by key, a static
  value matching ~20 % of the cards, a recent date range, a conjunction, a negation;
* the connector's :class:`~jira_esm_connector.esm.EsmClient` paging full cards (cards/s);
* bulk import throughput with ``EsmClient.bulk_import`` in chunks of 200: creating new
  cards, then editing the same cards (``dataCardId``), while the 500k cards are there.
"""
from __future__ import annotations

import os
import time
from typing import Any

import requests

from .common import (
    ESM_PASSWORD,
    ESM_USER,
    BenchResult,
    Budget,
    esm_client,
    no_ca_bundle_env,
    running,
    start_esm_simulator,
    summary_ms,
    time_alternating,
    time_calls,
    workspace,
)

NAME = "esm"
TITLE = "2. ESM simulator: keyset paging first vs deep page, EQL filters, bulk import"

PAGE = 200
CHUNK = 200
PERSONS = 1000
TEMPLATE = "incident"
FOLDER = "incident_management"


LOOKUP_KEYS = 50  # the import's lookup of existing cards asks for this many keys at once


def eql_shapes(cards: int) -> list[tuple[str, str]]:
    from jira_esm_connector.esm import eql

    step = max(1, cards // LOOKUP_KEYS)
    keys = [f"SUP-{1 + i * step}" for i in range(min(LOOKUP_KEYS, cards))]
    listed = ", ".join(eql.eql_quote(k) for k in keys)
    return [
        (f"$jira_key$ = 'SUP-{max(1, cards // 2)}'", "one card by key"),
        (eql.any_of("jira_key", keys), f"{len(keys)} keys OR-ed: the import's lookup (eql.any_of)"),
        (f"$jira_key$ in ({listed})", f"the same {len(keys)} keys with in (...)"),
        ("$status$ = '02 - Solving'", "static value, ~20 % of cards"),
        ("$updated$ > '2025-12-25'", "recent date range"),
        ("$status$ = '05 - Solved' and $priority$ = '1 - Critical'", "conjunction"),
        ("not $status$ = '06 - Closed'", "negation, ~80 % of cards"),
    ]


class _Api:
    """A raw, logged-in session on the ESM REST API (the client is measured separately)."""

    def __init__(self, base_url: str, ca: str | bool) -> None:
        self.base = base_url
        self.s = requests.Session()
        self.s.verify = ca
        self.s.trust_env = False
        resp = self.s.post(f"{base_url}/users/login", data={"login": ESM_USER, "password": ESM_PASSWORD}, timeout=60)
        resp.raise_for_status()
        self.s.headers["Authorization"] = resp.json()["token"]

    def page(self, **params: Any) -> dict[str, Any]:
        resp = self.s.get(f"{self.base}/dc/{TEMPLATE}/data", params={"limit": PAGE, **params}, timeout=120)
        if resp.status_code != 200:
            raise RuntimeError(f"ESM answered {resp.status_code}: {resp.text[:300]}")
        return resp.json()


def _card(i: int, tag: str) -> dict[str, Any]:
    return {
        "jira_key": f"BENCH-{tag}-{i}",
        "subject": f"Benchmark card {i} ({tag})",
        "description": f"Created by the bulk import benchmark, card {i}.",
        "status": "01 - New",
        "priority": "3 - Normal",
        "task_id": "bench_import",
    }


def run(opts: Any) -> BenchResult:
    cards = int(opts.esm_cards)
    repeat = int(opts.repeat)
    n_import = int(opts.esm_import)
    budget = Budget(float(opts.budget))
    persons = min(PERSONS, max(10, cards // 100))
    result = BenchResult(NAME, TITLE, params={
        "incident cards": cards, "persons": persons, "page limit": PAGE, "bulk chunk": CHUNK,
        "cards imported": n_import, "timed requests per figure": repeat, "TLS": bool(opts.tls),
    })
    no_ca_bundle_env()
    started = time.perf_counter()
    with workspace("esm", keep=opts.keep) as work:
        sim = start_esm_simulator(work, incidents=cards, persons=persons, tls=opts.tls)
        with running(sim):
            result.add("start-up incl. seeding", sim.startup_s, f"s ({(cards + persons) / sim.startup_s:,.0f} cards/s)", key="startup_s")
            db_bytes = sum(p.stat().st_size for p in work.glob("esm.sqlite*"))
            result.add("database size after seeding", db_bytes / 2**20, "MiB", key="db_mib")
            result.add("simulator RSS after seeding", sim.rss_mib(), "MiB", key="sim_rss_mib")

            api = _Api(sim.base_url, sim.ca_pem)
            oldest = api.page(filter="$jira_key$ = 'SUP-1'")["data"]
            if not oldest:
                raise RuntimeError("the seeded incident SUP-1 is not there")
            deep_filter_id = int(oldest[0]["dataCardId"]) + PAGE + 1

            paging: dict[str, Any] = {}
            for label, extra in (("info elements", {}), ("full data cards", {"dataCards": "true"})):
                first = api.page(**extra)
                deep = api.page(filterId=deep_filter_id, **extra)
                if len(first["data"]) != PAGE or len(deep["data"]) != PAGE:
                    raise RuntimeError(f"expected full pages of {PAGE}, got {len(first['data'])} and {len(deep['data'])}")
                a, b = time_alternating(lambda: api.page(**extra), lambda: api.page(filterId=deep_filter_id, **extra),
                                        repeat, warmup=2)
                f, d = summary_ms(a), summary_ms(b)
                ratio = d["p50"] / f["p50"] if f["p50"] else float("nan")
                paging[label] = {"first_ms": f, "deep_ms": d, "deep_over_first": ratio}
                result.add(f"page of {PAGE} ({label}): first page p50 / p95", f"{f['p50']:.1f} / {f['p95']:.1f}", "ms")
                result.add(f"page of {PAGE} ({label}): page near the end p50 / p95", f"{d['p50']:.1f} / {d['p95']:.1f}",
                           f"ms (filterId={deep_filter_id}; deep/first p50 = {ratio:.2f})")
            result.data["paging"] = paging

            filters = []
            for flt, what in eql_shapes(cards):
                if budget.over():
                    result.notes.append(f"time budget reached: skipped EQL `{flt}`")
                    continue
                got = len(api.page(filter=flt)["data"])
                if got == 0:
                    raise RuntimeError(f"EQL `{flt}` matched nothing; the benchmark would measure nothing")
                s = summary_ms(time_calls(lambda: api.page(filter=flt), repeat, warmup=1))
                filters.append({"filter": flt, "what": what, "first_page_cards": got, "ms": s})
                shown = flt if len(flt) <= 90 else flt[:70] + " ... " + flt[-15:]
                result.add(f"EQL `{shown}` ({what}): first page p50 / p95", f"{s['p50']:.1f} / {s['p95']:.1f}",
                           f"ms ({got} card{'s' if got != 1 else ''} on the page)")
            result.data["filters"] = filters

            with esm_client(sim) as esm:
                # the connector's client reading full cards page after page
                limit = min(cards, max(PAGE, n_import * 2))
                count = 0
                t0 = time.perf_counter()
                for _card_read in esm.iter_cards(TEMPLATE, page_size=PAGE):
                    count += 1
                    if count >= limit or (count % 2000 == 0 and budget.over()):
                        break
                secs = time.perf_counter() - t0
                result.add("EsmClient.iter_cards, full cards, 200/page", count / secs, f"cards/s ({count:,} cards in {secs:.1f} s)",
                           key="client_read_rate")

                # bulk import: create, then edit the same cards
                tag = f"{os.getpid()}"
                t0 = time.perf_counter()
                created = esm.bulk_import(TEMPLATE, [_card(i, tag) for i in range(n_import)], folder=FOLDER, chunk_size=CHUNK)
                create_s = time.perf_counter() - t0
                counts = created.counts()
                if counts["created"] != n_import:
                    raise RuntimeError(f"bulk import created {counts['created']} of {n_import} cards: {created.refused[:3]}")
                result.add(f"bulk import, create {n_import:,} cards, chunks of {CHUNK}", n_import / create_s,
                           f"cards/s ({create_s:.1f} s, {created.chunks} requests)", key="create_rate")

                from jira_esm_connector.esm import CardInput

                edits = [
                    CardInput(data={**_card(o.index, tag), "status": "02 - Solving"}, data_card_id=o.data_card_id)
                    for o in created.outcomes
                ]
                t0 = time.perf_counter()
                updated = esm.bulk_import(TEMPLATE, edits, chunk_size=CHUNK)
                update_s = time.perf_counter() - t0
                if updated.counts()["updated"] != n_import:
                    raise RuntimeError(f"bulk edit updated {updated.counts()['updated']} of {n_import} cards")
                result.add(f"bulk import, edit the same {n_import:,} cards, chunks of {CHUNK}", n_import / update_s,
                           f"cards/s ({update_s:.1f} s)", key="update_rate")
            result.add("simulator RSS at the end", sim.rss_mib(), "MiB")
    result.notes.append(
        f"The store holds {cards:,} incidents + {persons:,} persons; 'near the end' = the page just above the oldest incident."
    )
    result.seconds = time.perf_counter() - started
    return result
