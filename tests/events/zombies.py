"""An event try that freezes (lost heartbeats: Airflow marks it failed and starts the next
try, which takes the event over at once) while its retry, or later events, go on -- and then
wakes. Shared by the tests of such zombie tries."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class StallBeforeNote:
    """A state store whose worker freezes just before noting that it sends a create."""

    def __init__(self, store, stalled: threading.Event, wakes: threading.Event):
        self.store, self.stalled, self.wakes = store, stalled, wakes

    def __getattr__(self, name):
        return getattr(self.store, name)

    def note_event(self, *a, **kw):
        self.stalled.set()
        assert self.wakes.wait(60)
        return self.store.note_event(*a, **kw)


class StallAfterClaim(StallBeforeNote):
    """A state store whose worker freezes right after claiming the event, before acting."""

    def begin_event(self, *a, **kw):
        claim = self.store.begin_event(*a, **kw)
        self.stalled.set()
        assert self.wakes.wait(60)
        return claim

    def note_event(self, *a, **kw):
        return self.store.note_event(*a, **kw)


def frozen_try(try_1: Callable[[threading.Event, threading.Event], Any], meanwhile: Callable[[], Any]) -> tuple[Any, Any]:
    """Run ``try_1(stalled, wakes)`` in a thread -- it sets ``stalled`` where it freezes and
    waits for ``wakes`` --; once it froze, run ``meanwhile()``; then wake it. Returns (try 1's
    result or the exception it raised, what ``meanwhile`` returned)."""
    stalled, wakes = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["1"] = try_1(stalled, wakes)
        except BaseException as exc:  # noqa: BLE001 - the caller asserts it
            outcome["1"] = exc

    zombie = threading.Thread(target=run)
    zombie.start()
    try:
        assert stalled.wait(60)
        done = meanwhile()
    finally:
        wakes.set()
        zombie.join(60)
    return outcome.get("1"), done
