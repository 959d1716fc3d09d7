"""``run_event``: one triggered event, from conf payload to Jira change, exactly once.

Steps:

1. **Check the payload**: only keys the task declares (Airflow lets undeclared conf keys
   through), a non-empty ``event_id``, values matching the task's JSON schema.
2. **Claim the event** in the state store. Already done -> return the recorded result
   with ``replayed: true`` without touching Jira. Begun by an earlier attempt that never
   recorded an outcome (crash, task retry, failure) -> act with ``check_first`` so a
   create looks in Jira before repeating itself.
3. **Map** the payload to Jira values (the task file's ``fields``/``issue``/``comment``/
   ``transition``/``user``/``group``; custom field names resolved through Jira's field list).
4. **Act** in Jira with the operation's handler (:mod:`.handlers`, as the operation's entry
   in :data:`~jira_esm_connector.config.operation_specs.OPERATION_SPECS` names it), **write
   back** the result to the ESM card when the task asks, **record** the outcome, and return
   it (the DAG run's result).
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from ..bounded import cut, short_repr, unknown_keys
from ..config.event import EventTask, RenderedEvent, event_renderer
from ..config.operation_specs import OPERATION_SPECS
from ..config.params import allowed_keys, empty_optional_fields, format_broken, params_schema
from ..http.errors import ConnectorHTTPError
from ..mapping import MappingError
from ..markers import EventRef
from ..protocols import EsmApi, JiraApi, StateApi
from . import operations as ops
from .errors import EventError, EventRefused, PayloadError, is_permanent, is_transient
from .handlers import Act, handler_for

__all__ = ["EventBusy", "run_event", "check_payload", "write_back"]

log = logging.getLogger("jira_esm_connector.events")

_RENDERERS: dict[int, tuple[EventTask, Any]] = {}


def _renderer(task: EventTask):
    cached = _RENDERERS.get(id(task))
    if cached is None or cached[0] is not task:
        if len(_RENDERERS) > 256:  # tasks are few; this only bounds a long-lived process
            _RENDERERS.clear()
        cached = (task, event_renderer(task))
        _RENDERERS[id(task)] = cached
    return cached[1]


# A conf payload comes from outside and can be any size: its error lists at most this many
# keys/problems, each quoted value bounded.
_MAX_LISTED = 10

# What the two implicit keys must look like, in words (the schema's patterns are unreadable).
_IMPLICIT_RULES = {
    "event_id": "must be printable text of 1 to 200 characters, without line breaks, tabs or "
                "other control characters",
    "datacard_id": "must be an ESM data card id: a positive whole number such as 4711 "
                   "(as a string of digits or a number)",
}


def _schema_problem(error: Any) -> str:
    where = ".".join(str(p) for p in error.absolute_path)
    if where in _IMPLICIT_RULES and error.validator not in ("required", "additionalProperties"):
        value = error.instance
        shown = repr(value) if not isinstance(value, str) or len(value) <= 60 else repr(value[:57] + "...")
        return f"{where}: {shown} {_IMPLICIT_RULES[where]}"
    if error.validator == "required":
        return error.message.replace("is a required property", "is required")
    if error.validator == "additionalProperties":
        return cut(error.message, 200)
    value = error.instance
    shown = short_repr(value, 60)  # a conf value can be anything, of any size
    if error.validator == "maxLength":
        return f"{where}: {len(value)} characters is longer than the allowed {error.validator_value}"
    if error.validator == "enum":
        allowed = ", ".join(repr(v) for v in error.validator_value if v is not None)
        return f"{where}: {shown} is not one of {allowed}"
    if error.validator == "type":
        return f"{where}: {shown} is not of type {error.validator_value}"
    broken = format_broken(error)
    if broken is not None:
        return f"{where}: {shown} is not a valid {broken}"
    return f"{where}: {error.message if len(error.message) < 200 else error.message[:200] + '...'}"


def check_payload(task: EventTask, conf: Mapping[str, Any] | None) -> dict[str, Any]:
    """The conf as the operation sees it: declared keys only (optional ones filled with their
    default), validated against the task's schema; a whole number sent as 5.0 for an
    integer field is passed on as 5. Raises :class:`PayloadError`."""
    import jsonschema

    if conf is None:
        conf = {}
    if not isinstance(conf, Mapping):
        raise PayloadError(f"the trigger's conf must be a JSON object, got {type(conf).__name__}")
    allowed = allowed_keys(task)
    shown = unknown_keys(conf, allowed, listed=_MAX_LISTED)
    if shown:
        raise PayloadError(
            f"the payload has keys this event does not take: {shown} "
            f"(it takes: {', '.join(sorted(allowed))})"
        )
    payload: dict[str, Any] = {"datacard_id": None}
    for name, field in task.payload.items():
        payload[name] = field.default
    payload.update(conf)
    for name in empty_optional_fields(task, payload):
        field = task.payload.get(name)  # None: the implicit datacard_id
        payload[name] = field.default if field is not None else None  # "" is how ESM sends an empty attribute: not sent
    event_id = payload.get("event_id")
    # missing or blank; one of another type (a number) is refused below, saying what is wrong with it
    if event_id is None or (isinstance(event_id, str) and not event_id.strip()):
        raise PayloadError("the payload has no event_id: every event needs a unique, non-empty event_id")
    validator = jsonschema.Draft202012Validator(
        params_schema(task), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    problems = sorted(validator.iter_errors(payload), key=lambda e: [str(p) for p in e.absolute_path])
    if problems:
        text = "; ".join(_schema_problem(p) for p in problems[:_MAX_LISTED])
        if len(problems) > _MAX_LISTED:
            text += f"; and {len(problems) - _MAX_LISTED} more problems"
        raise PayloadError("the payload is not valid: " + text)
    for name, field in task.payload.items():
        value = payload.get(name)
        if field.type == "integer" and isinstance(value, float):
            # JSON schema's "integer" accepts 5.0 (the schema check passed): 5, so "{{ count }}" renders 5
            payload[name] = int(value)
    card_id = payload.get("datacard_id")
    if card_id is not None and not isinstance(card_id, str):
        # 4711 and 4711.0 (JSON schema's "integer") -> "4711": ESM's ids are strings of digits
        payload["datacard_id"] = str(int(card_id))
    return payload


def _render(task: EventTask, payload: dict[str, Any]) -> RenderedEvent | Exception:
    """The payload's values for the operation, or the error rendering them raised: raised by
    ``_act``, after the claim, so that the event's failure is recorded."""
    try:
        return _renderer(task)(payload)
    except MappingError as exc:
        return PayloadError(f"cannot map the payload: {exc}")
    except Exception as exc:  # noqa: BLE001 - handed on to _act, which raises it
        return exc


