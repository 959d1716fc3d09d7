"""Mark removed (full imports only).

Cards that carry this task's id, are not yet disabled, and whose key was not fetched in
this run get the task's removal attribute set to its removal value (SPEC defaults:
person ``accountStatus`` = ``Deleted``, group ``status`` = ``5 - Removed``). Cards are
never re-enabled here or by the load step.

If several tasks fetch the same record, the last one to write it owns it (its task id is
on the card), so only that task can mark it removed. The step holds the ESM template's
write lock (:mod:`.template_lock`) while it finds and marks candidates, so no other task's
load takes a candidate over between the two.

Safety limits -- a removal is only as trustworthy as the listing it is based on:

* **share**: when more than ``removed.max_share`` (default 0.5, always < 1) of the task's
  active cards would be marked in one run -- a JQL typo, an expired permission -- the step
  stops with a clear message and marks nothing, unless the run was triggered with
  ``allow_mass_removal: true``;
* **shrink**: when this run fetched more than ``removed.max_shrink`` (default 0.10) fewer
  records than the last successful run (``state.last_volume``; with none recorded -- a new
  or lost state database -- than the task's active cards) -- a listing cut short by page
  caps, a lost permission, a lagging index -- nothing is marked either, unless the run was
  triggered with ``allow_shrink: true``;
* **users Jira could not name** (user imports): Jira lists the corrupted record of a deleted
  user with the account id ``unknown``, and the contract gives the record of a user its
  directory cannot give in an outage fallback values too -- such a record names no one, so
  a live person behind it looks gone. When a run left out more such records than the last
  successful run (none recorded: than none), nothing is marked either, unless the run was
  triggered with ``allow_shrink: true`` (the listing is short of those users);
* **asked Jira** (generic imports): the listing reads Jira's search index, which lags behind
  writes and may lose a page. A candidate whose issue Jira still has (``issue/bulkfetch``,
  read consistently) is not marked when it changed since the listing began less the task's
  ``overlap_minutes`` (the next run decides), nor when the task's JQL, asked for it alone
  (``jql/match``: no pages, so none of it can be lost as the listing's was), still selects it
  (logged). Gone, or no longer selected: marked.
* **asked Jira** (user imports): Jira's user listing keeps inactive and removed users, so a
  user it left out is almost always a listing that ended early. A candidate is marked only
  when Jira, asked for its account alone (``GET /user``), answers that it has none (a
  closed account); a user Jira still has is not marked (logged).
* **asked Jira** (group imports): a group the listing left out is marked only when Jira,
  asked for that group alone (``group/member`` 404, and ``group/bulk`` not showing it), does
  not have it; a group Jira still has is not marked (logged) -- its members would lose access.
* **a fetched record's card**: a candidate the key map records as the card of a record this
  run fetched is not marked (logged): its key attribute was changed in ESM, the record is
  still in Jira. Once the task writes the record again it gets a card of its own, and the
  changed card is a candidate like any other.

The first three fail the run without an Airflow retry (:class:`RemovalLimitError`): a retry
would see the same listing. So does an ESM that refuses the whole template with 403 (the
account lost its role): the marking stops after a few requests, as the load does
(:class:`..esm.TemplateWriteForbiddenError`), instead of trying card by card. The run's volume is not recorded, so the next run compares against the
last good one again.

Which cards are candidates -- two ways to the same answer:

* **Paging** (the reference): every card of the template carrying this task's id, read
  from ESM page by page. It also records their keys in the state store's key map and notes
  the map as *complete* for the task (``key_map_coverage``).
* **From the key map** (fast), only while the map is noted complete: the candidates are
  the mapped keys this run did not fetch; they are looked up in ESM in bulk (a few keys
  per request, ``concurrency`` requests at once) with a filter that also demands this
  task's id, and only cards ESM returns that way, not disabled, are candidates. The
  "active" count of the share limit is then the candidates still active plus the mapped
  keys this run fetched (cards this task wrote; one kept disabled or taken over by another
  task would be counted too -- rare, and a listing cut short still shows as a share near
  100 %). The shrink limit does not depend on ESM at all.

  Why this never marks a card whose record was fetched: a card is marked only if ESM, asked
  this run, says it carries this task's id, is not disabled, and its key attribute equals
  a key that is not in this run's fetched set -- the same test the paging makes, applied to
  fewer cards. Why it never marks a card the state does not know: the keys asked for come
  only from the key map. Why it misses no card the paging would mark: the map is complete
  -- set after a full paging, or by a load that started on an empty template and recorded
  every card it wrote; the load clears the note before its first write and sets it back
  only when it recorded every card it wrote (a crash, or an answer that does not say what
  became of a new card, or a mapped card found holding another key, leaves it cleared), no
  other step stamps a task's id, and a card that leaves the task (another task took it over,
  it was trashed) needs no marking. A mapped key no card of the task holds any more is
  read by its card's id first: a card still the task's under another key (changed in ESM by
  hand) is one the map no longer knows, and the step pages instead.
  Without the note (a new state database, a migration, a crashed load) the step pages.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, Callable, Iterable

from ..http.errors import BadRequestError, NotFoundError
from ..http.parallel import bounded_parallel
from ..mapping.dates import parse_jira_datetime
from ..protocols import EsmApi, JiraApi, StateApi
from .finish import baseline_counts
from .load import RecordLines, chunks_of, earlier_key_forms, stamped_by_task, task_cards
from .results import ExtractResult, RemovalResult
from .staging import Dataset
from .transform import record_key
from .template_lock import writing_template

__all__ = ["mark_removed", "nothing_marked", "RemovalLimitError", "ShrinkLimitError"]

log = logging.getLogger("jira_esm_connector.pipeline")


class RemovalLimitError(RuntimeError):
    """Too many cards would be marked removed in one run."""


class ShrinkLimitError(RemovalLimitError):
    """The run fetched markedly fewer records than the last successful one: nothing is marked."""


def nothing_marked() -> RemovalResult:
    """The result of a run that does not mark removed records (incremental, ``removed: false``)."""
    return {"marked_removed": 0, "active_cards": None, "refused_removals": 0, "skipped": True, "last_volume": None}


def _fetched_keys(extracted: ExtractResult) -> set[str]:
    return Dataset(extracted["dataset"]).key_set()


def _disabled(task: Any, card: Any) -> bool:
    status = card.value(task.removal.attribute)
    return status is not None and str(status) == str(task.removal.value)


def _removal_candidates(
    task: Any, seen: set[str], esm: EsmApi, state: StateApi, lg: Any, guard: Callable[[], None],
) -> tuple[int, list[tuple[str, str]], dict[str, str | None]]:
    """By paging: (how many of the task's cards are active, the active ones whose key this
    run did not fetch as ``(card id, key)``, the folder of each of those cards). Cards
    without a key are left alone (and logged). Records every card's key in the key map and
    notes the map complete -- while the write lock (``guard``) is still held."""
    removal = task.removal
    key_attr = task.key.esm
    active = 0
    candidates: list[tuple[str, str]] = []  # (card id, key)
    folders: dict[str, str | None] = {}  # card id -> its folder
    no_key: list[str] = []
    mapped: dict[str, str] = {}
    for card in task_cards(task, esm, [key_attr, removal.attribute], lg, others="left alone"):
        key = card.value(key_attr)
        if key not in (None, ""):
            mapped.setdefault(str(key), card.data_card_id)  # newest first: the newest wins
        if _disabled(task, card):
            continue
        active += 1
        if key in (None, ""):
            no_key.append(card.data_card_id)
            continue
        if str(key) not in seen:
            candidates.append((card.data_card_id, str(key)))
            folders[card.data_card_id] = card.folder_code
    # every card carrying this task's id is now in the key map: the next runs need no paging
    state.put_card_ids(task.name, mapped)
    guard()  # complete only if no other writer held the template while the cards were read
    state.set_key_map_complete(task.name, task.template, key_attr, True)
    if no_key:
        lg.warning(
            "%d '%s' card(s) carry task id '%s' but no %s; left alone: %s",
            len(no_key), task.template, task.name, key_attr, ", ".join(no_key[:20]),
        )
    return active, candidates, folders


def _task_cards_by_key(task: Any, esm: EsmApi, keys: Iterable[str], concurrency: int = 1) -> tuple[list[Any], int]:
    """(the cards carrying this task's id whose key attribute is one of ``keys``, read with the
    key, removal and task id attributes; how many requests that took): as few filters as the URL
    length allows, ``concurrency`` at once."""
    from ..esm import eql

    within = eql.eq(task.task_id_attribute, task.name)
    selected = [task.key.esm, task.removal.attribute, task.task_id_attribute]

    def ask(filter_: str) -> list[Any]:
        return list(esm.iter_cards(task.template, filter=filter_, selected_attributes=selected))

    batches = [f for _, f in eql.any_of_batches(task.key.esm, keys, within=within)]
    found = [card for _, cards in bounded_parallel(ask, batches, max(1, int(concurrency)), name="esm-removal")
             for card in cards]
    return found, len(batches)


def _candidates_from_key_map(
    task: Any, seen: set[str], esm: EsmApi, state: StateApi, lg: Any, concurrency: int
) -> tuple[int, list[tuple[str, str]], dict[str, str | None]] | None:
    """From the (complete) key map: (active count, candidates, their folders) -- see the module
    docs; None when a card of the map turned out to hold another key (then the caller pages)."""
    key_attr = task.key.esm
    fetched_mapped = 0
    unfetched: dict[str, str] = {}  # key -> its card
    for key, card_id in state.iter_card_ids(task.name):
        if key in seen:
            fetched_mapped += 1
        else:
            unfetched[key] = card_id
    found, requests = _task_cards_by_key(task, esm, unfetched, concurrency)
    wanted = set(unfetched)
    candidates: list[tuple[str, str]] = []
    folders: dict[str, str | None] = {}
    still_ours: set[str] = set()
    for card in found:
        key = card.value(key_attr)
        # ESM filtered already; checked again here because a wrong mark cannot be undone
        if not stamped_by_task(task, card) or key in (None, "") or str(key) not in wanted:
            continue
        still_ours.add(str(key))
        if str(key) not in seen and not _disabled(task, card):
            candidates.append((card.data_card_id, str(key)))
            folders[card.data_card_id] = card.folder_code
    gone = [k for k in unfetched if k not in still_ours]
    if gone:
        rekeyed, unlisted = _read_unlisted(task, {k: unfetched[k] for k in gone}, esm, lg, concurrency)
        for key, card in unlisted.items():  # still the task's under its key: ESM's search left it out
            gone.remove(key)
            if not _disabled(task, card):
                candidates.append((card.data_card_id, key))
                folders[card.data_card_id] = card.folder_code
        if rekeyed:  # noted first: a map still noted complete must not have lost the card
            state.set_key_map_complete(task.name, task.template, key_attr, False)
        # no card with this task's id has these keys any more (trashed, taken over by another
        # task, or holding another key -- which the paging records instead)
        state.forget_card_ids(task.name, gone)
        if rekeyed:
            return None
    lg.info(
        "Removal check from the key map: %d mapped record(s) fetched this run, %d not fetched, checked in ESM "
        "in %d request(s); %d of them are still this task's active cards.",
        fetched_mapped, len(unfetched), requests, len(candidates),
    )
    return fetched_mapped + len(candidates), candidates, folders


def _read_unlisted(
    task: Any, gone: dict[str, str], esm: EsmApi, lg: Any, concurrency: int,
) -> tuple[bool, dict[str, Any]]:
    """The cards of ``gone`` (mapped keys ESM's search returned no card of this task for:
    ``{key: its card}``), each read by its id -- one read per card; trashed or taken-over
    cards, forgotten after this, are asked about once. Returns (whether one still carries this
    task's id under another key -- changed in ESM by hand: the key map misses a card the paging
    would judge, it is not complete --, ``{key: card}`` of those still the task's under the
    very key: the search left them out for a moment (not searchable yet), they are judged as
    listed)."""
    from ..esm.errors import CardNotFoundError

    selected = [task.key.esm, task.task_id_attribute, task.removal.attribute]

    def read(item: tuple[str, str]) -> Any:
        try:
            return esm.get_card(task.template, item[1], selected_attributes=selected)
        except CardNotFoundError:
            return None

    rekeyed = False
    unlisted: dict[str, Any] = {}
    for (key, card_id), card in bounded_parallel(read, list(gone.items()), max(1, int(concurrency)),
                                                 name="esm-removal"):
        if card is None or card.deleted or not stamped_by_task(task, card):
            continue
        if str(card.value(task.key.esm)) == key:
            unlisted[key] = card
            continue
        rekeyed = True
        lg.warning(
            "Card %s was written for %s %s but now holds %r (changed in ESM?): the key map no longer says which "
            "cards are task '%s''s; reading all of them from ESM.",
            card_id, task.key.esm, key, card.value(task.key.esm), task.name)
    if unlisted:
        lg.info("%d card(s) of this task ESM's search did not return were read by their ids: still the task's under "
                "their keys (not searchable yet?), judged as listed: %s", len(unlisted),
                ", ".join(sorted(unlisted))[:1500])
    return rekeyed, unlisted


def _check_unnamed_users(
    task: Any, candidates: list[tuple[str, str]], unnamed: int, state: StateApi, *, allow_shrink: bool, lg: Any,
) -> None:
    """Raise :class:`ShrinkLimitError` when the run left out more user records with the account
    id 'unknown' than the last successful run (module docs), unless ``allow_shrink``."""
    before = baseline_counts(state, task.name).get("unnamed_users")
    if before is not None and unnamed <= int(before):
        return  # as many as before: corrupted records of users deleted long ago
    against = f"{before} in the last successful run" if before is not None else "none recorded before"
    message = (
        f"Task '{task.name}': refusing to mark {len(candidates)} '{task.template}' card(s) as removed: Jira listed "
        f"{unnamed} user record(s) with the account id 'unknown' ({against}). Such a record names no one: Jira "
        f"gives it for a corrupted deleted user, and for a user its directory could not give (an outage), who then "
        f"looks gone. Nothing was marked. If Jira's user directory is sound (the extra records are deleted users), "
        f"trigger the DAG once with the parameter allow_shrink = true. First keys: "
        f"{', '.join(k for _, k in candidates[:10])}"
    )
    if allow_shrink:
        lg.warning("Unnamed-user check overridden for this run (allow_shrink): %s", message)
        return
    lg.error("%s", message)
    raise ShrinkLimitError(message)


def _check_safety_limits(
    task: Any, candidates: list[tuple[str, str]], active: int, fetched: int, last_volume: int | None,
    *, allow_mass_removal: bool, allow_shrink: bool, lg: Any,
) -> None:
    """Raise :class:`RemovalLimitError` / :class:`ShrinkLimitError` when a safety limit trips
    and its override was not given (see the module docs)."""
    removal = task.removal
    share = (len(candidates) / active) if active else 0.0
    lg.info(
        "Removal check: %d of %d active '%s' card(s) of task '%s' were not fetched this run (%.0f%%; limit %.0f%%).",
        len(candidates), active, task.template, task.name, share * 100, removal.max_share * 100,
    )
    refusals: list[str] = []
    shrink_refused = False
    if candidates and share > removal.max_share:
        message = (
            f"Task '{task.name}': refusing to mark {len(candidates)} of {active} active '{task.template}' cards "
            f"as removed ({share:.0%}, more than the safety limit of {removal.max_share:.0%}, removed.max_share). "
            f"Nothing was marked. "
            f"If Jira really lost these records, trigger the DAG once with the parameter allow_mass_removal = true; "
            f"otherwise check the task's JQL and the Jira account's permissions. "
            f"First keys: {', '.join(k for _, k in candidates[:10])}"
        )
        if allow_mass_removal:
            lg.warning("Safety limit overridden for this run (allow_mass_removal): %s", message)
        else:
            refusals.append(message)
    # no earlier volume (a new or lost state database): the task's active cards are the baseline
    baseline = last_volume if last_volume is not None else active
    if candidates and baseline and fetched < baseline * (1 - removal.max_shrink):
        # A listing cut short looks exactly like records deleted in Jira: trust it only when
        # the run saw about as much as the last good one.
        shrink = 1 - fetched / baseline
        against = (f"the {last_volume} of the last successful run" if last_volume is not None else
                   f"the {active} active card(s) the task has in ESM (the state database records no earlier run)")
        message = (
            f"Task '{task.name}': refusing to mark {len(candidates)} '{task.template}' card(s) as removed: "
            f"this run fetched {fetched} record(s), {shrink:.0%} fewer than {against} "
            f"(limit {removal.max_shrink:.0%}, removed.max_shrink). A listing cut short (Jira "
            f"capping pages, a lost permission, a search index catching up) looks like records gone. Nothing was "
            f"marked. If Jira really has that many fewer records now, trigger the DAG once with the parameter "
            f"allow_shrink = true. First keys: {', '.join(k for _, k in candidates[:10])}"
        )
        if allow_shrink:
            lg.warning("Shrink limit overridden for this run (allow_shrink): %s", message)
        else:
            refusals.append(message)
            shrink_refused = True
    if refusals:
        if len(refusals) > 1:  # one override alone would only meet the other limit on the next run
            refusals.append("Both safety limits stopped this run: a run that is to mark these cards needs both "
                            "parameters, allow_mass_removal = true and allow_shrink = true.")
        message = "\n".join(refusals)
        lg.error("%s", message)
        raise (ShrinkLimitError if shrink_refused else RemovalLimitError)(message)


def _lag_cutoff(task: Any, extracted: ExtractResult) -> datetime | None:
    """Jira's time before this run's listing less the task's overlap (how long the search
    index may lag), or None when Jira's clock was not read (:mod:`.carry`)."""
    since = extracted.get("sync_since")
    return datetime.fromisoformat(str(since)) - timedelta(minutes=task.overlap_minutes) if since else None


