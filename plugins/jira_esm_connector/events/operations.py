"""The event operations, one plain function each, on a :class:`~jira_esm_connector.jira.JiraClient`.

Each function does one change in Jira and returns a small JSON-able dict (the DAG run's
result). None of them repeats a create blindly: the Jira client does not retry a POST
that may have taken effect (5xx, reset, read timeout), so a create that fails that way
is followed by a *check* -- is the issue / comment / user / group there now? -- and only
repeated when it is not. ``check_first=True`` (set by :func:`~.runner.run_event` when an
earlier attempt of the same event began but never recorded an outcome) looks before the
first attempt too -- for a change that attempt sent, by the event's ledger of changes
(:attr:`CreateGuard.steps`), which also keeps a retry from repeating a change Jira confirmed.

Issues are the hard case: they are found through ``search/jql``, which Jira documents as
eventually consistent (a new issue may be missing from search for seconds to minutes),
while ``GET issue``, the comment list and the group list are read straight from Jira's
database. So after a create of an issue that *may* have taken effect (dropped connection,
timeout, 500/502/504, or a worker killed mid-request) the connector never creates again
until a search made more than :attr:`CreateGuard.index_lag_s` after that create still
finds nothing: within the attempt it searches with backoff until then and, if the issue
is still not found, fails with the retriable :class:`CreateUnconfirmed`; the next attempt
(the Airflow retry) searches again and only then creates. When that create was sent is
kept in the event's state row (see :class:`CreateGuard`), so the rule holds across task
retries, re-triggers and crashed workers.

Jira's refusals (4xx) raise :class:`~.errors.EventRefused` with Jira's own words.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar, cast

from ..http.errors import (
    BadRequestError,
    ConnectorHTTPError,
    HostUnreachableError,
    NotFoundError,
    RateLimitedError,
)
from ..jira import AmbiguousGroupError, group_name, jql_quote
from ..markers import COMMENT_ORIGIN_PROPERTY, ISSUE_EVENT_PROPERTY, EventRef, ascii_lower, email_key, user_with_email
from ..protocols import JiraApi
from .errors import EventError, EventRefused, is_transient

__all__ = [
    "CREATE_ATTEMPTS",
    "DEFAULT_INDEX_LAG_S",
    "CreateGuard",
    "CreateUnconfirmed",
    "IssueConflict",
    "add_comment",
    "add_user_to_group",
    "create_group",
    "create_issue",
    "create_user",
    "delete_group",
    "delete_user",
    "find_comment_for_event",
    "find_issue_for_event",
    "find_user_by_email",
    "refused",
    "remove_user_from_group",
    "resolve_account_id",
    "transition_issue",
    "update_issue",
]

log = logging.getLogger("jira_esm_connector.events")

CREATE_ATTEMPTS = 3  # a create that failed transiently is checked, then repeated: at most this many tries
# After a create failed transiently, look for its result at these pauses (seconds) before
# repeating it (objects whose lookup reads Jira's database: comments, users, groups).
LOOKUP_PAUSES = (0.5, 1.5)
# How long Jira's search may lag behind a create (Atlassian: "a few seconds to minutes").
DEFAULT_INDEX_LAG_S = 60.0
# Pauses between searches while waiting for the index (doubling, capped).
INDEX_POLL_FIRST_S = 0.5
INDEX_POLL_MAX_S = 8.0

T = TypeVar("T")


class CreateUnconfirmed(EventError):
    """A create may have taken effect but Jira's search does not show it yet: creating again
    now could make a duplicate. Transient: a later attempt searches again first."""

    permanent = False


@dataclass
class CreateGuard:
    """What a create whose result is found through Jira's lagging search needs to know.

    ``index_lag_s``: how long search may lag behind a write; absence is trusted only from a
    search made more than this long after the last create that may have taken effect.
    ``ambiguous_at``: when that create was sent (None: no earlier attempt sent one).
    ``remember``: stores a new ``ambiguous_at`` (or None) with the event, so later attempts
    -- task retries, re-triggers, a worker after a crash -- know it too. It is called
    *before* each create is sent: a worker killed mid-request leaves the time behind; and it
    raises when the event is no longer this attempt's (another attempt took it over), so a
    stale attempt sends no create.
    ``still_ours``: the same check for creates found by reading Jira's database (no note
    needed): called before each is sent, raises when another attempt has the event now.
    ``created_id`` / ``remember_created``: the id of the issue a create of this event made
    (Jira answered it), noted with the event: a later attempt (the write-back failed) reads
    that issue by its id instead of searching by the event's label, which someone may have
    removed meanwhile (a second issue was created then).
    ``max_wait_s``: the longest one attempt keeps searching (it must end well within the
    task's deadline); past it the attempt fails retriably and the next one goes on.
    ``steps`` / ``remember_step``: the event's ledger of changes other than an issue create,
    kept with the event across attempts: a step is noted ``"sent"`` before its request goes
    out and with its result once Jira confirmed it (a refusal removes it). A later attempt
    repeats no confirmed step (a transition is not made again after a person moved the
    issue on) and takes "already there" / "already gone" for its own earlier work only when
    a step was sent (a retry of a delete of a name Jira never had is refused, not reported
    done). ``steps`` None: not known (the event began under a version without the ledger),
    so every step may have been sent. ``remember_step`` stores the ledger; noting a step
    sent, it raises when the event is no longer this attempt's (as ``remember`` does).
    ``clock`` / ``sleep``: injectable for tests.
    """

    index_lag_s: float = DEFAULT_INDEX_LAG_S
    ambiguous_at: datetime | None = None
    remember: Callable[[datetime | None], None] | None = None
    still_ours: Callable[[], None] | None = None
    created_id: str | None = None
    remember_created: Callable[[str], None] | None = None
    max_wait_s: float = 120.0
    steps: dict[str, Any] | None = None
    remember_step: Callable[[str, Any], None] | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    sleep: Callable[[float], None] = time.sleep

    def note(self, at: datetime | None) -> None:
        self.ambiguous_at = at
        if self.remember is not None:
            self.remember(at)

    def settled_at(self) -> datetime | None:
        """From when on a search can be trusted to show the last ambiguous create."""
        if self.ambiguous_at is None:
            return None
        return self.ambiguous_at + timedelta(seconds=self.index_lag_s)


def still_ours(guard: CreateGuard | None) -> None:
    """Before a change to Jira: raises when the event is no longer this attempt's (a retry took it
    over while this one was frozen), so a stale attempt does not redo, after newer events, what
    its retry already did."""
    if guard is not None and guard.still_ours is not None:
        guard.still_ours()


STEP_SENT = "sent"  # ledger value of a step whose request went out, outcome not yet known


def _may_have_sent(guard: CreateGuard | None, step: str, check_first: bool) -> bool:
    """``check_first`` narrowed by the ledger: whether an earlier attempt may have sent ``step``."""
    if not check_first:
        return False
    if guard is None or guard.steps is None:
        return True
    return step in guard.steps


def _confirmed_before(guard: CreateGuard | None, step: str, **target: Any) -> dict[str, Any] | None:
    """The result an earlier attempt noted for ``step`` once Jira confirmed it, or None.
    ``target`` (e.g. ``issue_key=...``): what this try's payload names; a confirmed step that
    acted on something else (the event was re-triggered with another payload) is refused --
    half of each would be done."""
    noted = (guard.steps or {}).get(step) if guard is not None else None
    if not isinstance(noted, dict):
        return None
    for name, value in target.items():
        if name in noted and str(noted[name]) != str(value):
            raise EventRefused(
                f"an earlier try of this event already did its {step} on {name} {noted[name]}, but this payload "
                f"names {value}: an event id names one event -- trigger a new event for {value}"
            )
    log.info("An earlier attempt of this event already did this step (%s): not repeating it", step)
    return dict(noted)


def _note_step(guard: CreateGuard | None, step: str, value: Any) -> None:
    if guard is None or guard.remember_step is None or guard.steps is None:
        return
    if value is None:
        guard.steps.pop(step, None)
    else:
        guard.steps[step] = value
    guard.remember_step(step, value)


def _sending(guard: CreateGuard | None, step: str) -> None:
    """Before ``step``'s request goes out: noted in the ledger, which also checks that the event
    is still this attempt's (:func:`still_ours`); raises when it is not."""
    if guard is None or guard.remember_step is None or guard.steps is None:
        still_ours(guard)
    else:
        _note_step(guard, step, STEP_SENT)


