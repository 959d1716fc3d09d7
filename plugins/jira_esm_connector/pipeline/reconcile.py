"""Reconciliation: compare what a scheduled task selects in Jira with its cards in ESM.

Read-only, on demand (the ``jira_esm_connector_reconcile`` DAG, or :func:`reconcile`
called directly). Nothing is written to Jira, ESM or the state store; the state store,
when given, is only read to say whether the next import would repair a difference.

1. **ESM**: every card of the task's template stamped with the task's id
   (``task_id_attribute``), reading only the key and removal attributes, keyset paged.
   Per key: active (not marked removed) or removed; keys with several cards are duplicates.
2. **Jira**: the task's selection streamed with as few fields as possible (generic: the
   JQL without the watermark; users: ``/users/search``; groups: ``/group/bulk`` without
   members). Keys are kept in a set; records are not kept, except a bounded random sample
   (reservoir) of records whose key has an active card.
3. **Counts**: keys in Jira with no card of this task (*missing in ESM*; a card owned by
   another task -- the last writer owns it -- is counted apart), active cards whose key
   Jira no longer selects (*not in Jira*: should have been marked removed), cards marked
   removed whose record *is* in Jira (*wrongly removed*; not those whose record the task's
   own mapping gives the removal value -- the import writes that as mapped), keys with more
   than one card (*duplicates*).
4. **Stale values**: the sample is completed (generic: the mapped fields through
   ``/issue/bulkfetch``; groups: their members) and mapped with the task's own mapping
   (:func:`..mapping.compile_attributes`, exactly as :mod:`.transform` does); references
   are resolved to card ids with the load step's :class:`.load.ReferenceResolver`; each
   mapped attribute is encoded as the load step would send it and compared with the card
   (fingerprints of the comparable attributes; names of the differing ones).

Memory: two sets of keys (Jira, ESM) plus the sample -- fine at 500,000 records.

Comment imports have no cards of their own (each comment is an entry in its issue card's
worklog, ending with the ``[Jira comment N]`` marker the load step writes): for them every
comment of the selected issues is compared with the markers in its issue card's worklog,
one page of issues at a time (missing entries, entries of deleted comments, duplicates).
"""
from __future__ import annotations

import heapq
import logging
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from ..http.errors import NotFoundError
from ..mapping import Reference, compile_attributes, fingerprint
from ..mapping.engine import MappingError
from ..mapping.paths import path_head
from ..protocols import EsmApi, JiraApi, StateApi
from .results import ReconcileReport
from .transform import cached_fingerprint, hidden_email_attributes, record_key, write_target

__all__ = ["reconcile", "reconcile_summary_line", "RECONCILE_COUNT_KEYS", "DEFAULT_SAMPLE_SIZE", "LISTED"]

log = logging.getLogger("jira_esm_connector.pipeline")

DEFAULT_SAMPLE_SIZE = 200
LISTED = 20  # "first N" keys in each list of the report (XCom stays small)
_OWNER_LOOKUP_LIMIT = 20_000  # more missing keys than this: one pass over the template instead of lookups
_OWNER_LOOKUP_CHUNK = 500
_KEY_PAGE_SIZE = 1000  # key-only Jira pages (Jira may cap them; paging copes)

RECONCILE_COUNT_KEYS = (
    "jira_records", "esm_cards", "esm_active_cards", "esm_removed_cards",
    "missing_in_esm", "owned_by_other_task", "not_in_jira", "wrongly_removed",
    "duplicate_keys", "duplicate_cards", "stale", "stale_sampled",
)


def _fmt(n: int) -> str:
    return f"{n:,}"


def reconcile_summary_line(task_name: str, report: dict[str, Any]) -> str:
    """One line for the log, e.g. "Reconciliation of 'X': Jira 1,234 records, ESM 1,230 active
    cards; missing in ESM 4, not in Jira 0, wrongly removed 0, duplicates 0, stale 1 of 200 sampled."""
    if report.get("mapping_type") == "comment":
        return (
            f"Reconciliation of '{task_name}': Jira {_fmt(report['jira_records'])} comments on "
            f"{_fmt(report['jira_issues'])} issues, ESM {_fmt(report['esm_worklog_entries'])} worklog entries on "
            f"{_fmt(report['esm_active_cards'])} cards; missing in ESM {_fmt(report['missing_in_esm'])}, "
            f"not in Jira {_fmt(report['not_in_jira'])}, duplicates {_fmt(report['duplicate_keys'])}."
        )
    return (
        f"Reconciliation of '{task_name}': Jira {_fmt(report['jira_records'])} records, "
        f"ESM {_fmt(report['esm_active_cards'])} active cards; "
        f"missing in ESM {_fmt(report['missing_in_esm'])}, not in Jira {_fmt(report['not_in_jira'])}, "
        f"wrongly removed {_fmt(report['wrongly_removed'])}, duplicates {_fmt(report['duplicate_keys'])}, "
        f"stale {_fmt(report['stale'])} of {_fmt(report['stale_sampled'])} sampled."
    )