_RECHECKS = 3  # re-checks of the candidates while Jira's bulk fetch cap keeps dropping under them


def _in_jira(
    jira: JiraApi, keys: list[str], key_path: str, cutoff: datetime | None, seen: set[str],
) -> tuple[set[str], dict[str, str], dict[str, str], list[str]] | None:
    """Of these record keys, through ``issue/bulkfetch`` (read consistently, not the search
    index): (those whose issue changed since ``cutoff`` -- all Jira still has when None --,
    ``{issue id: record key}`` of the others Jira still has, ``{issue id: its key now}`` of
    the issues that answered under another key than the one asked: moved in Jira, the keys
    asked that answered so). A key the client found Jira does not have (``gone``: answered in
    issueErrors, or left out of the answer for certain -- a quiet cap is ruled out first) is in
    none of them; one left out while a moved issue answered may be that issue's old key: it is
    among those that answered elsewhere, paired one by one (:func:`_moved_not_rekeyed`).
    The candidates are mostly deleted: an empty answer is the common case, and counts as all
    gone only for as many ids as Jira proved it answers whole (a quiet cap would hide live
    issues behind deleted ones). So the cap is proven first with record keys this run fetched
    (``seen``: issues Jira has), as many as the re-check asks at once -- and confirmed after
    the answers judged on it (a cap lowered in between cut them): not confirmed, the proof is
    lowered and the candidates asked again, up to :data:`_RECHECKS` times; None when the cap
    kept dropping (no candidate can be judged this run)."""
    jira.prove_bulk_fetch(islice(seen, len(keys)), ["updated"])
    for _ in range(_RECHECKS):
        answer = _asked_of_jira(jira, keys, key_path, cutoff)
        if jira.confirm_bulk_fetch(["updated"]):
            return answer
    return None


