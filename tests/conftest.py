"""Test-wide setup.

Every module in tests/fixtures/ is a pytest plugin (shared fixtures such as the running
simulators), so a new fixture module only has to be dropped there.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# Airflow reads its configuration at import time: give the test session its own home so
# tests never touch a developer's ~/airflow or the demo's .demo/ folder.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="jira-esm-tests-airflow-")
os.environ.setdefault("AIRFLOW_HOME", _AIRFLOW_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__TEST_CONNECTION", "Enabled")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO_ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(REPO_ROOT / "plugins"))

pytest_plugins = sorted(
    f"tests.fixtures.{p.stem}"
    for p in (REPO_ROOT / "tests" / "fixtures").glob("*.py")
    if p.stem != "__init__"
)
