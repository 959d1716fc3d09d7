"""`make demo` starts the simulators in their own session; when the demo itself is
killed (not stopped with Ctrl-C), they must not keep running: the demo passes its pid
with --parent-pid and the simulators exit once it is gone."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from devtools.demo import esm_simulator_args, jira_simulator_args

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("args", [jira_simulator_args, esm_simulator_args])
def test_the_demo_passes_its_pid_to_every_simulator(args, tmp_path):
    argv = args(tmp_path)
    assert argv[argv.index("--parent-pid") + 1] == str(os.getpid())


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in state  # exited, waiting to be reaped by its new parent


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_a_simulator_exits_after_the_demo_that_started_it_is_killed(tmp_path):
    script = textwrap.dedent(f"""\
        import time
        from pathlib import Path
        from devtools import demo
        folder = Path({str(tmp_path)!r})
        service = demo.start_service("Jira simulator", demo.jira_simulator_args(folder), folder / "jira.log",
                                     ready=r"Jira simulator ready", timeout=90)
        print(service.proc.pid, flush=True)
        time.sleep(600)
    """)
    env = {**os.environ, "DEMO_JIRA_PORT": "0", "PYTHONPATH": os.pathsep.join(sys.path)}
    fake_demo = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, env=env)
    simulator = None
    try:
        line = fake_demo.stdout.readline()
        assert line.strip().isdigit(), f"demo did not start the simulator: {line!r}; log: {(tmp_path / 'jira.log').read_text()[-2000:]}"
        simulator = int(line)
        fake_demo.kill()  # SIGKILL: the demo gets no chance to stop its services
        fake_demo.wait()
        deadline = time.monotonic() + 20
        while not _gone(simulator) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _gone(simulator), "the simulator outlived the killed demo"
    finally:
        fake_demo.kill()
        if simulator is not None and not _gone(simulator):
            os.kill(simulator, signal.SIGKILL)


def test_a_second_demo_continues_with_the_jira_data_of_the_first(tmp_path, monkeypatch):
    """The Jira simulator keeps its data under the demo folder (like ESM's): an issue created
    during one demo is there, with the same key, in the next; a fresh Jira would give that key
    to another issue, and replayed events would report it."""
    from devtools import demo
    from jira_esm_connector.jira import JiraClient

    monkeypatch.setenv("DEMO_JIRA_PORT", "0")
    monkeypatch.setenv("DEMO_JIRA_SEED", "7")

    def start() -> tuple[demo.Service, str]:
        service = demo.start_service("Jira simulator", demo.jira_simulator_args(tmp_path), tmp_path / "jira.log",
                                     ready=r"Jira simulator ready", timeout=90)
        ready = [ln for ln in (tmp_path / "jira.log").read_text().splitlines() if "Jira simulator ready" in ln][-1]
        return service, ready.rsplit(" ", 1)[-1]

    first, url = start()
    try:
        with JiraClient(url, "demo@example.com", "demo-token", verify=str(tmp_path / "ca.pem")) as jira:
            key = jira.create_issue({"project": {"key": "SUP"}, "issuetype": {"name": "Task"},
                                     "summary": "made in the first demo"})["key"]
    finally:
        first.stop()
    second, url = start()
    try:
        assert "Reused the data in" in (tmp_path / "jira.log").read_text()
        with JiraClient(url, "demo@example.com", "demo-token", verify=str(tmp_path / "ca.pem")) as jira:
            assert jira.get_issue(key, fields=["summary"])["fields"]["summary"] == "made in the first demo"
    finally:
        second.stop()


LEADER = textwrap.dedent("""\
    import signal, subprocess, sys, time
    # a child in a process group of its own that ignores the stop signal, as Airflow's task
    # processes sit in groups of their own below `airflow standalone`
    child = subprocess.Popen([sys.executable, "-c",
                              "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                              "signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(600)"],
                             start_new_session=True, stdout=subprocess.PIPE, text=True)
    child.stdout.readline()
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))  # before the test may send it
    print(child.pid, flush=True)
    time.sleep(600)
