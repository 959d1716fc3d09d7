"""More faults a real deployment meets: ESM answering a bulk PUT it committed with a 500,
504 or a cut-off 200 body, ESM answering per-card results in another order, ESM listings
that repeat a card on the next page, Jira answers cut off with status 200, an issue
returned twice by issue/bulkfetch or lost by a search listing, bulk fetches silently capped,
people trashing or editing cards in ESM between runs, and Jira's clock going back between
runs."""
from __future__ import annotations

import json

import pytest

from jira_esm_connector.esm import EsmClient
from jira_esm_connector.jira import JiraClient
from tests.fixtures.jira_proxy import ForwardingProxy

from .check import check_import, esm_cards_by_key, jira_issues
from .harness import (
    FAST_RETRY,
    ISSUES_FULL,
    ISSUES_INCREMENTAL,
    PAGE,
    after_pages,
    before_put,
    import_until_done,
    make_task,
    touch_every_issue,
)

ESM_ROOT = "/rest-api/itsm/v1"
ESM_PUT = f"{ESM_ROOT}/dc/incident/data"
SEARCH = "/rest/api/3/search/jql"
BULKFETCH = "/rest/api/3/issue/bulkfetch"


@pytest.fixture
def esm_proxy(env):
    """A ForwardingProxy in front of the ESM simulator, and an EsmClient going through it."""
    proxy = ForwardingProxy(env.esm_sim.root_url, env.esm_sim.ca_pem)
    esm = EsmClient(proxy.url + ESM_ROOT, env.esm_sim.username, env.esm_sim.password,
                    retry=FAST_RETRY, allow_insecure_http=True)
    env._clients.append(esm)
    yield proxy, esm
    proxy.close()


@pytest.fixture
def jira_proxied(env, proxy):
    """A JiraClient going through the ``proxy`` fixture (in front of the Jira simulator)."""
    jira = JiraClient(proxy.url, env.jira_sim.email, env.jira_sim.token, retry=FAST_RETRY, allow_insecure_http=True)
    env._clients.append(jira)
    return proxy, jira


class Once:
    """A response rewrite for ForwardingProxy that acts on the ``nth`` matching answer only
    (every other answer passes unchanged)."""

    def __init__(self, fn, nth: int = 1) -> None:
        self.fn, self.nth, self.seen, self.fired = fn, nth, 0, False

    def __call__(self, body: bytes) -> bytes:
        self.seen += 1
        if self.seen != self.nth:
            return body
        self.fired = True
        return self.fn(body)