def _act(
    task: EventTask, payload: dict[str, Any], rendered: RenderedEvent | Exception, jira: JiraApi, ref: EventRef,
    check_first: bool, guard: ops.CreateGuard,
) -> dict[str, Any]:
    if isinstance(rendered, Exception):
        raise rendered
    return handler_for(task.operation)(Act(jira, ref, rendered, check_first, guard, payload))


def write_back(task: EventTask, payload: Mapping[str, Any], result: Mapping[str, Any], esm: EsmApi) -> dict[str, Any] | None:
    """Write the operation's result value to the originating ESM card, when the task asks."""
    wb = task.write_back
    if wb is None:
        return None
    card_id = payload.get("datacard_id")
    if not card_id:
        raise PayloadError("the task writes the result back to ESM, but the payload has no datacard_id")
    key = OPERATION_SPECS[task.operation].result_key
    value = result.get(key)
    if value is None:
        log.info("Nothing to write back to ESM: the result has no %s", key)
        return None
    try:
        esm.patch_card(wb.template, card_id, {wb.attribute: value})
    except ConnectorHTTPError as exc:
        if is_transient(exc):
            raise
        said = "; ".join(exc.details) if exc.details else str(exc)
        if exc.status == 403:  # ESM's words may be only "User is forbidden to update the resource"
            said += (" (403: the connector's ESM account may not update this card -- its folder, the attribute, or "
                     "the whole template: it may have lost its rights; check its role in ESM)")
        raise EventRefused(
            f"ESM refused the write-back of {key} {value} to {wb.template} card {card_id}, attribute "
            f"{wb.attribute}: {said}"
        ) from None
    log.info("Wrote %s %s back to ESM %s card %s (attribute %s)", key, value, wb.template, card_id, wb.attribute)
    return {"template": wb.template, "datacard_id": str(card_id), "attribute": wb.attribute, "value": value}


