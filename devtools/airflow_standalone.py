"""A local Airflow 3.3 for the demo and the end-to-end tests, and its REST API.

:class:`LocalAirflow` is the one interface the demo and the tests use, whatever runs the
tasks: ``prepare`` (metadata DB migrated, connections and the connector pool stored in it),
``start`` / ``wait_ready`` / ``stop``, ``api``, ``trigger`` and ``wait_for_run``. It knows the
environment every Airflow process needs (fixed admin login, execution API on the real port,
API server on 127.0.0.1 only, DAGs not paused, no examples, test-connection enabled).
:class:`AirflowStandalone` runs it all as ``airflow standalone`` (LocalExecutor, SQLite);
devtools/airflow_celery.py runs the same DAGs as separate processes on CeleryExecutor.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from devtools.processes import exit_code, stop_process_groups

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
TERMINAL_STATES = {"success", "failed"}


def connection_json(conn_type: str, host: str, login: str, password: str, *, ca_pem: str | None = None,
                    **extra: Any) -> str:
    """One Airflow connection as an ``AIRFLOW_CONN_*`` value (JSON), as an operator would set it.

    With ``ca_pem`` the connection trusts that CA (the simulators' local CA); without it,
    it opts in to plain http (simulators started with ``--insecure-http``).
    """
    extras: dict[str, Any] = {"ca_bundle": str(ca_pem)} if ca_pem else {"allow_insecure_http": True}
    extras.update(extra)
    fields: dict[str, Any] = {"conn_type": conn_type, "host": host, "login": login, "password": password, "extra": extras}
    # The port the URL names, stored as the port too (the hooks use the URL's own): Airflow
    # 3.3.2's Test button in Admin -> Connections sends port 0 for a connection without one,
    # and the API then refuses to reuse the stored password ("host or port ... differs",
    # HTTP 400; fixed upstream in apache/airflow#73298).
    port = urlsplit(host).port if "://" in host else None
    if port:
        fields["port"] = port
    return json.dumps(fields)


def connector_pool() -> tuple[str, int]:
    """``(name, slots)`` of the pool the connector's tasks run in, from ``JIRA_ESM_POOL`` /
    ``JIRA_ESM_POOL_SLOTS`` as the Airflow processes started from here read them."""
    from jira_esm_connector.config.settings import ConnectorSettings

    settings = ConnectorSettings()
    return settings.pool, settings.pool_slots


@dataclass
class LocalAirflow:
    """What every local Airflow deployment shares; subclasses say how its processes run."""

    home: Path
    port: int = 8080
    username: str = "admin"
    password: str = "admin"
    dags_folder: Path = REPO_ROOT / "dags"
    extra_env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    worker_log_port: int = field(default_factory=free_port)
    trigger_log_port: int = field(default_factory=free_port)
    # Signs the API's tokens (HS512): 64 bytes at least, or PyJWT warns in the logs of every
    # process -- Airflow's own generated one is 16. One per deployment, so one for all of
    # its processes.
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(64), repr=False)
    _token: str | None = field(default=None, init=False, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://localhost:{self.port}"

    def deployment_env(self) -> dict[str, str]:
        """Settings of this kind of deployment (executor, metadata DB); overridden."""
        return {}

    def environment(self) -> dict[str, str]:
        self.home.mkdir(parents=True, exist_ok=True)
        passwords = self.home / "simple_auth_manager_passwords.json"
        passwords.write_text(json.dumps({self.username: self.password}))
        env = dict(os.environ)
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.username}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
                "AIRFLOW__API_AUTH__JWT_SECRET": self.jwt_secret,
                # Only this machine reaches the UI and the REST API (the login is a demo one).
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": self.base_url,
                # Tasks reach the metadata DB only through the API server's real port.
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                # New task files show up quickly in the UI.
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "15",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
                # Log servers on free ports, so a demo and a test run (or two test runs)
                # can share a machine without "address already in use".
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.worker_log_port),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.trigger_log_port),
                # Airflow starts components and task runners as `airflow ...` subprocesses.
                "PATH": os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", ""))),
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
                ),
            }
        )
        env.update(self.deployment_env())
        env.update(self.extra_env)
        return env

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """One `airflow ...` command with this deployment's environment; raises when it fails."""
        airflow = Path(sys.executable).with_name("airflow")
        proc = subprocess.run(
            [str(airflow), *args], env=self.environment(), cwd=str(REPO_ROOT),
            capture_output=True, text=True, timeout=timeout,
        )
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
            raise RuntimeError(f"`airflow {args[0]} {args[1] if len(args) > 1 else ''}` failed "
                               f"(exit code {proc.returncode}):\n{tail}")
        return proc

    def prepare(self, connections: dict[str, dict[str, Any]] | None = None, pool_slots: int | None = None) -> None:
        """Before the first start: the metadata DB migrated, then ``connections``
        (conn_id -> fields as in :func:`connection_json`) and the connector pool stored in it,
        so Admin -> Connections lists them and no scheduled run starts without them. The pool
        is the one the tasks are given, ``JIRA_ESM_POOL`` with ``JIRA_ESM_POOL_SLOTS`` slots
        (unless ``pool_slots`` says otherwise)."""
        self.cli("db", "migrate", timeout=600)
        if connections:
            conn_file = self.home / "demo_connections.json"
            conn_file.write_text(json.dumps(connections))
            conn_file.chmod(0o600)
            try:
                self.cli("connections", "import", "--overwrite", str(conn_file))
            finally:
                conn_file.unlink()  # holds passwords
        pool, slots = connector_pool()
        self.cli("pools", "set", pool, str(pool_slots or slots), "Jira <-> ESM connector")

    def start(self, timeout: float = 180) -> "LocalAirflow":
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def exited(self) -> str | None:
        """Why the deployment cannot become ready (a process exited), or None."""
        return None

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            gone = self.exited()
            if gone:
                raise RuntimeError(gone)
            try:
                health = requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).json()
                states = {k: (v or {}).get("status") for k, v in health.items()}
                if all(states.get(c) == "healthy" for c in ("metadatabase", "scheduler", "dag_processor", "triggerer")):
                    self.token()
                    return
                last = f"health {states}"
            except (requests.RequestException, ValueError) as exc:
                last = type(exc).__name__
            time.sleep(1)
        raise TimeoutError(f"Airflow not ready after {timeout:.0f} s ({last}); see {self.log_path}")

    # --- REST API -------------------------------------------------------------------

    def token(self) -> str:
        if self._token is None:
            resp = requests.post(
                f"{self.base_url}/auth/token",
                json={"username": self.username, "password": self.password},
                timeout=10,
            )
            resp.raise_for_status()
            self._token = resp.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token()}"}
        return requests.request(method, f"{self.base_url}/api/v2{path}", headers=headers, timeout=120, **kwargs)

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict:
        """Wait until the DAG processor has parsed `dag_id` and return the DAG's details."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            resp = self.api("GET", f"/dags/{dag_id}")
            if resp.status_code == 200:
                return resp.json()
            time.sleep(1)
        errors = self.api("GET", "/importErrors").json()
        raise TimeoutError(f"DAG {dag_id} did not appear within {timeout:.0f} s; import errors: {errors}")

    def trigger(self, dag_id: str, conf: dict | None = None) -> requests.Response:
        return self.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}").json()
            if run.get("state") in TERMINAL_STATES:
                return run
            time.sleep(0.25)
        raise TimeoutError(f"run {run_id} of {dag_id} not finished after {timeout:.0f} s")

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        resp = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}")
        resp.raise_for_status()
        return resp.json().get("value")

    def last_task_result(self, dag_id: str, run_id: str) -> Any:
        """The return value of the run's last task (the DAG run's result), or None."""
        tis = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances").json().get("task_instances", [])
        done = sorted((t for t in tis if t.get("end_date")), key=lambda t: t["end_date"])
        for ti in reversed(done):
            resp = self.api(
                "GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/xcomEntries/return_value"
            )
            if resp.status_code == 200:
                return resp.json().get("value")
        return None

    def ensure_pool(self) -> None:
        """The shared pool every connector task runs in (``JIRA_ESM_POOL``, SPEC: default 6 slots)."""
        name, slots = connector_pool()
        resp = self.api("GET", f"/pools/{name}")
        if resp.status_code == 404:
            self.api("POST", "/pools", json={"name": name, "slots": slots, "description": "Jira <-> ESM connector"})

    def test_connection_cli(self, conn_id: str) -> tuple[bool, str]:
        """`airflow connections test <conn_id>` with the same environment the tasks get."""
        airflow = Path(sys.executable).with_name("airflow")
        proc = subprocess.run(
            [str(airflow), "connections", "test", conn_id],
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
        return proc.returncode == 0, (lines[-1] if lines else f"exit code {proc.returncode}")


@dataclass
class AirflowStandalone(LocalAirflow):
    """`airflow standalone`: every component in one process group, LocalExecutor, SQLite."""

    _proc: subprocess.Popen | None = field(default=None, init=False, repr=False)

    def deployment_env(self) -> dict[str, str]:
        return {
            # Wait for SQLite locks instead of failing requests with "Database error".
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "devtools.airflow_sqlite.SYNC",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC": "devtools.airflow_sqlite.ASYNC",
            # The LocalExecutor keeps one worker process per slot of `parallelism` (default 32),
            # idle or not: 32 were 860 MiB, 45 % of the demo's memory. Every connector task runs
            # in the connector's pool (6 slots), so 8 never hold one back.
            "AIRFLOW__CORE__PARALLELISM": os.environ.get("AIRFLOW__CORE__PARALLELISM", "8"),
        }

    def start(self, timeout: float = 180) -> "AirflowStandalone":
        airflow = Path(sys.executable).with_name("airflow")
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self._proc = subprocess.Popen(
            [str(airflow), "standalone"],
            env=self.environment(),
            cwd=str(REPO_ROOT),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so stop() can end the whole process group
        )
        self.wait_ready(timeout)
        return self

    def exited(self) -> str | None:
        code = exit_code(self._proc) if self._proc is not None else None
        if code is not None:  # not reaped: stop() still finds the components it left running
            return f"airflow standalone exited with code {code}; see {self.log_path}"
        return None

    def stop(self) -> None:
        if self._proc is not None:
            # SIGTERM to the whole group: each component shuts down on it by itself. Not Ctrl-C's
            # SIGINT: a process started in the background of a non-interactive shell (CI, nohup,
            # `make demo &`) inherits SIGINT ignored, and `airflow standalone` would then sit out
            # the whole timeout. Task processes in groups of their own are ended after it.
            stop_process_groups([self._proc], signal.SIGTERM)