def _cut(body: bytes) -> bytes:
    """The first half of a JSON answer: a body cut off by a proxy or a dropped stream, status 200."""
    return body[: max(1, len(body) // 2)]


def _keys_in_order(env, task) -> list[str]:
    return sorted(jira_issues(env.jira_sim, task.jql), key=lambda k: int(k.split("-")[1]))


# ---- ESM: answers that do not say what ESM did ---------------------------------------------

@pytest.mark.parametrize("kind", ["500", "504"])
def test_esm_5xx_after_bulk_put_committed(env, report, esm_proxy, kind):
    """ESM saved the second chunk (new cards), then a 500 or a gateway's 504 came back instead
    of its answer: the cards exist. Neither the run nor its retry may create them again."""
    proxy, esm = esm_proxy
    task = make_task(ISSUES_FULL)
    hook = before_put(esm, 2, lambda: proxy.fail_after("PUT", ESM_PUT, kind=kind))
    runs = import_until_done(env, task, esm=esm).runs
    assert hook.fired and proxy.count("PUT", ESM_PUT) >= 3 and all(f.count == 0 for f in proxy.faults)
    env.calm()
    report(f"ESM {kind} after committing a bulk PUT", runs, check_import(task, env.jira_sim, env.esm()))


def test_esm_bulk_put_answer_cut_off_with_200(env, report, esm_proxy):
    """ESM saved the second chunk and answered 200, but the body arrived cut in half (not
    JSON): what ESM did is unknown. The retry must find the cards by key."""
    proxy, esm = esm_proxy
    task = make_task(ISSUES_FULL)
    cut = Once(_cut, nth=2)
    proxy.rewrite_response("PUT", ESM_PUT, cut)
    runs = import_until_done(env, task, esm=esm).runs
    assert cut.fired and runs > 1
    env.calm()
    report("ESM bulk PUT answer cut off (200, half a JSON body)", runs, check_import(task, env.jira_sim, env.esm()))


def test_esm_bulk_put_results_in_another_order(env, report, esm_proxy):
    """ESM answers the per-card results of every chunk of new cards in reverse order (the
    contract does not promise the order sent): records are paired with each other's cards in
    the key map. Then one issue leaves Jira while the others stay unchanged: removal must mark
    its card (the key map calls that card another record's, whose own card ESM has), and later
    edits must reach the right cards."""
    proxy, esm = esm_proxy
    task = make_task(ISSUES_FULL)
    reversed_answers = []

    def reverse(body: bytes) -> bytes:
        data = json.loads(body)
        data["data"] = list(reversed(data["data"]))
        reversed_answers.append(len(data["data"]))
        return json.dumps(data).encode()

    proxy.rewrite_response("PUT", ESM_PUT, reverse)
    jira, state = env.jira(), env.state()
    runs = import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=1).runs
    proxy.rewrite_response("PUT", ESM_PUT, None)
    assert reversed_answers
    keys = _keys_in_order(env, task)
    gone = keys[3]
    env.jira_sim.admin("DELETE", f"issues/{gone}")
    runs += import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=1).runs
    cards = esm_cards_by_key(env.esm(), task.template, task.key.esm)
    assert [c.value("status") for c in cards.get(gone, [])] == ["07 - Cancelled"], "the deleted issue's card"
    for key in keys[:20]:
        if key != gone:
            env.jira_sim.admin("PATCH", f"issues/{key}", json={"summary": f"changed after the reversed answer: {key}"})
    runs += import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=1).runs
    env.calm()
    report("ESM bulk PUT per-card results in reverse order", runs, check_import(task, env.jira_sim, env.esm()))


def test_esm_listing_repeats_a_card_on_the_next_page(env, report, esm_proxy):
    """ESM answers listings in pages of 7 cards whose next-page link starts one id too high,
    so every page repeats the last card of the one before (keyset paging at ``<=`` instead of
    ``<``). Load look-ups and the removal's paging read such listings while issues change
    and two leave Jira."""
    proxy, esm = esm_proxy
    task = make_task(ISSUES_FULL)
    listing = f"{ESM_ROOT}/dc/incident/data"
    repeated = []

    def short_pages_one_too_high(body: bytes) -> bytes:
        data = json.loads(body)
        cards = data.get("data") or []
        if len(cards) <= 7:
            return body
        data["data"] = cards[:7]
        last = int(cards[6]["dataCardId"])
        own = data["meta"]["links"]["self"]
        head, _, tail = own.partition("?")
        query = "&".join(p for p in tail.split("&") if p and not p.startswith("filterId="))
        data["meta"]["links"]["next"] = f"{head}?{query}&filterId={last + 1}"
        repeated.append(last)
        return json.dumps(data).encode()

    jira, state = env.jira(), env.state()
    runs = import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=1).runs
    state.clear_cache(task.name, "fault suite")  # every card is looked up again
    state.set_key_map_complete(task.name, task.template, task.key.esm, False)  # the removal pages
    proxy.rewrite_response("GET", listing, short_pages_one_too_high)
    keys = _keys_in_order(env, task)
    for key in keys[::7]:
        env.jira_sim.admin("PATCH", f"issues/{key}", json={"summary": f"changed while ESM repeats cards: {key}"})
    gone = keys[5:7]
    for key in gone:
        env.jira_sim.admin("DELETE", f"issues/{key}")
    runs += import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=1).runs
    proxy.rewrite_response("GET", listing, None)
    assert repeated, "no listing was paged"
    env.calm()
    cards = esm_cards_by_key(env.esm(), task.template, task.key.esm)
    assert all([c.value("status") for c in cards.get(k, [])] == ["07 - Cancelled"] for k in gone), gone
    report("ESM listing pages of 7 repeat a card on the next page", runs, check_import(task, env.jira_sim, env.esm()))


# ---- Jira: answers cut off, issues twice, fewer than asked ----------------------------------