# --------------------------------------------------------------------------- ESM side


class _EsmSide:
    """This task's cards by key: active / removed sets and duplicates (no card data kept)."""

    def __init__(self) -> None:
        self.active: set[str] = set()
        self.removed: set[str] = set()
        self.duplicates: dict[str, int] = {}  # key -> number of cards, only for keys with > 1
        self.cards = 0
        self.active_cards = 0
        self.removed_cards = 0
        self.without_key: list[str] = []
        self.without_key_count = 0


def _read_esm(task: Any, esm: EsmApi, lg: Any) -> _EsmSide:
    from .load import task_cards

    removal = task.removal
    key_attr = task.key.esm
    side = _EsmSide()
    selected = [key_attr] + ([removal.attribute] if removal else [])
    # another task's cards (named alike) are not this task's: never "not in Jira"
    for card in task_cards(task, esm, selected, lg, others="not counted"):
        side.cards += 1
        status = card.value(removal.attribute) if removal else None
        is_removed = removal is not None and status is not None and str(status) == str(removal.value)
        if is_removed:
            side.removed_cards += 1
        else:
            side.active_cards += 1
        key = card.value(key_attr)
        if key in (None, ""):
            side.without_key_count += 1
            if len(side.without_key) < LISTED:
                side.without_key.append(card.data_card_id)
            continue
        key = str(key)
        if key in side.active or key in side.removed:
            side.duplicates[key] = side.duplicates.get(key, 1) + 1
        (side.removed if is_removed else side.active).add(key)
    return side


# --------------------------------------------------------------------------- Jira side


def _key_fields(task: Any) -> list[str]:
    """The fewest search fields that still carry the record's key (and the issue key, by
    which sampled issues are fetched again); ``key`` alone gives ``{"id", "key"}``."""
    head, _, rest = task.record_key_path.partition(".")
    if head == "fields" and rest:
        return ["key", path_head(rest)]
    return ["key"]


def _iter_jira_records(task: Any, jira: JiraApi) -> Iterator[dict[str, Any]]:
    """The task's Jira selection, light records (generic: key fields only; groups: no members)."""
    kind = task.mapping_type
    if kind == "generic":
        from .watermark import watermark_jql

        jql = watermark_jql(task.jql, None, None)  # the whole selection, the connector's ordering
        for page in jira.iter_search_pages(jql, fields=_key_fields(task), page_size=_KEY_PAGE_SIZE):
            yield from page.issues
    elif kind == "user":
        yield from jira.iter_users(page_size=min(int(task.page_size or 100), 1000))
    elif kind == "group":
        yield from jira.iter_groups(page_size=min(int(task.page_size or 50), 50))
    else:  # pragma: no cover - comment tasks never get here
        raise ValueError(f"cannot reconcile mapping_type {kind!r}")


