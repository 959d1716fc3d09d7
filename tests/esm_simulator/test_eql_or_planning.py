"""An OR of equalities on one attribute is planned like ``in (...)``: same cards, index lookups.

The connector's lookup of existing cards (``esm.eql.any_of``) sends 50 keys as
``($jira_key$ = 'a') or ($jira_key$ = 'b') or ...``. Checked three ways: results over HTTP equal
those of the ``in`` form and a Python reference for many filters (including mixed ORs that
must keep their meaning); the compiled SQL of the OR form is the ``in`` form's; and its cost in
SQLite virtual-machine steps (deterministic, unlike a timing) stays that of index lookups
instead of growing with the number of cards.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from devtools.esm_simulator import eql
from devtools.esm_simulator.seed import seed
from devtools.esm_simulator.store import Store, card_values, cards
from devtools.esm_simulator.templates import load_catalog

from .conftest import vals

STATUSES = ["01 - New", "02 - Solving", "05 - Solved"]


# --- results over HTTP -----------------------------------------------------------------------


@pytest.fixture
def incidents(esm_api):
    """30 incidents: SUP-1..SUP-28 with a status, reporters p0/p1 on some; two without a key."""
    pids = esm_api.make_persons(2)
    rows = []
    for i in range(1, 31):
        key = f"SUP-{i}" if i <= 28 else None
        status = STATUSES[i % 3]
        reporter = pids[i % 2] if i % 5 == 0 else None
        rows.append((key, status, reporter))
    cards_ = [{"folderCode": "incident_management", "data": {
        "jira_key": vals(k) if k else {"values": []}, "status": vals(s), "subject": vals(f"card {n}"),
        "reporter": {"values": [{"dataCardId": r}]} if r else {"values": []}}}
        for n, (k, s, r) in enumerate(rows)]
    out = esm_api.bulk("incident", cards_)
    assert out["meta"]["importResult"]["savedDataCards"] == 30
    return esm_api, pids, rows


def subjects(api, flt: str) -> list[str]:
    resp = api.get("/dc/incident/data", params={"limit": 200, "filter": flt, "selectedAttributes": "subject"})
    assert resp.status_code == 200, resp.text
    return sorted(c["data"]["subject"]["values"][0]["value"] for c in resp.json()["data"])


def expected(rows, pred) -> list[str]:
    return sorted(f"card {n}" for n, (k, s, r) in enumerate(rows) if pred(k, s, r))


def any_of(attr: str, values: list[str]) -> str:
    return " or ".join(f"(${attr}$ = '{v}')" for v in values)


def in_list(attr: str, values: list[str]) -> str:
    return f"${attr}$ in (" + ", ".join(f"'{v}'" for v in values) + ")"


@pytest.mark.parametrize("values", [
    ["SUP-1", "SUP-2"],
    ["SUP-3", "SUP-9", "SUP-27", "SUP-99"],  # one key matches nothing
    ["SUP-5", "SUP-5", "SUP-6"],  # a repeated key
    [f"SUP-{i}" for i in range(1, 51)],  # the lookup's 50 keys
    ["nope", "also-nope"],
])
def test_or_of_keys_equals_in_form(incidents, values):
    api, _, rows = incidents
    got = subjects(api, any_of("jira_key", values))
    assert got == subjects(api, in_list("jira_key", values))
    assert got == expected(rows, lambda k, s, r: k in values)


def test_or_of_static_values_and_references_equals_in_form(incidents):
    api, pids, rows = incidents
    two = ["01 - New", "05 - Solved"]
    assert subjects(api, any_of("status", two)) == subjects(api, in_list("status", two)) \
        == expected(rows, lambda k, s, r: s in two)
    # references: by the referenced card's name and by its data card id, mixed
    flt = f"$reporter$ = 'User p0' or $reporter$ = '{pids[1]}'"
    assert subjects(api, flt) == subjects(api, f"$reporter$ in ('User p0', '{pids[1]}')") \
        == expected(rows, lambda k, s, r: r is not None)
    assert subjects(api, "$reporter$ = 'User p0' or $reporter$ = 'Nobody'") \
        == expected(rows, lambda k, s, r: r == pids[0])


@pytest.mark.parametrize("flt, pred", [
    # other attributes in the same OR: only the jira_key equalities may be combined
    ("$jira_key$ = 'SUP-1' or $status$ = '05 - Solved' or $jira_key$ = 'SUP-2'",
     lambda k, s, r: k in ("SUP-1", "SUP-2") or s == "05 - Solved"),
    # <> is not an equality (it also matches cards without a key)
    ("$jira_key$ = 'SUP-1' or $jira_key$ <> 'SUP-2'", lambda k, s, r: k != "SUP-2"),
    ("$jira_key$ <> 'SUP-1' or $jira_key$ <> 'SUP-2'", lambda k, s, r: True),
    # and binds tighter than or: SUP-2 only together with its status
    ("$jira_key$ = 'SUP-1' or $jira_key$ = 'SUP-2' and $status$ = '01 - New'", lambda k, s, r: k == "SUP-1"),
    ("$jira_key$ = 'SUP-1' or $jira_key$ = 'SUP-3' and $status$ = '01 - New'",
     lambda k, s, r: k in ("SUP-1", "SUP-3")),
    ("($jira_key$ = 'SUP-4' and $status$ = '02 - Solving') or $jira_key$ = 'SUP-7'",
     lambda k, s, r: k in ("SUP-4", "SUP-7")),
    # not applies to its own operand only
    ("not $jira_key$ = 'SUP-1' or $jira_key$ = 'SUP-1'", lambda k, s, r: True),
    ("not $jira_key$ = 'SUP-1' or $jira_key$ = 'SUP-2'", lambda k, s, r: k != "SUP-1"),
    # a negated OR of equalities: cards with none of the keys, including cards without a key
    ("not ($jira_key$ = 'SUP-1' or $jira_key$ = 'SUP-2')", lambda k, s, r: k not in ("SUP-1", "SUP-2")),
    # an in list OR-ed with equalities, and nested groups
    ("$jira_key$ in ('SUP-1', 'SUP-2') or $jira_key$ = 'SUP-3'", lambda k, s, r: k in ("SUP-1", "SUP-2", "SUP-3")),
    ("(($jira_key$ = 'SUP-1') or ($jira_key$ = 'SUP-2')) and $status$ = '02 - Solving'",
     lambda k, s, r: k in ("SUP-1", "SUP-2") and s == "02 - Solving"),
    ("$status$ = '01 - New' and ($jira_key$ = 'SUP-3' or $jira_key$ = 'SUP-6' or $jira_key$ = 'SUP-7')",
     lambda k, s, r: s == "01 - New" and k in ("SUP-3", "SUP-6", "SUP-7")),
])
def test_mixed_ors_keep_their_meaning(incidents, flt, pred):
    api, _, rows = incidents
    assert subjects(api, flt) == expected(rows, pred)


# --- plan and cost -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_store(tmp_path_factory):
    catalog = load_catalog()
    store = Store(str(tmp_path_factory.mktemp("esm") / "esm.db"), catalog)
    seed(store, catalog, incidents=6000)
    yield store, catalog
    store.close()


def compile_(store_catalog, flt: str):
    store, catalog = store_catalog
    return eql.compile_filter(flt, catalog.templates["incident"], cards, card_values, store.estimate_values)


def sql_of(cond) -> str:
    return str(cond.compile(compile_kwargs={"literal_binds": True}))


KEYS = [f"SUP-{1 + 117 * i}" for i in range(50)]


def test_or_of_equalities_compiles_to_the_in_form(big_store):
    assert sql_of(compile_(big_store, any_of("jira_key", KEYS))) == sql_of(compile_(big_store, in_list("jira_key", KEYS)))
    nested = "($jira_key$ = 'SUP-1') or (($jira_key$ = 'SUP-2') or ($jira_key$ = 'SUP-3'))"
    assert sql_of(compile_(big_store, nested)) == sql_of(compile_(big_store, in_list("jira_key", ["SUP-1", "SUP-2", "SUP-3"])))
    # not rewritten: a different attribute or a non-equality stays its own term
    mixed = sql_of(compile_(big_store, "$jira_key$ = 'SUP-1' or $status$ = '01 - New' or $jira_key$ = 'SUP-2'"))
    assert mixed.count(" OR ") == 1 and "'SUP-1', 'SUP-2'" in mixed
    assert "NOT" in sql_of(compile_(big_store, "$jira_key$ = 'SUP-1' or $jira_key$ <> 'SUP-2'"))


def page_steps(store_catalog, flt: str) -> tuple[int, int]:
    """(cards on the first page of 200, SQLite VM steps in units of 100) for the filter."""
    store, _ = store_catalog
    cond = compile_(store_catalog, flt)
    q = (sa.select(cards).where(cards.c.template == "incident", cards.c.deleted.is_(False), cond)
         .order_by(cards.c.id.desc()).limit(200))
    steps = [0]

    def tick():
        steps[0] += 1
        return 0

    with store.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        raw.set_progress_handler(tick, 100)
        try:
            n = len(conn.execute(q).fetchall())
        finally:
            raw.set_progress_handler(None, 100)
    return n, steps[0]


def test_or_lookup_costs_what_the_in_lookup_costs(big_store):
    n_or, or_steps = page_steps(big_store, any_of("jira_key", KEYS))
    n_in, in_steps = page_steps(big_store, in_list("jira_key", KEYS))
    assert n_or == n_in == 50
    # index lookups: ~30 units for the 50 keys, independent of the 6,000 cards; the former
    # plan (50 OR-ed ``id IN (...)`` tests, every card probed) measured ~18,000 units here
    assert or_steps <= in_steps * 1.5 + 5, (or_steps, in_steps)