def _confirmed(guard: CreateGuard | None, step: str, result: Mapping[str, Any]) -> None:
    """Jira confirmed ``step``: a later attempt (the write-back failed) does not repeat it."""
    _note_step(guard, step, dict(result))


def _refused_step(guard: CreateGuard | None, step: str) -> None:
    """Jira refused ``step``'s request and did nothing: no longer "sent"."""
    _note_step(guard, step, None)


def _took_no_effect(exc: ConnectorHTTPError) -> bool:
    """Jira refused before acting: 429 (rate limited), or never reached (no connection made).
    Not a 503: a gateway in front of Jira answers 503 too when Jira reset the request after
    taking it; nor an answer that is not Jira's JSON (a proxy's page, even with a 200)."""
    if isinstance(exc, RateLimitedError) or exc.status == 429:
        return True
    return isinstance(exc, HostUnreachableError) and exc.status is None


def refused(exc: ConnectorHTTPError, doing: str) -> EventRefused:
    """Jira's 4xx as an operator-facing refusal, with Jira's own messages verbatim."""
    if exc.status is None or exc.status == 401:
        # never reached Jira (TLS, bad URL) or bad / expired credentials: the client says why
        return EventRefused(f"Could not {doing}: {exc}")
    said = "; ".join(exc.details) if exc.details else str(exc)
    return EventRefused(f"Jira refused to {doing}: {said} (HTTP {exc.status})")


class IssueConflict(EventError):
    """Jira's 409 to an edit or a transition: "the issue could not be updated due to a
    conflicting update" (the contract's words: another change of the issue at the same
    moment, such as an automation rule's). Jira changed nothing; transient: a retry does it."""

    permanent = False


def _conflict(exc: ConnectorHTTPError, doing: str) -> IssueConflict:
    said = "; ".join(exc.details) if exc.details else str(exc)
    return IssueConflict(
        f"Could not {doing} now: Jira reports a conflicting update of the issue (HTTP 409: {said}); "
        "it changed nothing, retrying later"
    )


def _call(doing: str, fn: Callable[[], T]) -> T:
    """Run one Jira call; permanent failures become :class:`EventRefused`, transient ones pass."""
    try:
        return fn()
    except ConnectorHTTPError as exc:
        if is_transient(exc):
            raise
        raise refused(exc, doing) from None
    except AmbiguousGroupError as exc:  # a look-alike group: which one is meant cannot be told
        raise EventRefused(f"Could not {doing}: {exc}") from None


def _create_checked(
    doing: str,
    create: Callable[[], T],
    find: Callable[[], T | None],
    *,
    check_first: bool,
    guard: CreateGuard | None = None,
    step: str = "create",
) -> tuple[T, bool]:
    """``(result, found_existing)`` for objects whose ``find`` reads Jira's database (it sees
    a create at once): find first when an earlier attempt may have sent the create (``step``
    in the guard's ledger); after a transient failure check Jira before repeating the create
    (it may have taken effect), and look once more when Jira refuses the repeat (it may have
    carried out the first request late). Each create is noted in the ledger before it is
    sent (which checks the event is still this attempt's) and its result once Jira answered."""
    confirmed = _confirmed_before(guard, step)
    if confirmed is not None:
        return cast(T, confirmed), True
    check_first = _may_have_sent(guard, step, check_first)
    if check_first:
        found = find()
        if found is not None:
            log.info("An earlier attempt of this event already did this: %s (found in Jira, not repeated)", doing)
            return found, True
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        _sending(guard, step)
        try:
            made = _call(doing, create)
            _confirmed(guard, step, cast(Mapping[str, Any], made))
            return made, False
        except EventRefused:
            # refused ("already exists") after an earlier request whose outcome is unknown:
            # Jira may have carried that one out late, after the look above
            if attempt == 1 and not check_first:
                _refused_step(guard, step)
                raise
            found = _find_or_none(find)
            if found is None:
                raise
            log.info("Jira refused to %s again: an earlier request of this event did it after all", doing)
            return found, True
        except ConnectorHTTPError as exc:
            if attempt == CREATE_ATTEMPTS:
                raise
            log.warning(
                "Could not %s (attempt %d of %d): %s. The request may have taken effect: "
                "checking Jira before repeating it.", doing, attempt, CREATE_ATTEMPTS, exc,
            )
            found = _find_patiently(find)
            if found is not None:
                log.info("Jira did %s after all; not repeating the request", doing)
                return found, True
            log.info("Jira did not %s: repeating the request", doing)
    raise AssertionError("unreachable")


