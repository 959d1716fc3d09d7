"""Packaging (issue 11): the connector as a plain Airflow deployment gets it.

- pyproject.toml declares what the connector imports at run time, and the exact lock
  (requirements.txt + constraints.txt) satisfies every declared range, extras included.
- ``pip install .`` (a wheel, not editable) into a fresh virtualenv finds the task files: the
  DAG files' sibling ``include/mappings`` by default, ``JIRA_ESM_MAPPINGS_DIR`` when set. The
  virtualenv sees the lock's packages through a ``.pth`` path line (which does not run the
  editable install's own ``.pth``), so nothing is downloaded but the build backend.
"""
from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
PACKAGE = REPO_ROOT / "plugins" / "jira_esm_connector"
TASK_FILES = sorted((REPO_ROOT / "include" / "mappings").glob("*.yaml"))


def _lock() -> dict[str, str]:
    pins = {}
    for line in (REPO_ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def _declared(extra: str | None = None) -> list[Requirement]:
    lines = PYPROJECT["dependencies"] if extra is None else PYPROJECT["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


# --------------------------------------------------------------------------- declarations


def test_every_third_party_import_of_the_connector_is_a_declared_runtime_dependency():
    imported = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"jira_esm_connector", "__future__"}
    owners = packages_distributions()
    declared = {canonicalize_name(r.name) for r in _declared()}
    undeclared = {}
    for module in sorted(third_party):
        # airflow's modules come from apache-airflow's parts (core, task SDK): the host is declared as a whole
        dists = {canonicalize_name(d) for d in owners.get(module, [module])}
        dists = {"apache-airflow" if d.startswith("apache-airflow") else d for d in dists}
        if not dists & declared:
            undeclared[module] = sorted(dists)
    assert "airflow" in third_party and "pydantic" in third_party  # the scan sees imports at all
    assert undeclared == {}


def test_the_lock_satisfies_every_declared_range_and_pins_every_declared_package():
    pins = _lock()
    requirements = _declared() + [r for extra in PYPROJECT["optional-dependencies"] for r in _declared(extra)]
    own = canonicalize_name(PYPROJECT["name"])
    unmet = {}
    for req in requirements:
        name = canonicalize_name(req.name)
        if name == own:  # an extra that includes others
            continue
        if name not in pins or not req.specifier.contains(pins[name], prereleases=True):
            unmet[str(req)] = pins.get(name)
    assert unmet == {}
    assert PYPROJECT["dependencies"] and {"test", "simulators", "demo"} <= set(PYPROJECT["optional-dependencies"])


def test_every_direct_pin_in_requirements_txt_is_declared_and_matches_the_lock():
    pins = _lock()
    declared = {canonicalize_name(r.name) for r in _declared()}
    for extra in PYPROJECT["optional-dependencies"]:
        declared |= {canonicalize_name(r.name) for r in _declared(extra)}
    for line in (REPO_ROOT / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = (part.strip() for part in line.split("=="))
            assert canonicalize_name(name) in declared, f"{name} is pinned but not declared in pyproject.toml"
            assert pins.get(canonicalize_name(name)) == version, f"{name}: requirements.txt and constraints.txt differ"


def test_the_runtime_dependencies_carry_no_test_or_simulator_tools():
    runtime = {canonicalize_name(r.name) for r in _declared()}
    tools = {canonicalize_name(r.name) for r in _declared("test") + _declared("simulators")}
    assert runtime & tools == set()
    assert "apache-airflow" in runtime
    host = next(r for r in _declared() if canonicalize_name(r.name) == "apache-airflow")
    assert host.specifier.contains("3.3.2") and not host.specifier.contains("3.4.0") and not host.specifier.contains("3.2.9")


# --------------------------------------------------------------------------- pip install . into a fresh venv

# Runs inside the fresh virtualenv: parses each DAG folder like the DAG processor and reports
# where the connector was imported from.
_PARSE = """
import json, os, sys
from importlib.metadata import distribution
from airflow.dag_processing.dagbag import DagBag
from airflow.providers_manager import ProvidersManager
import jira_esm_connector

bags = []
for case in json.loads(sys.argv[1]):
    os.environ.pop("JIRA_ESM_MAPPINGS_DIR", None)
    if case["mappings_dir"]:
        os.environ["JIRA_ESM_MAPPINGS_DIR"] = case["mappings_dir"]
    bag = DagBag(dag_folder=case["dags"])
    bags.append({"dag_ids": sorted(bag.dag_ids), "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()}})
hooks = ProvidersManager().hooks
print("RESULT " + json.dumps({
    "module": jira_esm_connector.__file__,
    "distribution": str(distribution("airflow-jira-esm-connector").locate_file("")),
    "hooks": {t: hooks[t].hook_class_name if t in hooks and hooks[t] else None for t in ("jira_cloud", "efecte_esm")},
    "bags": bags,
}))
"""


def _run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=240, **kwargs)
    assert done.returncode == 0, f"{' '.join(args)[:300]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done


def _copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))


