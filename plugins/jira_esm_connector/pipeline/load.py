"""Load: write the new/changed records to ESM, idempotently.

Each key is written once per run (the last of its records, as diff keeps the last), so
no two chunks share a key. Up to ``concurrency`` chunks (at most 200 records, ESM's bulk
size) are at ESM at once, each in a worker thread doing steps 1, 2 and 4; the calling
thread alone reads and writes the state store (it may be SQLite), recording each chunk's
answer as soon as it arrives. When a chunk fails, the chunks already sent are awaited and
recorded, then the error is raised (an Airflow retry of the step finds the rest by key).

0. **One writer per template.** The whole load holds the ESM template's write lock
   (:mod:`.template_lock`, a lease row in the state database): no other load -- another
   task whose selection overlaps this one's -- and no removal writes the template until
   this load is done. ESM's bulk PUT has no upsert, so two loads looking the same key up
   at once would each create a card for it. Taken before anything below is asked, waited
   for up to the step's deadline; a load that lost it (stalled past its heartbeat) stops
   before its next chunk.
1. **Which card is it?** The key -> data card id map of the state store is a hint; the
   truth is asked from ESM: cards of the template whose key attribute is one of the
   chunk's keys, mapped or not, in one look-up (or two, when the keys do not fit one URL).
   A card created by an earlier attempt that crashed before recording it is therefore
   found and edited, never duplicated; a mapped card the look-up does not return is read
   by its id (rare: deleted by hand): gone or holding another key, it is forgotten and
   created again; there and holding the key, it is written (ESM's search did not show it
   yet), not doubled. **Moved issues:** a record keyed by the Jira issue key
   carries the issue's id, which a move to another project or a project key change keeps;
   the state store remembers the key each id was last written under (one query per
   chunk). A key no card holds yet whose id was written under another key is looked up
   under that old key in the same request, and the card found -- still holding the old key
   and stamped with this task -- is edited: its key attribute gets the new key ("SUP-5 is
   now OPS-12 (moved in Jira): card 123 re-keyed"), and the old key's state (fingerprint,
   pending references, key map) goes with it, so mark_removed has nothing to mark. An issue
   the task never wrote that an event push created under another key (the event noted the
   issue's id beside its card) gets the event's card the same way. And when an event's
   write-back of the issue's old key landed after the move and after an import gave its
   card the new key (the card holds the old key again), a key no card holds whose recorded
   card the event noted is looked for under that old key too: the card found -- that very
   card, still this task's -- is re-keyed again, not doubled by a new one. Such a record is
   fetched again by the next run (while the note lasts), whichever came first: the event's
   success (the chunk's record sees its note) or the chunk's record (the event sees it).
   **First import:** when one request at the start shows that the template holds no card
   at all, no card can match any key -- whichever task or crashed attempt would have made
   it -- and the per-chunk look-ups are skipped; cards this run creates cannot collide
   either, since no key is in two chunks, and no other writer can add one meanwhile (step 0).
2. **References** (``{"$reference": ...}`` markers from the mapping) are resolved to card
   ids by looking the keys up in ESM (cached for the run). A key with no card is left
   out of the value and the card is *not* cached, so the next run tries again; the log
   names the missing keys.
3. Every card is stamped with the task's id (``task_id_attribute``); new cards go into
   the task's folder. A card that is disabled (its removal attribute holds the removal
   value) keeps that value: by default the connector never re-enables a card on its own.
   With ``removed: {reactivate: true}`` (opt-in) it puts the card back to its active value
   -- the mapped value of the removal attribute, else ``removed.active_value`` -- and logs
   each re-activation.
4. One bulk ``PUT /dc/{template}/data`` per chunk; ESM answers card by card. Fingerprints
   and card ids are recorded right after each chunk, only for cards ESM accepted; refused
   cards are logged one by one and stay uncached, so the next run retries them.
   The key map is noted *complete* for the task (see :mod:`.removal`) only while it holds
   every card carrying the task's id: the note is removed before the first write and put
   back at the end only if it was there (or the template was empty) and every card ESM may
   have created was recorded.
5. Records whose references could not all be resolved are saved without them and kept
   in the state store's ``pending_records``; incremental extracts fetch them again by key
   until they load fully (see :mod:`.extract`), full imports see them anyway. A record that
   loads fully leaves the pending list.

Comment imports append one worklog entry per comment to the issue's card instead. ESM
worklogs only ever grow, so each entry ends with a marker naming the Jira comment
(``[Jira comment 10001]``) and the card's worklog is read before appending: a comment
already there (a retried load, a run after a cache clear) is not appended twice.
"""
from __future__ import annotations

import gc
import itertools
import json
import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from ..bounded import cut, short_repr, shown_key
from ..http.errors import BadRequestError, ConflictError, NotFoundError, PermissionDeniedError
from ..mapping import Reference
from ..markers import imported_comment_ids, worklog_marker
from ..protocols import EsmApi, StateApi
from .memberships import (
    GroupChange, groups_to_hold_back, held_back_print, member_ids, membership_attributes, new_member_ids,
)
from .results import DiffResult, LoadResult, RefusedRecord, no_lease_check
from .staging import Dataset
from .template_lock import writing_template
from .transform import decode_data, key_problem

__all__ = ["load", "ReferenceResolver", "chunks_of", "earlier_key_forms", "lookup_cards", "stamped_by_task", "task_cards"]

log = logging.getLogger("jira_esm_connector.pipeline")
# how far apart the clocks of two workers (an import's, an event push's) may be
_CLOCKS_APART = timedelta(minutes=5)
# bulk PUT chunks in flight at once when the caller does not say (the DAG passes
# ConnectorSettings.esm_concurrency, whose default this is)
DEFAULT_CONCURRENCY = 4


def _comments_in_worklog(esm: EsmApi, template: str, card_id: str, attribute: str) -> set[str]:
    """Ids of the Jira comments a card's worklog already holds: the marker that ends each entry
    (a marker quoted inside an entry is a person's words, and would keep that comment out)."""
    return set(imported_comment_ids(esm.get_attribute(template, card_id, attribute)))


_MAX_LISTED = 100


def lookup_cards(
    esm: EsmApi, template: str, attribute: str, keys: Iterable[str], extra: Iterable[str] = ()
) -> dict[str, Any]:
    """``{key: EsmCard}`` for cards of ``template`` whose ``attribute`` is one of ``keys``
    (newest card wins when a key is not unique), reading ``attribute`` and ``extra``. As few
    requests as the URL length allows (see :func:`..esm.eql.any_of_batches`): a chunk of
    200 short keys is one or two."""
    from ..esm import eql

    # a key with a NUL character cannot be named in a filter, so no card is found by it (the
    # import never writes such a key: transform refuses it; a reference to one stays missing)
    wanted = list(dict.fromkeys(str(k) for k in keys if k not in (None, "") and "\x00" not in str(k)))
    selected = list(dict.fromkeys([attribute, *[e for e in extra if e]]))
    found: dict[str, Any] = {}
    for _, filter_ in eql.any_of_batches(attribute, wanted):
        for card in esm.iter_cards(template, filter=filter_, selected_attributes=selected):
            value = card.value(attribute)
            if value is not None and str(value) not in found:
                found[str(value)] = card
    return found