def _event_card(task: EventTask, payload: Mapping[str, Any], result: Mapping[str, Any]) -> dict[str, str] | None:
    """The card the event created a Jira object for, as ``StateStore.note_event_card`` notes it
    (with the issue's id, which a move to another project keeps); None without a write-back."""
    wb, card_id = task.write_back, payload.get("datacard_id")
    value = result.get(OPERATION_SPECS[task.operation].result_key) if wb is not None else None
    if wb is None or not card_id or value is None:
        return None
    return {"template": wb.template, "attribute": wb.attribute, "key": str(value), "card_id": str(card_id),
            "object_id": str(result.get("issue_id") or "") or None}


def _note_event_card(task: EventTask, payload: Mapping[str, Any], result: Mapping[str, Any], state: StateApi,
                     ref: EventRef) -> None:
    """The write-back failed: note which card the created object belongs to, so that an
    import meeting its key before the event's retry wrote it (ESM down for a while) writes
    that card instead of creating a second one (``StateStore.event_cards``). A write-back
    under way, or whose worker died, is found through the claim's origin (``_origin``); one
    that worked is noted with the event's success (:func:`_done_card`)."""
    card, note = _event_card(task, payload, result), getattr(state, "note_event_card", None)
    if card is None or note is None:
        return
    try:
        note(card["template"], card["attribute"], card["key"], card["card_id"], task=ref.task, event_id=ref.event_id,
             object_id=card["object_id"])
    except Exception:  # noqa: BLE001 - the write-back still goes ahead: once it lands, the key finds the card
        log.exception("Could not note ESM card %s for %s %s of event %s", card["card_id"], card["attribute"],
                      card["key"], ref.event_id)


def _done_card(task: EventTask, payload: Mapping[str, Any], result: Mapping[str, Any]) -> dict[str, str] | None:
    """The card noted with an event's success (in the same transaction: the push pays no extra
    state write): only a created issue's, whose key a move to another project changes. An
    import meeting the issue under its new key, before it wrote the card, finds the card by
    the issue's id (``StateStore.event_cards_of_objects``) instead of creating a second."""
    card = _event_card(task, payload, result)
    return card if card is not None and card["object_id"] and "written_back" in result else None


class EventBusy(EventError):
    """Another run is handling the same event and has not finished: try again later."""

    permanent = False


CLAIM_STALE_MIN = timedelta(minutes=10)


def claim_stale_after(event_timeout_minutes: float) -> timedelta:
    """When another run's unfinished claim of an event counts as crashed: not before that
    run's own deadline (the event task's ``execution_timeout``) has passed, with a minute to
    spare, and never under ten minutes. Taken over sooner, a run still at work and its
    successor could both act (two issues, two comments)."""
    return max(CLAIM_STALE_MIN, timedelta(minutes=float(event_timeout_minutes) + 1))


