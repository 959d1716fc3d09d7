"""The fault suite (SPEC §6): imports and events under 429 storms, 5xx, resets, timeouts,
page caps, data changing between pages, expired logins, refused cards, an unreachable ESM,
killed processes, search-index lag, concurrent runs and a vanishing state database.

Every case ends by comparing ESM with Jira (tests/faults/check.py) and records a row of
the table printed at the end of the pytest run (also with captured output):

    fault | result | runs | checked | lost | duplicated | wrongly removed

"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .check import Counts
from .harness import FaultEnv

_HERE = Path(__file__).resolve().parent


@dataclass
class Row:
    nodeid: str
    fault: str
    runs: int
    counts: Counts
    seconds: float = 0.0


_ROWS: list[Row] = []
_OUTCOMES: dict[str, str] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _HERE not in Path(str(report.fspath)).resolve().parents:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        outcome = report.outcome
        if hasattr(report, "wasxfail"):
            outcome = "xpass" if report.passed else "xfail"
        _OUTCOMES[report.nodeid] = outcome


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _ROWS and not any(k.startswith("tests/faults") for k in _OUTCOMES):
        return
    tr = terminalreporter
    tr.section("fault suite: ESM vs Jira after each fault")
    head = ("fault", "result", "runs", "checked", "lost", "duplicated", "wrongly removed", "s")
    lines = [head]
    seen = set()
    for r in _ROWS:
        seen.add(r.nodeid)
        c = r.counts
        lines.append((r.fault, _OUTCOMES.get(r.nodeid, "?"), str(r.runs), str(c.checked), str(c.lost),
                      str(c.duplicated), str(c.wrongly_removed), f"{r.seconds:.1f}"))
    for nodeid, outcome in _OUTCOMES.items():  # cases that ended before checking anything
        if nodeid not in seen:
            lines.append((nodeid.split("::")[-1], outcome, "-", "-", "-", "-", "-", "-"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    for n, line in enumerate(lines):
        tr.write_line(" | ".join(v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(line, widths))))
        if n == 0:
            tr.write_line("-+-".join("-" * w for w in widths))
    total = Counts()
    for r in _ROWS:
        total = total.add(r.counts)
    tr.write_line(f"total: {len(_ROWS)} faults, {total.checked} records checked, lost={total.lost} "
                  f"duplicated={total.duplicated} wrongly removed={total.wrongly_removed}")


@pytest.fixture
def env(jira_sim, esm_sim, tmp_path):
    """A fault case's environment: both simulators reset (Jira to its seed, ESM empty)."""
    jira_sim.reset()
    esm_sim.reset()
    e = FaultEnv(jira_sim, esm_sim, tmp_path / "case")
    yield e
    e.close()
    if esm_sim.proc is None:  # a case stopped ESM and failed before restarting it
        esm_sim.start()
    jira_sim.reset()
    esm_sim.reset()


@pytest.fixture
def report(request, env):
    """``report(fault, runs, counts)``: add the case's row to the table, then assert that
    lost = duplicated = wrongly removed = 0."""
    started = time.monotonic()

    def _report(fault: str, runs: int, counts: Counts) -> None:
        _ROWS.append(Row(request.node.nodeid, fault, runs, counts, time.monotonic() - started))
        assert counts.checked > 0, f"{fault}: nothing was checked"
        assert counts.clean, f"{fault}: {counts.summary()}"

    return _report