class ReferenceResolver:
    """Resolves reference markers to ESM card ids, with a per-run cache."""

    def __init__(self, esm: EsmApi) -> None:
        self.esm = esm
        self.cache: dict[tuple[str, str], dict[str, str | None]] = {}
        self._lock = threading.Lock()  # shared by the load's worker threads

    def prefetch(self, refs: Iterable[Reference]) -> None:
        todo: dict[tuple[str, str], set[str]] = {}
        with self._lock:
            for ref in refs:
                known = self.cache.setdefault((ref.template, ref.by), {})
                todo.setdefault((ref.template, ref.by), set()).update(k for k in ref.keys if k not in known)
        for (template, by), keys in todo.items():
            if not keys:
                continue
            # outside the lock: two workers may look up the same key at once (harmless reads)
            found = lookup_cards(self.esm, template, by, sorted(keys))
            with self._lock:
                known = self.cache[(template, by)]
                for key in keys:
                    known[key] = found[key].data_card_id if key in found else None

    def resolve(self, ref: Reference) -> tuple[list[Any], list[str]]:
        """(list of Ref values, keys with no card)."""
        from ..esm import Ref

        with self._lock:
            known = self.cache.get((ref.template, ref.by), {})
            card_ids = [(key, known.get(key)) for key in ref.keys]
        values, missing = [], []
        for key, card_id in card_ids:
            if card_id:
                values.append(Ref(card_id))
            else:
                missing.append(key)
        return values, missing


def _references(data: dict[str, Any]) -> list[Reference]:
    out: list[Reference] = []
    for value in data.values():
        if isinstance(value, Reference):
            out.append(value)
        elif isinstance(value, list):
            out += [v for v in value if isinstance(v, Reference)]
    return out


def _resolve_data(data: dict[str, Any], resolver: ReferenceResolver) -> tuple[dict[str, Any], list[str]]:
    resolved: dict[str, Any] = {}
    missing_all: list[str] = []
    for name, value in data.items():
        if isinstance(value, Reference):
            values, missing = resolver.resolve(value)
            resolved[name] = values or None
            missing_all += [f"{name}: no {value.template} card with {value.by} = {short_repr(k)}" for k in missing]
        elif isinstance(value, list) and any(isinstance(v, Reference) for v in value):
            merged: list[Any] = []
            for v in value:
                if isinstance(v, Reference):
                    values, missing = resolver.resolve(v)
                    merged += values
                    missing_all += [f"{name}: no {v.template} card with {v.by} = {short_repr(k)}" for k in missing]
                else:
                    merged.append(v)
            resolved[name] = merged or None
        else:
            resolved[name] = value
    return resolved, missing_all


def _oldest(refused: list[RefusedRecord]) -> str | None:
    """The earliest ``updated`` among refused records (ISO, UTC): an incremental watermark
    must not pass it, or the next run would not fetch them again."""
    from ..mapping.dates import parse_jira_datetime

    moments = [m for m in (parse_jira_datetime(r.get("updated")) for r in refused if r.get("updated")) if m]
    return min(moments).astimezone(timezone.utc).isoformat() if moments else None


_REASON_MAX = 500  # characters of a refused record's reason in the run's result


def _report_refused(lg: Any, task: Any, refused: list[RefusedRecord]) -> None:
    for item in refused[:_MAX_LISTED]:
        lg.warning("ESM refused record %s of task '%s': %s", item["key"], task.name, item["reason"])
    if len(refused) > _MAX_LISTED:
        lg.warning("... and %d more refused record(s).", len(refused) - _MAX_LISTED)


class RecordLines:
    """Log lines of one kind, one per record, for the first ``_MAX_LISTED`` records of a run;
    then one line that more follow (``more``), and silence: a run over many records must not
    log each of them. Safe from the worker threads (``itertools.count`` hands each call its
    own number)."""

    def __init__(self, say: Any, more: str) -> None:
        self._say, self._more, self._seen = say, more, itertools.count()

    def __call__(self, message: str, *args: Any) -> None:
        n = next(self._seen)
        if n < _MAX_LISTED:
            self._say(message, *args)
        elif n == _MAX_LISTED:
            self._say(self._more)


def _bulk_writes() -> Any:
    """A new :class:`..esm.BulkWrites` (the ESM package is imported when a load runs, not
    when a DAG file imports this module)."""
    from ..esm import BulkWrites

    return BulkWrites()


@dataclass
class _Run:
    """What one load shares between its chunks. Only the calling thread touches ``state``,
    ``counts``, ``refused`` and ``pending_before``; workers get ``esm`` and ``resolver``."""

    task: Any
    esm: EsmApi
    state: StateApi
    lg: Any
    chunk_size: int
    look_up: bool  # False: the template held no card at the start, nothing to find
    resolver: ReferenceResolver
    pending_before: set[str]
    guard: Callable[[], None]  # raises once the template's write lock was lost: write no more
    counts: dict[str, int] = field(default_factory=lambda: {
        "created": 0, "updated": 0, "refused": 0, "kept_disabled": 0, "reactivated": 0,
        "unresolved_references": 0, "already_loaded": 0, "groups_held_back": 0, "rekeyed": 0, "held_for_rekey": 0})
    refused: list[RefusedRecord] = field(default_factory=list)
    resolved_now: int = 0
    chunks: int = 0
    uncertain: int = 0  # new cards ESM may have saved without saying so (not in the key map)
    # mapped cards of this task that hold another key (changed in ESM by hand): forgotten under
    # the key they were written for, they are in the key map under none
    unmapped: int = 0
    held_unchanged: int = 0  # groups held back as written before: not written again
    # group imports' membership check (:mod:`.memberships`): the cards it looked up (key -> card,
    # None: no card), so the chunks ask ESM no second time; the groups whose members are kept
    known: dict[str, Any] | None = None
    held_back: set[str] = field(default_factory=set)
    # has ESM accepted a card of the template in this run? (shared by the chunks: until then a
    # 403 may be the account's lost rights to the whole template, see EsmClient.bulk_import)
    writes: Any = field(default_factory=_bulk_writes)
    # the keys whose cards their own record disabled (StateStore.disabled_by_record), read once
    record_disabled: set[str] = field(default_factory=set)
    # an import keyed by a custom field: every key of the load's dataset (see _earlier_keys)
    dataset_keys: frozenset[str] = frozenset()
    # the cards event pushes created objects from (origins) that a chunk sent so far may write:
    # card id -> the key it was given to (see _origins_not_given)
    origins_given: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        summary = "The load's last line counts them all."
        self.missing_line = RecordLines(self.lg.warning, "More records reference ESM cards that do not exist yet; "
                                                          f"they are not listed one by one. {summary}")
        self.kept_disabled_line = RecordLines(self.lg.info, "More disabled cards are left disabled; they are not "
                                                             f"listed one by one. {summary}")
        self.reactivated_line = RecordLines(self.lg.info, "More cards are re-activated; they are not listed one "
                                                           f"by one. {summary}")
        self.unsearchable_line = RecordLines(self.lg.warning, "More mapped cards ESM's search did not return were "
                                                              "read by their id and written; not listed one by one.")
        self.rekeyed_line = RecordLines(self.lg.info, "More cards of moved issues are re-keyed; they are not listed "
                                                       f"one by one. {summary}")