def _origin(task: EventTask, payload: Mapping[str, Any], rendered: RenderedEvent | Exception) -> dict[str, str] | None:
    """The ESM card the event writes its result back to, noted with the claim (in the claim's
    own statement: the push pays no extra write) until the event is done. An import that meets
    the created object before the write-back -- its worker died after Jira's answer, the retry
    is still to come -- writes that card instead of a second one (``StateStore.event_origins``).
    A new issue is found by the event's label; a new user by its e-mail and a new group by its
    name, noted here too."""
    wb, card_id = task.write_back, payload.get("datacard_id")
    if wb is None or not card_id:
        return None
    origin = {"template": wb.template, "attribute": wb.attribute, "card_id": str(card_id)}
    if task.operation in ("create_user", "create_group") and not isinstance(rendered, Exception):
        found_by = {"email": rendered.email} if task.operation == "create_user" else {"group_name": rendered.group_name}
        origin.update({k: str(v) for k, v in found_by.items() if v})
    return origin


def payload_digest(payload: Mapping[str, Any]) -> str:
    """A digest of the checked payload (keys in any order): tells a replay of the same event
    from another event sent under an id already used."""
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _claim(
    state: StateApi, ref: EventRef, owner: str | None, wait_for_other: float, stale_after: timedelta | None,
    origin: dict[str, str] | None = None, digest: str | None = None,
) -> Any:
    deadline = time.monotonic() + wait_for_other
    pause = 0.2
    extra: dict[str, Any] = {"stale_after": stale_after} if stale_after is not None else {}
    if digest is not None:
        extra["payload_digest"] = digest
    extra["first_notes"] = {LEDGER_NOTE: 1}
    if origin is not None:
        extra["origin"] = origin
    while True:
        claim = state.begin_event(ref.task, ref.event_id, owner=owner, **extra)
        if claim.claimed or claim.done:
            return claim
        if time.monotonic() >= deadline:
            raise EventBusy(
                f"event {ref.event_id} of {ref.task} is being handled by another run ({claim.owner}) "
                f"since {claim.claimed_at:%Y-%m-%d %H:%M:%S} UTC; try again later"
            )
        log.info("Event %s is being handled by another run (%s): waiting for its outcome", ref.event_id, claim.owner)
        time.sleep(pause)
        pause = min(pause * 2, 2.0)


AMBIGUOUS_CREATE_NOTE = "ambiguous_create_at"  # event note: when a create of unknown outcome was sent
CREATED_ISSUE_NOTE = "created_issue_id"  # event note: the issue a create made (Jira answered)
STEPS_NOTE = "steps"  # event note: the ledger of changes sent / confirmed (CreateGuard.steps)
# event note, set by the first claim: this event began under a version that keeps the ledger,
# so a step missing from it was never sent (without it, every step may have been)
LEDGER_NOTE = "ledger"
# event note: the digest of the payload of the first try that sent a change to Jira -- later
# tries with another payload are told theirs differs, however many tries came between
ACTED_PAYLOAD_NOTE = "acted_payload"


def _digest_that_acted(claim: Any) -> str | None:
    """The digest of the payload an earlier try of the event may have sent a change to Jira
    with, or None: the ``acted_payload`` note; for an event begun before that note, the try
    just before this one's, when it may have acted."""
    acted = (getattr(claim, "notes", None) or {}).get(ACTED_PAYLOAD_NOTE)
    if acted:
        return str(acted)
    if claim.resumed and claim.earlier_payload_digest and _may_have_acted(claim):
        return str(claim.earlier_payload_digest)
    return None


def _acted_on_another_payload(claim: Any, digest: str) -> bool:
    """Whether a change an earlier try of a resumed event may have sent to Jira came from another
    payload than ``digest``'s (:func:`_digest_that_acted`)."""
    acted = _digest_that_acted(claim)
    return acted is not None and acted != digest


def _may_have_acted(claim: Any) -> bool:
    """Whether an earlier try of a resumed event may have changed something in Jira: its notes
    hold a step sent or confirmed, or a create (or it began under a version without the ledger)."""
    notes = getattr(claim, "notes", None) or {}
    return LEDGER_NOTE not in notes or any(notes.get(k) for k in (STEPS_NOTE, AMBIGUOUS_CREATE_NOTE, CREATED_ISSUE_NOTE))


