"""A local CeleryExecutor deployment of Airflow 3.3, for `DEMO_EXECUTOR=celery make demo` and
tests/e2e/test_celery.py.

The same DAGs as under `airflow standalone`, but as a team that outgrew one machine runs them:
the API server, scheduler, DAG processor, triggerer and two Celery workers are separate
processes (each in its own process group, each logging to its own file), Airflow's metadata
and Celery's results live in PostgreSQL, Redis is the broker. Every process gets the same
JWT secret and API secret key, and the execution API URL of the API server's real port.

Each worker reports its own hostname (``worker1@<host>``, ``worker2@<host>``) both to Celery
and in the task instance's ``hostname`` field (through ``[core] hostname_callable``), so the
UI and the REST API show which worker ran a task. The workers share this machine's log
folder, so the API server reads every task log from disk.
"""
from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psutil

from devtools.airflow_standalone import REPO_ROOT, LocalAirflow, free_port
from devtools.processes import descendants, exit_code, stop_process_groups

POSTGRES_SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432"
REDIS_SERVER = "redis://127.0.0.1:6379"
WORKER_NAME_VARIABLE = "DEVTOOLS_CELERY_WORKER_NAME"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def worker_hostname() -> str:
    """``[core] hostname_callable`` of the demo's workers: the Celery worker's own name, so
    two workers on one machine tell apart in the task instance's ``hostname``."""
    return os.environ.get(WORKER_NAME_VARIABLE) or socket.getfqdn()


def ensure_database(server_url: str, name: str, *, fresh: bool = False) -> str:
    """Create PostgreSQL database ``name`` on ``server_url`` if missing (dropped first with
    ``fresh``); return its SQLAlchemy URL."""
    import sqlalchemy as sa

    engine = sa.create_engine(f"{server_url}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if fresh:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return f"{server_url}/{name}"


def redis_reachable(url: str = REDIS_SERVER, timeout: float = 2.0) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=timeout).ping())
    except redis.RedisError:
        return False


@dataclass
class AirflowCelery(LocalAirflow):
    """API server, scheduler, DAG processor, triggerer and ``workers`` Celery workers."""

    metadata_db: str = "jira_esm_demo_airflow"
    broker_db: int = 5
    workers: int = 2
    worker_concurrency: int = 3
    fresh: bool = False  # drop the metadata DB and empty the broker's Redis DB first
    log_dir: Path = REPO_ROOT / ".demo" / "logs"
    api_secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    _procs: dict[str, subprocess.Popen] = field(default_factory=dict, init=False, repr=False)

    @property
    def metadata_url(self) -> str:
        return f"{POSTGRES_SERVER}/{self.metadata_db}"

    def deployment_env(self) -> dict[str, str]:
        return {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url,
            "AIRFLOW__CELERY__BROKER_URL": f"{REDIS_SERVER}/{self.broker_db}",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{self.metadata_url}",
            # One secret for every process (the JWT secret too, see LocalAirflow): tokens and
            # sessions the API server issues are valid everywhere.
            "AIRFLOW__API__SECRET_KEY": self.api_secret_key,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "devtools.airflow_celery.worker_hostname",
        }

    def worker_name(self, number: int) -> str:
        return f"worker{number}@{socket.gethostname()}"

    def prepare(self, connections: dict | None = None, pool_slots: int | None = None) -> None:
        """The metadata database created (dropped first and the broker's Redis DB emptied
        with ``fresh``), then as for every deployment: migrated, connections and pool stored."""
        import redis

        ensure_database(POSTGRES_SERVER, self.metadata_db, fresh=self.fresh)
        if self.fresh:
            redis.Redis.from_url(f"{REDIS_SERVER}/{self.broker_db}").flushdb()
        super().prepare(connections, pool_slots)

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log: IO[bytes] = open(self.log_dir / f"airflow-{name}.log", "ab")
        with log:
            self._procs[name] = subprocess.Popen(
                [str(Path(sys.executable).with_name("airflow")), *args], env=env, cwd=str(REPO_ROOT),
                stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() and kill_worker() end all of it
            )

    def start_worker(self, number: int, env: dict[str, str] | None = None) -> None:
        name = self.worker_name(number)
        worker_env = dict(env or self.environment())
        worker_env[WORKER_NAME_VARIABLE] = name
        # each worker serves its own log port (two on one machine cannot share one)
        worker_env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(free_port())
        self._spawn(f"worker{number}", ["celery", "worker", "--celery-hostname", name,
                                        "--concurrency", str(self.worker_concurrency)], worker_env)

    def start(self, timeout: float = 300) -> "AirflowCelery":
        """Start every process (after :meth:`prepare`, which migrates the metadata DB)."""
        env = self.environment()
        try:
            for component in COMPONENTS:
                self._spawn(component, [component], env)
            for number in range(1, self.workers + 1):
                self.start_worker(number, env)
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def exited(self) -> str | None:
        for name, proc in self._procs.items():
            code = exit_code(proc)  # not reaped: stop() still finds what it left running
            if code is not None:
                return f"airflow {name} exited with code {code}; see {self.log_dir}/airflow-{name}.log"
        return None

    def worker_process(self, hostname: str) -> subprocess.Popen:
        """The worker process (group leader) whose name is ``hostname``."""
        for number in range(1, self.workers + 1):
            if self.worker_name(number) == hostname:
                return self._procs[f"worker{number}"]
        raise KeyError(f"no worker named {hostname!r}")

    def kill_worker(self, hostname: str) -> None:
        """SIGKILL the whole worker, as when its machine dies: Celery's main process, its pool,
        the task supervisors and the task processes (which sit in process groups of their own)."""
        proc = self.worker_process(hostname)
        _kill_tree(proc, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop(self) -> None:
        # workers first in the list (they end or give back their tasks), the scheduler and API
        # server last; task processes, in process groups of their own, do not outlive them
        stop_process_groups(reversed(list(self._procs.values())), signal.SIGTERM)


def _kill_tree(proc: subprocess.Popen, sig: int) -> None:
    """``sig`` to ``proc``'s process group and every process below it, all at once."""
    tree = descendants(proc)
    os.killpg(proc.pid, sig)
    for child in tree:
        try:
            child.send_signal(sig)
        except psutil.NoSuchProcess:
            pass