@dataclass
class _ChunkDone:
    """A worker's answer for one chunk: mapped keys ESM has no card for, and ESM's outcomes."""

    stale: list[str]
    outcomes: list[Any]
    partial: dict[str, list[str]]
    reactivating: dict[str, Any]
    counts: dict[str, int]
    rekeys: dict[str, "_Rekey"] = field(default_factory=dict)  # new key -> its card under the old key
    looked_up_at: datetime | None = None  # when the worker began to look the chunk's cards up
    held: dict[str, str] = field(default_factory=dict)  # key -> the key its card held when looked up
    # removal attribute's value each record was sent with (absent: not sent), and the keys
    # whose cards their own record had disabled (:meth:`StateStore.disabled_by_record`)
    sent_removal: dict[str, Any] = field(default_factory=dict)
    own_disabled: set[str] | frozenset[str] = frozenset()


@dataclass(frozen=True)
class _Rekey:
    """The card of a record whose Jira issue was written under another key (moved)."""

    old_key: str
    card_id: str
    now: bool  # True: this write re-keys it; False: it holds the new key already (an earlier attempt)
    late: bool = False  # True: an event's write-back put the issue's old key back on its card after the move


def load(
    task: Any,
    diffed: DiffResult,
    esm: EsmApi,
    state: StateApi,
    *,
    chunk_size: int = 200,
    concurrency: int = DEFAULT_CONCURRENCY,
    logger: logging.Logger | logging.LoggerAdapter | None = None,
    run_id: str | None = None,
    settings: Any = None,
    allow_member_removal: bool = False,
) -> LoadResult:
    """Write the diff dataset to ESM, up to ``concurrency`` bulk chunks at once. Returns
    counts and the refused records (first 100). Group imports first apply the membership
    safety limit (:mod:`.memberships`; ``allow_member_removal`` overrides it for this run).

    Holds the ESM template's write lock while it writes (step 0 of the module docs): taken
    before anything is looked up, so no other load or removal of the template runs at the
    same time; ``run_id`` (the Airflow run) names this writer to those waiting, ``settings``
    give the step deadline it waits up to and the lock's heartbeat TTL. Nothing to write:
    no lock, no question to ESM."""
    lg = logger or log
    dataset = Dataset(diffed["dataset"])
    members = (diffed.get("unchanged_memberships"), allow_member_removal)
    if dataset.count() == 0:
        return _load(task, dataset, esm, state, lg, chunk_size, concurrency, writes=False, guard=no_lease_check)
    with writing_template(task, esm, state, step="load", run_id=run_id, settings=settings, logger=lg) as lock:
        return _load(task, dataset, esm, state, lg, chunk_size, concurrency, writes=True, guard=lock.check,
                     members=members)


def _load(
    task: Any, dataset: Dataset, esm: EsmApi, state: StateApi, lg: Any, chunk_size: int, concurrency: int,
    *, writes: bool, guard: Callable[[], None], members: tuple[int | None, bool] = (None, False),
) -> LoadResult:
    """:func:`load` under the template's write lock (``guard`` raises once it was lost);
    ``members``: the diff's count of unchanged memberships and ``allow_member_removal``."""
    if task.mapping_type == "comment":
        return _load_comments(task, dataset, esm, state, lg, guard)
    key_attr = task.key.esm
    # writes: nothing to write asks ESM nothing, and the coverage note stays
    covered = writes and state.key_map_complete(task.name, task.template, key_attr)
    # safe under the write lock: no other writer can add a card to the template meanwhile
    empty = writes and _template_is_empty(esm, task.template)
    if empty:
        lg.info("ESM template '%s' holds no card yet: no look-ups of existing cards in this run.", task.template)
    if covered:
        # a crash from here on may leave cards with this task's id the key map lacks
        state.set_key_map_complete(task.name, task.template, key_attr, False)
    run = _Run(task, esm, state, lg, min(int(chunk_size), 200), not empty, ReferenceResolver(esm),
               set(state.pending_keys(task.name)), guard)  # pending: saved earlier without some references
    if task.removal is not None:
        run.record_disabled = state.disabled_by_record(task.name)
    if writes and not empty and task.record_key_path not in ("key", "id"):
        run.dataset_keys = frozenset(dataset.key_set())
    if writes and membership_attributes(task):
        _check_memberships(run, dataset, *members, concurrency=max(1, int(concurrency)))
    with _older_objects_left_out_of_gc():
        _write_all(run, _storable(run, _unique_rows(dataset, lg)), max(1, int(concurrency)))
    if (covered or empty) and not run.uncertain and not run.unmapped:
        # every card this run stamped is in the key map, and so was every earlier one -- if it
        # wrote alone: the write lock lost meanwhile (taken over), the note stays cleared
        guard()
        state.set_key_map_complete(task.name, task.template, key_attr, True)
    counts = run.counts
    _report_refused(lg, task, run.refused)
    if run.resolved_now:
        # pending from an earlier run: waiting for referenced cards, or held to re-key the card
        lg.info("%d record(s) pending from an earlier run are now written in full.", run.resolved_now)
    lg.info(
        "Loaded into ESM '%s' in %d chunk(s): %d created, %d updated, %d refused%s%s%s%s%s%s.",
        task.template, run.chunks, counts["created"], counts["updated"], counts["refused"],
        f", {counts['unresolved_references']} with unresolved references" if counts["unresolved_references"] else "",
        f", {counts['reactivated']} re-activated" if counts["reactivated"] else "",
        f", {counts['kept_disabled']} kept disabled" if counts["kept_disabled"] else "",
        f", {counts['groups_held_back']} group(s) held back by the membership safety limit (members not written"
        + (f"; {run.held_unchanged} of them not written at all: unchanged since an earlier run wrote them so"
           if run.held_unchanged else "") + ")" if counts["groups_held_back"] else "",
        f", {counts['rekeyed']} re-keyed (moved in Jira)" if counts["rekeyed"] else "",
        f", {counts['held_for_rekey']} held pending (an event wrote the card after this run looked it up: the next "
        "run writes it again and re-keys it)" if counts["held_for_rekey"] else "",
    )
    return {**counts, "references_resolved": run.resolved_now, "refused_records": run.refused[:_MAX_LISTED],
            "refused_oldest_updated": _oldest(run.refused)}


@contextmanager
def _older_objects_left_out_of_gc() -> Iterator[None]:
    """While the chunks stream, the objects that existed before (in a DAG task process:
    Airflow, pandas, the quality gate -- millions) stay out of the garbage collector's full
    passes. The rows and cards of the chunks in flight set those passes off every few
    chunks, and each walked that whole heap: a third of the load's CPU time in the latency
    benchmark. Handed back afterwards, so nothing is kept that would otherwise be collected
    -- unless the process had frozen its heap itself (Airflow's LocalExecutor does before
    forking workers, to keep their memory pages shared): then it stays frozen as meant."""
    frozen_before = gc.get_freeze_count()
    gc.freeze()
    try:
        yield
    finally:
        if not frozen_before:
            gc.unfreeze()


def _template_is_empty(esm: EsmApi, template: str) -> bool:
    """One request: does ``template`` hold no card at all? Then no key can match an existing
    card (whichever task or crashed attempt would have made it) and look-ups are skipped.
    Any card -- even one without a key -- keeps them on: EQL cannot ask "has a value"."""
    return next(iter(esm.iter_cards(template, page_size=1, data_cards=False)), None) is None


def _unique_rows(dataset: Dataset, lg: Any, *, quiet: bool = False) -> Iterator[dict[str, Any]]:
    """The dataset's rows, each key once (its last row, as diff keeps the last). Chunks run
    at the same time: a key in two of them would get two new cards."""
    repeated, _ = dataset.repeated_keys()
    if repeated and not quiet:
        lg.info("%d key(s) appear more than once in the changed records; each is written once (its last record).",
                len(repeated))
    for index, row in enumerate(dataset.iter_rows()):
        if repeated.get(row["key"], index) == index:
            yield row


