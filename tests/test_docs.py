"""What the README and docs/ say, checked against the code: settings and their defaults, make
targets, file paths, the cache CLI's command lines and the demo's defaults. Each check reads
the docs as an operator would and fails on the first statement that is no longer true."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "plugins" / "jira_esm_connector"
DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
DOC_TEXT = {p.relative_to(REPO_ROOT).as_posix(): p.read_text() for p in DOCS}


def _section(text: str, heading: str) -> str:
    """The text under a Markdown heading, up to the next heading of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    start = text.index(heading + "\n") + len(heading) + 1
    end = re.compile(rf"^#{{1,{level}}} ", re.M).search(text, start)
    return text[start : end.start() if end else len(text)]


def _table_rows(text: str) -> list[list[str]]:
    """The cells of every Markdown table row in ``text`` (header and rule rows dropped)."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not re.fullmatch(r"\|[\s:|-]+\|?", line):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows[1:] if rows else rows


def _ticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


# --------------------------------------------------------------------------- settings


def _settings_fields() -> dict[str, object]:
    """``JIRA_ESM_<NAME>`` -> the default the connector uses when the variable is not set."""
    from jira_esm_connector.config import ConnectorSettings

    fields = {}
    for name, info in ConnectorSettings.model_fields.items():
        fields[f"JIRA_ESM_{name.upper()}"] = info.get_default(call_default_factory=False)
    return fields


def _readme_settings_table() -> dict[str, str]:
    """``JIRA_ESM_*`` name -> the default the README's settings table gives it."""
    table = _section(DOC_TEXT["README.md"], "## Settings and running it in your own Airflow")
    documented = {}
    for cells in _table_rows(table):
        names, defaults = _ticked(cells[0]), cells[1]
        values = _ticked(defaults) if len(_ticked(defaults)) == len(names) else None
        if values is None and len(names) > 1:  # e.g. "none / none"
            values = [v.strip() for v in defaults.split("/")]
        for i, name in enumerate(names):
            documented[name] = values[i] if values and len(values) == len(names) else defaults
    return documented


def _as_documented(value: object) -> str | None:
    """A setting's default as the README writes it; None for one derived at run time."""
    if value is None:
        return "none"
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (str, int, float)):
        return str(value)
    return None  # a folder under AIRFLOW_HOME etc.: described in words


# unset (None) means "worked out at run time", described in words in the table
_DERIVED = {"JIRA_ESM_MAPPINGS_DIR"}


def test_every_setting_is_in_the_readme_settings_table_with_its_default():
    fields = _settings_fields()
    documented = _readme_settings_table()
    assert sorted(set(fields) - set(documented)) == [], "settings missing from the README's settings table"
    assert sorted(set(documented) - set(fields)) == [], "the README's settings table names variables the code never reads"
    wrong = {
        name: (documented[name], _as_documented(default))
        for name, default in fields.items()
        if _as_documented(default) is not None and name not in _DERIVED and documented[name] != _as_documented(default)
    }
    assert wrong == {}, "README default != code default"


def test_every_jira_esm_variable_the_docs_and_deployment_files_name_is_a_setting():
    fields = _settings_fields()
    texts = dict(DOC_TEXT)
    for name in ("docker-compose.yaml", "Dockerfile", "Makefile"):
        texts[name] = (REPO_ROOT / name).read_text()
    for path in sorted((REPO_ROOT / "include" / "mappings").glob("*.yaml")):
        texts[path.relative_to(REPO_ROOT).as_posix()] = path.read_text()
    unknown = {
        where: sorted(set(re.findall(r"\bJIRA_ESM_[A-Z0-9_]+\b", text)) - set(fields))
        for where, text in texts.items()
    }
    assert {k: v for k, v in unknown.items() if v} == {}


# --------------------------------------------------------------------------- make targets


