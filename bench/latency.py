"""Benchmark 6 (``latency``): the import at cloud latency, next to two baselines on the same data.

Real Jira Cloud and a real ESM sit a network round trip away: per size, both simulators add a
per-request latency (Jira 100 ms, ESM 50 ms by default; an asyncio sleep, so concurrent
requests overlap as they would over a network), and on the SAME seeded Jira data the run takes:

1. **the sequential floor**: a bare loop over ``POST /rest/api/3/search/jql``, 100 per page, the
   fields the benchmark mapping needs (``pipeline.extract.search_fields``), ``nextPageToken``
   until ``isLast``, one keep-alive ``requests`` session -- what any one-request-at-a-time
   extractor pays at best;
2. **Singer tap-jira 2.6.0** from PyPI, in its own virtualenv (made once under
   ``.bench-cache/tap-jira-venv``), ``issues`` stream only (chosen through ``--properties``),
   against the simulator unchanged; its certifi bundle also holds the simulators' local CA,
   since it sends with ``Session.send`` (``REQUESTS_CA_BUNDLE`` is ignored). Skipped with a note
   when the install fails, or with ``--no-tap``;
3. **the connector**, in a fresh child process (its peak RSS is the import's): a first full
   import, an unchanged full re-run (must write nothing to ESM), and an incremental run after
   1 % of the issues changed in Jira. The steps are called exactly as the import DAG calls
   them (``dagfactory/imports.py``: same functions, same arguments, clients from the Airflow
   hooks through ``AIRFLOW_CONN_*`` connections, the state store through ``open_state``),
   each step timed -- see :func:`import_steps`, the one place that calls them.

It reports each step's time, the ratios to both baselines, Jira and ESM requests, the peak
Jira request rate (most requests that arrived in any sliding 1-second window, from the
simulator's per-request arrival times) against the configured ``JIRA_ESM_JIRA_RATE_LIMIT``,
the child's peak RSS, and per step of the first import the CPU seconds the connector, the Jira
simulator and the ESM simulator used (``/proc``): all three share the machine's cores, so a
step that waits on a busy simulator shows it there. Each size ends with a check that ESM equals Jira (every issue key
exactly one card, subject / status / priority as mapped, no other card): the run fails loudly
if not, as it does when the unchanged re-run writes to ESM.

Bench conditions: the connector's settings come from ``JIRA_ESM_*`` as in a deployment, except
the state database and staging folder (temporary) and ``JIRA_ESM_CACHE_CLEAR_HOURS`` (empty:
no clock-driven cache clear in the middle of a measurement). One issue is touched before the
first import, and again before the incremental task's first run (no watermark yet: it reads
everything; setup, run at zero Jira latency), so that the newest change is "now" as in a live
Jira: the seed stamps ~4 % of the issues with its end instant, which would otherwise be where
the next full run's carry and the incremental watermark start, read again by every run's overlap
(bench/pipeline.py keeps that quirk; see RESULTS.md).

The benchmark mapping reads ``fields.labels``, a multi-value field, so ``issue/bulkfetch``
carries 100 issues per request; ``--single-value-fields`` drops that attribute (from the
connector's tasks and the floor's fields) so that the 1,000-per-request path is measured.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from .common import (
    ESM_PASSWORD,
    ESM_USER,
    JIRA_EMAIL,
    JIRA_TOKEN,
    REPO_ROOT,
    BenchResult,
    Budget,
    esm_api_requests,
    esm_client_at,
    esm_write_count,
    no_ca_bundle_env,
    process_cpu_s,
    running,
    start_esm_simulator,
    start_jira_simulator,
    workspace,
)
from .pipeline import STEPS, TASK

NAME = "latency"
TITLE = "6. Import at cloud latency: the connector vs the sequential floor and tap-jira, same data"

TAP_VERSION = "2.6.0"
TAP_CACHE = REPO_ROOT / ".bench-cache"
FLOOR_PAGE = 100
CHECKED_ATTRIBUTES = ("subject", "status", "priority")


def bench_task(single_value_fields: bool = False) -> dict[str, Any]:
    """The benchmark mapping (``pipeline.TASK``), without its multi-value ``labels`` attribute
    when ``single_value_fields``: every field it then reads is single-value, which lets a bulk
    fetch carry 1,000 issues instead of 100."""
    if not single_value_fields:
        return dict(TASK)
    return {**TASK, "attributes": {k: v for k, v in TASK["attributes"].items() if k != "labels"}}


# ------------------------------------------------------------------------------ Jira simulator

def _admin(base_url: str, ca: str | bool, method: str, path: str, **kwargs: Any) -> Any:
    import requests

    resp = requests.request(method, f"{base_url}/_admin/{path}", verify=ca, timeout=120, **kwargs)
    resp.raise_for_status()
    return resp.json() if resp.content else None


def jira_requests(base_url: str, ca: str | bool) -> dict[str, Any]:
    """Jira API requests since the counters were zeroed: total, by endpoint, peak per second."""
    stats = _admin(base_url, ca, "GET", "stats")
    arrivals = _admin(base_url, ca, "GET", "stats/arrivals")
    if arrivals["dropped"]:
        raise RuntimeError(f"the Jira simulator kept no arrival time for {arrivals['dropped']:,} requests")
    return {"total": stats["total"], "endpoints": stats["endpoints"], "peak_per_s": arrivals["peak_per_second"],
            "statuses": stats["responses"]}


def zero_jira_requests(base_url: str, ca: str | bool) -> None:
    _admin(base_url, ca, "DELETE", "stats")


def set_jira_latency(base_url: str, ca: str | bool, ms: int) -> None:
    _admin(base_url, ca, "PUT", "config", json={"latency_ms": int(ms)})


def set_esm_latency(root_url: str, ca: str | bool, ms: int) -> None:
    _admin(root_url, ca, "POST", "latency", json={"seconds": ms / 1000})


# ------------------------------------------------------------------------------ 1. the floor

def search_pages(session: Any, base_url: str, jql: str, fields: list[str], page_size: int = FLOOR_PAGE) -> Iterator[list[dict]]:
    """Every page of ``POST /rest/api/3/search/jql``, ``nextPageToken`` until ``isLast``, one at a time."""
    body: dict[str, Any] = {"jql": jql, "fields": fields, "maxResults": page_size}
    while True:
        resp = session.post(f"{base_url}/rest/api/3/search/jql", json=body, timeout=120)
        resp.raise_for_status()
        page = resp.json()
        yield page.get("issues") or []
        token = page.get("nextPageToken")
        if page.get("isLast", not token) or not token:
            return
        body["nextPageToken"] = token


def jira_session(ca: str | bool) -> Any:
    import requests

    session = requests.Session()
    session.auth = (JIRA_EMAIL, JIRA_TOKEN)
    session.verify = ca
    return session


def measure_floor(jira: Any, jql: str, fields: list[str]) -> dict[str, Any]:
    """The bare sequential loop, timed; its requests counted by the simulator."""
    zero_jira_requests(jira.base_url, jira.ca_pem)
    keys: set[str] = set()
    pages = records = 0
    with jira_session(jira.ca_pem) as session:
        t0 = time.perf_counter()
        for issues in search_pages(session, jira.base_url, jql, fields):
            pages += 1
            records += len(issues)
            keys.update(issue["key"] for issue in issues)
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "issues": len(keys), "records": records, "pages": pages,
            "jira": jira_requests(jira.base_url, jira.ca_pem)}


# ------------------------------------------------------------------------------ 2. tap-jira

def tap_venv(cache: Path = TAP_CACHE) -> tuple[Path | None, str]:
    """(the tap-jira virtualenv, how it was found), made once; (None, why) when it cannot be."""
    venv = cache / "tap-jira-venv"
    marker = venv / f".tap-jira-{TAP_VERSION}.json"
    if marker.exists() and (venv / "bin" / "tap-jira").exists():
        return venv, "cached"
    python = shutil.which("python3.11")
    if python is None:
        return None, "python3.11 is not on PATH"
    steps = ([python, "-m", "venv", "--clear", str(venv)],
             [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q",
              f"tap-jira=={TAP_VERSION}"])
    for cmd in steps:
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"{' '.join(cmd[:4])}: {exc}"
        if proc.returncode != 0:
            tail = " ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
            return None, f"{' '.join(cmd[:4])} ... failed (exit {proc.returncode}): {tail[-600:]}"
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import certifi; print(certifi.where())"],
                           capture_output=True, text=True, check=True).stdout.strip()
    shutil.copyfile(where, where + ".orig")  # certifi's own bundle, kept for every later run
    marker.write_text(json.dumps({"certifi": where}))
    return venv, "installed now"


def trust_ca(venv: Path, ca_pem: str) -> None:
    """The tap's certifi bundle = certifi's own + the simulators' local CA (the tap's
    ``Session.send`` ignores ``REQUESTS_CA_BUNDLE``)."""
    where = Path(json.loads((venv / f".tap-jira-{TAP_VERSION}.json").read_text())["certifi"])
    original = Path(str(where) + ".orig").read_text()
    where.write_text(original.rstrip("\n") + "\n" + Path(ca_pem).read_text())


def _tap_properties(venv: Path, config: Path, work: Path) -> Path:
    """``--discover``, then the catalog with only the ``issues`` stream and all its fields selected."""
    out = subprocess.run([str(venv / "bin" / "tap-jira"), "--config", str(config), "--discover"],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"tap-jira --discover failed:\n{out.stderr[-3000:]}")
    catalog = json.loads(out.stdout)
    for stream in catalog["streams"]:
        chosen = stream["tap_stream_id"] == "issues"
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == [] or chosen:
                entry["metadata"]["selected"] = chosen
    path = work / "tap-properties.json"
    path.write_text(json.dumps(catalog))
    return path


def count_tap_records(path: Path, stream: str = "issues") -> tuple[int, int]:
    """(RECORD messages of ``stream``, distinct issue ids among them) in the tap's output."""
    records, ids = 0, set()
    with path.open() as lines:
        for line in lines:
            if '"RECORD"' not in line:
                continue
            message = json.loads(line)
            if message.get("type") == "RECORD" and message.get("stream") == stream:
                records += 1
                ids.add(message["record"]["id"])
    return records, len(ids)


