"""Bounded parallel calls: the one way the clients run requests side by side.

:func:`bounded_parallel` calls ``fn(item)`` for the items of an iterable on at most
``workers`` threads and yields ``(item, result)`` as each call finishes (not in input
order). At most ``workers`` calls are outstanding at any time, finished-but-not-yet-yielded
ones included, and the items are drawn lazily on the caller's thread, so memory stays
bounded however long the input is, and an input that pages through an API itself runs
while the calls already submitted proceed. The first failure is raised to the caller
after the calls not yet started are cancelled; the site's limiter (:mod:`.ratelimit`)
decides how many of the calls are really on the wire at once.

:func:`read_ahead` runs an input that pages through an API on a thread of its own, a page
ahead of its consumer: while :func:`bounded_parallel` waits for the next listing page, it
submits nothing, and the rate limit's free slots of that moment are lost for good.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

__all__ = ["bounded_parallel", "read_ahead"]

T = TypeVar("T")
R = TypeVar("R")


def bounded_parallel(
    fn: Callable[[T], R], items: Iterable[T], workers: int, *, name: str = "jira-esm"
) -> Iterator[tuple[T, R]]:
    """``(item, fn(item))`` for every item, as the calls finish; at most ``workers`` at once."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    source = iter(items)
    if workers == 1:  # no threads needed: same results, input order
        for item in source:
            yield item, fn(item)
        return
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
    outstanding: dict[Future[R], T] = {}
    exhausted = False
    try:
        while True:
            while not exhausted and len(outstanding) < workers:
                try:
                    item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                outstanding[executor.submit(fn, item)] = item
            if not outstanding:
                return
            done, _ = wait(outstanding, return_when=FIRST_COMPLETED)
            for future in done:
                item = outstanding.pop(future)
                yield item, future.result()  # raises the call's own error
    finally:
        # a failure, or a caller that stopped early: start nothing new, let running calls end
        executor.shutdown(wait=True, cancel_futures=True)


_END = object()
_PUT_POLL_S = 0.1  # how soon a producer blocked on a full queue sees that its consumer stopped
_STOP_JOIN_S = 5.0  # how long a stopping consumer waits for the producer's request in progress


def read_ahead(items: Iterable[T], *, depth: int = 1, name: str = "jira-esm-read-ahead") -> Iterator[T]:
    """The items of ``items`` in order, drawn on a thread of their own at most ``depth``
    items ahead of the consumer. An error of ``items`` is raised to the consumer after the
    items before it, as without the thread. A consumer that stops early (``close``, an error
    of its own) stops the producer: it draws nothing more once it sees that."""
    if depth < 1:
        raise ValueError("depth must be at least 1")
    ahead: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[Any, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                ahead.put(entry, timeout=_PUT_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    source = iter(items)

    def produce() -> None:
        try:
            for item in source:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put((_END, exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()  # a generator's own clean-up runs here, not whenever it is collected

    producer = threading.Thread(target=produce, name=name, daemon=True)
    producer.start()
    try:
        while True:
            item, error = ahead.get()
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        # a request in progress ends on its own (its timeouts); the thread then stops
        producer.join(timeout=_STOP_JOIN_S)