def test_every_make_target_the_docs_name_exists():
    makefile = (REPO_ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([A-Za-z][\w-]*):", makefile, re.M))
    texts = {**DOC_TEXT, ".ci/run": (REPO_ROOT / ".ci" / "run").read_text(), "Makefile": makefile}
    missing = {
        where: sorted(set(re.findall(r"\bmake ([a-z][\w-]*)", text)) - targets) for where, text in texts.items()
    }
    assert {k: v for k, v in missing.items() if v} == {}


# --------------------------------------------------------------------------- file paths

# where a path in backticks may be relative to: the repository, the package, its devtools
_PATH_ROOTS = (REPO_ROOT, PACKAGE, REPO_ROOT / "devtools", REPO_ROOT / "include" / "mappings")
_NOT_IN_THE_REPOSITORY = (".demo", ".test-logs", ".venv", "./.venv", "../shared", "/")  # made at run time, or elsewhere


def _documented_paths(text: str) -> set[str]:
    paths = set()
    for token in re.findall(r"`([^`\s]+)`", text):
        if "://" in token or "$" in token or "<" in token or token.startswith(_NOT_IN_THE_REPOSITORY + ("_",)):
            continue
        if re.fullmatch(r"[\w.*/-]+\.(py|md|ya?ml|txt|toml|sh|json)|[\w.-]+(/[\w.*-]+)*/", token) or token.startswith(
            (".ci/", "dags/", "docs/", "include/", "plugins/", "tests/", "devtools/", "bench/", "deploy/")
        ):
            paths.add(token)
    return paths


def _exists(token: str) -> bool:
    """A path relative to one of the roots, or a bare file name found anywhere in the project."""
    token = token.rstrip("/")
    if any(next(root.glob(token), None) for root in _PATH_ROOTS):
        return True
    if "/" in token:
        return False
    return any(next(REPO_ROOT.glob(f"{top}/**/{token}"), None)
               for top in ("plugins", "devtools", "tests", "bench", "dags", "include", "deploy"))


def test_every_repository_path_the_docs_name_exists():
    missing = {where: sorted(p for p in _documented_paths(text) if not _exists(p)) for where, text in DOC_TEXT.items()}
    assert {k: v for k, v in missing.items() if v} == {}


def test_the_path_check_finds_a_missing_file():
    assert not _exists("pipeline/no_such_module.py") and not _exists("docs/NO_SUCH.md")
    assert _exists("pipeline/carry.py") and _exists("docs/OPERATIONS.md") and _exists("include/mappings/event_*.yaml")


# --------------------------------------------------------------------------- the cache CLI

_CLI = "python -m jira_esm_connector.pipeline.cache"


def _documented_cache_commands() -> list[tuple[str, str]]:
    """(where, argument list) of every cache CLI command line the docs and the module show."""
    from jira_esm_connector.pipeline import cache

    texts = {**DOC_TEXT, "pipeline/cache.py": cache.__doc__ or ""}
    found = []
    for where, text in texts.items():
        for line in re.findall(re.escape(_CLI) + r"([^`\n]*)", text):
            found.append((where, line.strip()))
    return found


def _as_argv(usage: str, db_url: str) -> list[str]:
    """A usage line made concrete: ``<task>`` -> a name, ``[<task> ...]`` -> a second name,
    ``[--db-url URL]`` -> the option with ``db_url``."""
    usage = usage.replace("[<task> ...]", "other_task").replace("[--db-url URL]", f"--db-url {db_url}")
    usage = usage.replace("<task>", "jira_users_to_persons").replace("URL", db_url)
    return shlex.split(usage)


def test_every_documented_cache_cli_command_runs(tmp_path, capsys):
    from jira_esm_connector.pipeline.cache import main
    from jira_esm_connector.state import StateStore

    commands = _documented_cache_commands()
    assert {w for w, _ in commands} >= {"README.md", "docs/TASK_FILES.md", "pipeline/cache.py"}
    db_url = f"sqlite:///{tmp_path}/state.db"
    failed = []
    for where, usage in commands:
        argv = _as_argv(usage, db_url)
        if "--db-url" not in argv:
            argv = ["--db-url", db_url, *argv]  # the documented default database is JIRA_ESM_STATE_DB_URL's
        if "clear" in argv:  # clear refuses a task the state database knows nothing of (a typo)
            store = StateStore(db_url)
            for name in argv[argv.index("clear") + 1:]:
                if not name.startswith("-") and name != db_url:
                    store.put_fingerprints(name, {"KEY-1": "a" * 64})
            store.dispose()
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse refused the command line
            code = exc.code
        if code != 0:
            failed.append(f"{where}: {_CLI} {usage} -> exit code {code}: {capsys.readouterr().err.strip()[-200:]}")
    assert failed == []


# --------------------------------------------------------------------------- the demo


def test_the_demo_defaults_the_docs_give_are_the_demos():
    from devtools.demo import DEFAULTS

    table = _section(DOC_TEXT["README.md"], "### What `make demo` starts")
    documented: dict[str, str] = {}
    for cells in _table_rows(table):
        names = _ticked(cells[0])
        values = _ticked(cells[1])
        if names and all(n.startswith("DEMO_") for n in names):
            assert len(values) >= len(names), cells  # "`standalone` (or `celery`, below)"
            documented.update(zip(names, values))
    demo_dir = Path(DEFAULTS["DEMO_DIR"]).relative_to(REPO_ROOT).as_posix()
    assert documented == {**DEFAULTS, "DEMO_DIR": demo_dir}
    # the logins both docs print
    for where in ("README.md", "docs/ARCHITECTURE.md"):
        text = DOC_TEXT[where]
        assert f"`{DEFAULTS['DEMO_AIRFLOW_USER']}` / `{DEFAULTS['DEMO_AIRFLOW_PASSWORD']}`" in text, where
        assert f"`{DEFAULTS['DEMO_JIRA_EMAIL']}` / API token `{DEFAULTS['DEMO_JIRA_TOKEN']}`" in text, where
        esm_lines = [l for l in text.splitlines() if "ESM simulator" in l and f":{DEFAULTS['DEMO_ESM_PORT']}" in l]
        assert esm_lines and all(
            f"`{DEFAULTS['DEMO_ESM_USER']}` / `{DEFAULTS['DEMO_ESM_PASSWORD']}`" in l for l in esm_lines
        ), (where, esm_lines)


# --------------------------------------------------------------------------- quoted log lines


def test_every_run_summary_and_reconciliation_line_the_docs_quote_is_the_one_the_code_writes():
    """The docs show the run's summary line and the reconciliation's as an operator finds them
    in a task log; each is rebuilt here from its own figures by the function that writes it."""
    from jira_esm_connector.pipeline.finish import summary_line
    from jira_esm_connector.pipeline.reconcile import reconcile_summary_line

    quoted = 0
    for doc, text in DOC_TEXT.items():
        for task, body in re.findall(r"Import '([^']+)' finished: ([^`\n]*?\.)(?=`|\n|$)", text):
            counts = {k.replace(" ", "_"): int(v) for k, v in re.findall(r"([a-z ]+?) (\d+)[,.]", " " + body)}
            counts = {k.strip("_"): v for k, v in counts.items()}
            assert summary_line(task, counts) == f"Import '{task}' finished: {body}", doc
            quoted += 1
        for task, body in re.findall(r"Reconciliation of '([^']+)': ([^`\n]*?\.)(?=`|\n|$)", text):
            numbers = [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", body)]
            if "comments on" in body:
                keys = ["jira_records", "jira_issues", "esm_worklog_entries", "esm_active_cards",
                        "missing_in_esm", "not_in_jira", "duplicate_keys"]
                report = {"mapping_type": "comment", **dict(zip(keys, numbers))}
            else:
                keys = ["jira_records", "esm_active_cards", "missing_in_esm", "not_in_jira", "wrongly_removed",
                        "duplicate_keys", "stale", "stale_sampled"]
                report = dict(zip(keys, numbers))
            assert len(numbers) == len(keys), (doc, body)
            assert reconcile_summary_line(task, report) == f"Reconciliation of '{task}': {body}", doc
            quoted += 1
    assert quoted >= 4