def measure_tap(jira: Any, venv: Path, work: Path) -> dict[str, Any]:
    """tap-jira's issues stream, extraction alone (the whole process, start to exit), timed."""
    trust_ca(venv, str(jira.ca_pem))
    config = work / "tap-config.json"
    config.write_text(json.dumps({"username": JIRA_EMAIL, "password": JIRA_TOKEN, "base_url": jira.base_url,
                                  "start_date": "2000-01-01T00:00:00Z", "user_agent": "jira-esm-connector-bench"}))
    properties = _tap_properties(venv, config, work)
    zero_jira_requests(jira.base_url, jira.ca_pem)
    out, err = work / "tap-output.jsonl", work / "tap-stderr.log"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        t0 = time.perf_counter()
        proc = subprocess.run([str(venv / "bin" / "tap-jira"), "--config", str(config), "--properties", str(properties)],
                              stdout=stdout, stderr=stderr, timeout=6 * 3600)
        seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"tap-jira failed (exit {proc.returncode}):\n{err.read_text(errors='replace')[-3000:]}")
    records, distinct = count_tap_records(out)
    return {"seconds": seconds, "records": records, "distinct": distinct,
            "jira": jira_requests(jira.base_url, jira.ca_pem)}


# ------------------------------------------------------------------------------ 3. the connector (child)

