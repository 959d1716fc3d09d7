"""Starting the simulators (or any ``python -m`` service) as subprocesses.

:func:`start_module` serves ``make demo`` (devtools/demo.py), the benchmarks (bench/common.py)
and the test fixtures (tests/fixtures/jira_simulator.py, tests/fixtures/esm_simulator.py):
it starts ``python -m <args>`` with stdout and stderr in a log file and waits for the line
that says the service is ready (the simulators print ``... ready at <URL>``).
:func:`stop_process_groups` is the one way the demo and the local Airflow deployments stop
what they started, Airflow's task processes included.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]


class StartError(RuntimeError):
    """The process exited, or did not print its ready line in time (the message has its log's end)."""


@dataclass
class Started:
    """A process that printed its ready line."""

    proc: subprocess.Popen
    ready_line: str
    log: Path
    startup_s: float

    @property
    def url(self) -> str:
        """The last word of the ready line (``Jira simulator ready at https://...``)."""
        return self.ready_line.strip().rsplit(" ", 1)[-1]


def descendants(proc: subprocess.Popen) -> list[psutil.Process]:
    """Every process below ``proc`` now (none once it is gone)."""
    try:
        return psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def stop_process(proc: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM, up to ``timeout`` s to exit, then SIGKILL: for a service with no processes of
    its own below it (the simulators). Started in a session of its own or with children:
    :func:`stop_process_groups`."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def exit_code(proc: subprocess.Popen) -> int | None:
    """``proc``'s exit code once it has ended (negative: the signal that ended it), else None
    -- without reaping it, unlike ``poll()``: until :func:`stop_process_groups` waits for it,
    its pid stays taken, and with it the ids of its process group and session, which no other
    process can then get. So the processes it left behind can still be found and stopped."""
    if proc.returncode is not None:
        return proc.returncode
    try:
        ended = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # reaped already
        return proc.poll()
    if ended is None:
        return None
    return -ended.si_status if ended.si_code in (os.CLD_KILLED, os.CLD_DUMPED) else ended.si_status


def session_members(leaders: Iterable[subprocess.Popen]) -> list[psutil.Process]:
    """Every other process in the sessions the ``leaders`` started (``start_new_session``):
    those below them, and those whose parent ended (Airflow's task processes move to groups
    of their own, not to sessions of their own). Only while a leader is not reaped (see
    :func:`exit_code`): until then no other process can have its session id. One pass over
    the process table for all of them."""
    sessions = {leader.pid for leader in leaders}
    members = []
    for proc in psutil.process_iter():
        try:
            if proc.pid not in sessions and os.getsid(proc.pid) in sessions:
                members.append(proc)
        except (ProcessLookupError, PermissionError):
            pass
    return members


def stop_process_groups(leaders: Iterable[subprocess.Popen], sig: int = signal.SIGTERM, *,
                        timeout: float = 30, grace: float = 5) -> None:
    """End processes started in sessions of their own (``start_new_session``) and everything
    below them: ``sig`` to each process group at once, then up to ``timeout`` s for each
    leader to exit (SIGKILL to its group after that). Whatever was below a leader or in its
    session and is still there ``grace`` s later gets SIGKILL -- a process slow to obey, or one
    that left the group (Airflow starts each task process in a group of its own): none
    outlives the stop. A leader that has ended already counts too, as long as nobody reaped
    it (watch leaders with :func:`exit_code`, not ``poll()``): what it left behind is stopped."""
    unreaped = [p for p in leaders if p.returncode is None]  # running, or ended and not waited for
    found = [child for p in unreaped for child in descendants(p)] + session_members(unreaped)
    below = list({child.pid: child for child in found}.values())  # each process once
    for proc in unreaped:
        _signal_group(proc, sig)
    for proc in unreaped:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait(timeout=10)
    _, left = psutil.wait_procs(below, timeout=grace)
    for child in left:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass


def _signal_group(leader: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(leader.pid, sig)
    except ProcessLookupError:
        pass  # the whole group ended since it was looked at


def log_tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def start_module(
    args: list[str], log: Path, ready: str, *, name: str, timeout: float,
    parent_pid: bool = False, new_session: bool = False, append: bool = False,
) -> Started:
    """Start ``python -m <args>`` in the repository root and wait for its ready line.

    stdout and stderr go to ``log`` (emptied first, or appended to with ``append``: then only
    lines written by this start count). ``ready`` is a regular expression searched line by
    line. ``parent_pid``: pass ``--parent-pid <this process>`` so the simulator exits when
    its starter dies (a ``--parent-pid`` in ``args`` overrides it). ``new_session``: the child gets its own session (Ctrl-C on a terminal
    reaches only the starter). Raises :class:`StartError` when the process exits or is not
    ready within ``timeout`` seconds (it is killed then).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    if not append or not log.exists():
        log.write_bytes(b"")
    offset = log.stat().st_size
    # right after the module name: a --parent-pid among ``args`` comes later and wins
    cmd = [sys.executable, "-m", args[0], *(["--parent-pid", str(os.getpid())] if parent_pid else []), *args[1:]]
    started = time.perf_counter()
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=new_session, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    pattern = re.compile(ready)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with open(log, "rb") as f:
                f.seek(offset)
                text = f.read().decode(errors="replace")
            line = next((l for l in text.splitlines() if pattern.search(l)), None)
            if line is not None:
                return Started(proc, line, log, time.perf_counter() - started)
            if proc.poll() is not None:
                raise StartError(f"{name} exited with code {proc.returncode}; last lines of {log}:\n{log_tail(log)}")
            if time.monotonic() > deadline:
                raise StartError(f"{name} not ready after {timeout:.0f} s; last lines of {log}:\n{log_tail(log)}")
            time.sleep(0.05)
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        raise