def _find_or_none(find: Callable[[], T | None]) -> T | None:
    try:
        return find()
    except ConnectorHTTPError:  # the refusal in hand says more than a failed look
        return None


def _find_patiently(find: Callable[[], T | None]) -> T | None:
    for pause in LOOKUP_PAUSES:
        time.sleep(pause)
        found = find()
        if found is not None:
            return found
    return None


def _stamp(at: datetime | None) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if at else "an unknown time"


def _search_until_settled(doing: str, find: Callable[[], T | None], guard: CreateGuard) -> T | None:
    """Search with growing pauses until the index has had ``index_lag_s`` since the last
    ambiguous create; the result, or None when even a search after that time found nothing."""
    settled = guard.settled_at()
    give_up = guard.clock() + timedelta(seconds=guard.max_wait_s)
    pause = INDEX_POLL_FIRST_S
    searches = 0
    while True:
        now = guard.clock()
        found = find()
        searches += 1
        if found is not None:
            if searches > 1:
                log.info("Jira's search shows it now (search %d): the request to %s had taken effect", searches, doing)
            return found
        if settled is None or now >= settled or now >= give_up:
            return None
        if searches == 1:
            log.info(
                "Not in Jira's search yet; it can lag up to %.0f s behind a create, so searching "
                "again until %s before deciding whether to %s", guard.index_lag_s, _stamp(settled), doing,
            )
        guard.sleep(min(pause, (settled - now).total_seconds() + 0.05))
        pause = min(pause * 2, INDEX_POLL_MAX_S)


def _create_guarded(
    doing: str,
    create: Callable[[], T],
    find: Callable[[], T | None],
    guard: CreateGuard,
    *,
    check_first: bool,
) -> tuple[T, bool]:
    """``(result, found_existing)`` for objects ``find`` looks up through Jira's eventually
    consistent search: never create while a search could still be missing an earlier create.

    * an earlier attempt sent a create whose outcome is unknown (``guard.ambiguous_at``) and
      the index may still miss it at the start of this attempt -> search until it may not;
      found -> done, else :class:`CreateUnconfirmed` (the next attempt decides). The index
      has had its time already -> one search, and create only when it finds nothing;
    * a create fails before Jira acted (429, or no connection made) -> send it again;
    * a create fails in a way that may have taken effect -> search until the index has had
      its time; found -> done, else :class:`CreateUnconfirmed`.
    """
    if check_first or guard.ambiguous_at is not None:
        settled = guard.settled_at()
        if settled is not None and guard.clock() < settled:
            log.info(
                "An earlier attempt of this event sent the request to %s at %s without learning "
                "whether it took effect: looking for its result first", doing, _stamp(guard.ambiguous_at),
            )
            found = _search_until_settled(doing, find, guard)
            if found is not None:
                log.info("An earlier attempt of this event already did this: %s (found in Jira, not repeated)", doing)
                return found, True
            raise _unconfirmed(doing, guard)
        found = find()
        if found is not None:
            log.info("An earlier attempt of this event already did this: %s (found in Jira, not repeated)", doing)
            return found, True
        if guard.ambiguous_at is not None:
            log.info(
                "The request to %s sent at %s did not take effect: Jira's search, given over %.0f s to "
                "catch up, does not show it. Sending it again.", doing, _stamp(guard.ambiguous_at), guard.index_lag_s,
            )
    before = guard.ambiguous_at
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        guard.note(guard.clock())  # stored before sending: a worker killed mid-request leaves it behind
        try:
            return create(), False
        except ConnectorHTTPError as exc:
            if not is_transient(exc) and exc.status is not None:
                guard.note(before)  # Jira answered with a refusal (4xx): nothing was created
                raise refused(exc, doing) from None
            # No answer at all is ambiguous even when it looks permanent: a connection dropped
            # mid-response can surface as a TLS error. The search below tells: it fails the
            # same way if the TLS set-up really is wrong (then that refusal is raised).
            if not _took_no_effect(exc):
                log.warning(
                    "Could not %s: %s. The request may have taken effect: looking for its result in "
                    "Jira's search (which can lag up to %.0f s) instead of sending it again.", doing, exc, guard.index_lag_s,
                )
                found = _search_until_settled(doing, find, guard)
                if found is not None:
                    log.info("Jira did %s after all; not repeating the request", doing)
                    return found, True
                raise _unconfirmed(doing, guard) from None
            guard.note(before)  # Jira did not act on this one: it created nothing
            if attempt == CREATE_ATTEMPTS:
                raise
            pause = LOOKUP_PAUSES[min(attempt, len(LOOKUP_PAUSES)) - 1]
            log.warning(
                "Could not %s (attempt %d of %d): %s. Jira did not act on it: sending it again in %.1f s.",
                doing, attempt, CREATE_ATTEMPTS, exc, pause,
            )
            guard.sleep(pause)
    raise AssertionError("unreachable")


def _unconfirmed(doing: str, guard: CreateGuard) -> CreateUnconfirmed:
    return CreateUnconfirmed(
        f"could not confirm whether the request to {doing} took effect (sent at {_stamp(guard.ambiguous_at)}; "
        f"Jira's search can lag up to {guard.index_lag_s:.0f} s and does not show it yet); "
        "not sending it again now, to avoid a duplicate; retrying later: the retry searches again "
        "and sends it only when the search has had time to catch up"
    )


# ---- issues ---------------------------------------------------------------------------------