def import_steps(task: Any, settings: Any, run_id: str, timed: Callable[[str, Callable[[], Any]], Any]) -> dict[str, Any]:
    """One run of the import, step by step as the import DAG calls them (``dagfactory/imports.py``):
    the same functions with the same arguments; each step opens its state store and clients as its
    DAG task does. When the parallel step versions land, their ``settings``-driven arguments go here."""
    from jira_esm_connector.config.scheduling import schedule_warning
    from jira_esm_connector.dagfactory.common import open_clients, open_state
    from jira_esm_connector.pipeline import diff, extract, finish, load, mark_removed, transform
    from jira_esm_connector.pipeline.removal import nothing_marked
    from jira_esm_connector.pipeline.staging import cleanup_old_runs, run_dir

    log = _log()
    path = run_dir(settings.staging_dir, task.name, run_id)

    def extract_step() -> Any:
        cleanup_old_runs(settings.staging_dir, task.name, current_run=run_id)
        with open_state(settings) as state, open_clients(jira_conn_id=task.jira_conn_id) as (jira, _):
            try:
                schedule_warning(task, state.last_volume(task.name))  # advice the DAG logs
            except Exception as exc:  # noqa: BLE001 - as in the DAG: advice never fails a run
                log.debug("no scheduling advice: %s", exc)
            return extract(task, jira, state, path, settings=settings, default_clear_hours=settings.cache_clear_hours,
                           clear_cache=False, logger=log)

    def load_step(diffed: Any) -> Any:
        with open_state(settings) as state:
            if diffed.get("changed", 0) == 0:
                return {"created": 0, "updated": 0, "refused": 0, "refused_records": []}
            with open_clients(esm_conn_id=task.esm_conn_id) as (_, esm):
                return load(task, diffed, esm, state, concurrency=settings.esm_concurrency, logger=log,
                            run_id="bench", settings=settings)

    def mark_removed_step(extracted: Any) -> Any:
        with open_state(settings) as state:
            if task.removal is None:
                return nothing_marked()
            with open_clients(esm_conn_id=task.esm_conn_id) as (_, esm):
                return mark_removed(task, extracted, esm, state, allow_mass_removal=False, allow_shrink=False,
                                    concurrency=settings.esm_concurrency, logger=log, run_id="bench",
                                    settings=settings)

    def with_state(fn: Callable[[Any], Any]) -> Callable[[], Any]:
        def call() -> Any:
            with open_state(settings) as state:
                return fn(state)
        return call

    extracted = timed("extract", extract_step)
    transformed = timed("transform", lambda: transform(task, extracted, path, settings=settings, logger=log))
    diffed = timed("diff", with_state(lambda state: diff(
        task, transformed, state, path, default_clear_hours=settings.cache_clear_hours, clear_cache=False, logger=log)))
    loaded = timed("load", lambda: load_step(diffed))
    removed = timed("mark_removed", lambda: mark_removed_step(extracted)) if task.mode == "full" else None
    summary = timed("finish", with_state(lambda state: finish(
        task, state, run_id, extracted, transformed, diffed, loaded, removed, staging_root=settings.staging_dir, logger=log)))
    return {"fetched": extracted.get("fetched"), "carried": extracted.get("carried"),
            "changed": diffed.get("changed"), "unchanged": summary.get("unchanged"),
            "created": loaded.get("created"), "updated": loaded.get("updated"), "refused": loaded.get("refused"),
            "marked_removed": (removed or {}).get("marked_removed", 0), "finished": bool(summary)}