def _asked_of_jira(
    jira: JiraApi, keys: list[str], key_path: str, cutoff: datetime | None,
) -> tuple[set[str], dict[str, str], dict[str, str], list[str]]:
    """:func:`_in_jira`'s four answers from one round of bulk fetches of ``keys``."""
    recent: set[str] = set()
    older: dict[str, str] = {}
    moved: dict[str, str] = {}
    elsewhere: list[str] = []
    asked = set(keys)
    for batch, issues, gone in jira.iter_hydrated([keys], ["updated"]):
        for issue in issues:
            ident = str(issue.get("id")).strip()
            if key_path == "key" and str(issue.get("key")) not in asked:
                moved[ident] = str(issue.get("key"))
            updated = parse_jira_datetime((issue.get("fields") or {}).get("updated"))
            if cutoff is None or updated is None or updated >= cutoff:
                recent.add(str(issue.get(key_path)))
            else:
                older[ident] = str(issue.get(key_path))
        if key_path == "key":
            answered = {str(i.get("key")) for i in issues} | set(gone)
            elsewhere += [key for key in batch if key not in answered]
    return recent, older, moved, elsewhere


_MAX_PAIRED = 50  # moved candidates asked one by one for their issue (to pair old and new key)


def _moved_not_rekeyed(
    jira: JiraApi, recorded: dict[str, tuple[str, str]], moved: dict[str, str], elsewhere: list[str],
    cards: dict[str, str], seen: set[str], lg: Any,
) -> set[str]:
    """Of the candidates (``cards``: key -> card id) that answered in Jira under another key
    (``elsewhere``; ``moved``: issue id -> key now; ``recorded``: their ``StateStore.object_keys``),
    those not to mark, the issue being at a key this run fetched: the task still records it
    under the candidate's key (its load did not re-key the card: ESM refused or did not confirm
    the edit; the next run re-keys it), or under no key at all (its new key's record was not
    written -- ESM refused it -- and the move predates the ids the task records: the old card
    is the issue's only one). An issue recorded under its new key has a card of its own there,
    which the task writes: the old card is a duplicate, marked removed (logged, both cards
    named). Keys are paired with issues by asking Jira for each moved candidate alone (at most
    :data:`_MAX_PAIRED`; while some issue is recorded under no key, the others are kept too)."""
    fetched = {ident: key for ident, key in moved.items() if key in seen}
    spared = {recorded[i][0] for i in fetched if i in recorded and recorded[i][0] in cards}
    if spared:
        lg.warning(
            "%d card(s) are not marked removed: their issues moved in Jira and this run fetched them under their "
            "new key, but their cards were not re-keyed yet (ESM refused or did not confirm the edit); the next "
            "run re-keys them: %s", len(spared), ", ".join(sorted(spared))[:1500],
        )
    olds = [key for key in elsewhere if key in cards and key not in spared]
    unwritten = {ident: key for ident, key in fetched.items() if ident not in recorded}
    duplicates = {ident: key for ident, key in fetched.items() if ident in recorded and recorded[ident][0] not in cards}
    if not olds or not (unwritten or duplicates):
        return spared
    old_of = {str(i.get("id")).strip(): batch[0]
              for batch, issues, _ in jira.iter_hydrated([[key] for key in olds[:_MAX_PAIRED]], ["updated"]) for i in issues}

    def said(issues: dict[str, str], has_card: bool) -> str:
        return "; ".join((f"{old_of[i]} (card {cards[old_of[i]]})" if i in old_of else "(its old key not asked alone)")
                         + f" is now {key}" + (f", which has card {recorded[i][1]}" if has_card else "")
                         for i, key in sorted(issues.items(), key=lambda item: item[1]))

    kept = {old_of[i] for i in unwritten if i in old_of}
    if unwritten:  # an old key not asked alone may be such an issue's: kept as well
        kept |= {key for key in olds if key not in old_of.values()}
        duplicates = {ident: key for ident, key in duplicates.items() if ident in old_of}
    if duplicates:
        lg.warning(
            "%d card(s) are about to be marked removed as duplicates: their issues moved in Jira to keys that have "
            "cards of their own, which this task writes (made by another writer -- the load's log names both -- or "
            "by this task, the move predating the issue ids it records); one active card per issue, and the old "
            "cards keep their history: %s", len(duplicates), said(duplicates, True)[:1500],
        )
    if kept:
        lg.warning(
            "%d card(s) are not marked removed: their issues moved in Jira to keys this run fetched, but this task "
            "has written no card for them under any key yet (ESM refused the record, and the move predates the "
            "issue ids the task records): the old card is the issue's only one; the next run decides: %s",
            len(kept), said(unwritten, False)[:1500],
        )
    return spared | kept