def find_issue_for_event(jira: JiraApi, ref: EventRef) -> dict[str, Any] | None:
    """The issue an earlier attempt of this event created: ``{"issue_key", "issue_id"}`` or None.

    Searched by the event's label, confirmed by the issue property (read with GET, which is
    consistent). Not by property JQL: Jira Cloud answers JQL on an entity property only when
    an installed app declares it for indexing, which a REST client cannot do -- such a query
    finds nothing (or is refused), and "nothing" would read as "not created yet"."""
    jql = f"labels = {jql_quote(ref.label)}"
    for issue in jira.search(jql, fields=["summary"], page_size=10):
        if _holds_event(jira, ref, issue["key"]):
            return {"issue_key": issue["key"], "issue_id": str(issue.get("id", ""))}
    return None


def _holds_event(jira: JiraApi, ref: EventRef, issue: str) -> bool:
    """Does the issue (key or id) carry this event's property? Not when Jira no longer has it
    (deleted since a search's index or an earlier attempt saw it)."""
    try:
        return ref.matches(jira.get_issue_property(issue, ISSUE_EVENT_PROPERTY, missing_ok=True))
    except NotFoundError:
        log.info("Jira issue %s was deleted meanwhile: not the issue of event %s.", issue, ref.event_id)
        return False


def _noted_issue(jira: JiraApi, ref: EventRef, issue_id: str | None) -> dict[str, Any] | None:
    """The issue an earlier attempt noted it created (``{"issue_key", "issue_id"}``, its key as
    now: a move changes it), when it is there and holds the event's property; else None (the
    label search decides)."""
    if not issue_id or not _holds_event(jira, ref, issue_id):
        return None
    try:
        issue = jira.get_issue(issue_id, ["summary"])
    except NotFoundError:  # deleted between the two reads
        return None
    return {"issue_key": str(issue["key"]), "issue_id": str(issue.get("id") or issue_id)}


def create_issue(
    jira: JiraApi,
    ref: EventRef,
    fields: Mapping[str, Any],
    *,
    check_first: bool = False,
    guard: CreateGuard | None = None,
) -> dict[str, Any]:
    """Create the issue (``JiraClient.create_issue``) carrying the event's property and label.

    ``guard``: the index-lag rules and what earlier attempts left (see :class:`CreateGuard`;
    default: a fresh one, 60 s lag, nothing remembered beyond this call).
    Returns ``{"issue_key", "issue_id"}``; raises :class:`CreateUnconfirmed` (retriable)
    when a create may have taken effect and Jira's search does not show it yet."""
    missing = [f for f in ("project", "issuetype", "summary") if not fields.get(f)]
    if missing:
        raise EventRefused(
            f"cannot create a Jira issue without {', '.join(missing)}: map "
            f"{'it' if len(missing) == 1 else 'them'} in the task's fields"
        )
    body = dict(fields)
    given = body.get("labels") or []
    labels = [given] if isinstance(given, str) else list(given)
    if ref.label not in labels:
        labels.append(ref.label)
    body["labels"] = labels

    guard = guard if guard is not None else CreateGuard()

    def note(result: dict[str, Any]) -> None:
        if guard.remember_created is not None and result["issue_id"] and result["issue_id"] != guard.created_id:
            try:
                guard.remember_created(result["issue_id"])
                guard.created_id = result["issue_id"]
            except Exception:  # noqa: BLE001 - the issue exists: a later attempt finds it by its label
                log.exception("Could not note issue %s as the one event %s created", result["issue_key"], ref.event_id)

    def create() -> dict[str, Any]:
        created = jira.create_issue(body, properties={ISSUE_EVENT_PROPERTY: ref.issue_property()})
        result = {"issue_key": created["key"], "issue_id": str(created.get("id", ""))}
        note(result)  # at once: whatever fails next, a later attempt reads this issue
        return result

    def find() -> dict[str, Any] | None:
        return _noted_issue(jira, ref, guard.created_id) or find_issue_for_event(jira, ref)

    result, _ = _create_guarded(
        "create the issue", create, lambda: _call("look up the event's issue", find), guard, check_first=check_first,
    )
    note(result)  # found by a search (a create whose answer was lost): noted the same way
    log.info("Jira issue %s holds event %s", result["issue_key"], ref.event_id)
    return result


def update_issue(
    jira: JiraApi, ref: EventRef, issue_key: str, fields: Mapping[str, Any], *, guard: CreateGuard | None = None,
) -> dict[str, Any]:
    """Edit the issue's fields (``JiraClient.edit_issue``; repeating it is harmless). Returns ``{"issue_key", "fields"}``."""
    if not fields:
        raise EventRefused(f"nothing to change on {issue_key}: the payload gave no value for any mapped field")
    confirmed = _confirmed_before(guard, "edit", issue_key=issue_key)  # not again over a person's later edit
    if confirmed is not None:
        return confirmed
    _sending(guard, "edit")
    doing = f"edit issue {issue_key}"
    try:
        jira.edit_issue(issue_key, fields)
    except ConnectorHTTPError as exc:
        if exc.status == 409:
            raise _conflict(exc, doing) from None
        if is_transient(exc):
            raise
        _refused_step(guard, "edit")  # Jira changed nothing: a corrected re-trigger is no other payload's sequel
        raise refused(exc, doing) from None
    log.info("Updated Jira issue %s: %s", issue_key, ", ".join(sorted(fields)))
    result = {"issue_key": issue_key, "fields": sorted(fields)}
    _confirmed(guard, "edit", result)
    return result


# ---- comments -------------------------------------------------------------------------------

def _comment_has_marker(jira: JiraApi, comment: Mapping[str, Any], ref: EventRef) -> bool:
    try:
        return ref.matches(jira.comment_property_of(comment, COMMENT_ORIGIN_PROPERTY))
    except NotFoundError:  # its origin property was read on its own: the comment is gone
        log.info("Jira comment %s was deleted after the listing: not this event's.", comment.get("id"))
        return False


def find_comment_for_event(jira: JiraApi, ref: EventRef, issue_key: str) -> dict[str, Any] | None:
    """The comment an earlier attempt of this event added to ``issue_key``, newest first."""
    # the key comes from the payload: the client escapes it, so "SUP-1/../x" or "SUP-1?a=b"
    # cannot reach another endpoint
    for comment in jira.iter_comments(str(issue_key), order_by="-created", expand_properties=True):
        if _comment_has_marker(jira, comment, ref):
            return {"issue_key": issue_key, "comment_id": str(comment["id"])}
    return None


