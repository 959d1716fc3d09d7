"""The typed hand-offs between the import steps (and the reconciliation's report).

Each step returns one of these. They are ``TypedDict``s: at run time plain dicts, so
Airflow stores them in XCom as JSON unchanged and a step reads what the one before it
returned -- paths of staged files and counts, never records.

    extract -> ExtractResult -> transform -> TransformResult -> diff -> DiffResult
    -> load -> LoadResult [-> mark_removed -> RemovalResult] -> finish -> RunSummary
"""
from __future__ import annotations

from typing import NotRequired, TypedDict

__all__ = [
    "no_lease_check",
    "ExtractResult",
    "TransformResult",
    "DiffResult",
    "RefusedRecord",
    "LoadResult",
    "RemovalResult",
    "RunSummary",
    "StaleExample",
    "ReconcileReport",
]


def no_lease_check() -> None:
    """The ``guard`` of a step called without the run's lease (a test, a load with nothing
    to write): checks nothing. With the lease, a step's ``guard`` is its check, which raises
    once another attempt took the task over (:meth:`..state.lease.RunLease.check`)."""


class ExtractResult(TypedDict):
    dataset: str  # the staged extract (a folder of Parquet pages)
    fetched: int  # includes the pending records fetched again by key
    pages: int
    jql: str | None
    watermark_used: str | None  # ISO, UTC
    watermark_candidate: str | None  # ISO, UTC: the newest ``updated`` seen
    watermark_digest: str | None  # incremental runs: the task's digest (pipeline/carry.task_digest)
    skipped_connector_comments: int
    pending_refetched: int
    missing_keys: list[str]  # first 20 records without a key
    missing_key_count: int
    carried: int  # full runs: listed, unchanged since ESM accepted them, not read again (in ``fetched``)
    sync_since: str | None  # full generic runs: Jira's time before the listing (ISO, UTC)
    sync_start: str | None  # ... the next full run's "changed since" (no later than the newest change shown)
    skipped_oldest_updated: str | None  # comment imports: issues gone when read; a watermark must not pass it
    sync_digest: str | None  # ... and the task's mapping digest (pipeline/carry.py)
    renamed_projects: NotRequired[dict[str, str]]  # incremental: old project key -> new, listed in full once
    unnamed_users: NotRequired[int]  # user imports: records with the account id 'unknown' left out
    # group imports: per group, the records with the account id 'unknown' it is written with (the
    # next run's baseline), and the groups not written this run for having more of them
    unnamed_members: NotRequired[dict[str, int]]
    groups_not_written: NotRequired[int]


class TransformResult(TypedDict):
    dataset: str
    transformed: int
    quality_checked: bool
    carried: int  # extract's ``carried`` (not transformed): diff clears no cache by clock after a carry


class _DiffCounts(TypedDict):
    dataset: str  # only the new and changed records
    changed: int
    unchanged: int
    cache_cleared: bool


class DiffResult(_DiffCounts, total=False):
    # group imports: the members the unchanged groups list (the load's membership limit)
    unchanged_memberships: int | None


class RefusedRecord(TypedDict):
    key: str
    reason: str
    updated: str | None


class _LoadCounts(TypedDict):
    created: int
    updated: int
    refused: int
    refused_records: list[RefusedRecord]  # the first 100


class LoadResult(_LoadCounts, total=False):
    """Record imports fill every key; comment imports have ``already_present`` instead of
    ``already_loaded`` / ``reactivated`` / ``references_resolved``; a run with nothing
    changed only the four counts of :class:`_LoadCounts`."""

    kept_disabled: int
    reactivated: int
    rekeyed: int  # cards of moved Jira issues given their new key (counted in ``updated``)
    # written, then held pending: an event wrote the card after the look-up (the next run re-keys it)
    held_for_rekey: int
    unresolved_references: int
    already_loaded: int
    already_present: int
    references_resolved: int
    groups_held_back: int  # group imports: groups whose members were not written (membership safety limit)
    refused_oldest_updated: str | None  # an incremental watermark must not pass it


class RemovalResult(TypedDict):
    marked_removed: int
    active_cards: int | None
    refused_removals: int
    skipped: bool  # the task does not mark removed records
    last_volume: int | None


class RunSummary(TypedDict):
    """What ``finish`` returns: the run's result (the import DAG's last task)."""

    task: str
    run_id: str
    mode: str
    fetched: int
    transformed: int
    unchanged: int
    created: int
    updated: int
    already_loaded: int  # found in ESM as they are by load (an earlier attempt saved them; comments already there)
    refused: int
    references_pending: int
    held_for_rekey: int  # pending records that wait for no reference: the next run re-keys their card
    marked_removed: int
    groups_held_back: int  # group imports: groups that kept their previous members (membership safety limit)
    reactivated: int
    rekeyed: int  # cards of moved Jira issues given their new key (in ``updated``)
    carried: int  # full runs: issues listed, unchanged since ESM accepted them, not read again (in fetched, unchanged)
    refused_records: list[RefusedRecord]
    watermark: str | None
    cache_cleared: bool
    schedule_warning: str | None
    summary: str  # the one-line summary also logged
    unnamed_users: NotRequired[int]  # user imports: records with the account id 'unknown' left out


class StaleExample(TypedDict):
    key: str
    card_id: str
    attributes: list[str]


class ReconcileReport(TypedDict, total=False):
    """The reconciliation's report: counts and the first keys of each kind, no records.
    Comment tasks leave the record-only counts ``None``; ``*_but_cached`` only when a state
    store was given."""

    task: str
    mapping_type: str
    mode: str
    jira_records: int | None
    jira_records_without_key: int | None
    jira_issues: int
    esm_cards: int | None
    esm_active_cards: int | None
    esm_removed_cards: int | None
    esm_cards_without_key: int | None
    esm_cards_without_key_ids: list[str]
    esm_worklog_entries: int
    missing_in_esm: int | None
    missing_in_esm_keys: list[str]
    missing_but_cached: int
    missing_but_held_back: int  # groups the membership safety limit held back (not cached as done)
    issues_without_card: int
    owned_by_other_task: int | None
    owned_by_other_task_keys: list[str]
    not_in_jira: int | None
    not_in_jira_keys: list[str]
    wrongly_removed: int | None
    wrongly_removed_keys: list[str]
    duplicate_keys: int | None
    duplicate_cards: int | None
    duplicate_key_examples: list[str]
    skipped_connector_comments: int
    stale: int | None
    stale_sampled: int | None
    stale_examples: list[StaleExample]
    stale_unmappable: int | None
    stale_but_cached: int
    notes: list[str]
    summary: str