def _own_cards_under_old_keys(
    task: Any, state: StateApi, recorded: dict[str, tuple[str, str]], moved: dict[str, str], cards: dict[str, str],
    seen: set[str], lg: Any,
) -> set[str]:
    """Of the candidates (``cards``: key -> card id), the keys of those that are the very card this
    task last wrote a moved issue to under its new key (``recorded``), which this run fetched:
    something wrote an old key of the issue back to it (an event push's write-back landing
    after the move and the import's re-key). The issue's own card, not a duplicate: never
    marked. The state learns where it is -- the card under the old key it holds, the issue's
    id under that key, the new key's fingerprint forgotten --, so the next run writes the
    issue and re-keys the card as for any move."""
    key_of = {card: key for key, card in cards.items()}
    own = {key_of[card]: (new, card, ident) for ident, (new, card) in recorded.items()
           if card in key_of and key_of[card] != new and moved.get(ident) == new and new in seen}
    if not own:
        return set()
    state.record_loaded(task.name, card_ids={old: card for old, (_new, card, _i) in own.items()}, fingerprints={},
                        pending={}, object_ids={old: ident for old, (_new, _card, ident) in own.items()},
                        forgotten=[new for new, _card, _i in own.values()])
    state.delete_fingerprints(task.name, [new for new, _card, _i in own.values()])
    lg.warning(
        "%d card(s) are not marked removed: each is the card of an issue that moved in Jira and that this task "
        "wrote under its new key, but the card holds the issue's old key again (an event push wrote it back after "
        "the move); the next run re-keys them: %s", len(own),
        "; ".join(f"card {card} holds {old}, its issue is now {new}" for old, (new, card, _i) in sorted(own.items()))[:1500],
    )
    return set(own)