def _log() -> Any:
    import logging

    return logging.getLogger("jira_esm_connector.pipeline")


def _measured_run(task: Any, settings: Any, spec: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    """One import run, timed per step, with the Jira and ESM requests it made."""
    import resource

    from jira_esm_connector.http.ratelimit import site_limiters

    zero_jira_requests(spec["jira_url"], spec["jira_ca"])
    _admin(spec["esm_root"], spec["esm_ca"], "POST", "stats/reset")
    for limiter in site_limiters():
        limiter.reset_peak()
    seconds: dict[str, float] = {}
    cpu: dict[str, dict[str, float]] = {}  # step -> process -> CPU seconds it used during the step
    sims = {"jira_sim": spec.get("jira_pid"), "esm_sim": spec.get("esm_pid")}

    def cpu_now() -> dict[str, float]:
        own = resource.getrusage(resource.RUSAGE_SELF)
        return {"connector": own.ru_utime + own.ru_stime,
                **{name: process_cpu_s(pid) for name, pid in sims.items() if pid}}

    def timed(step: str, fn: Callable[[], Any]) -> Any:
        c0, t0 = cpu_now(), time.perf_counter()
        out = fn()
        seconds[step] = time.perf_counter() - t0
        c1 = cpu_now()
        cpu[step] = {name: c1[name] - c0[name] for name in c0}
        return out

    out = import_steps(task, settings, run_id, timed)
    esm = esm_api_requests(spec["esm_root"], spec["esm_ca"])
    jira = jira_requests(spec["jira_url"], spec["jira_ca"])
    # the connector's own send log (every attempt, as the limiter let it out): the simulator's
    # arrival clock can bunch requests that waited behind its busy event loop
    jira["client_peak_per_s"] = max((lim.peak_per_second for lim in site_limiters() if lim.service == "Jira"), default=0)
    return {**out, "seconds": seconds, "cpu": cpu, "total_s": sum(seconds.values()),
            "jira": jira,
            "esm": {"total": sum(esm.values()), "writes": esm_write_count(esm), "endpoints": esm},
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def change_issues(spec: Mapping[str, Any], keys: Iterable[str]) -> int:
    """Give these issues a new summary in Jira (``updated`` becomes now); how many."""
    n = 0
    with jira_session(spec["jira_ca"]) as admin:
        for key in keys:
            admin.patch(f"{spec['jira_url']}/_admin/issues/{key}", json={"summary": f"Changed by the benchmark ({key})"},
                        timeout=60).raise_for_status()
            n += 1
    return n


def one_percent(size: int) -> list[str]:
    """1 % of the issues (at least one), spread evenly over the keys."""
    changed = max(1, size // 100)
    step = max(1, size // changed)
    return [f"SUP-{1 + i * step}" for i in range(changed)]


def worker_main(spec: dict[str, Any]) -> dict[str, Any]:
    """In the child: first import, unchanged re-run, incremental after 1 % changed."""
    import logging
    import resource

    logging.basicConfig(level=logging.INFO if spec.get("verbose") else logging.WARNING)
    from jira_esm_connector.config import parse_task
    from jira_esm_connector.config.settings import ConnectorSettings
    # imported before the baseline, as in a DAG task process: Airflow, the hooks, pandas, GX
    from jira_esm_connector.dagfactory.common import open_clients, open_state  # noqa: F401
    from jira_esm_connector.hooks.esm import EsmHook  # noqa: F401
    from jira_esm_connector.hooks.jira import JiraCloudHook  # noqa: F401
    import great_expectations  # noqa: F401
    import pandas  # noqa: F401

    settings = ConnectorSettings()
    doc = bench_task(bool(spec.get("single_value_fields")))
    full = parse_task(doc, "bench_issues_to_incidents.yaml")
    incremental = parse_task({**{k: v for k, v in doc.items() if k != "removed"}, "mode": "incremental"},
                             "bench_issues_to_incidents.yaml")
    out: dict[str, Any] = {
        "baseline_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "settings": {k: getattr(settings, k) for k in ("jira_rate_limit", "jira_concurrency", "esm_concurrency")},
    }
    # One issue is touched first, so that the newest change is "now" as in a live Jira: the full
    # import's carry starts the next run at the newest change the search shows, and the seed's end
    # instant, which ~4 % of the seeded issues share, would have the unchanged re-run read them again.
    change_issues(spec, [f"SUP-{int(spec['size'])}"])
    out["first"] = _measured_run(full, settings, spec, "bench__first")
    out["unchanged"] = _measured_run(full, settings, spec, "bench__unchanged")
    # Setup, not measured: the incremental task's first run (no watermark yet) reads all. One issue
    # is touched before it, so that its watermark is "now" as in a live Jira -- not the seed's end
    # instant, which ~4 % of the seeded issues share and the next run's overlap would read again.
    set_jira_latency(spec["jira_url"], spec["jira_ca"], 0)
    change_issues(spec, [f"SUP-{int(spec['size'])}"])
    out["incremental_setup"] = _measured_run(incremental, settings, spec, "bench__incremental_first")
    set_jira_latency(spec["jira_url"], spec["jira_ca"], int(spec["jira_latency_ms"]))
    out["changed_in_jira"] = change_issues(spec, one_percent(int(spec["size"])))
    out["incremental"] = _measured_run(incremental, settings, spec, "bench__incremental_changed")
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def child_env(work: Path, jira: Any, esm: Any) -> dict[str, str]:
    """The child's environment: the parent's (``JIRA_ESM_*`` settings included), the simulators as
    Airflow connections, a temporary Airflow home, state database and staging folder."""
    from devtools.airflow_standalone import connection_json

    env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    env.update({
        "AIRFLOW_HOME": str(work / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",  # one machine: the SQLite state database is allowed
        "AIRFLOW_CONN_JIRA_DEFAULT": connection_json("jira_cloud", jira.base_url, JIRA_EMAIL, JIRA_TOKEN,
                                                     ca_pem=jira.ca_pem or None),
        "AIRFLOW_CONN_ESM_DEFAULT": connection_json("efecte_esm", esm.base_url, ESM_USER, ESM_PASSWORD,
                                                    ca_pem=esm.ca_pem or None),
        "JIRA_ESM_STATE_DB_URL": f"sqlite:///{work / 'state.db'}",
        "JIRA_ESM_STAGING_DIR": str(work / "staging"),
        "JIRA_ESM_CACHE_CLEAR_HOURS": "",
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "plugins"), str(REPO_ROOT), env.get("PYTHONPATH", "")]),
    })
    return env


def run_connector(work: Path, jira: Any, esm: Any, size: int, opts: Any) -> dict[str, Any]:
    spec = {"jira_url": jira.base_url, "jira_ca": jira.ca_pem, "esm_root": esm.root_url, "esm_ca": esm.ca_pem,
            "size": size, "jira_latency_ms": opts.jira_latency_ms, "verbose": bool(getattr(opts, "verbose", False)),
            "single_value_fields": bool(getattr(opts, "single_value_fields", False)),
            "jira_pid": jira.proc.pid, "esm_pid": esm.proc.pid}
    proc = subprocess.run([sys.executable, "-m", "bench.latency", json.dumps(spec)], cwd=REPO_ROOT,
                          env=child_env(work, jira, esm), capture_output=True, text=True, timeout=6 * 3600)
    if proc.returncode != 0:
        raise RuntimeError(f"the connector's child process for {size:,} issues failed:\n{proc.stderr[-4000:]}")
    if getattr(opts, "verbose", False):
        print(proc.stderr, file=sys.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------ ESM == Jira

def expected_card(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The checked attributes of an issue's card, by the benchmark mapping (TASK)."""
    attrs = TASK["attributes"]

    def mapped(spec: Mapping[str, Any], value: Any) -> Any:
        return spec["map"].get(value, spec["default"]) if value is not None else spec["default"]

    return {
        "subject": fields.get("summary"),
        "status": mapped(attrs["status"], (fields.get("status") or {}).get("name")),
        "priority": mapped(attrs["priority"], (fields.get("priority") or {}).get("name")),
    }


def compare_esm_with_jira(expected: Mapping[str, Mapping[str, Any]], cards: Iterable[Mapping[str, Any]]) -> list[str]:
    """What keeps ESM from equalling Jira: a key without a card or with two, a card without a
    key or for a key Jira lacks, a checked value that differs. Empty when they are equal."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for card in cards:
        key, card_id = card.get("jira_key"), card.get("id")
        if not key:
            problems.append(f"card {card_id} has no Jira key")
        elif key in seen:
            problems.append(f"{key} has two cards ({seen[key]} and {card_id})")
        elif key not in expected:
            seen[key] = str(card_id)
            problems.append(f"card {card_id} is for {key}, which Jira does not have")
        else:
            seen[key] = str(card_id)
            for attr, want in expected[key].items():
                if card.get(attr) != want:
                    problems.append(f"{key}: {attr} is {card.get(attr)!r} in ESM but {want!r} by Jira")
    problems += [f"{key} has no card in ESM" for key in sorted(set(expected) - set(seen))]
    return problems


def check_esm_equals_jira(jira: Any, esm: Any, jql: str) -> dict[str, int]:
    """Read all of Jira and all incident cards (latencies set to 0 first); raise when they differ."""
    expected: dict[str, dict[str, Any]] = {}
    with jira_session(jira.ca_pem) as session:
        for issues in search_pages(session, jira.base_url, jql, ["summary", "status", "priority"]):
            for issue in issues:
                expected[issue["key"]] = expected_card(issue.get("fields") or {})
    cards = []
    with esm_client_at(esm.base_url, esm.ca_pem) as client:
        for card in client.iter_cards(TASK["template"], selected_attributes=["jira_key", *CHECKED_ATTRIBUTES]):
            cards.append({"id": card.data_card_id, "jira_key": card.value("jira_key"),
                          **{a: card.value(a) for a in CHECKED_ATTRIBUTES}})
    problems = compare_esm_with_jira(expected, cards)
    if problems:
        shown = "\n  ".join(problems[:20])
        raise RuntimeError(f"ESM does not equal Jira: {len(problems):,} problem(s) over {len(expected):,} issues and "
                           f"{len(cards):,} cards:\n  {shown}")
    return {"issues": len(expected), "cards": len(cards)}


# ------------------------------------------------------------------------------ parent

def _task_search(single_value_fields: bool = False) -> tuple[str, list[str]]:
    """The JQL and fields the connector's extract sends for the benchmark task."""
    from jira_esm_connector.config import parse_task
    from jira_esm_connector.pipeline.extract import search_fields
    from jira_esm_connector.pipeline.watermark import watermark_jql

    task = parse_task(bench_task(single_value_fields), "bench_issues_to_incidents.yaml")
    return watermark_jql(task.jql, None), search_fields(task)


def run_size(size: int, opts: Any, notes: list[str]) -> dict[str, Any]:
    """Both baselines and the connector on one freshly seeded pair of simulators, then the check."""
    jql, fields = _task_search(bool(getattr(opts, "single_value_fields", False)))
    data: dict[str, Any] = {"jql": jql, "fields": fields}
    with workspace(f"latency-{size}", keep=opts.keep) as work:
        jira = start_jira_simulator(work / "jira", issues=size, projects=1, users=200, tls=opts.tls,
                                    latency_ms=opts.jira_latency_ms)
        with running(jira):
            esm = start_esm_simulator(work / "esm", tls=opts.tls, latency_ms=opts.esm_latency_ms)
            with running(esm):
                data["floor"] = measure_floor(jira, jql, fields)
                if data["floor"]["issues"] != size or data["floor"]["records"] != size:
                    raise RuntimeError(f"the floor loop read {data['floor']['records']:,} issues "
                                       f"({data['floor']['issues']:,} distinct), not {size:,}")
                data["tap"] = _tap_or_note(jira, work, size, opts, notes)
                data["connector"] = run_connector(work, jira, esm, size, opts)
                set_jira_latency(jira.base_url, jira.ca_pem, 0)  # the check is not measured
                set_esm_latency(esm.root_url, esm.ca_pem, 0)
                data["check"] = check_esm_equals_jira(jira, esm, jql)
                data["jira_sim_rss_mib"], data["esm_sim_rss_mib"] = jira.rss_mib(), esm.rss_mib()
    return data


def _tap_or_note(jira: Any, work: Path, size: int, opts: Any, notes: list[str]) -> dict[str, Any] | None:
    if not opts.tap:
        return None
    if not opts.tls:
        notes.append("tap-jira skipped: it forces https, and --http runs the simulators on plain http")
        return None
    venv, how = tap_venv()
    if venv is None:
        notes.append(f"tap-jira {TAP_VERSION} skipped: could not install it ({how})")
        return None
    tap = measure_tap(jira, venv, work)
    if tap["records"] != size or tap["distinct"] != size:
        raise RuntimeError(f"tap-jira wrote {tap['records']:,} issue records ({tap['distinct']:,} distinct), "
                           f"not the {size:,} seeded")
    return tap


def _verify(size: int, c: Mapping[str, Any]) -> None:
    """The connector's runs did what they must (fails the benchmark loudly otherwise)."""
    first, again, inc = c["first"], c["unchanged"], c["incremental"]
    if first["fetched"] != size or first["created"] != size or first["refused"]:
        raise RuntimeError(f"first import of {size:,}: fetched {first['fetched']}, created {first['created']}, "
                           f"refused {first['refused']}")
    if again["changed"] or again["created"] or again["updated"] or again["esm"]["writes"]:
        raise RuntimeError(f"the unchanged re-run of {size:,} wrote to ESM: {again['esm']['endpoints']}")
    if inc["updated"] != c["changed_in_jira"] or inc["created"] or inc["refused"]:
        raise RuntimeError(f"the incremental run after {c['changed_in_jira']} changes in Jira: {inc}")


def _requests_text(endpoints: Mapping[str, int]) -> str:
    short = {k.replace("/rest-api/itsm/v1", "").replace("/rest/api/3", ""): n for k, n in endpoints.items()}
    return "; ".join(f"{n:,} {k}" for k, n in sorted(short.items(), key=lambda kv: -kv[1]))


def _steps_text(seconds: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {seconds[k]:.1f}" for k in STEPS if k in seconds)


def _cpu_text(run: Mapping[str, Any]) -> str:
    """Per step, the CPU seconds the connector / the Jira simulator / the ESM simulator used
    while it ran: on 2 shared cores, which of them a step waited on."""
    cpu = run.get("cpu") or {}
    return "; ".join(f"{k} {c.get('connector', 0):.1f} / {c.get('jira_sim', 0):.1f} / {c.get('esm_sim', 0):.1f}"
                     for k in STEPS if (c := cpu.get(k)) and run["seconds"].get(k, 0) >= 0.05)


def report_size(result: BenchResult, size: int, data: Mapping[str, Any]) -> None:
    """The rows of one size (see the module docs for what each measures)."""
    s = f"{size:,} issues"
    floor, tap, c = data["floor"], data["tap"], data["connector"]
    first, again, inc = c["first"], c["unchanged"], c["incremental"]
    rate = c["settings"]["jira_rate_limit"]
    result.add(f"{s}: sequential floor (search/jql, {FLOOR_PAGE}/page, {len(data['fields'])} fields)", floor["seconds"],
               f"s; {floor['jira']['total']:,} Jira requests, peak {floor['jira']['peak_per_s']}/s")
    if tap:
        result.add(f"{s}: tap-jira {TAP_VERSION}, issues stream, extraction alone", tap["seconds"],
                   f"s; {tap['records']:,} records; {tap['jira']['total']:,} Jira requests, peak {tap['jira']['peak_per_s']}/s")
    result.add(f"{s}: connector, first full import", first["total_s"], f"s ({_steps_text(first['seconds'])})")
    result.add(f"{s}: first import, CPU by step", sum(sum(c.values()) for c in first.get("cpu", {}).values()),
               f"CPU s in all (connector / Jira simulator / ESM simulator, per step: {_cpu_text(first)})")
    result.add(f"{s}: first import / floor", first["total_s"] / floor["seconds"], "x (target at 100,000: <= 0.3)")
    if tap:
        result.add(f"{s}: first import / tap-jira", first["total_s"] / tap["seconds"], "x (target at 100,000: <= 0.1)")
    for label, run in (("first import", first), ("unchanged re-run", again), ("incremental", inc)):
        result.add(f"{s}: {label}, Jira requests", run["jira"]["total"],
                   f"peak {run['jira'].get('client_peak_per_s', '?')}/s in any 1 s sent, {run['jira']['peak_per_s']}/s "
                   f"arrived (configured rate {rate:g}/s); "
                   + _requests_text(run["jira"]["endpoints"]))
        result.add(f"{s}: {label}, ESM requests", run["esm"]["total"],
                   f"{run['esm']['writes']:,} writes; " + _requests_text(run["esm"]["endpoints"]))
    result.add(f"{s}: unchanged re-run", again["total_s"],
               f"s ({_steps_text(again['seconds'])}); {again['esm']['writes']} ESM writes; "
               f"{again['total_s'] / first['total_s']:.2f} x the first import (target <= 0.5)")
    result.add(f"{s}: incremental after {c['changed_in_jira']:,} issues changed", inc["total_s"],
               f"s ({_steps_text(inc['seconds'])}); {inc['fetched']:,} fetched, {inc['updated']:,} updated; "
               f"{inc['total_s'] / first['total_s']:.1%} of the first import (target <= 5 %)")
    result.add(f"{s}: peak RSS of the connector's process", c["peak_rss_mib"],
               f"MiB (after imports, Airflow included: {c['baseline_rss_mib']:.0f} MiB; target <= 500)")
    # the incremental setup run counts here too: at zero latency it tests the rate limit hardest
    runs = (first, again, c["incremental_setup"], inc)
    peak = max(r["jira"].get("client_peak_per_s", 0) for r in runs)
    arrived = max(r["jira"]["peak_per_s"] for r in runs)
    result.add(f"{s}: peak Jira request rate of the connector", peak,
               f"requests sent in any 1 s over all its runs (the connector's send log; the zero-latency setup run "
               f"included); configured {rate:g}/s: {'within' if peak <= rate else 'EXCEEDED'}; on the simulator's "
               f"arrival clock {arrived}/s")
    result.add(f"{s}: ESM equals Jira", "yes", f"{data['check']['issues']:,} issues, {data['check']['cards']:,} cards, "
               f"one per key, {'/'.join(CHECKED_ATTRIBUTES)} as mapped")


def run(opts: Any) -> BenchResult:
    no_ca_bundle_env()  # it would override the simulators' CA in every requests session
    sizes = [int(s) for s in str(opts.latency_sizes).split(",") if s.strip()]
    budget = Budget(float(opts.budget))
    result = BenchResult(NAME, TITLE, params={
        "sizes": ",".join(f"{s:,}" for s in sizes), "Jira latency": f"{opts.jira_latency_ms} ms",
        "ESM latency": f"{opts.esm_latency_ms} ms", "tap-jira": TAP_VERSION if opts.tap else "skipped",
        "TLS": bool(opts.tls),
        "mapping": "single-value fields only (labels dropped)" if getattr(opts, "single_value_fields", False)
        else "as bench/pipeline.py TASK (reads labels: 100 issues per bulk fetch)"})
    started = time.perf_counter()
    per_size: dict[str, Any] = {}
    for size in sizes:
        if budget.over():
            result.notes.append(f"time budget reached: size {size:,} not run")
            continue
        data = run_size(size, opts, result.notes)
        _verify(size, data["connector"])
        per_size[str(size)] = data
        report_size(result, size, data)
        result.params.setdefault("connector settings", ", ".join(
            f"{k}={v}" for k, v in data["connector"]["settings"].items()))
    result.data["sizes"] = per_size
    result.seconds = time.perf_counter() - started
    return result


if __name__ == "__main__":
    print(json.dumps(worker_main(json.loads(sys.argv[1]))), flush=True)