def add_comment(
    jira: JiraApi, ref: EventRef, issue_key: str, body_adf: Mapping[str, Any], *, check_first: bool = False,
    guard: CreateGuard | None = None,
) -> dict[str, Any]:
    """``POST .../comment`` with the origin marker property. Returns ``{"issue_key", "comment_id"}``.
    ``guard``: its ledger and ``still_ours`` are used (comments are found without the index)."""
    if not body_adf:
        raise EventRefused(f"cannot add an empty comment to {issue_key}")

    def create() -> dict[str, Any]:
        made = jira.add_comment(issue_key, body_adf, properties={COMMENT_ORIGIN_PROPERTY: ref.comment_property()})
        return {"issue_key": issue_key, "comment_id": str(made["id"])}

    result, _ = _create_checked(
        f"add a comment to {issue_key}", create, lambda: find_comment_for_event(jira, ref, issue_key),
        check_first=check_first, guard=guard, step="comment",
    )
    log.info("Comment %s on %s holds event %s", result["comment_id"], issue_key, ref.event_id)
    return result


# ---- transitions ----------------------------------------------------------------------------

def _status_of(jira: JiraApi, issue_key: str) -> str | None:
    issue = _call(f"read issue {issue_key}", lambda: jira.get_issue(issue_key, fields=["status"]))
    return (((issue or {}).get("fields") or {}).get("status") or {}).get("name")


def _targets(status: str | Sequence[str]) -> list[str]:
    """``"Done"``, ``"Done|Resolved"`` or ``["Done", "Resolved"]`` -> names in order of preference."""
    items = status.split("|") if isinstance(status, str) else list(status)
    return [s.strip() for s in items if s and s.strip()]


def _transition(
    jira: JiraApi, issue_key: str, transition_id: Any, fields: Mapping[str, Any], doing: str, wanted: set[str],
    guard: CreateGuard | None = None,
) -> str | None:
    """Send the transition; None when it moved the issue. When the request failed but the issue
    is in a wanted status, that status: a lost answer (the POST is not repeated) after Jira
    moved it, or a refusal because it got there meanwhile (an earlier attempt's request that
    timed out here and that Jira carried out late, or a person). The goal holds either way.
    A 409 ("conflicting update": another change of the issue at the same moment) is retried later."""
    _sending(guard, "transition")
    try:
        jira.transition_issue(issue_key, transition_id, fields=fields or None)
        return None
    except ConnectorHTTPError as exc:
        transient = is_transient(exc)
        if not transient and exc.status not in (400, 409):  # 400: "not valid for this issue"
            _refused_step(guard, "transition")
            raise refused(exc, doing) from None
        now = _status_of(jira, issue_key)
        if now is not None and now.casefold() in wanted:
            log.info("Could not %s (%s), but %s is in status '%s' now: nothing left to do", doing, exc, issue_key, now)
            return now
        if exc.status == 409:
            raise _conflict(exc, doing) from None
        if transient:
            raise
        _refused_step(guard, "transition")
        raise refused(exc, doing) from None


def transition_issue(
    jira: JiraApi,
    ref: EventRef,
    issue_key: str,
    status: str | Sequence[str],
    *,
    resolution: str | None = None,
    comment_adf: Mapping[str, Any] | None = None,
    fields: Mapping[str, Any] | None = None,
    check_first: bool = False,
    guard: CreateGuard | None = None,
) -> dict[str, Any]:
    """Move ``issue_key`` to the status named ``status`` by the transition of *its* workflow
    that leads there (transition ids differ between workflows). ``status`` may name
    alternatives, ``"Done|Resolved"``: the first one the issue's workflow offers wins, so one
    task serves projects with different workflows. Already in that status: nothing to do.
    ``resolution`` (a name) and ``fields`` go with the transition; ``comment_adf`` is added
    after it as a marked comment (so the comment import does not bring it back), with the
    same ``guard`` as :func:`add_comment`: a try that lost the event meanwhile posts no second one.

    Returns ``{"issue_key", "status", "transition_id", "changed"}`` (+ ``comment_id``)."""
    targets = _targets(status)
    if not targets:
        raise EventRefused(f"no target status given for {issue_key}")
    # An earlier attempt's transition Jira confirmed is not made again (a person may have moved
    # the issue on since); only what that attempt left undone is
    confirmed = _confirmed_before(guard, "transition", issue_key=issue_key)
    result: dict[str, Any] = confirmed or _transition_to(jira, issue_key, targets, resolution, fields, guard)
    if comment_adf:
        made = add_comment(jira, ref, issue_key, comment_adf, check_first=check_first or not result["changed"],
                           guard=guard)
        result["comment_id"] = made["comment_id"]
    return result


def _transition_to(
    jira: JiraApi, issue_key: str, targets: list[str], resolution: str | None, fields: Mapping[str, Any] | None,
    guard: CreateGuard | None,
) -> dict[str, Any]:
    """The transition part of :func:`transition_issue`; its result is noted in the ledger."""
    # Already in (any) one of the targets: leave it there. Checked before the transitions: a
    # workflow offers the *other* alternatives from there (Resolved -> Closed), and a retry of
    # this event after the transition worked must not move the issue on.
    current = _status_of(jira, issue_key)
    wanted_set = {t.casefold() for t in targets}
    transitions = (
        [] if current is not None and current.casefold() in wanted_set
        else _call(f"read the transitions of {issue_key}", lambda: jira.get_transitions(issue_key))
    )

    def leads_to(t: Mapping[str, Any]) -> str:
        return str((t.get("to") or {}).get("name") or "")

    chosen = None
    for target in targets:
        chosen = next((t for t in transitions if leads_to(t) == target), None) or next(
            (t for t in transitions if leads_to(t).casefold() == target.casefold()), None
        )
        if chosen is not None:
            break
    wanted = " or ".join(f"'{t}'" for t in targets)
    result: dict[str, Any] = {"issue_key": issue_key, "status": targets[0], "transition_id": None, "changed": False}
    if chosen is not None:
        tfields: dict[str, Any] = dict(fields or {})
        if resolution:
            tfields["resolution"] = {"name": resolution}
        doing = f"move {issue_key} to '{leads_to(chosen)}' by transition '{chosen.get('name')}'"
        arrived = _transition(jira, issue_key, chosen["id"], tfields, doing, wanted_set, guard)
        if arrived is None:
            result.update(status=leads_to(chosen), transition_id=str(chosen["id"]), changed=True)
            log.info("Moved %s to '%s' (transition '%s', id %s)", issue_key, result["status"], chosen.get("name"), chosen["id"])
        else:
            result["status"] = arrived
    else:
        if current is not None and current.casefold() in wanted_set:
            log.info("%s is already in status '%s': no transition needed", issue_key, current)
            result["status"] = current
        else:
            offered = ", ".join(f"'{t.get('name')}' → '{leads_to(t)}'" for t in transitions) or "none"
            raise EventRefused(
                f"Jira offers no transition to status {wanted} for {issue_key} (now in '{current}'); "
                f"transitions available from there: {offered}"
            )
    _confirmed(guard, "transition", result)
    return result