def _still_selected(jira: JiraApi, jql: str, issues: dict[str, str], lg: Any) -> set[str]:
    """The record keys of ``issues`` (issue id -> key) the JQL still selects, asked for those
    ids alone through ``jql/match`` -- not the paged search: the listing may have lost these
    issues to a page that came back empty, and the same glitch on a paged re-check would read
    as "no longer selected". An id that is not a number cannot be asked: kept. No JQL: the
    task selects every issue, so every one Jira still has. Jira refusing the question (a JQL
    naming an issue that stopped existing meanwhile): all kept, logged -- the next run asks again."""
    if not issues:
        return set()
    if not jql.strip():
        return set(issues.values())
    selected = {key for ident, key in issues.items() if not ident.isdigit()}
    try:
        matched = jira.matching_issue_ids(jql, [i for i in issues if i.isdigit()])
    except BadRequestError as exc:
        lg.warning(
            "%d card(s) are not marked removed this run: their issues, which Jira still has, could not be re-checked "
            "against the task's JQL (%s); the next run asks again.", len(issues), exc,
        )
        return set(issues.values())
    return selected | {key for ident, key in issues.items() if ident in matched}


def _warn_cap_kept_dropping(lg: Any, n: int) -> None:
    lg.warning("%d card(s) are not marked removed this run: Jira answered fewer issues per bulk fetch each time "
               "their issues were asked about (%d times), so an issue it left out may be live; the next run asks "
               "again.", n, _RECHECKS)


