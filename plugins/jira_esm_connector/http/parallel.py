"""Bounded parallel calls: the one way the clients run requests side by side.

:func:`bounded_parallel` calls ``fn(item)`` for the items of an iterable on at most
``workers`` threads and yields ``(item, result)`` as each call finishes (not in input
order). At most ``workers`` calls are outstanding at any time, finished-but-not-yet-yielded
ones included, and the items are drawn lazily on the caller's thread, so memory stays
bounded however long the input is, and an input that pages through an API itself runs
while the calls already submitted proceed. The first failure is raised to the caller
after the calls not yet started are cancelled; the site's limiter (:mod:`.ratelimit`)
decides how many of the calls are really on the wire at once.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

__all__ = ["bounded_parallel"]

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