""")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_stopping_a_process_group_ends_what_left_the_group_too():
    """The demo's and the e2e tests' stop (devtools.processes.stop_process_groups): the leader
    obeys Ctrl-C and exits; a process below it in a group of its own that does not obey is
    killed after the grace period instead of running on."""
    from devtools.processes import stop_process_groups

    leader = subprocess.Popen([sys.executable, "-c", LEADER], start_new_session=True, stdout=subprocess.PIPE, text=True)
    child = None
    try:
        child = int(leader.stdout.readline())
        assert os.getpgid(child) != os.getpgid(leader.pid)
        started = time.monotonic()
        stop_process_groups([leader], signal.SIGINT, timeout=20, grace=1)
        assert leader.returncode == 0, "the leader should have ended on its own signal"
        deadline = time.monotonic() + 10
        while not _gone(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _gone(child), "a process below the leader outlived the stop"
        assert time.monotonic() - started < 15
    finally:
        if leader.poll() is None:
            leader.kill()
        if child is not None and not _gone(child):
            os.kill(child, signal.SIGKILL)


LEADER_THAT_DIES = textwrap.dedent("""
    import subprocess, sys
    # a child in a group of its own (as Airflow's task processes), that ignores the stop signal
    child = subprocess.Popen([sys.executable, "-c",
                              "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                              "print('ready', flush=True); time.sleep(600)"],
                             process_group=0, stdout=subprocess.PIPE, text=True)
    child.stdout.readline()
    print(child.pid, flush=True)
    sys.exit(3)  # the leader dies (as `airflow standalone` may) and leaves its child running
""")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_stopping_after_the_leader_died_still_ends_what_it_left_running():
    """The demo's "Stopped unexpectedly" path: the leader is watched with exit_code (it is not
    reaped), so its session still identifies what it left behind, and the stop ends that."""
    from devtools.processes import exit_code, stop_process_groups

    leader = subprocess.Popen([sys.executable, "-c", LEADER_THAT_DIES], start_new_session=True,
                              stdout=subprocess.PIPE, text=True)
    child = None
    try:
        child = int(leader.stdout.readline())
        deadline = time.monotonic() + 20
        while exit_code(leader) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert exit_code(leader) == 3 and leader.returncode is None  # ended, not reaped
        assert not _gone(child) and os.getsid(child) == leader.pid != os.getpgid(child)
        stop_process_groups([leader], signal.SIGTERM, timeout=5, grace=1)
        assert leader.returncode == 3
        deadline = time.monotonic() + 10
        while not _gone(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _gone(child), "what the dead leader left running outlived the stop"
    finally:
        if leader.poll() is None:
            leader.kill()
        if child is not None and not _gone(child):
            os.kill(child, signal.SIGKILL)


@pytest.mark.parametrize("kind", ["standalone", "celery"])
def test_a_local_airflow_signs_its_tokens_with_one_secret_long_enough_for_hs512(kind, tmp_path):
    """Airflow's own generated JWT secret is 16 bytes: PyJWT then warns in every process's log."""
    import warnings

    import jwt

    from devtools.airflow_celery import AirflowCelery
    from devtools.airflow_standalone import AirflowStandalone

    airflow = (AirflowStandalone if kind == "standalone" else AirflowCelery)(home=tmp_path / "home")
    secret = airflow.environment()["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert airflow.environment()["AIRFLOW__API_AUTH__JWT_SECRET"] == secret  # every process gets the same
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        token = jwt.encode({"sub": "admin"}, secret, algorithm="HS512")
        assert jwt.decode(token, secret, algorithms=["HS512"]) == {"sub": "admin"}


def test_a_local_airflow_creates_the_pool_the_connector_tasks_are_given(tmp_path, monkeypatch):
    """The tasks run in ``JIRA_ESM_POOL``: a demo or test Airflow that made a pool of another
    name would never schedule one of them."""
    from devtools.airflow_standalone import AirflowStandalone

    monkeypatch.setenv("JIRA_ESM_POOL", "connector_pool")
    monkeypatch.setenv("JIRA_ESM_POOL_SLOTS", "3")
    airflow = AirflowStandalone(home=tmp_path / "home")
    commands: list[tuple[str, ...]] = []
    monkeypatch.setattr(airflow, "cli", lambda *args, **kwargs: commands.append(args))
    airflow.prepare()
    assert ("pools", "set", "connector_pool", "3", "Jira <-> ESM connector") in commands, commands