@pytest.mark.parametrize("path", [SEARCH, BULKFETCH])
def test_jira_answer_cut_off_with_200(env, report, jira_proxied, path):
    """A full import whose cards exist; one page of the listing (or one bulk fetch) arrives cut
    in half with status 200. Nothing may be marked removed, and the run or its retry converges."""
    proxy, jira = jira_proxied
    task = make_task(ISSUES_FULL)
    import_until_done(env, task, attempts=1)
    touch_every_issue(env, task)  # the faulted run must read every issue
    env.jira_sim.admin("PUT", "config", json={"max_results_cap": PAGE})  # the ids listing: several pages
    cut = Once(_cut, nth=2)
    proxy.rewrite_response("POST", path, cut)
    runs = 1 + import_until_done(env, task, jira=jira).runs
    assert cut.fired
    env.calm()
    report(f"Jira answer cut off with 200 ({path.rsplit('/', 1)[-1]})", runs, check_import(task, env.jira_sim, env.esm()))


def test_jira_bulkfetch_returns_an_issue_twice(env, report, jira_proxied):
    """Every bulk fetch answer holds its first issue twice (once with an older summary): the
    issue must still get one card, holding Jira's current values."""
    proxy, jira = jira_proxied
    task = make_task(ISSUES_FULL)

    def twice(body: bytes) -> bytes:
        data = json.loads(body)
        if data.get("issues"):
            stale = json.loads(json.dumps(data["issues"][0]))
            stale["fields"]["summary"] = "an older copy"
            data["issues"].insert(0, stale)
        return json.dumps(data).encode()

    proxy.rewrite_response("POST", BULKFETCH, twice)
    runs = import_until_done(env, task, jira=jira, attempts=1).runs
    touch_every_issue(env, task)
    runs += import_until_done(env, task, jira=jira, attempts=1).runs
    proxy.rewrite_response("POST", BULKFETCH, None)
    env.calm()
    report("Jira bulkfetch answers an issue twice", runs, check_import(task, env.jira_sim, env.esm()))


def test_jira_bulkfetch_silently_capped(env, report):
    """A full import whose cards exist; then every bulk fetch answers only its first 7 issues,
    with no issueErrors for the others (a cap lowered quietly). The issues left out are not
    gone: none may be marked removed, and every issue reaches ESM."""
    task = make_task(ISSUES_FULL)
    jira = env.jira()
    runs = import_until_done(env, task, jira=jira, attempts=1).runs
    touch_every_issue(env, task)
    env.jira_sim.admin("PUT", "config", json={"bulkfetch_max": 7, "bulkfetch_silent": True})
    runs += import_until_done(env, task, jira=env.jira(), attempts=2).runs
    env.calm()
    report("Jira bulkfetch silently capped at 7, no issueErrors", runs, check_import(task, env.jira_sim, env.esm()))


# ---- people in ESM between runs -------------------------------------------------------------

def test_esm_cards_trashed_by_a_person_between_runs(env, report):
    """Someone moves two issue cards to ESM's trash between runs. A run that clears the task
    cache (the daily clear) gives those issues live cards again, one each."""
    task = make_task(ISSUES_FULL)
    jira, esm, state = env.jira(), env.esm(), env.state()
    runs = import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=1).runs
    cards = esm_cards_by_key(esm, task.template, task.key.esm)
    trashed = sorted(cards)[:2]
    for key in trashed:
        esm.delete_card(task.template, cards[key][0].data_card_id)
    env.jira_sim.admin("PATCH", f"issues/{trashed[0]}", json={"summary": "changed after its card was trashed"})
    runs += import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=1).runs
    runs += import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=1, clear_cache=True).runs
    env.calm()
    report("ESM cards trashed by a person between runs", runs, check_import(task, env.jira_sim, env.esm()))


def test_esm_key_attribute_edited_by_a_person(env, report):
    """Someone clears the key attribute of one card and mistypes the key of a second one (a key
    no issue has). After the issues change in Jira and a cache-clearing run, every issue has
    exactly one current card and none is marked removed."""
    task = make_task(ISSUES_FULL)
    jira, esm, state = env.jira(), env.esm(), env.state()
    runs = import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=1).runs
    cards = esm_cards_by_key(esm, task.template, task.key.esm)
    keys = _keys_in_order(env, task)
    cleared, retyped = keys[1], keys[2]
    esm.patch_card(task.template, cards[cleared][0].data_card_id, {"jira_key": None})
    esm.patch_card(task.template, cards[retyped][0].data_card_id, {"jira_key": "SUP-99999"})
    for key in (cleared, retyped):
        env.jira_sim.admin("PATCH", f"issues/{key}", json={"summary": f"changed after a person edited ESM: {key}"})
    runs += import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=1).runs
    runs += import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=1, clear_cache=True).runs
    env.calm()
    report("ESM key attribute cleared / retyped by a person", runs, check_import(task, env.jira_sim, env.esm()))