def _complete_sample(task: Any, jira: JiraApi, sample: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{key: full record}`` for the sampled light records, as the extract step sees them."""
    key_path = task.record_key_path
    if task.mapping_type == "generic":
        from .extract import search_fields

        by_issue = {str(r.get("key") or r.get("id")): str(record_key(r, key_path)) for r in sample}
        out: dict[str, dict[str, Any]] = {}
        for issue in jira.bulk_fetch(list(by_issue), fields=search_fields(task)):
            key = record_key(issue, key_path)
            if key is not None:
                out[key] = issue
        return out
    if task.mapping_type == "group" and task.fetch_members:
        out = {}
        for group in sample:
            record = dict(group)
            record["members"] = list(jira.iter_group_members(
                group_id=group.get("groupId"), group_name=None if group.get("groupId") else group.get("name"),
            ))
            out[str(record_key(group, key_path))] = record
        return out
    return {str(record_key(r, key_path)): r for r in sample}


# --------------------------------------------------------------------------- comparison


def _plain(value: Any) -> str | None:
    """One ESM value element or plain value as comparable text (numbers: 3 == 3.0 == "3")."""
    if isinstance(value, dict):
        for name in ("value", "dataCardId", "location"):
            if name in value:
                return _plain(value[name])
        return None
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text.lower() in ("true", "false"):
        return text.lower()
    try:  # numbers compare by value on both sides, whether ESM sends 3, 3.0 or "3"
        number = Decimal(text)
    except InvalidOperation:
        return text
    if not number.is_finite() or abs(number.adjusted()) > 30:
        return text
    return str(int(number)) if number == number.to_integral_value() else str(number.normalize())


def _values(elements: Iterable[Any]) -> list[str]:
    return sorted(v for v in (_plain(e) for e in elements) if v is not None)


def _expected(value: Any, resolver: Any) -> tuple[list[str], list[str]]:
    """What the load step would send for one mapped value, as comparable texts, and the
    reference keys that have no card (left out, as the load step leaves them out)."""
    from ..esm.models import encode_values

    missing: list[str] = []
    items = value if isinstance(value, list) else [value]
    if any(isinstance(v, Reference) for v in items):
        resolved: list[Any] = []
        for item in items:
            if isinstance(item, Reference):
                refs, absent = resolver.resolve(item)
                resolved += refs
                missing += absent
            else:
                resolved.append(item)
        value = resolved or None
    return _values(encode_values(value)["values"]), missing


def _references(data: dict[str, Any]) -> Iterator[Reference]:
    for value in data.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, Reference):
                yield item


# --------------------------------------------------------------------------- owners of missing keys


def _owned_elsewhere(task: Any, esm: EsmApi, missing: list[str]) -> tuple[set[str], set[str]]:
    """The missing keys that do have a card of the template: (those with a card not stamped
    with this task's id -- another task wrote it last, so that task owns it; or it was made
    by hand --, those whose card carries this task's id after all: the import, running
    meanwhile, wrote it after this task's cards were read)."""
    from .load import lookup_cards

    key_attr = task.key.esm
    owners: dict[str, Any] = {}
    if len(missing) <= _OWNER_LOOKUP_LIMIT:
        for start in range(0, len(missing), _OWNER_LOOKUP_CHUNK):
            found = lookup_cards(esm, task.template, key_attr, missing[start:start + _OWNER_LOOKUP_CHUNK],
                                 [task.task_id_attribute])
            owners.update((key, card.value(task.task_id_attribute)) for key, card in found.items())
    else:
        wanted = set(missing)
        for card in esm.iter_cards(task.template, selected_attributes=[key_attr, task.task_id_attribute]):
            key = card.value(key_attr)
            if key not in (None, "") and str(key) in wanted:
                owner = card.value(task.task_id_attribute)
                if owners.get(str(key)) != task.name:  # any card of this task's makes it this task's
                    owners[str(key)] = owner
    meanwhile = {key for key, owner in owners.items() if owner == task.name}
    return set(owners) - meanwhile, meanwhile


# --------------------------------------------------------------------------- the report


def _issue_comment_ids(jira: JiraApi, issue_key: str, skip_marked: bool) -> tuple[set[str], int]:
    """Ids of an issue's comments as the comment import selects them (the connector's own
    comments, pushed from ESM, skipped), and how many were skipped."""
    from ..markers import connector_comment_or_gone

    ids: set[str] = set()
    skipped = 0
    try:
        comments = list(jira.iter_comments(issue_key, expand_properties=True))
    except NotFoundError:
        log.info("Jira has no issue %s any more (deleted after the listing, or hidden): not compared.", issue_key)
        return ids, skipped
    for comment in comments:
        ours = connector_comment_or_gone(comment, jira, skip_marked)
        if ours is None:
            log.info("Jira comment %s of %s was deleted after the listing: not compared.", comment.get("id"), issue_key)
            continue
        if ours:
            skipped += 1
        else:
            ids.add(str(comment.get("id")))
    return ids, skipped


def _reconcile_comments(task: Any, jira: JiraApi, esm: EsmApi, *, listed: int, lg: Any) -> ReconcileReport:
    """Comment imports: every comment of the selected issues against the ``[Jira comment N]``
    markers in the worklog of its issue's card. Bounded memory: one page of issues at a time."""
    from ..markers import imported_comment_ids
    from .load import lookup_cards
    from .watermark import watermark_jql

    settings = task.comments
    jql = watermark_jql(task.jql, None, None)
    counts = {"jira_records": 0, "jira_issues": 0, "esm_active_cards": 0, "esm_worklog_entries": 0,
              "missing_in_esm": 0, "issues_without_card": 0, "not_in_jira": 0, "duplicate_keys": 0,
              "duplicate_cards": 0, "skipped_connector_comments": 0}
    missing: list[str] = []
    extra: list[str] = []
    duplicated: list[str] = []
    no_card: list[str] = []
    lg.info("Reconciling comment task '%s': comments of the issues selected by %s against the markers in "
            "worklog '%s' of their '%s' cards.", task.name, jql, settings.worklog_attribute, task.template)
    seen_issues: set[str] = set()  # issue ids: one changed while the listing pages comes back at its end
    for page in jira.iter_search_pages(jql, fields=["key"], page_size=100):
        keys = []
        for issue in page.issues:
            ident = str(issue.get("id") or issue.get("key"))
            if issue.get("key") and ident not in seen_issues:
                seen_issues.add(ident)
                keys.append(str(issue.get("key")))
        cards = lookup_cards(esm, task.template, settings.card_key_attribute, keys, [settings.worklog_attribute])
        for key in keys:
            counts["jira_issues"] += 1
            comments, skipped = _issue_comment_ids(jira, key, settings.skip_marked)
            counts["jira_records"] += len(comments)
            counts["skipped_connector_comments"] += skipped
            card = cards.get(key)
            if card is None:
                if comments:
                    counts["issues_without_card"] += 1
                    counts["missing_in_esm"] += len(comments)
                    missing += [f"{key}#{c}" for c in sorted(comments)][: max(0, listed - len(missing))]
                    no_card += [key][: max(0, listed - len(no_card))]
                continue
            counts["esm_active_cards"] += 1
            markers = imported_comment_ids(card.values(settings.worklog_attribute))
            counts["esm_worklog_entries"] += len(markers)
            seen = Counter(markers)
            present = set(seen)
            for comment_id, n in sorted(seen.items()):
                if n > 1:
                    counts["duplicate_keys"] += 1
                    counts["duplicate_cards"] += n - 1
                    duplicated += [f"{key}#{comment_id}"][: max(0, listed - len(duplicated))]
            for comment_id in sorted(comments - present):
                counts["missing_in_esm"] += 1
                missing += [f"{key}#{comment_id}"][: max(0, listed - len(missing))]
            for comment_id in sorted(present - comments):
                counts["not_in_jira"] += 1
                extra += [f"{key}#{comment_id}"][: max(0, listed - len(extra))]
    notes = []
    if counts["issues_without_card"]:
        notes.append(
            f"{counts['issues_without_card']} issue(s) with comments have no '{task.template}' card with "
            f"{settings.card_key_attribute} yet (first: {', '.join(no_card)}); import the issues first."
        )
    if counts["not_in_jira"]:
        notes.append("Worklog entries only ever grow: entries of comments deleted in Jira stay in ESM.")
    report: dict[str, Any] = {
        "task": task.name, "mapping_type": "comment", "mode": task.mode,
        **{k: None for k in RECONCILE_COUNT_KEYS},
        **counts,
        "esm_cards": counts["esm_active_cards"],
        "missing_in_esm_keys": missing, "not_in_jira_keys": extra, "duplicate_key_examples": duplicated,
        "notes": notes,
    }
    _log_report(lg, task.name, report, [("missing in ESM (issue#comment)", missing),
                                         ("not in Jira (issue#comment)", extra),
                                         ("duplicate entries (issue#comment)", duplicated)], notes)
    return report


def _log_report(lg: Any, task_name: str, report: dict[str, Any], listed: list[tuple[str, list[str]]],
                notes: list[str]) -> None:
    """The summary line (also the report's ``summary``), the first keys of each kind, the notes."""
    report["summary"] = reconcile_summary_line(task_name, report)
    lg.info("%s", report["summary"])
    for label, items in listed:
        if items:
            lg.warning("First %s: %s", label, ", ".join(items))
    for note in notes:
        lg.info("Note: %s", note)


def reconcile(
    task: Any,
    jira: JiraApi,
    esm: EsmApi,
    state: StateApi | None = None,
    *,
    settings: Any = None,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    seed: int | None = None,
    listed: int = LISTED,
    logger: logging.Logger | logging.LoggerAdapter | None = None,
) -> ReconcileReport:
    """Compare ``task``'s Jira selection with its ESM cards; returns the report (counts and
    the first ``listed`` keys of each kind; no records). Never writes anywhere.

    ``state`` (optional) is only read: for missing and stale records it tells whether the
    task cache would make the next import skip them (then: run it with ``clear_cache``).
    ``seed`` makes the stale-value sample repeatable.
    """
    lg = logger or log
    if task.mapping_type == "comment":
        return _reconcile_comments(task, jira, esm, listed=listed, lg=lg)
    removal = task.removal
    lg.info(
        "Reconciling task '%s' (%s import into ESM '%s'): reading the task's cards (%s = %s) ...",
        task.name, task.mapping_type, task.template, task.task_id_attribute, task.name,
    )
    side = _read_esm(task, esm, lg)
    lg.info(
        "ESM: %s card(s) of task '%s': %s active, %s marked removed%s.",
        _fmt(side.cards), task.name, _fmt(side.active_cards), _fmt(side.removed_cards),
        f" ({removal.attribute} = {removal.value})" if removal else " (this task does not mark removed records)",
    )
    jira_keys, missing, sample, no_key, removed = _scan_jira(task, jira, side, sample_size, random.Random(seed))
    lg.info("Jira: %s record(s) selected by task '%s'.", _fmt(len(jira_keys)), task.name)
    as_mapped = _removed_as_mapped(task, jira, removed, settings)
    report = _record_report(task, esm, side, jira_keys, missing, no_key, listed, as_mapped)
    del jira_keys  # not needed any more: free it before the sample is fetched
    notes: list[str] = report["notes"]
    if state is not None and report["missing_in_esm"]:
        _missing_but_cached(task, state, report, notes)
    del report["_missing"]

    stale = _stale_sample(task, jira, esm, state, sample, settings=settings, listed=listed, notes=notes, lg=lg)
    report.update(stale)
    _log_report(lg, task.name, report, [
        (label, report[name]) for label, name in (
            ("missing in ESM", "missing_in_esm_keys"), ("not in Jira", "not_in_jira_keys"),
            ("wrongly removed", "wrongly_removed_keys"), ("duplicate keys", "duplicate_key_examples"))
    ], notes)
    for example in report["stale_examples"]:
        lg.warning("Stale card %s (%s): %s differ.", example["key"], example["card_id"], ", ".join(example["attributes"]))
    return report


def _missing_but_cached(task: Any, state: StateApi, report: dict[str, Any], notes: list[str]) -> None:
    """Of the missing records, how many the task cache makes the next import skip as unchanged,
    and how many are groups the membership safety limit held back when last written: not cached
    as done (diff passes them on), so the next import writes them -- counted apart."""
    from .memberships import is_held_back_print

    cached = state.get_fingerprints(task.name, report["_missing"])
    held = sum(1 for value in cached.values() if is_held_back_print(value))
    report["missing_but_cached"] = len(cached) - held
    report["missing_but_held_back"] = held
    if len(cached) > held:
        notes.append(
            f"{len(cached) - held} missing record(s) are in the task cache, so the next import skips them as "
            f"unchanged: run the task once with clear_cache = true."
        )
    if held:
        notes.append(
            f"{held} missing group(s) were held back by the membership safety limit when last written (not cached "
            f"as done): the next import writes them again."
        )


def _scan_jira(
    task: Any, jira: JiraApi, side: _EsmSide, sample_size: int, rng: random.Random
) -> tuple[set[str], list[str], list[dict[str, Any]], int, list[dict[str, Any]]]:
    """Stream the task's Jira selection, classifying every key against the ESM sets:
    (every key, keys with no card of this task in Jira order, a uniform sample of the
    records with an active card, how many records have no key, the records whose only
    cards are marked removed -- kept only when the task maps the removal attribute)."""
    sample_size = max(0, int(sample_size))
    sample: list[dict[str, Any]] = []
    candidates = 0  # keys with an active card: what the sample is drawn from
    jira_keys: set[str] = set()
    missing: list[str] = []  # keys with no card of this task (a subset, in Jira order)
    no_key = 0
    removed: list[dict[str, Any]] = []
    keep_removed = task.removal is not None and task.removal.attribute in task.effective_attributes
    key_path = task.record_key_path
    for record in _iter_jira_records(task, jira):
        key = record_key(record, key_path)
        if key is None:
            no_key += 1
            continue
        if key in jira_keys:
            continue  # the same record twice (Jira paged while it changed)
        jira_keys.add(key)
        if key in side.active:
            candidates += 1  # reservoir sampling: every candidate equally likely, bounded memory
            if len(sample) < sample_size:
                sample.append(record)
            else:
                slot = rng.randrange(candidates)
                if slot < sample_size:
                    sample[slot] = record
        elif key not in side.removed:
            missing.append(key)
        elif keep_removed:
            removed.append(record)
    return jira_keys, missing, sample, no_key, removed


def _removed_as_mapped(task: Any, jira: JiraApi, records: list[dict[str, Any]], settings: Any) -> set[str]:
    """Keys of ``records`` (Jira records whose cards are marked removed) that the task's own
    mapping gives the removal value: the import writes it as mapped (see :mod:`.load`), so
    their cards are right, not wrongly removed."""
    if not records:
        return set()
    removal = task.removal
    apply = compile_attributes({removal.attribute: task.effective_attributes[removal.attribute]},
                               options=task.mapping_options(settings))
    out: set[str] = set()
    for key, record in _complete_sample(task, jira, records).items():
        try:
            value = apply(record).get(removal.attribute)
        except MappingError:
            continue  # an import refuses it: its card stays as it is
        if value is not None and str(value) == str(removal.value):
            out.add(key)
    return out


def _record_report(
    task: Any, esm: EsmApi, side: _EsmSide, jira_keys: set[str], missing: list[str], no_key: int, listed: int,
    as_mapped: set[str] = frozenset(),
) -> dict[str, Any]:
    """The report's counts, first keys and notes for a record import (before the stale
    sample); ``_missing`` holds every truly missing key for the cache check. ``as_mapped``:
    keys whose record maps to the removal value (their cards are not wrongly removed)."""
    removal = task.removal
    owned, meanwhile = _owned_elsewhere(task, esm, missing) if missing else (set(), set())
    truly_missing = [k for k in missing if k not in owned and k not in meanwhile]
    not_in_jira = sum(1 for k in side.active if k not in jira_keys)
    wrongly = [k for k in side.removed if k in jira_keys and k not in side.active and k not in as_mapped]
    dup_cards = sum(n - 1 for n in side.duplicates.values())
    report: dict[str, Any] = {
        "task": task.name,
        "mapping_type": task.mapping_type,
        "mode": task.mode,
        "jira_records": len(jira_keys),
        "jira_records_without_key": no_key,
        "esm_cards": side.cards,
        "esm_active_cards": side.active_cards,
        "esm_removed_cards": side.removed_cards,
        "esm_cards_without_key": side.without_key_count,
        "esm_cards_without_key_ids": side.without_key,
        "missing_in_esm": len(truly_missing),
        "missing_in_esm_keys": truly_missing[:listed],
        "owned_by_other_task": len(owned),
        "owned_by_other_task_keys": sorted(owned)[:listed],
        "not_in_jira": not_in_jira,
        "not_in_jira_keys": heapq.nsmallest(listed, (k for k in side.active if k not in jira_keys)),
        "wrongly_removed": len(wrongly),
        "wrongly_removed_keys": sorted(wrongly)[:listed],
        "duplicate_keys": len(side.duplicates),
        "duplicate_cards": dup_cards,
        "duplicate_key_examples": sorted(side.duplicates)[:listed],
        "notes": [],
        "_missing": truly_missing,
    }
    notes: list[str] = report["notes"]
    if removal is None and not_in_jira:
        notes.append(
            f"{not_in_jira} active card(s) are no longer selected in Jira; this task does not mark removed "
            f"records ({'incremental import' if task.mode != 'full' else 'removed: false'}), so that is expected."
        )
    if owned:
        notes.append(
            f"{len(owned)} Jira record(s) have a card that is not stamped with this task's id (another task wrote "
            f"it last and owns it, or it was made by hand), so they are not counted as missing."
        )
    if meanwhile:
        notes.append(
            f"{len(meanwhile)} Jira record(s) got a card of this task while the reconciliation ran (an import "
            f"was writing), so they are not counted as missing."
        )
    if as_mapped:
        notes.append(
            f"{len(as_mapped)} card(s) hold {removal.attribute} = {removal.value} because the task maps their Jira "
            f"record to it, as the import writes it; they are not counted as wrongly removed."
        )
    if no_key:
        notes.append(
            f"{no_key} Jira record(s) have no value at the key path '{task.record_key_path}' (an import refuses them)."
        )
    if side.without_key_count:
        notes.append(f"{side.without_key_count} card(s) of this task have no {task.key.esm}; nothing can match them.")
    return report


def _stale_sample(
    task: Any,
    jira: JiraApi,
    esm: EsmApi,
    state: StateApi | None,
    sample: list[dict[str, Any]],
    *,
    settings: Any,
    listed: int,
    notes: list[str],
    lg: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {"stale": 0, "stale_sampled": 0, "stale_examples": [], "stale_unmappable": 0}
    if not sample:
        return out
    from .load import ReferenceResolver, lookup_cards

    key_attr = task.key.esm
    attributes = task.effective_attributes
    apply = compile_attributes(attributes, options=task.mapping_options(settings))
    drop_hidden = hidden_email_attributes(task)  # what the import leaves as it is: not compared
    records = _complete_sample(task, jira, sample)
    gone = len(sample) - len(records)
    if gone:
        notes.append(f"{gone} sampled record(s) could not be read again from Jira (changed meanwhile); not compared.")
    mapped: dict[str, dict[str, Any]] = {}
    for key, record in records.items():
        try:
            data = apply(record)
        except MappingError as exc:
            out["stale_unmappable"] += 1
            lg.warning("Sampled record %s cannot be mapped (an import would refuse it too): %s", key, exc)
            continue
        if drop_hidden is not None:
            drop_hidden(record, data)
        data[key_attr] = key
        mapped[key] = data
    # what the import's diff step would compare: the transform fingerprint (references as keys)
    cached = state.get_fingerprints(task.name, list(mapped)) if state is not None else {}
    target = write_target(task)
    cards = lookup_cards(esm, task.template, key_attr, list(mapped), list(attributes))
    resolver = ReferenceResolver(esm)
    resolver.prefetch(ref for data in mapped.values() for ref in _references(data))
    unresolved = 0
    stale_cached = 0
    for key, data in mapped.items():
        card = cards.get(key)
        if card is None:
            continue  # deleted meanwhile
        expected: dict[str, list[str]] = {}
        actual: dict[str, list[str]] = {}
        has_missing = False
        try:
            for name in (n for n in attributes if n in data):
                expected[name], absent = _expected(data.get(name), resolver)
                has_missing = has_missing or bool(absent)
                actual[name] = _values(card.values(name))
        except TypeError as exc:  # a value ESM cannot take (the load step would refuse it too)
            out["stale_unmappable"] += 1
            lg.warning("Sampled record %s has a value that cannot be sent to ESM: %s", key, exc)
            continue
        out["stale_sampled"] += 1
        unresolved += has_missing
        if fingerprint(expected) == fingerprint(actual):
            continue
        out["stale"] += 1
        if cached.get(key) == cached_fingerprint(fingerprint(data), target):
            stale_cached += 1
        if len(out["stale_examples"]) < listed:
            out["stale_examples"].append({
                "key": key, "card_id": card.data_card_id,
                "attributes": [n for n in expected if expected[n] != actual[n]],
            })
    out["stale_examples"].sort(key=lambda e: e["key"])
    if state is not None:
        out["stale_but_cached"] = stale_cached
        if stale_cached:
            notes.append(
                f"{stale_cached} stale card(s) match the task cache, so the next import does not rewrite them: "
                f"run the task once with clear_cache = true (or wait for the next scheduled cache clear)."
            )
    if unresolved:
        notes.append(
            f"{unresolved} sampled record(s) reference cards that do not exist yet; those references were compared "
            f"without the missing cards, as the import writes them (and retries them next run)."
        )
    if out["stale_unmappable"]:
        notes.append(f"{out['stale_unmappable']} sampled record(s) could not be mapped and were not compared.")
    return out
