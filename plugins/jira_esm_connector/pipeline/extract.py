"""Extract: read what the task selects from Jira and stage it page by page.

* generic imports list the ids the task's JQL selects (``POST /rest/api/3/search/jql``
  with ``fields: ["id"]``, up to 5,000 per page) and read the records in parallel through
  ``POST /rest/api/3/issue/bulkfetch`` (the task's ``page_size`` per request, at most what the
  client finds Jira grants: 1,000 with named single-value fields, else 100;
  at most ``concurrency`` requests at once), staging each answer as a page as it arrives;
* a *full* generic run stages the issues unchanged since ESM accepted them as keys only,
  without reading them (they count as fetched; see :mod:`.carry`);
* user imports list ``/rest/api/3/users/search`` one page after the other: it is offset
  paging with no total and an unknown server cap, so offsets guessed in parallel could
  skip users (see :func:`_iter_user_records`);
* group imports list ``/rest/api/3/group/bulk`` and, when the mapping needs them, each
  group's members (``/rest/api/3/group/member``, several groups in parallel) into the
  record as ``members``; a group whose member listing holds more records with the account id
  'unknown' than the last successful run wrote it with (they name no one: Jira's fallback
  record of a member its directory could not give looks so) is staged as its key alone, so its
  card is left as it is that run (:func:`_with_members`, logged; ``allow_member_removal`` lets
  it through and makes its count the baseline);
* comment imports run the JQL and page every selected issue's comments, several issues in
  parallel (``expand=properties``, so comments the connector pushed to Jira are recognised
  and skipped: no ping-pong). Each comment becomes one record with its issue under ``issue``.

Each staged page is also mapped ahead of the transform step (:class:`.transform.TransformAhead`):
extract mostly waits on Jira's rate limit, and transform then only checks and gates what was
mapped. Nothing goes wrong in extract because of it: a failure there only loses the head start.

Exactly once: the listing may return an issue twice (it is ordered by ``updated``, and an
issue changed while the listing pages moves behind the cursor), so ids are de-duplicated
across listing pages; an issue deleted between the listing and its bulk fetch is not
staged (the count is logged); neither is a comment deleted before its origin property is
read on its own (when the listing did not embed it), nor a group deleted before its members
are read (both logged). User, group and comment records are de-duplicated by key.

Incremental imports add ``updated >= <watermark - overlap, in epoch ms>`` to the JQL (see
:mod:`.watermark`); the new watermark *candidate* is the largest ``updated`` seen in the
data, never the wall clock, and is only stored by :func:`..finish.finish` when the whole
run succeeded. For generic imports it is the newest ``updated`` *the search showed* just
before the listing began (the same JQL ordered newest first, one issue: one request; the
listing then pages ids alone, 5,000 per page, not 100 as with ``updated`` in its fields):
never taken from the hydrated records, which are read later -- a record changed after the
listing would otherwise push the watermark past changes the listing never saw.

A project key change does not move its issues' ``updated``: an incremental generic import
keyed by the issue key also lists, once, the task's issues in a project whose key changed since
it wrote cards under the old key (:func:`_renamed_projects`), so their cards are re-keyed.

Incremental generic imports also fetch again the task's *pending* records -- saved earlier
without some references because the referenced card did not exist yet (see
:mod:`.load`) -- so they are retried until the references resolve, although Jira reports
no change for them. They are read by key through ``POST /rest/api/3/issue/bulkfetch``
(as many per request as for the search, in parallel, the search's fields), never through ``key in (...)`` in the JQL, which
fails the whole search in Jira as soon as one key no longer exists. Pending keys Jira no
longer has are dropped from the list (and logged). Re-fetched records do not move the
watermark: they were read after the search, and a change they carry could otherwise hide
changes the search did not see.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ..http.errors import MalformedResponseError
from ..jira.jql import jql_list
from ..http.parallel import read_ahead
from ..mapping.dates import parse_jira_datetime
from ..markers import connector_comment_or_gone
from ..mapping.paths import get_path, path_head
from ..protocols import JiraApi, StateApi
from .carry import CarryPlan, index_lag, jira_clock, plan_carry, supersede_watermark, task_digest
from .diff import cache_clear_reason
from .event_objects import note_event_objects
from .finish import baseline_counts
from .results import ExtractResult, no_lease_check
from .staging import DatasetWriter, cell_text, location
from .transform import TransformAhead, record_key
from .watermark import NEWEST_FIRST, watermark_jql, watermark_since

__all__ = ["extract", "search_fields", "EXTRACT_COLUMNS"]

log = logging.getLogger("jira_esm_connector.pipeline")

EXTRACT_COLUMNS = ("key", "updated", "record")


def search_fields(task: Any) -> list[str]:
    """The Jira fields a generic import needs: every ``fields.<id>`` its mapping reads.

    A template (which may read any field) makes the search ask for ``*all`` (the task model
    refuses paths outside ``key``/``id``/``fields``); ``updated`` is always fetched (watermark).
    """
    paths: list[str] = [task.record_key_path]
    for spec in task.effective_attributes.values():
        paths.extend(spec.sources())
        for tmpl in spec.templates():
            paths.append("*")  # templates may read anything
    needed = {"updated"}
    for path in paths:
        head, rest = path_head(path), path.partition(".")[2]
        if head in ("key", "id", "self"):
            continue
        if head == "fields" and rest:
            needed.add(path_head(rest))
        else:
            return ["*all"]
    return sorted(needed)


def _page_size(task: Any, default: int) -> int:
    return int(task.page_size or default)


def _updated(record: dict[str, Any], path: str) -> str | None:
    value = get_path(record, path)
    return str(value) if value not in (None, "") else None


class _Staged:
    """Writes extracted records page by page, tracking keys and the newest ``updated``."""

    def __init__(
        self, path: Path, key_path: str, updated_path: str | None, watched: set[str] | None = None,
        *, dedupe_keys: bool = False, ahead: TransformAhead | None = None, logger: Any = log,
        guard: Callable[[], None] | None = None,
    ) -> None:
        self.guard = guard or no_lease_check  # raises once the run's lease is lost: stage no more
        self.writer = DatasetWriter(path, EXTRACT_COLUMNS)
        self.ahead = ahead  # maps each page as it is staged (pipeline/transform.py)
        self.log = logger
        self.key_path = key_path
        self.updated_path = updated_path
        self.max_updated: datetime | None = None
        self.missing_key: list[str] = []
        self.watched = watched or set()  # pending keys: which of them the search returned
        self.seen_watched: set[str] = set()
        # keys staged so far, for listings that may repeat a record (offset paging);
        # generic imports de-duplicate by issue id before fetching instead
        self.staged_keys: set[str] | None = set() if dedupe_keys else None
        self.repeated = 0
        self.carried = 0

    def note_updated(self, value: Any) -> None:
        """Count one ``updated`` value toward the watermark candidate."""
        moment = parse_jira_datetime(str(value)) if value not in (None, "") else None
        if moment is not None and (self.max_updated is None or moment > self.max_updated):
            self.max_updated = moment

    def add_carried(self, keys: list[str]) -> None:
        """Stage keys listed but not read again (see :mod:`.carry`): a row without a record,
        counted as fetched; transform passes over it, mark_removed sees its key."""
        if keys:
            self.guard()
            self.carried += len(keys)
            self.writer.write_page([{"key": key, "updated": None, "record": None} for key in keys])

    def add_page(self, records: list[dict[str, Any]], *, moves_watermark: bool = True) -> None:
        self.guard()
        rows = []
        for record in records:
            key = record_key(record, self.key_path)
            if key is None:
                # never dropped silently: the run fails in transform, naming the record
                self.missing_key.append(str(record.get("key") or record.get("id") or record.get("accountId") or "?"))
            elif self.staged_keys is not None and key in self.staged_keys:
                self.repeated += 1  # the listing returned it twice: staged once
                continue
            elif self.staged_keys is not None:
                self.staged_keys.add(key)
            if key is not None and key in self.watched:
                self.seen_watched.add(key)
            updated = _updated(record, self.updated_path) if self.updated_path else None
            if updated and moves_watermark:
                self.note_updated(updated)
            # the JSON text the dataset holds: what transform reads back, mapped ahead from the same
            rows.append({"key": key, "updated": updated, "record": cell_text(record)})
        self.writer.write_page(rows)
        if self.ahead is not None:
            try:
                self.ahead.add_page(rows)
            except Exception as exc:  # noqa: BLE001 - only a head start: transform maps everything
                self._drop_ahead(exc)

    def _drop_ahead(self, exc: Exception) -> None:
        self.ahead = None
        _head_start_lost(self.log, exc)

    def close(self) -> Any:
        """Close the dataset (and the records mapped ahead of transform); the dataset."""
        self.guard()
        dataset = self.writer.close()
        if self.ahead is not None:
            try:
                self.ahead.close(str(dataset.path), self.writer.rows)
            except Exception as exc:  # noqa: BLE001 - as above
                self._drop_ahead(exc)
        return dataset


@dataclass
class _UnnamedMembers:
    """A group import's records of members Jira could not name (account id 'unknown'), per
    group (by ``groupId``, else name): ``baseline``, as many as the last successful run wrote
    the group with; ``allow``: the run's ``allow_member_removal``; ``held``: the groups not
    written this run, with their count; ``written``: the counts of the groups written with
    such records (the next run's baseline; a held group keeps its old one)."""

    baseline: dict[str, int]
    allow: bool = False
    held: list[tuple[dict[str, Any], int]] = field(default_factory=list)
    written: dict[str, int] = field(default_factory=dict)

    def next_baseline(self) -> dict[str, int]:
        kept = {gid: self.baseline[gid] for gid in (_group_id(g) for g, _ in self.held) if gid in self.baseline}
        return {**kept, **self.written}


def _group_id(group: Mapping[str, Any]) -> str:
    return str(group.get("groupId") or group.get("name"))


def _unnamed_baseline(state: StateApi, task: Any) -> dict[str, int]:
    """Per group, the records with the account id 'unknown' the last successful run wrote it
    with (none recorded: none) -- as for the user import's limit (removal.py)."""
    noted = baseline_counts(state, task.name).get("unnamed_members")
    return {str(k): int(v) for k, v in noted.items()} if isinstance(noted, dict) else {}


def _iter_group_records(
    jira: JiraApi, task: Any, unnamed: _UnnamedMembers,
) -> Iterator[list[dict[str, Any]]]:
    """Pages of group records; ``unnamed.held`` gets the groups not written this run (:func:`_with_members`)."""
    size = _page_size(task, 50)
    listing_page = min(size, 50)
    groups = jira.iter_groups(page_size=listing_page)
    if task.fetch_members:
        # the group listing runs a page ahead of the member reads, as the issue listings do
        groups = read_ahead(groups, depth=listing_page, name="jira-listing")
        # members of several groups in parallel, each group's record complete when it arrives
        records: Iterator[dict[str, Any]] = _with_members(jira, groups, unnamed)
    else:
        records = (dict(group) for group in groups)
    page: list[dict[str, Any]] = []
    for record in records:
        page.append(record)
        if len(page) >= size:
            yield page
            page = []
    if page:
        yield page


def _with_members(
    jira: JiraApi, groups: Iterable[dict[str, Any]], unnamed: _UnnamedMembers,
) -> Iterator[dict[str, Any]]:
    """Each group's record with its ``members``; a group deleted after the listing is not
    staged (logged), as an issue deleted before its bulk fetch. A group whose member listing
    held more records with the account id 'unknown' than the last successful run wrote it
    with goes to ``unnamed.held`` with their count instead: such a record names no one --
    Jira's fallback record of a user its directory could not give (an outage) looks so, and
    that person is still a member --, so the members listed are not the group's, and written
    over its card they would remove that person's access. As many as before (a corrupted
    record of a user deleted long ago), or the run's ``allow_member_removal``: written."""
    counts: dict[str, int] = {}
    for group, members in jira.iter_group_members_of(groups, unnamed=counts):
        if members is None:
            log.info("Jira group %s (%s) was deleted after the listing: not imported.",
                     group.get("groupId"), group.get("name"))
            continue
        gid = _group_id(group)
        left_out = counts.get(gid, 0)
        if left_out:
            if left_out > unnamed.baseline.get(gid, 0) and not unnamed.allow:
                unnamed.held.append((group, left_out))
                continue
            unnamed.written[gid] = left_out
        yield {**group, "members": members}


def _extract_groups(
    jira: JiraApi, task: Any, state: StateApi, staged: _Staged, stats: dict[str, int], lg: Any, allow: bool,
) -> dict[str, Any]:
    """Stage the groups (with their members when the mapping reads them); returns what the
    extract result adds: the next run's baseline of members Jira could not name, per group
    (``unnamed_members``, when members are read), and the groups not written this run
    (``groups_not_written``: staged as keys only -- fetched, neither transformed nor unchanged)."""
    unnamed = _UnnamedMembers(_unnamed_baseline(state, task), allow=allow)
    for records in _iter_group_records(jira, task, unnamed):
        stats["pages"] += 1
        staged.add_page(records)
    _stage_held_groups(staged, task, unnamed.held, lg)
    extras: dict[str, Any] = {"unnamed_members": unnamed.next_baseline()} if task.fetch_members else {}
    return {**extras, **({"groups_not_written": len(unnamed.held)} if unnamed.held else {})}


def _stage_held_groups(staged: _Staged, task: Any, held: list[tuple[dict[str, Any], int]], lg: Any) -> None:
    """Stage the groups :func:`_with_members` held as keys only: the run leaves their cards as
    they are (members and all: nothing is mapped or written for them, the task cache keeps
    what it had), while mark_removed sees their keys -- the groups are in Jira. Each is
    named in a warning; every run checks them again."""
    if not held:
        return
    keys: list[str] = []
    for group, _count in held:
        key = record_key(group, task.record_key_path)
        if key is None:  # staged as any keyless record: the run fails in transform, naming it
            staged.add_page([dict(group)])
        elif staged.staged_keys is None or key not in staged.staged_keys:
            keys.append(key)
            if staged.staged_keys is not None:
                staged.staged_keys.add(key)
    if keys:
        staged.guard()
        staged.writer.write_page([{"key": key, "updated": None, "record": None} for key in keys])
    lg.warning(
        "%d Jira group(s) are not written this run: their member listings hold more records with the account id "
        "'unknown' than the last successful run wrote them with; such a record names no one (Jira's fallback "
        "record of a user its directory could not give -- an outage -- looks so, and that person is still a "
        "member). Written with the members Jira could name, their cards would lose those people. Their cards keep "
        "what they have (members and all); the next run reads them again. If the records persist (a corrupted "
        "record of a deleted user), trigger the DAG once with the parameter allow_member_removal = true: later "
        "runs write the group while the count does not grow. Groups: %s",
        len(held), "; ".join(f"{group.get('groupId') or '-'} ({group.get('name')}): {count} such record(s)"
                             for group, count in held[:20]) + (f"; and {len(held) - 20} more" if len(held) > 20 else ""),
    )


def _iter_user_records(jira: JiraApi, task: Any) -> Iterator[list[dict[str, Any]]]:
    # One page after the other, the largest the endpoint gives: /users/search is offset
    # paging with no total and a server cap below what is asked, so offsets requested in
    # parallel would be guesses -- a page shorter than the guess leaves a gap no one reads.
    size = _page_size(task, 100)
    page: list[dict[str, Any]] = []
    for user in jira.iter_users(page_size=1000):
        page.append(user)
        if len(page) >= size:
            yield page
            page = []
    if page:
        yield page


def _iter_comment_records(
    jira: JiraApi, task: Any, jql: str, stats: dict[str, int], skipped: list[datetime],
) -> Iterator[list[dict[str, Any]]]:
    """The comments of the issues ``jql`` lists, a page at a time. ``skipped`` gets the
    ``updated`` of each listed issue Jira then had no more (404): an incremental watermark
    must not pass it -- an issue hidden for a moment (a permission changed back) is listed
    again by the next run."""
    size = _page_size(task, 100)
    out: list[dict[str, Any]] = []
    skip_marked = task.comments.skip_marked if task.comments is not None else True
    refs: dict[str, dict[str, Any]] = {}  # issues listed whose comments are not read yet
    listed: set[str] = set()

    def issue_keys() -> Iterator[str]:
        pages = jira.iter_search_pages(jql, fields=["summary", "updated"], page_size=min(size, 100))
        for page in read_ahead(pages, name="jira-listing"):  # a page ahead, as for generic imports
            stats["pages"] += 1
            for issue in page.issues:
                key = str(issue.get("key") or issue.get("id"))
                if str(issue.get("id") or key) in listed:
                    continue  # listed twice (changed while the listing paged): its comments once
                listed.add(str(issue.get("id") or key))
                refs[key] = {"id": issue.get("id"), "key": issue.get("key"), "fields": issue.get("fields") or {}}
                yield key

    for key, comments in jira.iter_comments_of(issue_keys(), expand_properties=True):
        issue_ref = refs.pop(key)
        if comments is None:
            # deleted: nothing to import (a worklog is only added to); hidden for a moment: the
            # watermark is held before it, and the next run reads its comments
            stats["gone"] += 1
            when = parse_jira_datetime(issue_ref["fields"].get("updated"))
            if when is not None:
                skipped.append(when)
            log.warning("Jira has no issue %s any more (deleted after the listing, or hidden from the account): its "
                        "comments are not imported.", key)
            continue
        for comment in comments:
            ours = connector_comment_or_gone(comment, jira, skip_marked)
            if ours is None:
                log.info("Jira comment %s of %s was deleted after the listing: not imported.", comment.get("id"), key)
                continue
            if ours:
                stats["skipped_connector_comments"] += 1
                continue
            # Jira leaves out the author of a comment whose account is gone (optional in the
            # contract): present and empty, a template reading author.displayName renders nothing
            record = {"author": None, "updateAuthor": None, **comment}
            record.pop("properties", None)
            record["issue"] = issue_ref
            out.append(record)
            if len(out) >= size:
                yield out
                out = []
    if out:
        yield out


def _issue_id(issue: dict[str, Any]) -> int | str:
    """An issue's id (the client checked the listing has one): an int when numeric (smaller
    in the de-duplication set at 500,000 issues), else the text."""
    ident = str(issue["id"]).strip()
    return int(ident) if ident.isdigit() and str(int(ident)) == ident else ident  # "0123" stays text


def _check_accounted(batch: list[str], issues: list[dict[str, Any]], not_found: list[str]) -> None:
    """Every id asked for came back, or the client found Jira cannot return it (deleted or
    hidden: answered in ``issueErrors``, or left out of the answer, which the client confirmed).
    An id the client could not account for (an answer holding an issue under an id not asked
    for) is not taken for deleted: a full import would mark its card removed."""
    returned = {str(i.get("id")) for i in issues} | set(not_found)
    silent = [i for i in batch if i not in returned]
    if silent:
        raise MalformedResponseError(
            f"Jira's answer to POST /rest/api/3/issue/bulkfetch left out {len(silent)} of {len(batch)} requested "
            f"issue(s) without an error for them (ids {', '.join(silent[:10])}); stopping rather than taking them "
            "for deleted. The run can be retried.",
            200, "Jira", method="POST", path="/rest/api/3/issue/bulkfetch",
        )


def _carried_of_page(
    issues: list[dict[str, Any]], task: Any, state: StateApi, plan: CarryPlan | None,
) -> dict[int | str, str]:
    """id -> record key of the issues of a listing page this full run need not read again
    (see :mod:`.carry`)."""
    if plan is None or not plan.active:
        return {}
    by_key = task.record_key_path == "key"
    keys = {}
    for issue in issues:
        ident = _issue_id(issue)
        keys[ident] = str(issue.get("key") or "") if by_key else str(ident)
    cached = state.get_fingerprints(task.name, [k for k in keys.values() if k])
    return {ident: key for ident, key in keys.items() if key and plan.may_carry(str(ident), key, key in cached)}


def _extract_generic(
    jira: JiraApi, task: Any, state: StateApi, jql: str, fields: list[str], staged: _Staged, stats: dict[str, int],
    lg: Any, *, newest_jql: str | None = None, plan: CarryPlan | None = None,
) -> set[int | str]:
    """List the JQL's ids, fetch the records in parallel and stage each answer as it arrives
    (a full run stages the issues it carries as keys only). Returns the ids listed (each
    fetched or carried once).

    ``newest_jql`` (incremental runs): the same JQL, newest change first. Its first issue's
    ``updated``, read before the listing starts, is the watermark candidate: the newest
    change the search index showed -- what the listing would have shown at most, read in one
    request, so that the listing pages ids alone (5,000 per page; with ``updated`` Jira pages
    by 100). A change indexed after that request is listed now and read again next run
    (harmless); one the index had not yet shown is below the candidate either way, and the
    overlap covers it as before."""
    from ..jira.client import BULK_FETCH_MAX

    if newest_jql is not None:
        newest = jira.newest_updated(newest_jql)
        staged.note_updated(newest)
        lg.info("Newest change the search shows before listing: %s (the watermark candidate).", newest or "none")

    # a batch is sent as soon as it holds what one request takes for these fields (1,000 or
    # 100): fuller batches would only hold requests back while the listing pages
    batch_size = min(_page_size(task, BULK_FETCH_MAX), jira.bulk_fetch_size(fields))
    listed: set[int | str] = set()
    with_key = plan is not None and plan.active and task.record_key_path == "key"

    def batches() -> Iterator[list[str]]:
        batch: list[str] = []
        # the listing runs a page ahead: read only when its ids ran out, each of its pages
        # would hold back the bulk fetches while it is on its way
        for page in read_ahead(jira.iter_issue_ids(jql, with_key=with_key), name="jira-listing"):
            stats["listing_pages"] += 1
            carried = _carried_of_page(page.issues, task, state, plan)
            carried_keys: list[str] = []
            for issue in page.issues:
                ident = _issue_id(issue)
                if ident in listed:
                    stats["listed_twice"] += 1
                    continue
                listed.add(ident)
                if ident in carried:
                    carried_keys.append(carried[ident])
                    continue
                batch.append(str(ident))
                if len(batch) >= batch_size:
                    yield batch
                    batch = []
            staged.add_carried(carried_keys)
        if batch:
            yield batch

    for batch, issues, not_found in jira.iter_hydrated(batches(), fields):
        stats["requests"] += 1
        _check_accounted(batch, issues, not_found)
        stats["gone"] += len(not_found)
        if issues:
            stats["pages"] += 1
            staged.add_page(issues, moves_watermark=False)
    lg.info(
        "Listed %d issue(s) in %d page(s)%s%s; fetched %s in %d bulk request(s), up to %d at once%s.",
        len(listed), stats["listing_pages"],
        f" ({stats['listed_twice']} listed twice, fetched once)" if stats["listed_twice"] else "",
        f"; {staged.carried} unchanged since ESM accepted them, not read again" if staged.carried else "",
        "the others" if staged.carried else "them", stats["requests"], getattr(jira, "concurrency", 1),
        f"; {stats['gone']} were deleted (or hidden) after the listing and are not staged" if stats["gone"] else "",
    )
    return listed


def _refetch_pending(
    jira: JiraApi, task: Any, state: StateApi, staged: _Staged, pending: list[str], fields: list[str], stats: dict[str, int], lg: Any,
    listed: set[int | str],
) -> None:
    """Stage the pending records the search did not return, read by key (bulkfetch, in
    parallel); an issue the listing had under another key (moved) is not staged twice."""
    todo = [k for k in pending if k not in staged.seen_watched]
    already = len(pending) - len(todo)
    if not todo:
        lg.info("All %d record(s) with pending references were in the search result already.", len(pending))
        return
    if task.record_key_path not in ("key", "id"):
        lg.warning(
            "%d record(s) wait for referenced cards, but they cannot be fetched by key (the task's key is %s, "
            "not the issue key or id): they are retried when they change in Jira. First keys: %s",
            len(todo), task.record_key_path, ", ".join(todo[:20]),
        )
        return
    from ..jira.client import BULK_FETCH_MAX

    gone: list[str] = []
    renamed: list[str] = []
    batches = (todo[first : first + BULK_FETCH_MAX] for first in range(0, len(todo), BULK_FETCH_MAX))
    for batch, issues, not_found in jira.iter_hydrated(batches, fields):  # one request per batch
        stats["pending_requests"] += 1
        # the search's fields, staged with its pages; none of these keys was in the search
        # result, and an issue it listed under another key is already staged
        fresh = [i for i in issues if _issue_id(i) not in listed]
        listed.update(_issue_id(i) for i in fresh)
        staged.add_page(fresh, moves_watermark=False)
        stats["pending_refetched"] += len(fresh)
        returned = {str(i.get("key")) for i in issues} | {str(i.get("id")) for i in issues}
        gone += [k for k in batch if k in not_found]
        renamed += [k for k in batch if k not in returned and k not in not_found]
    dropped = gone + renamed
    if dropped:
        # nothing left to retry under these keys: a moved issue comes back under its new key
        state.delete_pending(task.name, dropped)
    if gone:
        lg.warning(
            "%d record(s) with pending references no longer exist in Jira (deleted, or not visible to the "
            "connector's account) and are no longer retried: %s",
            len(gone), ", ".join(gone[:20]) + (" ..." if len(gone) > 20 else ""),
        )
    if renamed:
        lg.warning(
            "%d record(s) with pending references were not returned under their key (a moved issue comes back "
            "under its new key and is retried under that one) and are no longer retried under the old key: %s",
            len(renamed), ", ".join(renamed[:20]) + (" ..." if len(renamed) > 20 else ""),
        )
    lg.info(
        "Fetched again %d record(s) whose references were pending, by key in %d bulk request(s)%s.",
        stats["pending_refetched"], stats["pending_requests"],
        f"; {already} more were in the search result already" if already else "",
    )


def extract(
    task: Any,
    jira: JiraApi,
    state: StateApi,
    run_path: str | Path,
    *,
    settings: Any = None,
    default_clear_hours: list[int] | None = None,
    clear_cache: bool = False,
    now: datetime | None = None,
    logger: logging.Logger | logging.LoggerAdapter | None = None,
    guard: Callable[[], None] | None = None,
    allow_member_removal: bool = False,
) -> ExtractResult:
    """Fetch the task's records from Jira into ``<run_path>/extract/``.

    ``allow_member_removal`` (group imports, the run's parameter): a group whose member listing
    holds more records Jira could not name than before is written all the same.

    ``guard`` is called before each page is staged (and before the dataset is closed): the
    run lease's :meth:`~..state.lease.RunLease.check`, which raises once this attempt no
    longer holds the task -- another attempt may be staging the same folder.

    Returns ``{"dataset", "fetched", "pages", "jql", "watermark_used",
    "watermark_candidate", "skipped_connector_comments", "pending_refetched",
    "missing_keys", "carried", "sync_since", "sync_start", "sync_digest"}`` (ISO strings, small lists
    only). ``fetched`` includes the pending records fetched again by key and the issues a
    full run carried (:mod:`.carry`: listed, unchanged since ESM accepted them, not read
    again); ``clear_cache`` / ``default_clear_hours`` are diff's, so a run that clears
    the cache carries nothing.
    """
    lg = logger or log
    plan = None
    if task.mapping_type in ("generic", "comment"):
        supersede_watermark(task, state, settings)
    if task.mapping_type == "generic":
        clear_due = task.mode == "full" and cache_clear_reason(
            task, state, default_clear_hours=default_clear_hours, force=clear_cache, now=now,
        ) is not None
        plan = plan_carry(task, jira, state, settings=settings, clear_due=clear_due, logger=lg)
    return _extract(task, jira, state, location(run_path), plan, lg, settings, guard, allow_member_removal)


def _incremental_start(task: Any, state: StateApi, settings: Any, lg: Any) -> tuple[datetime | None, str]:
    """``(watermark to fetch from, or None: everything; the task's digest)``. A watermark
    reached under another digest of the task is not used: issues the task now selects or maps
    differently have not changed in Jira since, and would never be fetched."""
    watermark = state.get_watermark(task.name)
    digest = task_digest(task, settings)
    recorded = state.get_watermark_digest(task.name) if watermark is not None else None
    if watermark is not None and recorded is not None and recorded != digest:
        lg.warning(
            "Task '%s' changed since its watermark %s (UTC) was reached: its task file (JQL, mapping or "
            "another setting), the date settings or the connector's version. This run fetches everything "
            "the JQL selects, so issues it now selects or maps differently reach ESM; records ESM already "
            "holds unchanged are not written again.", task.name, watermark.isoformat(),
        )
        return None, digest
    return watermark, digest


def _incremental_jql(
    task: Any, jira: JiraApi, state: StateApi, watermark: datetime | None, jql: str, lg: Any,
) -> tuple[str, dict[str, str]]:
    """(an incremental run's JQL -- ``jql``, everything, when there is no ``watermark`` yet --,
    the projects whose key changed it lists in full: :func:`_renamed_projects`)."""
    if watermark is None:
        lg.info("Incremental task '%s' has no watermark yet: this first run fetches everything.", task.name)
        return jql, {}
    renamed = _renamed_projects(task, jira, state, lg)
    lg.info(
        "Incremental run from watermark %s (UTC): fetching what changed since %s (UTC, overlap %d min).",
        watermark.isoformat(), watermark_since(watermark, task.overlap_minutes).isoformat(), task.overlap_minutes,
    )
    # epoch milliseconds: no time zone, no ambiguous hour at the clock change
    return watermark_jql(task.jql, watermark, task.overlap_minutes, also=(
        f"project in {jql_list(sorted(renamed.values()))}" if renamed else None)), renamed


def _renamed_projects(task: Any, jira: JiraApi, state: StateApi, lg: Any) -> dict[str, str]:
    """``{old key: key now}`` of the projects whose key changed in Jira since the task wrote
    issues under the old one, and which no successful run listed in full since (incremental
    imports keyed by the issue key). A key change does not move the issues' ``updated``: this
    run lists such a project in full once, so its cards are re-keyed now, not as each issue
    changes. One request for the project keys the task holds cards under that are still a
    project's key (50 a request), one more for each that is not (Jira answers to a former key)."""
    if task.mapping_type != "generic" or task.record_key_path != "key":
        return {}
    prefixes = state.key_prefixes(task.name)
    live = jira.live_project_keys(prefixes) if prefixes else set()
    now = {old: jira.project_key(old) for old in prefixes if old not in live}
    listed = state.renamed_projects_listed(task.name)
    renamed = {old: new for old, new in now.items() if new and new != old and (old, new) not in listed}
    for old, new in renamed.items():
        lg.warning("Project %s is now %s in Jira (its key changed; the issues' 'updated' did not): this run also "
                   "lists the task's issues in %s whatever their change time, once, so their cards take the new "
                   "keys.", old, new, new)
    return renamed


def _head_start_lost(lg: Any, exc: Exception) -> None:
    lg.warning("Could not map the records while extracting them (%s); the transform step maps them.", exc)


def _ahead_of_transform(task: Any, settings: Any, run_path: Any, lg: Any) -> TransformAhead | None:
    try:
        return TransformAhead(task, settings, run_path)
    except Exception as exc:  # noqa: BLE001 - only a head start: transform maps everything
        _head_start_lost(lg, exc)
        return None


_CLOCK_UNREAD = object()  # an incremental run could not read Jira's clock


def _index_settled_until(jira: JiraApi, settings: Any, lg: Any) -> Any:
    """Jira's clock before an incremental run's listing, less how long its search index may lag
    (``JIRA_ESM_INDEX_LAG_SECONDS``, default 60): the listing has shown every change made up to
    then. A newer change it shows may have overtaken an older one the index has not caught up
    with, which the next run's ``updated >=`` would then leave behind for good (the overlap is a
    minute). :data:`_CLOCK_UNREAD` when Jira's clock cannot be read."""
    try:
        moment = jira_clock(jira)
    except Exception as exc:  # noqa: BLE001 - the watermark is held instead
        lg.warning("Could not read Jira's server time (%s): the watermark is not moved this run.", exc)
        return _CLOCK_UNREAD
    if moment is None:
        lg.warning("Jira's serverInfo gave no serverTime: the watermark is not moved this run.")
        return _CLOCK_UNREAD
    return moment - index_lag(settings)


def _unless_clock_went_back(
    task: Any, watermark: datetime | None, settled_until: Any, settings: Any, lg: Any,
) -> datetime | None:
    """The watermark an incremental run fetches from: None (everything) when Jira's clock now
    is earlier than the watermark. A watermark never passes Jira's clock (it is held at the
    clock less the index lag), so the clock went back since it was stored (a wrong server
    clock corrected): changes made since carry earlier ``updated`` stamps than the watermark,
    and fetching from it would leave them behind for good (the watermark never moves back)."""
    if watermark is None or not isinstance(settled_until, datetime):
        return watermark
    clock = settled_until + index_lag(settings)
    if clock >= watermark:
        return watermark
    lg.warning(
        "Jira's clock says %s (UTC), earlier than task '%s''s watermark %s: Jira's clock went back since the "
        "watermark was stored, and changes made since carry earlier times. This run fetches everything the JQL "
        "selects; records ESM already holds unchanged are not written again.",
        clock.isoformat(), task.name, watermark.astimezone(timezone.utc).isoformat(),
    )
    return None


def _watermark_candidate(
    task: Any, newest: datetime | None, watermark_used: datetime | None, gone: int, lg: Any,
    settled_until: Any = None,
) -> datetime | None:
    """The watermark an incremental run may store: the newest change staged, not before the
    one it used, nor after ``settled_until`` (:func:`_index_settled_until`; None: no cap)."""
    if settled_until is _CLOCK_UNREAD:
        return watermark_used
    if settled_until is not None and newest is not None and newest > settled_until:
        lg.info("The watermark candidate is held at %s (Jira's clock before the listing less the search index's lag) "
                "rather than the newest change listed, %s: a change the index has not shown yet may be older.",
                settled_until.isoformat(), newest.astimezone(timezone.utc).isoformat())
        newest = settled_until
    if newest is None or (watermark_used is not None and newest < watermark_used):
        newest = watermark_used  # nothing new: the watermark stays where it was
    if task.mapping_type == "generic" and task.mode == "incremental" and gone:
        # listed, then not returned by the bulk fetch: deleted, or hidden from the account for
        # a moment. The listing read ids only, so when each changed is unknown: a watermark
        # moved past them would leave a hidden one's change behind for good
        lg.warning(
            "%d listed issue(s) were not returned when read (deleted, or hidden for a moment): the watermark "
            "stays at %s so the next run lists them again.", gone,
            watermark_used.astimezone(timezone.utc).isoformat() if watermark_used else "none (the next run reads everything)",
        )
        return watermark_used
    return newest


def _extract(
    task: Any, jira: JiraApi, state: StateApi, run_path: Any, plan: CarryPlan | None, lg: Any, settings: Any = None,
    guard: Callable[[], None] | None = None, allow_member_removal: bool = False,
) -> ExtractResult:
    """:func:`extract` once the full run's carry plan is made (``None``: read everything)."""
    skipped: list[datetime] = []  # comment imports: the updated of listed issues gone when read
    stats = {
        "pages": 0, "skipped_connector_comments": 0, "pending_refetched": 0, "pending_requests": 0,
        "listing_pages": 0, "listed_twice": 0, "requests": 0, "gone": 0,
    }
    jql: str | None = None
    renamed: dict[str, str] = {}  # incremental: projects whose key changed, listed in full once
    watermark_used: datetime | None = None
    watermark_digest: str | None = None  # incremental runs: the task digest the watermark is reached under
    kind = task.mapping_type
    updated_path = {"generic": "fields.updated", "comment": "issue.fields.updated"}.get(kind)
    # Full imports fetch every record anyway; incremental ones must ask for the pending ones.
    pending: list[str] = state.pending_keys(task.name) if kind == "generic" and task.mode == "incremental" else []
    staged = _Staged(run_path / "extract", task.record_key_path, updated_path, set(pending), dedupe_keys=kind != "generic",
                     ahead=_ahead_of_transform(task, settings, run_path, lg), logger=lg, guard=guard)

    settled_until: Any = None
    group_extras: dict[str, Any] = {}  # group imports: see _extract_groups
    if kind in ("generic", "comment"):
        jql = watermark_jql(task.jql, None)  # the task's JQL with the connector's ordering
        if task.mode == "incremental":
            watermark_used, watermark_digest = _incremental_start(task, state, settings, lg)
            settled_until = _index_settled_until(jira, settings, lg)  # before the listing begins
            watermark_used = _unless_clock_went_back(task, watermark_used, settled_until, settings, lg)
            jql, renamed = _incremental_jql(task, jira, state, watermark_used, jql, lg)
        lg.info("JQL: %s", jql)
        if kind == "generic":
            fields = search_fields(task)
            # incremental: the same selection, newest change first (the watermark candidate)
            newest_jql = (watermark_jql(task.jql, watermark_used, task.overlap_minutes, order=NEWEST_FIRST)
                          if task.mode == "incremental" else None)
            listed = _extract_generic(jira, task, state, jql, fields, staged, stats, lg, newest_jql=newest_jql, plan=plan)
            if pending:
                _refetch_pending(jira, task, state, staged, pending, fields, stats, lg, listed)
        else:
            incremental = task.mode == "incremental"
            if incremental:
                # as for generic imports: the watermark candidate is the newest change the search
                # shows *before* the listing starts; the listing's later pages show changes made
                # after earlier issues' comments were read, which must not move it
                staged.note_updated(jira.newest_updated(
                    watermark_jql(task.jql, watermark_used, task.overlap_minutes, order=NEWEST_FIRST)))
            for records in _iter_comment_records(jira, task, jql, stats, skipped):
                staged.add_page(records, moves_watermark=not incremental)
    elif kind == "user":
        unnamed_before = getattr(jira, "unnamed_users_left_out", 0)
        for records in _iter_user_records(jira, task):
            stats["pages"] += 1
            staged.add_page(records)
        stats["unnamed_users"] = getattr(jira, "unnamed_users_left_out", 0) - unnamed_before
    elif kind == "group":
        group_extras = _extract_groups(jira, task, state, staged, stats, lg, allow_member_removal)
    else:  # pragma: no cover - the task model refuses other kinds
        raise ValueError(f"unknown mapping_type {kind!r}")

    if kind != "comment":
        # after the listing: an object it shows was created after its event's claim
        note_event_objects(task, jira, state, lg)
    if staged.repeated:
        lg.info("The listing returned %d record(s) twice (it changed while it was paged); each is staged once.", staged.repeated)
    dataset = staged.close()
    candidate = _watermark_candidate(task, staged.max_updated, watermark_used, stats["gone"], lg, settled_until)
    result: ExtractResult = {
        "dataset": str(dataset.path),
        "fetched": staged.writer.rows,
        "pages": stats["pages"],
        "jql": jql,
        "watermark_used": watermark_used.astimezone(timezone.utc).isoformat() if watermark_used else None,
        "watermark_candidate": candidate.astimezone(timezone.utc).isoformat() if candidate else None,
        "watermark_digest": watermark_digest,
        "skipped_connector_comments": stats["skipped_connector_comments"],
        "pending_refetched": stats["pending_refetched"],
        "missing_keys": staged.missing_key[:20],
        "missing_key_count": len(staged.missing_key),
        "carried": staged.carried,
        "sync_since": plan.since.isoformat() if plan is not None else None,
        "sync_start": plan.start.isoformat() if plan is not None else None,
        "skipped_oldest_updated": min(skipped).astimezone(timezone.utc).isoformat() if skipped else None,
        "sync_digest": plan.digest if plan is not None else None,
        "renamed_projects": renamed,
    }
    if kind == "user":
        result["unnamed_users"] = stats["unnamed_users"]
    result.update(group_extras)  # type: ignore[typeddict-item]
    lg.info(
        "Extracted %d %s record(s) in %d page(s)%s; new watermark candidate: %s.",
        result["fetched"], kind, result["pages"],
        f", skipped {stats['skipped_connector_comments']} comment(s) the connector pushed itself"
        if stats["skipped_connector_comments"] else "",
        result["watermark_candidate"] or "none",
    )
    if kind == "comment" and stats["gone"]:
        lg.warning("%d listed issue(s) were gone from Jira when their comments were read: not imported.", stats["gone"])
    return result
