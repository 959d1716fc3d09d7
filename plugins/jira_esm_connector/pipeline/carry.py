"""Full imports read again only what changed: the *carried* issues.

A full generic import lists every issue its JQL selects (cheap: ids and keys, 5,000 per
page) and used to read every one of them again through ``issue/bulkfetch``, although
almost all were unchanged since ESM accepted them. Reading is the expensive part at cloud
latency (one request per 100 issues, within the site's request rate), so a full run now
reads an issue again only when one of these holds, and *carries* the others: they count as
fetched (the removal step and its limits see them) and as unchanged, without being read,
mapped or written.

An issue is carried only when **all** of these hold -- otherwise it is read as before:

* the task's last full run succeeded (``state.full_syncs``), with the same *digest*: the task
  file's mapping, the connector's version and the date settings -- any change re-reads all;
* the task cache holds the issue's record key (ESM accepted its current data) and the
  issue is not waiting for references (``pending_records``);
* the issue is not in the *changed* listing: the task's JQL with ``updated >=`` the last
  full run's start minus the task's overlap. That start is the earlier of **Jira's clock**
  before that run's listing (``serverInfo.serverTime``) and the newest change the search
  index showed then (one request, newest first): every change after that run read the issue
  has a later ``updated`` -- also one the lagging index did not show yet, which is newer than
  the newest it showed (as the incremental watermark: an index that shows changes out of
  order is what the overlap is for). Jira's clock alone lost such a change when the index
  lagged longer than the overlap: every later run carried the issue. Jira's clock counts
  less the index lag (``JIRA_ESM_INDEX_LAG_SECONDS``), as for the incremental watermark:
  a lag set longer than the overlap is covered too;
* no cache clear is due or asked for (``clear_cache``): a cleared cache must push every
  record, so a run that clears reads everything; with the default daily clear
  (``JIRA_ESM_CACHE_CLEAR_HOURS=0``) every issue is read at least once a day, which also
  bounds how long a change that does not move an issue's ``updated`` (a renamed status or
  user) can wait;
* every quality expectation of the task is row-wise without ``mostly`` (or only looks at
  the columns): whole-column ones (uniqueness, row counts, aggregates) must see every record,
  so such tasks read everything;
* the record key is the issue ``key`` or ``id`` (known from the listing).

``sync_since`` (Jira's time before this run's listing), ``sync_start`` (the next run's start)
and the digest travel in the extract result; :func:`..finish.finish` stores them only when the whole run succeeded.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from ..config.expectations import ROW_WISE, SCHEMA_ONLY
from ..mapping.dates import parse_jira_datetime
from ..protocols import JiraApi, StateApi
from ..provider import PACKAGE_NAME
from .watermark import NEWEST_FIRST, watermark_jql, watermark_since

__all__ = ["CarryPlan", "plan_carry", "supersede_watermark", "task_digest", "carry_allowed_by_quality"]

log = logging.getLogger("jira_esm_connector.pipeline")

# stored as the digest when a run under another digest began: matches no task
_SUPERSEDED = "superseded"

# Bump when transform's output for the same Jira record changes without a version change.
TRANSFORM_REVISION = 4


def _connector_version() -> str:
    try:
        from importlib.metadata import version

        return version(PACKAGE_NAME)
    except Exception:  # noqa: BLE001 - not installed (a checkout on PYTHONPATH)
        return "source"


def task_digest(task: Any, settings: Any = None) -> str:
    """What decides how a Jira record becomes a card: the task file, the date settings, the
    connector's version. A change to any of them re-reads every issue once."""
    options = task.mapping_options(settings)
    parts = {
        "task": task.model_dump(mode="json"),
        "options": [options.date_format, options.datetime_format, str(options.timezone)],
        "connector": _connector_version(),
        "transform": TRANSFORM_REVISION,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def carry_allowed_by_quality(task: Any) -> bool:
    """True when the quality gate means the same on the records read as on all of them."""
    for exp in task.quality or []:
        if exp.name in SCHEMA_ONLY:
            continue
        if exp.name not in ROW_WISE or exp.kwargs.get("mostly") not in (None, 1, 1.0):
            return False
    return True


@dataclass
class CarryPlan:
    """This run's listing start on Jira's clock, the digest, and what may be carried."""

    since: datetime  # Jira's serverTime before this run's listing (removal's "may the index lag" cutoff)
    digest: str
    start: datetime  # the next run's "changed since": the newest change shown, if earlier than ``since``
    active: bool = False  # False: read everything (the reason is logged)
    changed_ids: set[str] = field(default_factory=set)
    pending: set[str] = field(default_factory=set)

    def may_carry(self, ident: str, record_key: str, cached: bool) -> bool:
        return self.active and cached and ident not in self.changed_ids and record_key not in self.pending


def jira_clock(jira: JiraApi) -> datetime | None:
    """Jira's clock now (``serverInfo.serverTime``, UTC); None when Jira gives none. Raises what
    the request raises."""
    value = jira.server_info().get("serverTime")
    moment = parse_jira_datetime(str(value)) if value else None
    return moment.astimezone(timezone.utc) if moment else None


def index_lag(settings: Any) -> timedelta:
    """How long Jira's search index may lag behind its issues (``JIRA_ESM_INDEX_LAG_SECONDS``,
    default 60 s): a change newer than Jira's clock less this may not be shown yet, while a
    newer one is (changes are not indexed in order)."""
    return timedelta(seconds=float(getattr(settings, "index_lag_seconds", 60.0) if settings is not None else 60.0))


def _server_time(jira: JiraApi) -> datetime | None:
    try:
        return jira_clock(jira)
    except Exception as exc:  # noqa: BLE001 - without Jira's clock nothing is carried
        log.warning("Could not read Jira's server time (%s): this full run reads every issue again.", exc)
        return None


def _newest_shown(jira: JiraApi, task: Any) -> tuple[bool, datetime | None]:
    """``(read, the newest updated the search index shows for the task's JQL now)``; not
    read (logged): the run carries nothing and records no start for the next one."""
    try:
        value = jira.newest_updated(watermark_jql(task.jql, None, order=NEWEST_FIRST))
        moment = parse_jira_datetime(str(value)) if value else None
    except Exception as exc:  # noqa: BLE001 - without it nothing is carried
        log.warning("Could not read the newest change Jira's search shows (%s): this full run reads every issue "
                    "again.", exc)
        return False, None
    return True, moment.astimezone(timezone.utc) if moment else None


def _why_not(task: Any, state: StateApi, digest: str, clear_due: bool) -> tuple[str | None, datetime | None]:
    """(the reason nothing is carried, or None; the last full run's start)."""
    if task.record_key_path not in ("key", "id"):
        return f"the task's key is {task.record_key_path}, not the issue key or id", None
    if not carry_allowed_by_quality(task):
        return "its quality expectations need every record", None
    if clear_due:
        return "the task cache is cleared this run", None
    last = state.get_full_sync(task.name)
    if last is None:
        return "no earlier successful full run is recorded", None
    if last[1] != digest:
        return "the mapping, the date settings or the connector changed since the last full run", None
    return None, last[0]


def supersede_watermark(task: Any, state: StateApi, settings: Any = None) -> None:
    """A run under a task digest other than the one the watermark was reached under (a changed
    task file, a full-mode interlude) notes the watermark superseded before it writes: were the
    task file reverted afterwards, the digests would match again and an incremental run would
    trust a watermark from before the cards were written under the other mapping."""
    recorded = state.get_watermark_digest(task.name)
    if recorded is not None and recorded != _SUPERSEDED and recorded != task_digest(task, settings):
        state.set_watermark(task.name, None, digest=_SUPERSEDED)


def plan_carry(
    task: Any, jira: JiraApi, state: StateApi, *, settings: Any = None, clear_due: bool = False,
    logger: logging.Logger | logging.LoggerAdapter | None = None,
) -> CarryPlan | None:
    """Decide, before the listing, what this full generic run may carry; ``None`` when the
    task is not a full generic import or Jira's clock is unknown (everything is read, and
    the run records nothing for the next one)."""
    lg = logger or log
    if task.mapping_type != "generic":
        return None
    digest = task_digest(task, settings)  # the mode is part of it: an incremental run never matches
    last = state.get_full_sync(task.name)
    if last is not None and last[1] not in (digest, _SUPERSEDED):
        # this run writes under another digest: from now on the task cache may hold its
        # fingerprints, so the older full run's starting point no longer says what ESM holds
        # (were this run not to succeed and the task file be reverted, the next run would
        # carry records this run wrote under the other mapping)
        state.set_full_sync(task.name, last[0], _SUPERSEDED)
    if task.mode != "full":
        return None
    since = _server_time(jira)
    if since is None:
        return None
    read, shown = _newest_shown(jira, task)
    if not read:
        return None
    # what the search has shown for certain: the changes up to Jira's clock less the index lag
    settled = since - index_lag(settings)
    start = min(settled, shown) if shown is not None else settled
    if shown is None and last is not None and last[1] == digest:
        # the search shows nothing: an empty selection, or every change of it hidden by a
        # lagging index -- moved to Jira's clock, the start would pass those changes for good
        start = min(settled, last[0])
    plan = CarryPlan(since=since, digest=digest, start=start)
    if shown is not None and shown < since:
        lg.info("Newest change the search shows before listing: %s (UTC; the next full run reads what changed since "
                "then, as Jira's clock says %s).", shown.isoformat(), since.isoformat())
    reason, last = _why_not(task, state, digest, clear_due)
    if reason is None and last is not None and since < last:
        # a run's start is never after Jira's clock: the clock went back since (a wrong server
        # clock corrected), and changes made since carry earlier times than that start
        reason = (f"Jira's clock ({since.isoformat()}) is earlier than the last full run's start "
                  f"({last.astimezone(timezone.utc).isoformat()}): it went back, and changes made since carry "
                  "earlier times")
    if reason is not None or last is None:
        lg.info("Full run reads every issue: %s.", reason)
        return plan
    jql = watermark_jql(task.jql, last, task.overlap_minutes)
    for page in jira.iter_issue_ids(jql):
        plan.changed_ids.update(str(issue["id"]).strip() for issue in page.issues)
    plan.pending = set(state.pending_keys(task.name))
    plan.active = True
    lg.info(
        "Full run: %d issue(s) changed in Jira since %s (UTC; the last full run's start minus %d min overlap, "
        "JQL: %s); those, issues ESM has not accepted yet and %d with pending references are read again, "
        "the others are carried (unchanged, not read).",
        len(plan.changed_ids), watermark_since(last, task.overlap_minutes).isoformat(), task.overlap_minutes, jql,
        len(plan.pending),
    )
    return plan