# ---- users ----------------------------------------------------------------------------------

def _users_for_email(jira: JiraApi, email: str) -> tuple[dict[str, Any] | None, int]:
    """(the user Jira's search shows with this e-mail or None, how many users it found whose
    e-mail it hides -- Jira applies each user's profile visibility to the answer)."""
    users = _call(f"look up the user {email}", lambda: jira.find_users(email))
    user = user_with_email(users, email)
    if user is not None:
        return user, 0
    return None, sum(1 for user in users if not user.get("emailAddress"))


def find_user_by_email(jira: JiraApi, email: str) -> dict[str, Any] | None:
    return _users_for_email(jira, email)[0]


def _given_account_id(account_id: str | None) -> str | None:
    """An account id without surrounding spaces; None for none or only spaces (it names no
    user: not sent to Jira, the e-mail beside it names the user)."""
    return (account_id or "").strip() or None


def resolve_account_id(jira: JiraApi, *, account_id: str | None = None, email: str | None = None) -> str | None:
    """An account id as given, or the account id of the user with this e-mail, active or
    deactivated (None: no such user). :class:`EventRefused` when Jira found users but hides
    their e-mail addresses: "no such user" cannot be told then (a retried delete would report
    a live user deleted)."""
    account_id = _given_account_id(account_id)
    if account_id:
        return account_id
    if email_key(email):  # an address of spaces is none: it would match every hidden address
        user, hidden = _users_for_email(jira, email)
        if user is None and hidden:
            raise _hidden_emails(f"Jira's user search for {email}", hidden)
        return user.get("accountId") if user else _deactivated_user_with_email(jira, email)
    raise EventRefused(
        "the payload names no user: its account id and e-mail address are empty or only spaces; give one of them"
    )


def _hidden_emails(where: str, hidden: int) -> EventRefused:
    """No user shows the address, but ``hidden`` users' addresses are hidden: "no such user"
    cannot be told (a retried delete would report a live user deleted)."""
    return EventRefused(
        f"{where} found {hidden} user(s) whose e-mail address it hides (their profile visibility), so it "
        "cannot tell whether one of them has this address; send the user's account id instead"
    )


def create_user(
    jira: JiraApi,
    ref: EventRef,
    email: str,
    products: Iterable[str],
    *,
    display_name: str | None = None,
    check_first: bool = False,
    guard: CreateGuard | None = None,
) -> dict[str, Any]:
    """Create the user (``JiraClient.create_user``). Returns ``{"account_id", "email"}``."""
    product_list = [p for p in products if p]

    def create() -> dict[str, Any]:
        user = jira.create_user(email, product_list, display_name=display_name)
        return {"account_id": user["accountId"], "email": email}

    def find() -> dict[str, Any] | None:
        user = find_user_by_email(jira, email)
        return {"account_id": user["accountId"], "email": email} if user else None

    result, _ = _create_checked(f"create the user {email}", create, find, check_first=check_first, guard=guard)
    log.info("Jira user %s has account id %s", email, result["account_id"])
    return result


def _deactivated_user_with_email(jira: JiraApi, email: str) -> str | None:
    """The account id of a user with this e-mail among all users (``JiraClient.iter_users``,
    which lists deactivated users too: the user search shows active ones only), or None.
    Reads the user list up to the match (all of it when there is none): only when the search
    found no one. :class:`EventRefused` when no user shows the address but deactivated
    people's addresses are hidden (the search, which matches hidden addresses, covered the
    active ones)."""
    wanted = email_key(email)

    def scan() -> tuple[str | None, int]:
        hidden = 0
        for user in jira.iter_users(page_size=1000):
            if email_key(user.get("emailAddress")) == wanted and user.get("accountId"):
                return str(user["accountId"]), 0
            if not user.get("emailAddress") and user.get("active") is False and user.get("accountType") == "atlassian":
                hidden += 1
        return None, hidden

    found, hidden = _call(f"look for a deactivated user {email}", scan)
    if found is None and hidden:
        raise _hidden_emails(f"Jira's list of all users (looked through for a deactivated user {email})", hidden)
    return found


def _user_by_id(jira: JiraApi, account_id: str, email: str | None = None) -> dict[str, Any] | None:
    """The user with this account id, or None. Given an e-mail address too, the id names the
    user (an address can move to another account) and an address Jira shows for that user
    that is another one (by :func:`email_key`) is refused: one of the two is wrong, and a
    change must not guess. An address Jira hides (profile visibility) cannot be checked."""
    try:
        user = jira.get_user(account_id)
    except NotFoundError:
        return None
    except ConnectorHTTPError as exc:
        if is_transient(exc):
            raise
        raise refused(exc, f"look up the user {account_id}") from None
    if not email_key(email):
        return user
    shown = user.get("emailAddress")
    if not email_key(shown):
        log.info("Jira hides the e-mail address of user %s: the payload's address %s could not be checked "
                 "against it; going on by the account id", account_id, email)
    elif email_key(shown) != email_key(email):
        raise EventRefused(
            f"the payload's account id {account_id} is Jira's user with the e-mail address {shown}, but its "
            f"e-mail address {email} is another one: send the account id alone, or the user's current e-mail address"
        )
    return user


def _user_exists(jira: JiraApi, account_id: str) -> bool:
    return _user_by_id(jira, account_id) is not None