def _storable(run: _Run, rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The rows whose key the connector can keep (:func:`~.transform.key_problem`); another
    is refused before ESM sees it (written, it could not be recorded or found again: every
    run would write it again). Transform refuses such keys already; this guards a dataset
    staged otherwise."""
    for row in rows:
        unkeepable = key_problem(str(row["key"]))
        if unkeepable:
            run.counts["refused"] += 1
            run.refused.append({"key": shown_key(row["key"]), "updated": row.get("updated"),
                                "reason": f"the record key {unkeepable}"})
            continue
        yield row


def _write_all(run: _Run, rows: Iterable[dict[str, Any]], concurrency: int) -> None:
    """Chunks go to ``concurrency`` worker threads (look-up, references, bulk PUT); each
    answer is recorded here, in the calling thread, as soon as it arrives. On a failure the
    chunks already sent are awaited and recorded before the error is raised."""
    in_flight: set[Future[_ChunkDone]] = set()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="esm-load") as pool:
        try:
            for chunk in chunks_of(rows, run.chunk_size):
                run.guard()
                run.chunks += 1
                chunk, resolved = _skip_already_loaded(run, chunk)
                run.resolved_now += resolved
                if not chunk:
                    continue
                keys = [row["key"] for row in chunk]
                hinted = run.state.get_card_ids(run.task.name, keys)
                origins = _origins_not_given(run, run.state.event_cards(run.task.template, run.task.key.esm, keys))
                earlier, origins, back = _earlier_keys(run, chunk, origins)
                own_disabled = _disabled_by_record(run, chunk, earlier)
                in_flight.add(pool.submit(_write_chunk, run, chunk, hinted, origins, earlier, back, own_disabled))
                while len(in_flight) >= concurrency:
                    done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                    _record_done(run, done, in_flight)
            while in_flight:
                done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                _record_done(run, done, in_flight)
        except BaseException:
            _record_what_finished(run, in_flight)
            raise


def _origins_not_given(run: _Run, origins: dict[str, str]) -> dict[str, str]:
    """``origins`` (key -> the card an event push created it from) less the cards an earlier
    chunk of this load may write for another key: one card for one key. Two events from one
    card (sent again under a new event id) created two objects; in chunks at ESM at once (or
    looked up by the membership check, all before any write), each read the card holding no
    key yet and wrote its object onto it. The cards passed on are noted as given."""
    taken = [key for key, card in origins.items() if run.origins_given.get(card, key) != key]
    if taken:
        run.lg.info("%d key(s) were created in Jira from a card an earlier chunk of this load writes for another "
                    "key: they get cards of their own (%s).", len(taken), ", ".join(taken[:20]))
    given = {key: card for key, card in origins.items() if key not in taken}
    for key, card in given.items():
        run.origins_given.setdefault(card, key)
    return given


def _disabled_by_record(
    run: _Run, chunk: list[dict[str, Any]], earlier: dict[str, tuple[str, str]],
) -> set[str] | frozenset[str]:
    """The chunk's keys whose cards their own record disabled (``StateStore.disabled_by_record``),
    a moved record's under its old key too. The records about to be written with the removal
    value their mapping gives are noted so first: should ESM's answer be lost, the card they
    disable is still known as theirs, and follows them back."""
    removal = run.task.removal
    if removal is None:
        return frozenset()
    found = run.record_disabled
    # decoded only where the text holds the value at all (rarely: most records are not removed)
    value = str(removal.value)
    needle = json.dumps(value, ensure_ascii=False)[1:-1]  # as the staged JSON text holds it
    disabling = [row["key"] for row in chunk if needle in row["data"]
                 and str(decode_data(row["data"]).get(removal.attribute)) == value]
    if disabling:  # (forgotten again by _record_chunk when ESM refuses the write)
        run.state.record_loaded(run.task.name, card_ids={}, fingerprints={}, pending={}, disabled=disabling)
    return {row["key"] for row in chunk
            if row["key"] in found or (row["key"] in earlier and earlier[row["key"]][0] in found)}


def _record_done(run: _Run, done: set[Future[_ChunkDone]], in_flight: set[Future[_ChunkDone]]) -> None:
    """Record finished chunks; on a failure the ones not yet recorded go back to
    ``in_flight`` (recorded by :func:`_record_what_finished`)."""
    left = list(done)
    while left:
        future = left.pop()
        try:
            _record_chunk(run, future.result())
        except BaseException:
            in_flight.update(left)
            raise


def _record_what_finished(run: _Run, in_flight: set[Future[_ChunkDone]]) -> None:
    """After a failure: wait for the chunks still at ESM and record what it saved, so the
    retry edits those cards instead of looking for them (it would find them anyway)."""
    for future in in_flight:
        error = future.exception()
        if error is not None:
            run.uncertain += 1
            run.lg.warning("Another chunk sent at the same time failed as well: %s", error)
            continue
        try:
            _record_chunk(run, future.result())
        except Exception as exc:  # noqa: BLE001 - the first failure is the one raised
            run.uncertain += 1
            run.lg.warning("A chunk ESM answered at the time of the failure could not be recorded: %s", exc)


def chunks_of(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """``rows`` in lists of ``size`` (the last one shorter), drawn lazily."""
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _skip_already_loaded(run: _Run, chunk: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """(the chunk's records still to write, how many pending records turned out complete)."""
    task, state = run.task, run.state
    # the same record twice in one chunk (changed while the run paged): keep the newest,
    # or ESM would get two creates for one key
    chunk = list({row["key"]: row for row in chunk}.values())
    # an Airflow retry of this step: what an earlier attempt already saved is skipped
    saved = state.get_fingerprints(task.name, [row["key"] for row in chunk])
    # (a record is only cached once it loaded fully: a crash between caching it and
    # leaving the pending list must not keep it pending)
    stale_pending = [row["key"] for row in chunk if saved.get(row["key"]) == row["fingerprint"]
                     and row["key"] in run.pending_before]
    if stale_pending:
        state.delete_pending(task.name, stale_pending)
    # a group held back again whose record is the one written without its members last time:
    # its card holds all of it but the members it keeps (:mod:`.memberships`)
    held = {row["key"] for row in chunk if row["key"] in run.held_back
            and saved.get(row["key"]) == held_back_print(row["fingerprint"])}
    run.held_unchanged += len(held)
    left = [row for row in chunk if saved.get(row["key"]) != row["fingerprint"]]
    run.counts["already_loaded"] += len(chunk) - len(left)
    return [row for row in left if row["key"] not in held], len(stale_pending)


def _card_reads(task: Any) -> list[str]:
    """The attributes a write needs to read from a record's card: its key, the removal
    attribute (a disabled card), the member attributes (the membership check)."""
    removal = task.removal
    return [a for a in (task.key.esm, removal.attribute if removal else None, *membership_attributes(task)) if a]


def _stamp(task: Any, card: Any) -> str:
    """The task id a card is stamped with ("": none)."""
    return str(card.value(task.task_id_attribute) or "")


def stamped_by_task(task: Any, card: Any) -> bool:
    """Is ``card`` stamped with ``task``'s id? Asked again of every card an EQL filter on the
    task id returned: a wrong mark cannot be undone, and an ESM comparing text without regard
    to case also returns the cards of a task named alike."""
    return _stamp(task, card) == task.name


def task_cards(task: Any, esm: EsmApi, selected: list[str], lg: Any, *, others: str) -> Iterator[Any]:
    """Every card ESM lists as ``task``'s (filtered on its task id, ``selected`` attributes and
    the task id read), each stamp checked again (:func:`stamped_by_task`); cards of another task
    are left out, counted, and logged once at the end, saying ``others`` of them."""
    from ..esm import eql

    skipped = 0
    for card in esm.iter_cards(task.template, filter=eql.eq(task.task_id_attribute, task.name),
                               selected_attributes=list(dict.fromkeys([*selected, task.task_id_attribute]))):
        if stamped_by_task(task, card):
            yield card
        else:
            skipped += 1
    if skipped:
        lg.warning("ESM's filter on %s = '%s' also returned %d '%s' card(s) stamped otherwise (another task's): %s.",
                   task.task_id_attribute, task.name, skipped, task.template, others)


def _existing_cards(
    run: _Run, keys: list[str], hinted: dict[str, str], origins: dict[str, str],
    earlier: dict[str, tuple[str, str]] | None = None, back: dict[str, tuple[str, str]] | None = None,
) -> tuple[dict[str, Any], list[str], dict[str, _Rekey]]:
    """(``{key: EsmCard}`` of the chunk's cards in ESM -- the truth, one look-up for the
    whole chunk, mapped keys included; a key no card holds yet but an event push created
    from a card (``origins``) gets that card, one whose Jira issue was written under another
    key (``earlier``: key -> (old key, its card)) the card of the old key --, the mapped keys
    ESM has no card for: they are forgotten and created again, the moved records' cards)."""
    if run.known is not None and all(key in run.known for key in keys):  # looked up by the membership check
        existing = {key: run.known[key] for key in keys if run.known[key] is not None}
        return existing, [k for k in hinted if k not in existing], {}
    existing: dict[str, Any] = {}
    rekeys: dict[str, _Rekey] = {}
    if run.look_up:
        existing, rekeys = _lookup_with_earlier_keys(
            run, keys, _card_reads(run.task), earlier or {}, back or {})
        _recorded_cards(run, earlier or {}, origins, existing, rekeys)
    given: set[str] = set()
    for key in keys:
        # one card for one key: two events from the same card (sent again under a new event
        # id) created two objects; both on that card, one of them would have no card at all
        if key not in existing and key in origins and origins[key] not in given:
            card = _origin_card(run, key, origins[key])
            if card is not None:
                existing[key] = card
                given.add(origins[key])
    if run.look_up:
        _mapped_cards(run, hinted, existing)
    return existing, [k for k in hinted if k not in existing], rekeys


def _mapped_cards(run: _Run, hinted: dict[str, str], existing: dict[str, Any]) -> None:
    """The mapped keys the look-up found no card for: their mapped card is read by its id (one
    request each; rare -- a card deleted or re-keyed by hand). A card that is there, not in
    the trash, and holds the key is the record's card all the same: ESM's search did not show
    it (a card written moments ago, not yet searchable). It is written, not doubled by a new
    card. Changes ``existing`` in place; a card gone or holding another key stays stale."""
    from ..esm.errors import CardNotFoundError

    task = run.task
    used = {card.data_card_id for card in existing.values()}
    for key, card_id in hinted.items():
        if key in existing or str(card_id) in used:
            continue
        try:
            card = run.esm.get_card(task.template, card_id,
                                    selected_attributes=[*_card_reads(task), task.task_id_attribute])
        except CardNotFoundError:
            continue
        if card.deleted:
            continue
        if str(card.value(task.key.esm) or "") != key:
            if stamped_by_task(task, card):
                # still this task's, under a key no run fetched: the paging (the reference)
                # finds it for mark_removed, the key map would not -- it stays noted incomplete
                run.unmapped += 1
                run.lg.warning(
                    "Card %s was written for %s %s but now holds %r (changed in ESM?): the record gets a card of its "
                    "own, and the next removal check reads every card of task '%s' from ESM.",
                    card_id, task.key.esm, key, card.value(task.key.esm), task.name)
            continue
        run.unsearchable_line("Card %s holds %s but ESM's search for that key did not return it (not searchable yet?): "
                       "the import writes that card, no second one.", card_id, key)
        existing[key] = card
        used.add(str(card_id))


# record keys Jira sends as text, never as a number field's double
_TEXT_KEYS = ("key", "id", "accountId", "groupId", "name")


def earlier_key_forms(task: Any, keys: Iterable[str]) -> dict[str, str]:
    """``{the key as earlier versions wrote it: the key}`` for keys read from a number field:
    Jira sends a number as a double, and they wrote record 13's key as "13.0". Such a card is
    that record's card (the load rewrites its key; removal does not take it for another's)."""
    if task.record_key_path in _TEXT_KEYS:
        return {}
    return {f"{key}.0": key for key in keys if key.lstrip("-").isdigit()}


def _lookup_with_earlier_keys(
    run: _Run, keys: list[str], extra: list[Any], moved: dict[str, tuple[str, str]],
    back: dict[str, tuple[str, str]] | None = None,
) -> tuple[dict[str, Any], dict[str, _Rekey]]:
    """:func:`lookup_cards` for the chunk's keys. A key read from a number field ("13") is also
    looked for as earlier versions wrote it, Jira's double ("13.0"): the card found is this
    record's card (written, its key becomes "13"), not a reason for a second one. A moved
    issue's key (``moved``: key -> (the key its issue id was last written under, that card))
    is also looked for under the old key, in the same request: the card found there, stamped
    with this task -- or that card itself, stamped by no task (an event push's, which no import
    wrote yet) --, is the record's card (written, it is re-keyed). A key no card holds whose
    recorded card an event push wrote the issue's old key to (``back``: key -> (that old key,
    the card)) gets that card when it holds the old key and this task's id (re-keyed again).
    Returns the cards and the re-keys."""
    task = run.task
    wanted = set(keys)
    earlier = {old: key for old, key in earlier_key_forms(task, keys).items() if old not in wanted}
    back = back or {}
    former = {old: key for key, (old, _card) in [*moved.items(), *back.items()] if old not in wanted}
    stamp = [task.task_id_attribute] if former else []
    found = lookup_cards(run.esm, task.template, task.key.esm, [*keys, *earlier, *former], [*extra, *stamp])
    existing = {key: card for key, card in found.items() if key in wanted}
    for old, key in earlier.items():
        if key not in existing and old in found:
            existing[key] = found[old]
    rekeys: dict[str, _Rekey] = {}
    for key, (old, card_id) in moved.items():
        card = existing.get(key)
        if card is not None:  # an earlier attempt re-keyed the card and died before recording it
            if card.data_card_id == card_id:
                rekeys[key] = _Rekey(old, card_id, now=False)
            elif old in former and old in found:
                _say_new_key_has_a_card(run, old, found[old], key, card)
            continue
        card = found.get(old) if old in former else None
        stamp = _stamp(task, card) if card is not None else None
        # the task's card, or the one an event push created the issue from (no task wrote it yet)
        if stamp == task.name or (stamp == "" and card.data_card_id == card_id):
            existing[key] = card
            rekeys[key] = _Rekey(old, card.data_card_id, now=True)
    for key, (old, card_id) in back.items():
        card = found.get(old) if key not in existing and old in former else None
        # only the very card the task last wrote this issue to, still the task's
        if card is not None and card.data_card_id == card_id and _stamp(task, card) == task.name:
            existing[key] = card
            rekeys[key] = _Rekey(old, card_id, now=True, late=True)
    return existing, rekeys


def _recorded_cards(
    run: _Run, earlier: dict[str, tuple[str, str]], origins: dict[str, str], existing: dict[str, Any],
    rekeys: dict[str, _Rekey],
) -> None:
    """The moved records no card was found for, neither under their key nor under the key the
    state last wrote their issue under: their recorded card is read by its id (one request
    each; rare). An earlier run re-keyed it and died before the state write, then the issue
    moved again: the card, still this task's and holding another key, is the record's card
    (re-keyed again) -- not a second card, and not a duplicate to mark removed. Changes
    ``existing`` and ``rekeys`` in place. A key an event push created from a card is left to
    :func:`_origin_card`, as before."""
    from ..esm.errors import CardNotFoundError

    task = run.task
    used = {card.data_card_id for card in existing.values()}
    for key, (old, card_id) in earlier.items():
        if key in existing or card_id in used or key in origins:
            continue
        try:
            card = run.esm.get_card(task.template, card_id,
                                    selected_attributes=[*_card_reads(task), task.task_id_attribute])
        except CardNotFoundError:
            continue
        held = str(card.value(task.key.esm) or "")
        if card.deleted or _stamp(task, card) != task.name or held in ("", key) or held in run.dataset_keys:
            # gone, another writer's, no key of its own, or the key of another record of this
            # load (a custom field's value moved on): not this record's card
            continue
        run.lg.info("Card %s of %s holds %s: an earlier run re-keyed it and the state did not record it.",
                    card_id, old, held)
        existing[key] = card
        used.add(card_id)
        rekeys[key] = _Rekey(old, card_id, now=True)


def _say_new_key_has_a_card(run: _Run, old: str, old_card: Any, key: str, card: Any) -> None:
    """A moved issue whose new key has a card of its own: that card is written (one card per
    key); the card still holding the old key is a duplicate of it from now on."""
    task = run.task
    if _stamp(task, old_card) != task.name:
        fate = "it is not this task's card (an event push's or another task's), so it stays as it is"
    elif task.mode == "full" and task.removal:
        fate = "mark_removed marks it removed as a duplicate (it keeps its history)"
    else:
        fate = "this task marks nothing removed, so it stays as it is: cancel or delete it in ESM if unwanted"
    run.rekeyed_line("%s is now %s (moved in Jira), but %s has a card of its own already (card %s): this import "
                     "writes that card, not card %s of %s, which is now a duplicate: %s.", old, key, key,
                     card.data_card_id, old_card.data_card_id, old, fate)


def _origin_card(run: _Run, key: str, card_id: str) -> Any:
    """The card an event push created ``key`` from, when its write-back has not happened yet
    (the card holds no key) -- so that the import writes it rather than a second card."""
    from ..esm.errors import CardNotFoundError

    task = run.task
    try:
        card = run.esm.get_card(task.template, card_id, selected_attributes=_card_reads(task))
    except CardNotFoundError:
        return None
    if card.deleted or card.value(task.key.esm) not in (None, "", key):
        return None  # gone, or it holds another key: not this record's card
    run.lg.info("%s was created in Jira by an event push from %s card %s, which does not hold the key yet (the "
                "event's write-back is still to come): the import writes that card.", key, task.template, card_id)
    return card


def _keep_disabled_state(
    removal: Any, row: dict[str, Any], data: dict[str, Any], card: Any, reactivating: dict[str, Any],
    counts: dict[str, int], say: Any, own_disabled: set[str] | frozenset[str] = frozenset(),
) -> None:
    """A disabled card stays disabled unless the record says so or ``removed.reactivate``
    is on (then ``reactivating[key]`` gets the active value); changes ``data`` in place.
    A card the record itself disabled (its mapping gave the removal value: ``own_disabled``)
    follows the record: that is the record's data, not a removal the connector undoes.
    ``removal`` is the task's ``removal`` (built anew on each access: read once per chunk)."""
    current = card.value(removal.attribute) if card is not None and removal else None
    if current is None or str(current) != str(removal.value):
        return  # the card is not disabled
    mapped = data.get(removal.attribute)
    active = mapped if mapped not in (None, "") else removal.active_value
    if mapped is not None and str(mapped) == str(removal.value):
        pass  # the record itself says removed: written as mapped
    elif row["key"] in own_disabled and mapped not in (None, ""):
        say("Card %s (%s): its record, which had set %s = %s itself, now gives %s: written as mapped.",
            card.data_card_id, row["key"], removal.attribute, removal.value, mapped)
    elif removal.reactivate and active is not None:
        # opt-in: the record is back in Jira, so is its card
        data[removal.attribute] = active
        reactivating[row["key"]] = active
    elif removal.attribute in data:
        # never re-enable on our own: the card stays disabled
        data.pop(removal.attribute)
        counts["kept_disabled"] += 1
        say(
            "Card %s (%s) is disabled (%s = %s); the import leaves it disabled.",
            card.data_card_id, row["key"], removal.attribute, removal.value,
        )


def _card_inputs(
    task: Any, chunk: list[dict[str, Any]], existing: dict[str, Any], resolver: ReferenceResolver,
    counts: dict[str, int], kept_disabled_line: Any, held_back: set[str] | frozenset[str] = frozenset(),
    own_disabled: set[str] | frozenset[str] = frozenset(),
) -> tuple[list[Any], dict[str, list[str]], dict[str, Any]]:
    """(the chunk's cards to write, key -> references not found, key -> active value of the
    disabled cards being re-activated). The groups in ``held_back`` are written without
    their member attributes: their cards keep the members they have (:mod:`.memberships`)."""
    from ..esm import CardInput

    decoded = [(row, data, _references(data)) for row, data in ((row, _without_members(task, row, held_back))
                                                                for row in chunk)]
    resolver.prefetch(ref for _, _, refs in decoded for ref in refs)
    cards = []
    partial: dict[str, list[str]] = {}
    reactivating: dict[str, Any] = {}  # key -> the active value its disabled card gets back
    removal = task.removal
    for row, data, refs in decoded:
        if refs:  # (without references, the freshly decoded dict is the card's own)
            data, missing = _resolve_data(data, resolver)
            if missing:
                partial[row["key"]] = missing
        data[task.task_id_attribute] = task.name
        card = existing.get(row["key"])
        card_id = card.data_card_id if card is not None else None
        _keep_disabled_state(removal, row, data, card, reactivating, counts, kept_disabled_line, own_disabled)
        cards.append(CardInput(data=data, data_card_id=card_id, folder=None if card_id else task.folder, ref=row,
                               in_folder=card.folder_code if card is not None else None))
    counts["unresolved_references"] += len(partial)
    return cards, partial, reactivating


def _without_members(task: Any, row: dict[str, Any], held_back: set[str] | frozenset[str]) -> dict[str, Any]:
    """The row's mapped data; for a group held back, without its member attributes (nor what
    is worked out from its members)."""
    data = decode_data(row["data"])
    if row["key"] in held_back:
        for name in task.member_derived_attributes:  # the member attributes among them
            data.pop(name, None)
    return data


def _check_memberships(run: _Run, dataset: Dataset, unchanged: int | None, allow: bool, *, concurrency: int) -> None:
    """Group imports, before anything is written: compare each changed group's members with
    its card's and decide which groups keep theirs (:mod:`.memberships`). The cards looked up
    here are the load's look-ups (``run.known``); the references resolved stay in the run's
    resolver: the chunks ask ESM nothing twice."""
    from ..http.parallel import bounded_parallel

    task = run.task
    attributes = membership_attributes(task)

    def chunks() -> Iterator[tuple[list[dict[str, Any]], dict[str, str], dict[str, str]]]:
        # drawn by bounded_parallel in this thread: only this thread reads the state store
        for chunk in chunks_of(_unique_rows(dataset, run.lg, quiet=True), run.chunk_size):
            keys = [row["key"] for row in chunk]
            origins = _origins_not_given(run, run.state.event_cards(task.template, task.key.esm, keys))
            yield chunk, run.state.get_card_ids(task.name, keys), origins

    def look_up(item: Any) -> tuple[dict[str, Any], list[GroupChange]]:
        chunk, hinted, origins = item
        existing, _stale, _rekeys = _existing_cards(run, [row["key"] for row in chunk], hinted, origins)
        decoded = [(row["key"], decode_data(row["data"])) for row in chunk]
        run.resolver.prefetch(ref for _, data in decoded for name in attributes for ref in _references(
            {name: data.get(name)}))
        changes = []
        for key, data in decoded:
            card = existing.get(key)
            if card is None:
                continue  # a new group: nobody is removed from it
            before = member_ids(v for name in attributes for v in card.values(name))
            after = new_member_ids(data, attributes, run.resolver)
            name = data.get("name")
            changes.append(GroupChange(key, name if isinstance(name, str) else None, len(before),
                                       len(before - after), len(after)))
        return {str(row["key"]): existing.get(row["key"]) for row in chunk}, changes

    known: dict[str, Any] = {}
    changes: list[GroupChange] = []
    for _item, (found, group_changes) in bounded_parallel(look_up, chunks(), concurrency, name="esm-members"):
        known.update(found)
        changes += group_changes
    run.known = known
    run.held_back = groups_to_hold_back(task, changes, unchanged, allow=allow, lg=run.lg)
    run.counts["groups_held_back"] = len(run.held_back)


def _write_chunk(
    run: _Run, chunk: list[dict[str, Any]], hinted: dict[str, str], origins: dict[str, str],
    earlier: dict[str, tuple[str, str]] | None = None, back: dict[str, tuple[str, str]] | None = None,
    own_disabled: set[str] | frozenset[str] = frozenset(),
) -> _ChunkDone:
    """In a worker thread: find the chunk's cards, resolve references, one bulk PUT. Touches
    no state: the calling thread records the answer (:func:`_record_chunk`)."""
    task = run.task
    counts = {"kept_disabled": 0, "unresolved_references": 0}
    looked_up_at = datetime.now(timezone.utc)
    existing, stale, rekeys = _existing_cards(run, [row["key"] for row in chunk], hinted, origins, earlier, back)
    cards, partial, reactivating = _card_inputs(task, chunk, existing, run.resolver, counts, run.kept_disabled_line,
                                                run.held_back, own_disabled)
    outcomes = [o for part in run.esm.iter_bulk_import(task.template, cards, folder=task.folder,
                                                       chunk_size=run.chunk_size, writes=run.writes) for o in part]
    held = {key: str(card.value(task.key.esm) or "") for key, card in existing.items()}
    removal = task.removal
    sent = {str(c.ref["key"]): c.data[removal.attribute] for c in cards if removal.attribute in c.data} \
        if removal is not None else {}
    return _ChunkDone(stale, outcomes, partial, reactivating, counts, rekeys, looked_up_at, held, sent, own_disabled)


def _earlier_keys(
    run: _Run, chunk: list[dict[str, Any]], origins: dict[str, str],
) -> tuple[dict[str, tuple[str, str]], dict[str, str], dict[str, tuple[str, str]]]:
    """(``{key: (old key, card id)}`` of the chunk's records whose Jira issue (``object_id``)
    the task last wrote under another key: moved, or its project key changed; ``origins``
    and the cards of the issues the task never wrote that an event push created under another
    key, from a card it may or may not have written that key to -- moved before any import
    met them: both kinds are looked for under the old key, and the event's card is also its
    ``origin``; ``{key: (old key, card id)}`` of the records the task last wrote under this
    very key to a card an event push wrote the issue's old key to (its write-back landed
    after the move and the import's re-key: the card may hold the old key again), looked for
    under the old key only when no card holds the key). Two state queries; none for records
    without an id (imports not keyed by the issue key)."""
    ids = {row["object_id"]: row["key"] for row in chunk if row.get("object_id")}
    if not ids or not run.look_up:  # an empty template holds no card to re-key
        return {}, origins, {}
    known = run.state.object_keys(run.task.name, ids)
    earlier = {ids[ident]: (old, card) for ident, (old, card) in known.items() if old != ids[ident]}
    if earlier and run.task.record_key_path not in ("key", "id"):
        # a custom field's value is no issue's own: another issue may hold (or have held) the old
        # value, and its card is that issue's -- re-keyed, it would be taken from it. Another
        # record of this load holding it now counts too: its chunk may be at ESM at this moment,
        # not recorded yet, writing that very card under the old value
        shared = {old for old, idents in run.state.object_ids_of(run.task.name, [o for o, _c in earlier.values()]).items()
                  if len(set(idents)) > 1}
        earlier = {key: (old, card) for key, (old, card) in earlier.items()
                   if old not in shared and old not in run.dataset_keys}
    new = {ident: key for ident, key in ids.items() if ident not in known and key not in origins}
    same = {ident: card for ident, (old, card) in known.items() if old == ids[ident]}
    if not new and not same:
        return earlier, origins, {}
    noted = run.state.event_cards_of_objects(run.task.template, run.task.key.esm, [*new, *same])
    moved = {new[ident]: (old, card) for ident, (old, card) in noted.items() if ident in new and old != new[ident]}
    back = {ids[ident]: (old, card) for ident, (old, card) in noted.items()
            if ident in same and card == same[ident] and old != ids[ident]}
    return {**earlier, **moved}, {**origins, **{key: card for key, (_old, card) in moved.items()}}, back


def _record_chunk(run: _Run, done: _ChunkDone) -> None:
    """Record one chunk's answer right after ESM gave it (a crash later loses nothing that
    was saved), in one state transaction: card ids, fingerprints of records saved fully,
    pending ones."""
    task, state, counts, removal, lg = run.task, run.state, run.counts, run.task.removal, run.lg
    for name, n in done.counts.items():
        counts[name] += n
    for key, missing in done.partial.items():
        run.missing_line(
            "Record %s: reference(s) not found in ESM, left out for now and retried on later runs until they "
            "resolve: %s", key, "; ".join(missing[:10])
        )
    if done.stale:
        lg.info("%d mapped card(s) no longer exist in ESM and will be created again: %s",
                len(done.stale), ", ".join(done.stale[:20]))
    fingerprints: dict[str, str] = {}
    card_ids: dict[str, str] = {}
    object_ids: dict[str, str] = {}  # key -> Jira issue id of the cards saved
    rekeyed: list[str] = []  # old keys of the moved records' cards saved under their new key
    pending: dict[str, str] = {}  # saved without some references: key -> what is missing
    disabled: list[str] = []  # saved with the removal value the record itself gave
    enabled: list[str] = []  # the record had disabled its card and now gives another value
    for outcome in done.outcomes:
        row = outcome.ref
        if outcome.ok:
            counts[outcome.status] += 1
            card_ids[row["key"]] = outcome.data_card_id
            if str(row["key"]) in done.sent_removal:
                sent = done.sent_removal[str(row["key"])]
                if removal is not None and str(sent) == str(removal.value):
                    disabled.append(row["key"])
                elif str(row["key"]) in done.own_disabled:
                    enabled.append(row["key"])
            if row.get("object_id"):
                object_ids[row["key"]] = row["object_id"]
            if row["key"] in done.rekeys:
                rekeyed.append(_note_rekey(run, row["key"], done.rekeys[row["key"]]))
            if row["key"] in run.held_back:
                # its members were not written: not cached as done (diff passes it on, the next run
                # checks it again); the next run holding back this same record writes nothing
                if row["key"] not in done.partial:
                    fingerprints[row["key"]] = held_back_print(row["fingerprint"])
            elif row["key"] in done.partial:
                pending[row["key"]] = "; ".join(done.partial[row["key"]])
            else:
                fingerprints[row["key"]] = row["fingerprint"]
            if row["key"] in done.reactivating:
                counts["reactivated"] += 1
                run.reactivated_line(
                    "Re-activated card %s (%s): its record is back in Jira, %s set from %s to %s "
                    "(removed.reactivate).",
                    outcome.data_card_id, row["key"], removal.attribute, removal.value, done.reactivating[row["key"]],
                )
        else:
            counts["refused"] += 1
            if (not outcome.uncertain and removal is not None and str(row["key"]) not in done.own_disabled
                    and str(done.sent_removal.get(str(row["key"]))) == str(removal.value)):
                enabled.append(row["key"])  # noted before the write (_disabled_by_record), which ESM refused
            if outcome.card is not None and not outcome.card.data_card_id and (outcome.uncertain or outcome.data_card_id):
                run.uncertain += 1  # a new card may exist that the key map does not know
            elif outcome.uncertain and outcome.card is not None and outcome.card.data_card_id:
                # an edit ESM may have saved all the same: the card may carry this task's id now
                card_ids[row["key"]] = str(outcome.card.data_card_id)
            # ESM's words, bounded: up to 100 of these go into the run's result (XCom)
            run.refused.append({"key": row["key"], "reason": cut(outcome.reason, _REASON_MAX), "updated": row.get("updated")})
    # pending records are not cached either, and an incremental extract fetches them again by key
    finished = [k for k in fingerprints if k in run.pending_before]
    # an event's write-back noted since the look-up (less the clocks' difference between workers)
    # may have put an old key of the issue on a card just written: see StateStore.record_loaded
    since = done.looked_up_at - _CLOCKS_APART if done.looked_up_at else None
    held = state.record_loaded(task.name, card_ids=card_ids, fingerprints=fingerprints, pending=pending,
                               resolved=finished, forgotten=done.stale, object_ids=object_ids, rekeyed=rekeyed,
                               written_since=since, held_before=done.held, disabled=disabled, enabled=enabled)
    # held pending all the same (written in full): not resolved, nor waiting for a reference
    counts["held_for_rekey"] += len(held)
    run.resolved_now += len(set(finished) - set(held))


def _note_rekey(run: _Run, key: str, rekey: _Rekey) -> str:
    """Count and log a moved record's card saved under its new key; its old key."""
    if rekey.late:
        run.counts["rekeyed"] += 1
        run.rekeyed_line("Card %s of %s held the issue's old key %s again: an event push wrote that key back to it "
                         "after the issue moved and an import had given the card the new key. Card %s re-keyed to %s "
                         "(no second card).", rekey.card_id, key, rekey.old_key, rekey.card_id, key)
    elif rekey.now:
        run.counts["rekeyed"] += 1
        run.rekeyed_line("%s is now %s (moved in Jira): card %s re-keyed.", rekey.old_key, key, rekey.card_id)
    else:
        run.rekeyed_line("%s is now %s (moved in Jira): card %s holds the new key already (an earlier attempt "
                         "re-keyed it); the connector's records follow.", rekey.old_key, key, rekey.card_id)
    return rekey.old_key


def _load_comments(
    task: Any, dataset: Dataset, esm: EsmApi, state: StateApi, lg: Any, guard: Callable[[], None] = no_lease_check,
) -> LoadResult:
    """Append each new comment as a worklog entry to its issue's card."""
    from ..esm.errors import CardNotFoundError

    settings = task.comments
    counts = {"created": 0, "updated": 0, "refused": 0, "kept_disabled": 0, "unresolved_references": 0,
              "already_present": 0}
    refused: list[RefusedRecord] = []
    for chunk in chunks_of(dataset.iter_rows(), 200):
        guard()
        issue_cards = lookup_cards(esm, task.template, settings.card_key_attribute, [r["issue_key"] for r in chunk])
        fingerprints: dict[str, str] = {}
        present: dict[str, set[str] | None] = {}  # card id -> comment ids its worklog holds (None: card gone)
        for row in chunk:
            card = issue_cards.get(row["issue_key"])
            if card is None:
                counts["refused"] += 1
                refused.append({
                    "key": row["key"], "updated": row.get("updated"),
                    "reason": f"no ESM '{task.template}' card with {settings.card_key_attribute} = "
                              f"{short_repr(row['issue_key'])} yet (import the issue first); retried next run",
                })
                continue
            comment_id = str(row["key"])
            if card.data_card_id not in present:
                try:
                    present[card.data_card_id] = _comments_in_worklog(
                        esm, task.template, card.data_card_id, settings.worklog_attribute
                    )
                except CardNotFoundError:  # deleted since the look-up: this card's comments wait
                    present[card.data_card_id] = None
            if present[card.data_card_id] is None:
                counts["refused"] += 1
                refused.append({
                    "key": row["key"], "updated": row.get("updated"),
                    "reason": f"ESM '{task.template}' card {card.data_card_id} of {short_repr(row['issue_key'])} "
                              "was deleted while its comments were loaded; retried next run",
                })
                continue
            if comment_id in present[card.data_card_id]:
                counts["already_present"] += 1
                fingerprints[row["key"]] = row["fingerprint"]
                continue
            entry = {k: v for k, v in decode_data(row["data"]).items() if v not in (None, "")}
            entry["value"] = f"{entry.get('value') or '(empty comment)'}\n\n{worklog_marker(comment_id)}"
            # each entry is its own write: a load that lost the template's lock (another writer
            # read the worklog since) must not append next to it (no I/O while the lease is fresh)
            guard()
            try:
                esm.add_attribute_value(task.template, card.data_card_id, settings.worklog_attribute, entry)
            # ESM refused this entry only (403: the user may not update this card, e.g. archived)
            except (BadRequestError, NotFoundError, ConflictError, PermissionDeniedError) as exc:
                counts["refused"] += 1
                refused.append({"key": row["key"], "reason": cut(str(exc), _REASON_MAX), "updated": row.get("updated")})
                continue
            counts["created"] += 1
            present[card.data_card_id].add(comment_id)
            fingerprints[row["key"]] = row["fingerprint"]
        if fingerprints:
            state.put_fingerprints(task.name, fingerprints)
    _report_refused(lg, task, refused)
    lg.info(
        "Appended %d comment(s) as worklog entries to '%s' cards; %d already there; %d refused.",
        counts["created"], task.template, counts["already_present"], counts["refused"],
    )
    return {**counts, "refused_records": refused[:_MAX_LISTED], "refused_oldest_updated": _oldest(refused)}
