"""Counts for the bad-input summary table printed at the end of the run (see conftest.py).

Each generated case is recorded once, as

* ``refused`` -- the connector said no, with a clear error naming the file/field/endpoint;
* ``inert``   -- the input went through as plain data (escaped, not evaluated, well-formed);
* ``partial`` -- something was written although the input was refused (must stay 0).
"""
from __future__ import annotations

from collections import Counter, defaultdict

OUTCOMES = ("refused", "inert", "partial")
TALLY: dict[str, Counter] = defaultdict(Counter)


def record(input_class: str, outcome: str) -> None:
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    TALLY[input_class]["generated"] += 1
    TALLY[input_class][outcome] += 1


def table() -> list[str]:
    head = ("input class", "cases generated", "refused with a clear error", "passed inertly", "partial effects")
    rows = [
        (name, str(c["generated"]), str(c["refused"]), str(c["inert"]), str(c["partial"]))
        for name, c in sorted(TALLY.items())
    ]
    if rows:
        total = Counter()
        for c in TALLY.values():
            total.update(c)
        rows.append(("total", str(total["generated"]), str(total["refused"]), str(total["inert"]), str(total["partial"])))
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    fmt = lambda r: "| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return [fmt(head), sep, *(fmt(r) for r in rows)]
