"""Shared plumbing for the benchmarks: simulators as subprocesses on free loopback ports,
timing and percentile helpers, peak-memory readings, and result tables.

Every benchmark module exposes ``run(opts: BenchOptions-like namespace) -> BenchResult``;
it starts what it needs under a temporary directory, stops it in a ``finally`` and keeps
to a time budget (loops stop early and say so in the result's notes).
"""
from __future__ import annotations

import math
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from devtools.processes import start_module, stop_process

REPO_ROOT = Path(__file__).resolve().parent.parent

# Benchmark-only credentials for the local simulators (never real secrets).
JIRA_EMAIL = "bench@example.com"
JIRA_TOKEN = "bench-token"
JIRA_TIME_ZONE = "UTC"
ESM_USER = "bench"
ESM_PASSWORD = "bench-pass"


# ---------------------------------------------------------------------------- results

@dataclass
class BenchResult:
    """One benchmark's outcome: rows of ``(metric, value, unit/comment)`` plus notes."""

    name: str
    title: str
    params: dict[str, Any] = field(default_factory=dict)
    rows: list[tuple[str, Any, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # raw numbers (JSON output, tests)
    seconds: float = 0.0

    def add(self, metric: str, value: Any, unit: str = "", *, key: str | None = None) -> None:
        self.rows.append((metric, value, unit))
        if key:
            self.data[key] = value

    def markdown(self) -> str:
        lines = [f"### {self.title}", ""]
        if self.params:
            lines.append("Parameters: " + ", ".join(f"`{k}={v}`" for k, v in self.params.items()))
            lines.append("")
        lines += ["| metric | value | unit / note |", "|---|---:|---|"]
        for metric, value, unit in self.rows:
            lines.append(f"| {_cell(metric)} | {_cell(fmt(value))} | {_cell(unit)} |")
        lines.append("")
        for note in self.notes:
            lines.append(f"- {note}")
        if self.notes:
            lines.append("")
        lines.append(f"_Benchmark wall time: {self.seconds:.1f} s._")
        lines.append("")
        return "\n".join(lines)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def fmt(value: Any) -> str:
    if isinstance(value, float):
        if value == 0 or math.isnan(value):
            return f"{value:g}"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def machine_line() -> str:
    """Where the numbers come from: CPU count, model, memory, Python, load at the time."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPU cores ({model or platform.processor() or 'unknown CPU'}), {mem}, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"load average at start {load}"
    )


# ---------------------------------------------------------------------------- timing

def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100) of a non-empty list."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(samples_s: list[float]) -> dict[str, float]:
    """min / p50 / p95 / max / mean in milliseconds of samples given in seconds."""
    ms = [s * 1000 for s in samples_s]
    if not ms:
        return {"n": 0, "min": float("nan"), "p50": float("nan"), "p95": float("nan"),
                "max": float("nan"), "mean": float("nan")}
    return {
        "n": len(ms), "min": min(ms), "p50": percentile(ms, 50), "p95": percentile(ms, 95),
        "max": max(ms), "mean": sum(ms) / len(ms),
    }


def time_calls(fn: Callable[[], Any], repeat: int, *, warmup: int = 1, deadline: float | None = None) -> list[float]:
    """Seconds per call of ``fn`` over ``repeat`` calls (after ``warmup`` untimed ones)."""
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    for _ in range(repeat):
        if deadline is not None and time.monotonic() > deadline and samples:
            break
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


def time_alternating(fn_a: Callable[[], Any], fn_b: Callable[[], Any], repeat: int, *,
                     warmup: int = 1) -> tuple[list[float], list[float]]:
    """Seconds per call of two functions called in turn (a, b, a, b, ...), so that a burst of
    load from elsewhere on the machine hits both figures alike."""
    for _ in range(warmup):
        fn_a()
        fn_b()
    a: list[float] = []
    b: list[float] = []
    for _ in range(repeat):
        for fn, out in ((fn_a, a), (fn_b, b)):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return a, b


class Budget:
    """A wall-clock budget; loops ask ``left()`` / ``over()`` and report truncation."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def over(self) -> bool:
        return time.monotonic() >= self.deadline


def peak_rss_mib() -> float:
    """This process's peak resident set size so far (Linux reports KiB)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 1024 / 1024


def current_rss_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def process_rss_mib(pid: int) -> float:
    """Current RSS of another process (e.g. a simulator), NaN when unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) another process has used so far, NaN when unknown: what a
    simulator spent while a step ran, on the cores it shares with the connector."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


# ---------------------------------------------------------------------------- simulators

@dataclass
class SimProcess:
    """A simulator subprocess that printed its ready line; ``stop()`` ends it (by pid)."""

    name: str
    base_url: str
    ca_pem: str | bool
    proc: subprocess.Popen
    log_path: Path
    startup_s: float

    def __repr__(self) -> str:
        return f"SimProcess({self.name!r}, {self.base_url!r}, pid={self.proc.pid})"

    @property
    def output(self) -> list[str]:
        """What the simulator printed so far (stdout and stderr), line by line."""
        return self.log_path.read_text(errors="replace").splitlines()

    @property
    def root_url(self) -> str:
        return re.sub(r"/rest-api/itsm/v1$", "", self.base_url)

    def rss_mib(self) -> float:
        return process_rss_mib(self.proc.pid)

    def stop(self) -> None:
        stop_process(self.proc)


def start_process(name: str, args: list[str], ready: str, workdir: Path, *, timeout: float,
                  ca_pem: str | bool) -> SimProcess:
    """Start ``python -m <args>`` (stdout and stderr in ``<workdir>/<name>.log``), wait for a line
    containing ``ready``; the URL is the last word of that line."""
    started = start_module(args, workdir / f"{name}.log", re.escape(ready), name=name, timeout=timeout)
    return SimProcess(name, started.url, ca_pem, started.proc, started.log, started.startup_s)


def start_jira_simulator(workdir: Path, *, issues: int, projects: int = 5, users: int = 200,
                         groups: int = 20, seed: int = 42, tls: bool = True,
                         timeout: float = 900, latency_ms: int = 0) -> SimProcess:
    """The Jira Cloud simulator seeded with ``issues`` issues, account ``bench@example.com``;
    ``latency_ms`` is added to every API request (an asyncio sleep: concurrent requests overlap)."""
    cmd = [
        "devtools.jira_simulator", "--host", "127.0.0.1", "--port", "0",
        "--seed", str(seed), "--projects", str(projects), "--issues", str(issues),
        "--users", str(users), "--groups", str(groups), "--db", str(workdir / "jira.db"),
        "--tls-dir", str(workdir / "tls"),
        "--account", f"{JIRA_EMAIL}:{JIRA_TOKEN}:{JIRA_TIME_ZONE}",
        "--latency-ms", str(int(latency_ms)),
    ]
    if not tls:
        cmd.append("--insecure-http")
    ca: str | bool = str(workdir / "tls" / "ca.pem") if tls else False
    return start_process("jira-simulator", cmd, "Jira simulator ready at ", workdir, timeout=timeout, ca_pem=ca)


def jira_seed_seconds(sim: SimProcess) -> float | None:
    """The simulator's own "Seeded N issues ... in X s" figure."""
    for line in sim.output:
        # "Seeded N issues ... in 1.2s" or "Seeded <db>: N issues, ... (1.2s)"
        m = re.search(r"^Seeded\b.*?(?:in |\()([0-9]+(?:\.[0-9]+)?)\s*s\)?\s*$", line.strip())
        if m:
            return float(m.group(1))
    return None


def start_esm_simulator(workdir: Path, *, incidents: int = 0, persons: int = 0, groups: int = 0,
                        seed: int = 42, tls: bool = True, timeout: float = 1800,
                        db_path: Path | None = None, latency_ms: int = 0) -> SimProcess:
    """The ESM simulator (fresh database unless ``db_path`` exists) with user ``bench``;
    ``latency_ms`` is added to every API request (an asyncio sleep: concurrent requests overlap)."""
    cmd = [
        "devtools.esm_simulator", "--host", "127.0.0.1", "--port", "0",
        "--db", str(db_path or workdir / "esm.sqlite"), "--tls-dir", str(workdir / "tls"),
        "--user", f"{ESM_USER}:{ESM_PASSWORD}", "--seed", str(seed),
        "--incidents", str(incidents), "--persons", str(persons), "--groups", str(groups),
        "--token-ttl", "86400", "--latency", f"{latency_ms / 1000:g}",
    ]
    if not tls:
        cmd.append("--insecure-http")
    ca: str | bool = str(workdir / "tls" / "ca.pem") if tls else False
    return start_process("esm-simulator", cmd, "ESM simulator ready at ", workdir, timeout=timeout, ca_pem=ca)


def esm_api_requests(admin_root: str, ca: str | bool) -> dict[str, int]:
    """ESM API requests by endpoint since the simulator's counters were reset (logins and
    admin calls left out)."""
    import requests

    stats = requests.get(f"{admin_root}/_admin/stats", verify=ca, timeout=60).json()["requests"]
    return {k: n for k, n in stats.items() if "/rest-api/" in k and "login" not in k}


def esm_write_count(by_endpoint: dict[str, int]) -> int:
    """The writes among :func:`esm_api_requests` (logins are no writes)."""
    return sum(n for k, n in by_endpoint.items() if k.split(" ")[0] in ("PUT", "POST", "PATCH", "DELETE"))


@contextmanager
def workspace(prefix: str, keep: bool = False) -> Iterator[Path]:
    """A temporary directory for one benchmark's databases, certificates and staging."""
    path = Path(tempfile.mkdtemp(prefix=f"bench-{prefix}-"))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


@contextmanager
def running(*sims: SimProcess) -> Iterator[None]:
    try:
        yield
    finally:
        for sim in sims:
            sim.stop()


def no_ca_bundle_env() -> None:
    """requests lets REQUESTS_CA_BUNDLE override a session's CA; the simulators use their own."""
    os.environ.pop("REQUESTS_CA_BUNDLE", None)
    os.environ.pop("CURL_CA_BUNDLE", None)


# ---------------------------------------------------------------------------- connector objects
# The one place the benchmarks build the connector's clients and state store (a simulator
# process, or its URL and CA when a child process gets them as plain values).

def jira_client_at(url: str, ca_pem: str | bool, **kwargs: Any):
    from jira_esm_connector.jira import JiraClient

    return JiraClient(url, JIRA_EMAIL, JIRA_TOKEN, verify=ca_pem, allow_insecure_http=url.startswith("http:"), **kwargs)


def esm_client_at(url: str, ca_pem: str | bool, **kwargs: Any):
    from jira_esm_connector.esm import EsmClient

    return EsmClient(url, ESM_USER, ESM_PASSWORD, verify=ca_pem, allow_insecure_http=url.startswith("http:"), **kwargs)


def jira_client(sim: SimProcess, **kwargs: Any):
    return jira_client_at(sim.base_url, sim.ca_pem, **kwargs)


def esm_client(sim: SimProcess, **kwargs: Any):
    return esm_client_at(sim.base_url, sim.ca_pem, **kwargs)


def state_store(path: Path | str):
    """The connector's state store in the SQLite file ``path``."""
    from jira_esm_connector.state import StateStore

    return StateStore(f"sqlite:///{path}")