def _not_gone_from_jira(
    task: Any, candidates: list[tuple[str, str]], jira: JiraApi | None, extracted: ExtractResult, lg: Any,
    state: StateApi, seen: set[str],
) -> list[tuple[str, str]]:
    """Generic imports: the candidates left once Jira was asked about them. The listing reads
    the search index, so an issue Jira still has is not marked this run when it changed
    since the listing began less the overlap (the lagging index may not show it yet; the
    next run decides), nor when the task's JQL, asked for it alone, still selects it (the
    listing lost it: a page that came back short) -- a moved issue the task still records
    under the candidate's key counts as that card's --, nor when it moved to a key this run
    fetched and its card awaits re-keying or is the issue's only card (:func:`_moved_not_rekeyed`), or is the very
    card the task wrote the issue to under that key, holding an old key again (:func:`_own_cards_under_old_keys`).
    Gone, or no longer selected: marked."""
    if jira is None or task.mapping_type != "generic" or not candidates:
        return candidates
    if task.record_key_path not in ("key", "id"):
        return _not_gone_by_issue_id(task, candidates, jira, extracted, lg, state, seen)
    cutoff = _lag_cutoff(task, extracted)
    keys = [key for _, key in candidates]
    answer = _in_jira(jira, keys, task.record_key_path, cutoff, seen)
    if answer is None:
        _warn_cap_kept_dropping(lg, len(candidates))
        return []
    recent, older, moved, elsewhere = answer
    recorded = state.object_keys(task.name, moved) if moved else {}
    cards = {key: card for card, key in candidates}
    own = _own_cards_under_old_keys(task, state, recorded, moved, cards, seen, lg)
    spared = own | _moved_not_rekeyed(jira, recorded, moved, [k for k in elsewhere if k not in own],
                                      {k: c for k, c in cards.items() if k not in own}, seen, lg)
    # a moved issue answers under its new key; one the task still records under a candidate's
    # key is that card's issue: changed recently or still selected, the card waits like any other
    asked = set(keys)
    former = {moved[ident]: old for ident, (old, _card) in recorded.items() if old in asked}
    selected = _still_selected(jira, task.jql or "", older, lg)
    recent = {former.get(key, key) for key in recent}.intersection(asked) - spared
    selected = {former.get(key, key) for key in selected}.intersection(asked) - spared
    if recent:
        lg.warning(
            "%d card(s) are not marked removed this run: Jira still has their issues, changed since %s (the search "
            "index may not show them yet); the next run decides: %s", len(recent),
            cutoff.isoformat() if cutoff else "an unknown time (Jira's clock was not read)",
            ", ".join(sorted(recent))[:1500],
        )
    if selected:
        lg.warning(
            "%d card(s) are not marked removed: this run's listing left their issues out, yet Jira has them and the "
            "task's JQL still selects them (a search page that came back short?): %s",
            len(selected), ", ".join(sorted(selected))[:1500],
        )
    left = [(card_id, key) for card_id, key in candidates if key not in recent | selected | spared]
    unselected = sorted({former.get(key, key) for key in older.values()}.intersection(key for _, key in left))
    if unselected:  # the others are gone from Jira (or duplicates of moved issues, logged above)
        lg.info("%d of the card(s) to mark: Jira still has their issues, but the task's JQL no longer selects them: "
                "%s", len(unselected), ", ".join(unselected)[:1500])
    return left


def _not_gone_by_issue_id(
    task: Any, candidates: list[tuple[str, str]], jira: JiraApi, extracted: ExtractResult, lg: Any,
    state: StateApi, seen: set[str],
) -> list[tuple[str, str]]:
    """:func:`_not_gone_from_jira` for a generic import keyed by something Jira cannot be asked
    by (a custom field): each candidate's issues are found through the ids the task recorded
    with the records (the object map; a value several issues shared has several), and judged
    the same way -- changed since the listing began less the overlap, or still selected by the
    task's JQL -- and then only while one of them still holds the candidate's key (one that
    took another value has a card of its own under it): not marked. A candidate written before
    ids were recorded cannot be asked about: judged by the listing (logged)."""
    ids = state.object_ids_of(task.name, [key for _, key in candidates])
    unknown = [key for _, key in candidates if key not in ids]
    if unknown:
        lg.info("%d candidate card(s) were written before the connector recorded their issues' ids: Jira cannot be "
                "asked about them, the listing decides: %s", len(unknown), ", ".join(sorted(unknown))[:1500])
    if not ids:
        return candidates
    key_of = {ident: key for key, idents in ids.items() for ident in idents}
    proof = {i for idents in state.object_ids_of(task.name, islice(seen, len(key_of))).values() for i in idents}
    answer = _in_jira(jira, list(key_of), "id", _lag_cutoff(task, extracted), proof)
    if answer is None:
        _warn_cap_kept_dropping(lg, len(ids))
        return [(card, key) for card, key in candidates if key not in ids]
    recent, older, _moved, _elsewhere = answer
    selected = _still_selected(jira, task.jql or "", older, lg)
    holding = _still_holding(jira, task, {i: key_of[i] for i in recent | selected if i in key_of})
    kept = set(holding.values())
    if kept:
        lg.warning("%d card(s) are not marked removed this run: this run's listing left their issues out, yet Jira "
                   "has them under these keys, changed since the listing began less the overlap or still selected by "
                   "the task's JQL (a lagging search index, a page that came back short?); the next run decides: %s",
                   len(kept), ", ".join(sorted(kept))[:1500])
    return [(card, key) for card, key in candidates if key not in kept]


def _still_holding(jira: JiraApi, task: Any, issues: dict[str, str]) -> dict[str, str]:
    """Of ``issues`` (issue id -> the record key it was written under), those whose issue still
    holds that key at the task's key path (read consistently, ``issue/bulkfetch``). One Jira
    does not answer now cannot be judged: kept."""
    if not issues:
        return {}
    path = task.record_key_path
    fields = [path.split(".")[1]] if path.startswith("fields.") and path.count(".") >= 1 else None
    answered: dict[str, str | None] = {}
    for _batch, found, _gone in jira.iter_hydrated([list(issues)], fields):
        for issue in found:
            answered[str(issue.get("id")).strip()] = record_key(issue, path)
    return {ident: key for ident, key in issues.items() if ident not in answered or answered[ident] == key}


def _users_gone_from_jira(
    task: Any, candidates: list[tuple[str, str]], jira: JiraApi | None, lg: Any,
) -> list[tuple[str, str]]:
    """User imports: the candidates whose account Jira, asked for it alone, no longer has. Jira's
    user listing keeps inactive and removed users (they map to a disabled card, not a removed
    one), so a user it left out is almost always a listing that ended early -- a page cut
    short, an outage -- and marking would de-provision a live person. Only an account Jira
    answers it does not have (404, a closed account) is marked; an error fails the step with
    nothing marked."""
    if jira is None or task.mapping_type != "user" or task.record_key_path != "accountId" or not candidates:
        return candidates
    live: set[str] = set()
    for _card, key in candidates:
        try:
            jira.get_user(key)
        except NotFoundError:
            continue
        live.add(key)
    if live:
        lg.warning(
            "%d card(s) are not marked removed: Jira still has their users, which this run's listing left out (a "
            "listing that ended early?); the next run asks again: %s", len(live), ", ".join(sorted(live))[:1500],
        )
    return [(card_id, key) for card_id, key in candidates if key not in live]