def delete_user(
    jira: JiraApi, ref: EventRef, *, account_id: str | None = None, email: str | None = None, check_first: bool = False,
    guard: CreateGuard | None = None,
) -> dict[str, Any]:
    """Delete the user (``JiraClient.delete_user``), deactivated ones too. Returns
    ``{"account_id", "deleted"}`` (False: already gone)."""
    confirmed = _confirmed_before(guard, "delete")
    if confirmed is not None:
        return confirmed
    check_first = _may_have_sent(guard, "delete", check_first)
    account_id = _given_account_id(account_id)
    if account_id:
        # looked up first: a 404 to the DELETE then means gone, not unknown (the client
        # repeats a DELETE whose answer was lost, and the repeat meets the deleted user)
        resolved = account_id if _user_by_id(jira, account_id, email) is not None else None
        missing = f"no user with the account id {account_id}"
    else:
        resolved = resolve_account_id(jira, email=email)
        missing = f"no user, active or deactivated, with the e-mail address {email}"
    if resolved is None:
        if check_first:
            log.info("Jira has %s (any more): nothing to delete", missing)
            return {"account_id": account_id, "email": email, "deleted": False}
        raise EventRefused(f"Jira has {missing}")
    _sending(guard, "delete")
    try:
        jira.delete_user(resolved)
    except NotFoundError:  # there a moment ago: deleted meanwhile, or by this very request repeated
        log.info("Jira user %s is already deleted", resolved)
        result = {"account_id": resolved, "deleted": False}
    except ConnectorHTTPError as exc:
        if is_transient(exc):
            raise
        _refused_step(guard, "delete")
        raise refused(exc, f"delete the user {resolved}") from None
    else:
        log.info("Deleted Jira user %s", resolved)
        result = {"account_id": resolved, "deleted": True}
    _confirmed(guard, "delete", result)
    return result


# ---- groups ---------------------------------------------------------------------------------

def _group_result(group: Mapping[str, Any]) -> dict[str, Any]:
    return {"group_id": group.get("groupId"), "group_name": group.get("name")}


def create_group(
    jira: JiraApi, ref: EventRef, name: str, *, check_first: bool = False, guard: CreateGuard | None = None,
) -> dict[str, Any]:
    """Create the group (``JiraClient.create_group``), its name composed (:func:`group_name`).
    Returns ``{"group_id", "group_name"}``. A group Jira holds under the same name in another
    Unicode form is refused, not doubled by a look-alike (Jira itself refuses an exact name)."""
    name = group_name(name)

    def find() -> dict[str, Any] | None:
        group = _group_named_exactly(jira, name)
        return _group_result(group) if group else None

    if not _may_have_sent(guard, "create", check_first) and not name.isascii():  # only it has other forms
        _group_named_exactly(jira, name)  # Jira itself would make the look-alike
    result, _ = _create_checked(
        f"create the group '{name}'", lambda: _group_result(jira.create_group(name)), find, check_first=check_first,
        guard=guard,
    )
    log.info("Jira group '%s' has id %s", name, result["group_id"])
    return result


def _group_named_exactly(jira: JiraApi, name: str) -> dict[str, Any] | None:
    """The group Jira holds under exactly ``name`` (composed: what a create of this event
    sent, and Jira keeps a name as sent), or None. A group with the same name in another
    Unicode form or case is refused: no attempt of this event made it, and a create must not
    make a look-alike of it."""
    held = _call(f"look up the group '{name}'", lambda: jira.find_group(name))
    if held is not None and held.get("name") != name:
        raise EventRefused(
            f"Jira already has the group '{held.get('name')}' ({held.get('groupId')}): the same name as "
            f"'{name}' in another Unicode form or case; not creating a look-alike second group"
        )
    return held


def _find_group(jira: JiraApi, *, group_id: str | None, name: str | None) -> dict[str, Any] | None:
    """The group with this id, else with this name (:meth:`find_group`). Given both, the id
    names the group (a name can move to another group) and a name that is not that group's,
    in any case or Unicode form, is refused: one of the two is wrong, and a delete must not guess."""
    if not group_id:
        return jira.find_group(name) if name else None
    group = next((g for g in jira.iter_groups(group_ids=[group_id]) if g.get("groupId") == group_id), None)
    held = group.get("name") if group is not None else None
    if name and isinstance(held, str) and group_name(held).casefold() != group_name(name).casefold():
        raise EventRefused(
            f"the payload's group id {group_id} is Jira's group '{held}', but its name '{name}' names another "
            "group (or none): send the id alone, or the group's current name"
        )
    return group


def _one_name_to_jira(held: str, name: str) -> bool:
    """Names Jira cannot hold as two groups: the same up to ASCII case (Jira matches names
    without it). In another Unicode form or non-ASCII case they can be two look-alikes."""
    return ascii_lower(held) == ascii_lower(name)


def delete_group(
    jira: JiraApi, ref: EventRef, *, name: str | None = None, group_id: str | None = None, check_first: bool = False,
    guard: CreateGuard | None = None,
) -> dict[str, Any]:
    """Delete the group (``JiraClient.delete_group``). Returns ``{"group_id", "group_name", "deleted"}``
    (``deleted`` False: an earlier attempt of this event already deleted it)."""
    if not (name or group_id):
        raise EventRefused("the payload names no group: give a group name or id")
    confirmed = _confirmed_before(guard, "delete")
    if confirmed is not None:
        return confirmed
    check_first = _may_have_sent(guard, "delete", check_first)
    which = name or group_id
    group = _call(f"look up the group {which}", lambda: _find_group(jira, group_id=group_id, name=name))
    if group is None:
        if check_first:
            log.info("Jira group %s is already gone: an earlier attempt deleted it", which)
            return {"group_id": group_id, "group_name": name, "deleted": False}
        raise EventRefused(f"Jira has no group {'with id ' + str(group_id) if group_id else 'named ' + repr(name)}")
    gid, gname = group.get("groupId"), group.get("name")
    if check_first and not group_id and not _one_name_to_jira(str(gname), str(name)):
        raise EventRefused(
            f"Jira's group '{gname}' ({gid}) has the same name as '{name}' in another Unicode form or case, and "
            "an earlier attempt of this event may have deleted the group named exactly so: not deleting a "
            "look-alike; send the group id"
        )
    _sending(guard, "delete")
    try:
        jira.delete_group(group_id=gid) if gid else jira.delete_group(name=gname)
    except NotFoundError:  # deleted meanwhile (or by a repeated request): the goal is reached
        log.info("Jira group %s is already gone", which)
        result = {"group_id": gid, "group_name": gname, "deleted": False}
    except ConnectorHTTPError as exc:
        if is_transient(exc):
            raise
        _refused_step(guard, "delete")
        raise refused(exc, f"delete the group {which}") from None
    else:
        log.info("Deleted Jira group %s (%s)", gname, gid)
        result = {"group_id": gid, "group_name": gname, "deleted": True}
    _confirmed(guard, "delete", result)
    return result