def _create_guard(state: StateApi, ref: EventRef, claim: Any, index_lag_s: float, digest: str) -> ops.CreateGuard:
    """The create's index-lag guard, fed from and stored into the event's state row. ``digest``:
    of this try's payload, noted with its first change sent when no earlier try sent one."""
    notes = getattr(claim, "notes", None) or {}
    # noted with this try's first change sent, unless noted already: the payload that acted first
    acted = {} if notes.get(ACTED_PAYLOAD_NOTE) else {ACTED_PAYLOAD_NOTE: _digest_that_acted(claim) or digest}
    noted = notes.get(AMBIGUOUS_CREATE_NOTE)
    ambiguous_at = None
    if isinstance(noted, str):
        try:
            ambiguous_at = datetime.fromisoformat(noted)
        except ValueError:
            log.warning("Ignoring an unreadable %s note on event %s: %r", AMBIGUOUS_CREATE_NOTE, ref.event_id, noted)
    note_event, get_event = getattr(state, "note_event", None), getattr(state, "get_event", None)

    # this try's own acted note is taken back when Jira refused what it sent and nothing else of
    # the event reached Jira: a corrected payload then is not "another payload than the one that acted"
    withdraw = {ACTED_PAYLOAD_NOTE: None} if acted.get(ACTED_PAYLOAD_NOTE) == digest else {}

    def remember(at: datetime | None) -> None:
        if note_event is None:
            return
        sent = acted if at else (withdraw if not notes.get(CREATED_ISSUE_NOTE) else {})
        noted = note_event(ref.task, ref.event_id, {AMBIGUOUS_CREATE_NOTE: at.isoformat() if at else None, **sent},
                           attempt=claim.attempts)
        if at is not None and noted is False:
            raise _claim_lost(ref, claim)

    def still_ours() -> None:
        current = get_event(ref.task, ref.event_id) if get_event is not None else None
        if current is not None and (current.done or current.attempts != claim.attempts):
            raise _claim_lost(ref, claim)

    def remember_created(issue_id: str) -> None:
        # Jira answered the create: no request of unknown outcome is left to wait for
        if note_event is not None:
            note_event(ref.task, ref.event_id, {CREATED_ISSUE_NOTE: issue_id, AMBIGUOUS_CREATE_NOTE: None, **acted},
                       attempt=claim.attempts)

    ledger = notes.get(STEPS_NOTE)
    steps = dict(ledger) if isinstance(ledger, dict) else {}
    if claim.resumed and LEDGER_NOTE not in notes:
        log.info("Event %s of %s began under an earlier version of the connector: each of its changes may have "
                 "been sent, Jira is checked before each", ref.event_id, ref.task)
        steps_known: dict[str, Any] | None = None
    else:
        steps_known = steps

    def remember_step(step: str, value: Any) -> None:
        if note_event is None:
            return
        sent = acted if value == ops.STEP_SENT else (withdraw if value is None and not steps_known else {})
        noted = note_event(ref.task, ref.event_id, {STEPS_NOTE: dict(steps_known or {}) or None, **sent},
                           attempt=claim.attempts)
        if value == ops.STEP_SENT and noted is False:
            raise _claim_lost(ref, claim)

    created = notes.get(CREATED_ISSUE_NOTE)
    return ops.CreateGuard(index_lag_s=index_lag_s, ambiguous_at=ambiguous_at, remember=remember, still_ours=still_ours,
                           created_id=str(created) if created else None, remember_created=remember_created,
                           steps=steps_known, remember_step=remember_step if steps_known is not None else None)


def _claim_lost(ref: EventRef, claim: Any) -> EventBusy:
    """Checked just before each change sent to Jira: the last moment to learn that another
    attempt (an Airflow retry while this try lived on, a re-trigger after its claim went stale)
    has the event now -- both creating would make two, and a change sent after a later event
    would undo that one."""
    return EventBusy(
        f"event {ref.event_id} of {ref.task} is no longer this attempt's (attempt {claim.attempts}): "
        "another attempt took it over or finished it meanwhile; not sending the create or change, that attempt "
        "handles it"
    )