def test_jira_listing_loses_an_issue_that_changed(env, report, jira_proxied):
    """An issue changed in Jira since the last full run (which ran two hours ago), and this
    run's search listing loses it (a page that came back short of it; the search index
    reshuffled). Removal asks Jira, finds it still selected and does not mark it -- and the
    change it never read must still reach ESM with the next run, not wait for the daily
    cache clear (the next run would take the issue as unchanged and carry it)."""
    from datetime import datetime, timedelta, timezone

    proxy, jira = jira_proxied
    task = make_task(ISSUES_FULL)
    esm, state = env.esm(), env.state()
    runs = import_until_done(env, task, esm=esm, state=state, attempts=1).runs
    since, digest = state.get_full_sync(task.name)
    state.set_full_sync(task.name, since - timedelta(hours=2), digest)  # that run was two hours ago
    victim = jira_issues(env.jira_sim, task.jql)[_keys_in_order(env, task)[10]]
    ten_minutes_ago = int((datetime.now(timezone.utc) - timedelta(minutes=10)).timestamp() * 1000)
    env.jira_sim.admin("PATCH", f"issues/{victim['key']}", json={"summary": "changed ten minutes ago",
                                                                  "updated": ten_minutes_ago})

    def without_victim(body: bytes) -> bytes:
        data = json.loads(body)
        data["issues"] = [i for i in data.get("issues", []) if str(i.get("id")) != str(victim["id"])]
        return json.dumps(data).encode()

    keys = _keys_in_order(env, task)
    env.jira_sim.admin("PATCH", f"issues/{keys[0]}", json={"summary": "changed just now"})  # Jira is in use
    proxy.rewrite_response("POST", SEARCH, without_victim)
    proxy.rewrite_response("GET", SEARCH, without_victim)
    runs += import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=1).runs
    proxy.rewrite_response("POST", SEARCH, None)
    proxy.rewrite_response("GET", SEARCH, None)
    runs += import_until_done(env, task, esm=esm, state=state, attempts=1).runs  # the next scheduled run
    env.calm()
    report("Jira listing loses a changed issue (still selected)", runs, check_import(task, env.jira_sim, env.esm()))


# ---- Jira's clock -----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["incremental", "full"])
def test_jira_clock_goes_back_between_runs(env, report, mode):
    """Jira's clock ran an hour fast during a run (a wrong server clock), and is corrected
    before the next: issues changed since carry earlier ``updated`` stamps than the watermark
    (incremental) or the last full run's start (full) the connector took from Jira's clock.
    Those changes must reach ESM all the same."""
    task = make_task(ISSUES_INCREMENTAL if mode == "incremental" else ISSUES_FULL)
    jira, esm, state = env.jira(), env.esm(), env.state()
    env.jira_sim.admin("PUT", "config", json={"clock_offset_seconds": 3600})
    keys = _keys_in_order(env, task)
    env.jira_sim.admin("PATCH", f"issues/{keys[0]}", json={"summary": "changed while Jira's clock ran fast"})
    runs = import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=1).runs
    if mode == "full":  # the carry needs one successful full run under the same task before
        runs += import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=1).runs
    env.jira_sim.admin("PUT", "config", json={"clock_offset_seconds": 0})  # corrected: back an hour
    for key in keys[5:8]:
        env.jira_sim.admin("PATCH", f"issues/{key}", json={"summary": f"changed after Jira's clock was corrected: {key}"})
    runs += import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=1).runs
    first = check_import(task, env.jira_sim, esm)  # the first run after the correction brought them
    env.jira_sim.admin("PATCH", f"issues/{keys[9]}", json={"summary": "changed after the run that caught up"})
    runs += import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=1).runs
    env.calm()
    report(f"Jira's clock goes back an hour between runs ({mode})", runs,
           first.add(check_import(task, env.jira_sim, env.esm())))