@pytest.fixture(scope="module")
def installed_venv(tmp_path_factory) -> Path:
    """A fresh virtualenv with the connector's wheel installed (no deps) and the lock's
    packages visible from the running interpreter's site-packages."""
    root = tmp_path_factory.mktemp("packaging")
    source = root / "source"  # a clean copy, so the build leaves nothing in the work tree
    source.mkdir()
    shutil.copy(REPO_ROOT / "pyproject.toml", source)
    _copy_tree(PACKAGE, source / "plugins" / PACKAGE.name)
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "-q", str(source), "-w", str(root / "dist"))
    wheel = next((root / "dist").glob("airflow_jira_esm_connector-*.whl"))

    venv = root / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", str(venv))
    python = venv / "bin" / "python"
    # install before the .pth exists: pip must not see (or touch) the editable install
    _run(sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "--no-cache-dir", "-q", str(wheel))
    site = Path(_run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    lock_paths = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (site / "zz_lock_packages.pth").write_text("".join(f"{p}\n" for p in lock_paths))
    return venv


def _deployment(root: Path, with_task_files: bool) -> Path:
    """dags/ (and include/ beside it) copied the way the Dockerfile and the README lay them out."""
    root.mkdir()
    _copy_tree(REPO_ROOT / "dags", root / "dags")
    if with_task_files:
        _copy_tree(REPO_ROOT / "include", root / "include")
    return root / "dags"


def _task_names(paths) -> set[str]:
    return {yaml.safe_load(p.read_text())["name"] for p in paths}


@pytest.mark.packaging
def test_pip_install_of_the_wheel_finds_the_task_files_beside_the_dags_and_from_the_env(installed_venv, tmp_path):
    from jira_esm_connector.dagfactory.health import HEALTH_DAG_ID
    from jira_esm_connector.dagfactory.reconcile import RECONCILE_DAG_ID

    beside = _deployment(tmp_path / "deploy", with_task_files=True)
    elsewhere = _deployment(tmp_path / "other", with_task_files=False)
    chosen = [p for p in TASK_FILES if p.name.startswith(("import_1", "event_create_user"))]
    task_dir = tmp_path / "task-files"
    task_dir.mkdir()
    for path in chosen:
        shutil.copy(path, task_dir)
    cases = [{"dags": str(beside), "mappings_dir": None}, {"dags": str(elsewhere), "mappings_dir": str(task_dir)}]

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith(("AIRFLOW", "JIRA_ESM_"))}
    env |= {"AIRFLOW_HOME": str(tmp_path / "airflow-home"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__DAGS_FOLDER": str(beside)}
    done = _run(str(installed_venv / "bin" / "python"), "-c", _PARSE, json.dumps(cases), env=env, cwd=tmp_path)
    result = json.loads(re.search(r"^RESULT (.*)$", done.stdout, re.M).group(1))

    site = Path(_run(str(installed_venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    assert Path(result["module"]).is_relative_to(site), result["module"]
    assert not Path(result["module"]).is_relative_to(REPO_ROOT)
    assert Path(result["distribution"]).resolve() == site.resolve()
    assert result["hooks"] == {"jira_cloud": "jira_esm_connector.hooks.jira.JiraCloudHook", "efecte_esm": "jira_esm_connector.hooks.esm.EsmHook"}

    by_default, by_env = result["bags"]
    assert by_default["import_errors"] == {}
    assert set(by_default["dag_ids"]) == _task_names(TASK_FILES) | {HEALTH_DAG_ID, RECONCILE_DAG_ID}
    assert by_env["import_errors"] == {}
    assert set(by_env["dag_ids"]) == _task_names(chosen) | {HEALTH_DAG_ID, RECONCILE_DAG_ID}
    assert len(chosen) == 2 and len(TASK_FILES) > len(chosen)