def run_event(
    task: EventTask,
    conf: Mapping[str, Any] | None,
    jira: JiraApi,
    esm: EsmApi,
    state: StateApi,
    *,
    owner: str | None = None,
    wait_for_other: float = 30.0,
    index_lag_s: float = ops.DEFAULT_INDEX_LAG_S,
    stale_after: timedelta | None = None,
) -> dict[str, Any]:
    """Handle one event exactly once; returns the result dict (with ``event_id`` and ``replayed``).

    ``jira``: a JiraClient; ``esm``: an EsmClient (only used for write-back; may be None when
    the task has no ``write_back``); ``state``: the connector's StateStore; ``owner``: who
    is acting (the Airflow run id: a task retry of the same run takes over at once).
    When another run is handling the same event right now, wait up to ``wait_for_other``
    seconds for its outcome. ``index_lag_s``: how long Jira's search may lag behind a create
    (``JIRA_ESM_INDEX_LAG_SECONDS``); a create whose outcome is unknown is not sent again
    before a search that much later still misses it (:class:`~.operations.CreateGuard`).
    ``stale_after``: how long another run's unfinished claim is waited for before it counts
    as crashed and is taken over (:func:`claim_stale_after`; the store's default when None).
    """
    payload = check_payload(task, conf)
    ref = EventRef(task.name, payload["event_id"])
    rendered = _render(task, payload)
    digest = payload_digest(payload)
    claim = _claim(state, ref, owner, wait_for_other, stale_after, _origin(task, payload, rendered), digest)
    if claim.done:
        replay = {**(claim.result or {}), "event_id": ref.event_id, "replayed": True}
        if claim.payload_digest is not None and claim.payload_digest != digest:
            log.warning(
                "Event %s of %s was handled before with another payload: returning the recorded result, not acting "
                "on this payload. An event id names one event: if this is a new event, trigger it with a new "
                "event_id (the earlier DAG run's conf shows the payload that was handled).", ref.event_id, task.name,
            )
            replay["payload_differs"] = True
        else:
            log.info("Event %s of %s was handled before: returning the recorded result, not acting again",
                     ref.event_id, task.name)
        return replay
    check_first = bool(claim.resumed)
    # an unfinished try acted on another payload under this event id: what it did in Jira (say
    # the issue it created) is found and kept, not redone with this payload -- say so
    differs = check_first and _acted_on_another_payload(claim, digest)
    if differs:
        log.warning(
            "Event %s of %s was begun before (attempt %d) with another payload and did not finish: checking Jira "
            "first; what that try already did there is kept, not redone with this payload. An event id names one "
            "event: if this is a new event, trigger it with a new event_id.", ref.event_id, task.name, claim.attempts,
        )
    elif check_first:
        log.info(
            "Event %s of %s was begun before (attempt %d) without a recorded success: checking Jira before acting",
            ref.event_id, task.name, claim.attempts,
        )
    try:
        result = _act(task, payload, rendered, jira, ref, check_first, _create_guard(state, ref, claim, index_lag_s, digest))
        try:
            written = write_back(task, payload, result, esm)
        except BaseException:
            _note_event_card(task, payload, result, state, ref)
            raise
        if written is not None:
            result["written_back"] = written
    except BaseException as exc:
        kind = "permanent" if is_permanent(exc) else "transient"
        try:
            state.fail_event(task.name, ref.event_id, f"{type(exc).__name__}: {exc}", attempt=claim.attempts)
        except Exception:  # noqa: BLE001 - recording must not hide the real error
            log.exception("Could not record the failure of event %s", ref.event_id)
        if isinstance(exc, (EventError, ConnectorHTTPError)):
            log.error("Event %s of %s failed (%s): %s", ref.event_id, task.name, kind, exc)
        raise
    result = {**result, "operation": task.operation, **({"payload_differs": True} if differs else {})}
    state.complete_event(task.name, ref.event_id, result, card=_done_card(task, payload, result),
                         attempt=claim.attempts)
    return {**result, "event_id": ref.event_id, "replayed": False}