def _is_member(jira: JiraApi, account_id: str, *, group_id: str | None, name: str | None) -> bool:
    members = jira.iter_group_members(group_id=group_id or None, group_name=None if group_id else name)
    return any(m.get("accountId") == account_id for m in members)


def _group_ref(jira: JiraApi, *, group_id: str | None, name: str | None) -> tuple[str | None, str | None]:
    """``(group id, group name)`` to name the group to Jira: the id when given (a name given
    with it must be that group's, as :func:`_find_group` checks); a name Jira may hold in
    another Unicode form (a non-ASCII one) is looked up (:meth:`find_group`) and the group's
    id used; an ASCII name as given (Jira matches it without case)."""
    if group_id and name:  # one of the two may be wrong: the name must be the id's group's
        group = _call(f"look up the group {group_id}", lambda: _find_group(jira, group_id=group_id, name=name))
        if group is None:
            raise EventRefused(f"Jira has no group with id {group_id}")
    if group_id or not name:
        return group_id or None, None
    if name.isascii():
        return None, name
    group = _call(f"look up the group '{name}'", lambda: jira.find_group(name))
    if group is None:
        raise EventRefused(f"Jira has no group named {name!r}")
    return (str(group["groupId"]), None) if group.get("groupId") else (None, str(group.get("name")))


def _membership(
    jira: JiraApi,
    *,
    add: bool,
    group_name: str | None,
    group_id: str | None,
    account_id: str | None,
    email: str | None,
    check_first: bool,
    guard: CreateGuard | None = None,
) -> dict[str, Any]:
    if not (group_name or group_id):
        raise EventRefused("the payload names no group: give a group name or id")
    confirmed = _confirmed_before(guard, "membership")  # not again over a person's later change
    if confirmed is not None:
        return confirmed
    check_first = _may_have_sent(guard, "membership", check_first)
    account_id = _given_account_id(account_id)
    resolved = resolve_account_id(jira, account_id=account_id, email=email)
    if resolved is None:
        raise EventRefused(f"Jira has no user, active or deactivated, with the e-mail address {email}")
    which = group_name or group_id
    doing = f"{'add' if add else 'remove'} user {resolved} {'to' if add else 'from'} group '{which}'"
    result = {"group_id": group_id, "group_name": group_name, "account_id": resolved, "changed": False}
    # given an id and an address, the user is read here; a resumed removal need not read it again
    user_read = bool(account_id and email_key(email))
    if user_read and _user_by_id(jira, account_id, email) is None:
        raise EventRefused(f"Could not {doing}: Jira has no user with the account id {resolved}")
    gid, gname = _group_ref(jira, group_id=group_id, name=group_name)
    if check_first and _is_member(jira, resolved, group_id=gid, name=gname) == add:
        # in no group: not "removed before"
        if not add and account_id and not user_read and not _user_exists(jira, resolved):
            raise EventRefused(f"Could not {doing}: Jira has no user with the account id {resolved}")
        log.info("An earlier attempt of this event already did this: %s", doing)
        return result
    _sending(guard, "membership")
    try:
        if add:
            jira.add_user_to_group(resolved, group_id=gid, group_name=gname)
        else:
            jira.remove_user_from_group(resolved, group_id=gid, group_name=gname)
    except ConnectorHTTPError as exc:
        # Jira's 404 is "the group or user are not found": an account id naming no user fails
        # the event (the user is in no group, so the check below would call it removed)
        if isinstance(exc, NotFoundError) and not _user_exists(jira, resolved):
            _refused_step(guard, "membership")
            raise EventRefused(f"Could not {doing}: Jira has no user with the account id {resolved}") from None
        # "already a member" / "not a member" (or a repeated request that already took effect)
        if isinstance(exc, (BadRequestError, NotFoundError)) or is_transient(exc):
            try:
                state_ok = _is_member(jira, resolved, group_id=gid, name=gname) == add
            except ConnectorHTTPError:
                state_ok = False
            if state_ok:
                if add:
                    log.info("User %s is a member of group '%s' already: nothing to add", resolved, which)
                else:
                    log.info("User %s was not a member of group '%s': nothing to remove", resolved, which)
                _confirmed(guard, "membership", result)
                return result
        if is_transient(exc):
            raise
        _refused_step(guard, "membership")
        raise refused(exc, doing) from None
    log.info("Done: %s", doing)
    result["changed"] = True
    _confirmed(guard, "membership", result)
    return result


def add_user_to_group(
    jira: JiraApi,
    ref: EventRef,
    *,
    group_name: str | None = None,
    group_id: str | None = None,
    account_id: str | None = None,
    email: str | None = None,
    check_first: bool = False,
    guard: CreateGuard | None = None,
) -> dict[str, Any]:
    """Add the user to the group (``JiraClient.add_user_to_group``); a user already in the group is fine.
    Returns ``{"group_id", "group_name", "account_id", "changed"}``."""
    return _membership(
        jira, add=True, group_name=group_name, group_id=group_id, account_id=account_id, email=email,
        check_first=check_first, guard=guard,
    )


def remove_user_from_group(
    jira: JiraApi,
    ref: EventRef,
    *,
    group_name: str | None = None,
    group_id: str | None = None,
    account_id: str | None = None,
    email: str | None = None,
    check_first: bool = False,
    guard: CreateGuard | None = None,
) -> dict[str, Any]:
    """Remove the user from the group (``JiraClient.remove_user_from_group``); a user not in the group is fine.
    Returns ``{"group_id", "group_name", "account_id", "changed"}``."""
    return _membership(
        jira, add=False, group_name=group_name, group_id=group_id, account_id=account_id, email=email,
        check_first=check_first, guard=guard,
    )