def _groups_gone_from_jira(
    task: Any, candidates: list[tuple[str, str]], jira: JiraApi | None, lg: Any,
) -> list[tuple[str, str]]:
    """Group imports: the candidates whose group Jira, asked for it alone (by id, or by name
    when the task keys groups by name), no longer has. A group the ``group/bulk`` listing left
    out while Jira still has it -- a listing that ended early -- is not marked (logged): marking
    would take every member's access. An error fails the step with nothing marked."""
    by = {"groupId": "group_id", "name": "group_name"}.get(task.record_key_path)
    if jira is None or task.mapping_type != "group" or by is None or not candidates:
        return candidates
    live = {key for _card, key in candidates if jira.has_group(**{by: key})}
    if live:
        lg.warning(
            "%d card(s) are not marked removed: Jira still has their groups, which this run's listing left out (a "
            "listing that ended early?); the next run asks again: %s", len(live), ", ".join(sorted(live))[:1500],
        )
    return [(card_id, key) for card_id, key in candidates if key not in live]


def _not_fetched_records_cards(
    task: Any, candidates: list[tuple[str, str]], seen: set[str], esm: EsmApi, state: StateApi, lg: Any,
) -> list[tuple[str, str]]:
    """The candidates left once those are set aside that the key map records as the card of a
    record this run fetched: the task wrote that record to the card, whose key attribute now
    holds another key (changed by hand in ESM). The record is still in Jira: marking its card
    would de-provision a live person (the key-map path never asks about such a card; the
    paging meets it, and records its new key, which a later key-map path then asks about).
    Unless ESM has another card of this task holding that record's key: then the key map was
    wrong about the candidate (a create answer ESM gave in another order than the cards were
    sent paired two records with each other's cards), the candidate is the card of the key it
    holds, and the map is put right (:func:`_cards_holding`)."""
    if not candidates:
        return candidates
    written = {card: key for key, card in state.keys_of_cards(task.name, [card for card, _ in candidates]).items()
               if key in seen}
    if written:
        elsewhere = _cards_holding(task, esm, set(written.values()), exclude=set(written))
        if elsewhere:
            state.put_card_ids(task.name, elsewhere)
            lg.warning(
                "The key map paired %d record(s) with a card holding another key while ESM has a card of their own "
                "(ESM answered a create in another order than the cards were sent?); put right: %s", len(elsewhere),
                "; ".join(f"{key} -> card {card}" for key, card in sorted(elsewhere.items()))[:1500])
            written = {card: key for card, key in written.items() if key not in elsewhere}
    kept = [(card, key) for card, key in candidates if card in written]
    if kept:
        lg.warning(
            "%d card(s) are not marked removed: each is the card of a record this run fetched (this task wrote it "
            "there), but its %s holds another key now (changed in ESM by hand?). Set it back to the record's key; "
            "else the next time this task writes the record it gets a card of its own, and this one is marked "
            "removed then: %s", len(kept), task.key.esm,
            "; ".join(f"card {card} holds {key} but is the card of {written[card]}" for card, key in kept)[:1500],
        )
    return [(card, key) for card, key in candidates if card not in written]


def _cards_holding(task: Any, esm: EsmApi, keys: set[str], *, exclude: set[str]) -> dict[str, str]:
    """``{key: card}`` for the keys one active card of this task (not in ``exclude``) holds in ESM."""
    found: dict[str, list[str]] = {}
    for card in _task_cards_by_key(task, esm, sorted(keys))[0]:
        key = str(card.value(task.key.esm) or "")
        if key in keys and stamped_by_task(task, card) and card.data_card_id not in exclude and not _disabled(task, card):
            found.setdefault(key, []).append(card.data_card_id)
    return {key: cards[0] for key, cards in found.items() if len(cards) == 1}  # two: which is the record's is unknown


def _not_earlier_forms_of_fetched(
    task: Any, candidates: list[tuple[str, str]], seen: set[str], state: StateApi, lg: Any,
) -> list[tuple[str, str]]:
    """The candidates left once those are set aside that hold a fetched number key as earlier
    versions wrote it ("13.0" for record 13, :func:`.load.earlier_key_forms`) while the key map
    gives record 13 no other card: that card is record 13's -- the load rewrites its key once
    ESM takes the record (marked, a refused write this run left record 13 without an active
    card for good). A record "13" with a card of its own (a text key, where "13.0" is another
    record) does not keep it."""
    forms = earlier_key_forms(task, seen)
    hits = [(card, key) for card, key in candidates if key in forms]
    if not hits:
        return candidates
    own = state.get_card_ids(task.name, [forms[key] for _, key in hits])
    kept = {card: key for card, key in hits if own.get(forms[key], card) == card}
    if kept:
        lg.info("%d card(s) are not marked removed: each holds a fetched record's number key as earlier versions "
                "wrote it, and is that record's card (the load rewrites the key): %s", len(kept),
                ", ".join(f"card {card} ({key})" for card, key in list(kept.items())[:20]))
    return [(card, key) for card, key in candidates if card not in kept]


def _mark(
    task: Any, candidates: list[tuple[str, str]], folders: dict[str, str | None], esm: EsmApi, state: StateApi,
    lg: Any, guard: Callable[[], None],
) -> tuple[list[str], int]:
    """Set the removal value on the candidates' cards, ``guard()`` (the write lock's check)
    before each bulk chunk: (keys marked, how many ESM refused).
    ``folders`` (card id -> the folder it is in) tells ESM's client which cards are in the
    task's folder: a 403 on those, before ESM accepted any card, means the account may not
    write the template, and the marking stops after a few requests
    (:class:`..esm.TemplateWriteForbiddenError`) instead of asking card by card."""
    from ..esm import MAX_CHUNK_SIZE, BulkWrites, CardInput

    removal = task.removal
    marked: list[str] = []
    refused = 0
    if not candidates:
        return marked, refused
    cards = [
        CardInput(data={removal.attribute: removal.value}, data_card_id=card_id, ref=key, in_folder=folders.get(card_id))
        for card_id, key in candidates
    ]
    # A record that comes back is compared afresh (the card itself stays disabled, unless
    # removed.reactivate). Forgotten before ESM is asked: if its answer is lost, the cards
    # may be marked all the same, and a record back unchanged must not be skipped then.
    state.delete_fingerprints(task.name, [key for _, key in candidates], marking_removed=True)
    writes = BulkWrites()  # shared by the chunks: a 403 before any accepted card is asked about once
    # each card marked is logged (what was de-provisioned); a refusal, for the first 100, then one line
    # that more follow, as the load's: a removal value ESM does not take is refused for every card
    refused_line = RecordLines(lg.warning, "ESM refused to mark more cards removed; they are not listed one by one "
                                            "(the count follows when the marking ends).")
    try:
        for chunk in chunks_of(cards, MAX_CHUNK_SIZE):
            guard()  # before each chunk, as the load: lost, the rest is left to the lock's new holder
            # the task's folder is never sent with an edit: it only names the cards ESM's 403 is asked about
            for outcome in esm.bulk_import(task.template, chunk, folder=task.folder, writes=writes).outcomes:
                if outcome.ok:
                    marked.append(outcome.ref)
                    lg.info("Marked %s (card %s) as %s = %s.", outcome.ref, outcome.data_card_id, removal.attribute,
                            removal.value)
                else:
                    refused += 1
                    refused_line("ESM refused to mark %s (card %s) removed: %s", outcome.ref, outcome.data_card_id,
                                 outcome.reason)
    except BaseException:
        lg.warning("The marking of '%s' cards stopped after %d of %d candidate(s) were marked (%d refused); the "
                   "next run checks the rest again.", task.template, len(marked), len(cards), refused)
        raise
    (lg.warning if refused else lg.info)(
        "Marked %d of %d '%s' card(s) removed (%s = %s); ESM refused %d.", len(marked), len(cards), task.template,
        removal.attribute, removal.value, refused)
    return marked, refused


def mark_removed(
    task: Any,
    extracted: ExtractResult,
    esm: EsmApi,
    state: StateApi,
    *,
    allow_mass_removal: bool = False,
    allow_shrink: bool = False,
    concurrency: int = 4,  # ConnectorSettings.esm_concurrency's default; the DAG passes the setting
    jira: JiraApi | None = None,
    logger: logging.Logger | logging.LoggerAdapter | None = None,
    run_id: str | None = None,
    settings: Any = None,
) -> RemovalResult:
    """Mark the cards of records this run did not fetch (within the safety limits);
    ``concurrency``: ESM look-ups at once when the key map is complete (module docs);
    ``jira``: asked, for generic imports, whether an issue the listing missed is gone
    (:func:`_not_gone_from_jira`), for user imports whether a user's account is
    (:func:`_users_gone_from_jira`).

    Holds the ESM template's write lock (:mod:`.template_lock`) from the candidates to the
    marking: no other task's load can stamp one of the candidates (take the record over)
    between the check and the mark. ``run_id`` and ``settings`` as for :func:`.load.load`."""
    lg = logger or log
    if task.mode != "full" or task.removal is None:
        lg.info("Task '%s' does not mark removed records (%s).", task.name,
                "incremental import" if task.mode != "full" else "removed: false")
        return nothing_marked()
    seen = _fetched_keys(extracted)
    with writing_template(task, esm, state, step="mark_removed", run_id=run_id, settings=settings,
                          logger=lg) as lock:
        return _mark_removed(task, extracted, seen, esm, state, lock.check, allow_mass_removal=allow_mass_removal,
                             allow_shrink=allow_shrink, concurrency=concurrency, jira=jira, lg=lg)


def _mark_removed(
    task: Any, extracted: ExtractResult, seen: set[str], esm: EsmApi, state: StateApi, guard: Callable[[], None], *,
    allow_mass_removal: bool, allow_shrink: bool, concurrency: int, jira: JiraApi | None, lg: Any,
) -> RemovalResult:
    """:func:`mark_removed` under the template's write lock (``guard`` raises once it was lost)."""
    from_map = None
    if state.key_map_complete(task.name, task.template, task.key.esm):
        from_map = _candidates_from_key_map(task, seen, esm, state, lg, concurrency)
    else:
        lg.info("The key map of task '%s' is not known to be complete: reading all its cards from ESM.", task.name)
    active, candidates, folders = from_map or _removal_candidates(task, seen, esm, state, lg, guard)
    last_volume = state.last_volume(task.name)
    _check_safety_limits(
        task, candidates, active, int(extracted.get("fetched") or 0), last_volume,
        allow_mass_removal=allow_mass_removal, allow_shrink=allow_shrink, lg=lg,
    )
    if candidates and extracted.get("unnamed_users"):
        _check_unnamed_users(task, candidates, int(extracted["unnamed_users"]), state, allow_shrink=allow_shrink, lg=lg)
    candidates = _not_gone_from_jira(task, candidates, jira, extracted, lg, state, seen)
    candidates = _users_gone_from_jira(task, candidates, jira, lg)
    candidates = _groups_gone_from_jira(task, candidates, jira, lg)
    candidates = _not_fetched_records_cards(task, candidates, seen, esm, state, lg)
    candidates = _not_earlier_forms_of_fetched(task, candidates, seen, state, lg)
    # guarded before each chunk: the write lock lost meanwhile, another writer may have taken a candidate over
    marked, refused = _mark(task, candidates, folders, esm, state, lg, guard)
    return {"marked_removed": len(marked), "active_cards": active, "refused_removals": refused, "skipped": False,
            "last_volume": last_volume}
