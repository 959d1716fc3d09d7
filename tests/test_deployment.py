"""The production layout in docker-compose.yaml (no Docker engine here: its structure is
checked against what SPEC §7 asks of it) and the project's two-command contract."""
from __future__ import annotations

import copy
import json
import re
import shlex
import tomllib
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO_ROOT

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yaml").read_text())


def test_compose_has_every_airflow_component_and_the_backing_services():
    services = set(COMPOSE["services"])
    assert {
        "postgres", "redis", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
        "airflow-triggerer", "airflow-worker", "airflow-init",
    } <= services


def test_compose_runs_celery_on_postgres_and_redis_with_the_state_db_on_postgres():
    env = COMPOSE["services"]["airflow-worker"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    assert env["JIRA_ESM_STATE_DB_URL"].startswith("postgresql")
    # the connector's state is not Airflow's metadata database
    assert env["JIRA_ESM_STATE_DB_URL"].rsplit("/", 1)[1] != env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].rsplit("/", 1)[1]


def test_workers_share_the_staging_volume_and_the_pool_is_created():
    for name in ("airflow-worker", "airflow-scheduler", "airflow-dag-processor"):
        service = COMPOSE["services"][name]
        staging = service["environment"]["JIRA_ESM_STAGING_DIR"]
        assert any(v.startswith("staging:") and v.endswith(staging) for v in service["volumes"])
    init = " ".join(COMPOSE["services"]["airflow-init"]["command"])
    assert re.search(r"airflow pools set jira_esm_connector 6", init)


def test_readme_and_ci_keep_the_two_command_contract():
    readme = (REPO_ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


# --------------------------------------------------------------------------- Compose specification

COMPOSE_TEXT = (REPO_ROOT / "docker-compose.yaml").read_text()
AIRFLOW_SERVICES = sorted(n for n in COMPOSE["services"] if n.startswith("airflow-"))


def _compose_schema_errors(document) -> list[str]:
    """Errors of a Compose document against the Compose specification's JSON schema, the copy
    check-jsonschema vendors (no network)."""
    from importlib.resources import files

    import jsonschema

    schema = json.loads((files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json").read_text())
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(schema).iter_errors(document)]


def test_compose_file_is_valid_against_the_compose_specification():
    assert _compose_schema_errors(COMPOSE) == []


@pytest.mark.parametrize(
    "mutate, where",
    [
        (lambda c: c["services"]["airflow-worker"].update(enviroment={"A": "1"}), "services/airflow-worker"),
        (lambda c: c["services"]["redis"].update(restart=["always"]), "services/redis/restart"),
        (lambda c: c["services"]["airflow-apiserver"].update(ports=8080), "services/airflow-apiserver/ports"),
        (lambda c: c["x-airflow-common"]["build"].update(dockerfile=7) or c["services"]["airflow-init"].update(build=c["x-airflow-common"]["build"]), "services/airflow-init/build"),
        (lambda c: c.update(volume={"staging": None}), ""),
    ],
    ids=["misspelt-key", "list-for-a-string", "int-for-a-list", "int-for-a-path", "misspelt-top-level-key"],
)
def test_compose_validation_catches_a_broken_copy(mutate, where):
    broken = copy.deepcopy(COMPOSE)
    mutate(broken)
    errors = _compose_schema_errors(broken)
    assert errors and any(e.startswith(f"{where}:") for e in errors), errors


# --------------------------------------------------------------------------- Airflow settings


def _url(value: str):
    """A URL whose ${...} interpolations are replaced by a placeholder, parsed."""
    return urlparse(re.sub(r"\$\{[^}]*\}", "placeholder", value))


def test_every_airflow_service_shares_the_one_environment_anchor_and_the_image():
    common = COMPOSE["x-airflow-common"]
    assert {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", "airflow-worker", "airflow-init"} <= set(AIRFLOW_SERVICES)
    for name in AIRFLOW_SERVICES:
        service = COMPOSE["services"][name]
        # the same object: a service with its own `environment:` (even a merged copy) is not
        assert service["environment"] is common["environment"], name
        assert service["build"] is common["build"] and service["image"] == common["image"], name


def test_every_airflow_setting_names_an_option_airflow_knows():
    from airflow.configuration import conf

    known = conf.configuration_description
    env = COMPOSE["x-airflow-common"]["environment"]
    unknown = []
    for name in (k for k in env if k.startswith("AIRFLOW__")):
        _, section, option = name.split("__", 2)
        if option.lower() not in known.get(section.lower(), {}).get("options", {}):
            unknown.append(name)
    assert unknown == []
    assert sum(k.startswith("AIRFLOW__") for k in env) >= 10


def test_celery_executor_with_redis_broker_and_postgres_for_results_metadata_and_state():
    env = COMPOSE["x-airflow-common"]["environment"]
    services = COMPOSE["services"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    broker = _url(env["AIRFLOW__CELERY__BROKER_URL"])
    assert broker.scheme == "redis" and broker.hostname == "redis" and (broker.port or 6379) == 6379
    assert services["redis"]["image"].startswith("redis:")
    assert services["postgres"]["image"].startswith("postgres:")
    metadata = _url(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    results = _url(env["AIRFLOW__CELERY__RESULT_BACKEND"])
    state = _url(env["JIRA_ESM_STATE_DB_URL"])
    assert metadata.scheme.startswith("postgresql") and results.scheme.startswith("db+postgresql")
    assert state.scheme.startswith("postgresql")
    assert {metadata.hostname, results.hostname, state.hostname} == {"postgres"}
    assert metadata.path == results.path == "/" + services["postgres"]["environment"]["POSTGRES_DB"]
    # the connector's state: its own database, created by the postgres init script
    assert state.path != metadata.path
    init_mount = next(v for v in services["postgres"]["volumes"] if "docker-entrypoint-initdb.d" in v)
    init_script = (REPO_ROOT / init_mount.split(":")[0]).read_text()
    assert f"CREATE DATABASE {state.path.lstrip('/')}" in init_script


def test_execution_api_url_points_at_the_api_server_service_and_its_port():
    env = COMPOSE["x-airflow-common"]["environment"]
    apiserver = COMPOSE["services"]["airflow-apiserver"]
    url = _url(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    container_ports = {str(p).split(":")[-1] for p in apiserver["ports"]}
    assert apiserver["command"] == "api-server"
    assert url.hostname == "airflow-apiserver" and str(url.port) in container_ports
    assert url.path == "/execution/"
    health = _url(apiserver["healthcheck"]["test"][-1])
    assert health.port == url.port
    # workers need the API server up before they take tasks
    assert apiserver["healthcheck"] and COMPOSE["services"]["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"


def test_compose_builds_the_repository_dockerfile_and_mounts_only_existing_paths():
    build = COMPOSE["x-airflow-common"]["build"]
    assert build == {"context": ".", "dockerfile": "Dockerfile"}
    assert (REPO_ROOT / build["context"] / build["dockerfile"]).is_file()
    assert "dockerfile_inline" not in COMPOSE_TEXT
    for name, service in COMPOSE["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (REPO_ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
            else:
                assert source.startswith("/") or source in COMPOSE["volumes"], f"{name}: volume {source} is not declared"
    # the connector is the image's installed distribution: no plugins/ folder mounted over it
    assert not any("plugins" in v for v in COMPOSE["x-airflow-common"]["volumes"])


# --------------------------------------------------------------------------- secrets

SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|PRIVATE_KEY", re.I)


def _plaintext_secrets(compose_text: str) -> list[str]:
    """Secret-looking settings given a literal value or an interpolation default (``${X:-v}``)."""
    found = []
    for name, default in re.findall(r"\$\{(\w+):?-([^}]*)\}", compose_text):
        if SECRET_NAME.search(name):
            found.append(f"{name} defaults to {default!r}")
    for key, value in re.findall(r"^\s*([\w.]+):\s*(.+?)\s*(?:#.*)?$", compose_text, re.M):
        if SECRET_NAME.search(key) and not value.startswith("${"):
            found.append(f"{key}: {value}")
    for url in re.findall(r"\w+(?:\+\w+)?://[^\s@/]*:([^\s@/]*)@", compose_text):
        if url and not url.startswith("${"):
            found.append(f"a URL with the password {url!r}")
    return found


def test_no_secret_has_a_plaintext_value_or_default_and_no_default_ui_password():
    assert _plaintext_secrets(COMPOSE_TEXT) == []
    env = COMPOSE["x-airflow-common"]["environment"]
    # SimpleAuthManager's users are user:role pairs; passwords are generated, never configured here
    for user in env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(","):
        assert user.split(":")[1] in {"viewer", "user", "op", "admin"}
    assert "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS" not in env
    assert "SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" not in COMPOSE_TEXT
    for name in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__FERNET_KEY"):
        assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", env[name]), f"{name} must be required from the environment"
    init = (REPO_ROOT / "deploy" / "postgres-init.sh").read_text()
    assert "PASSWORD :'password'" in init and "'airflow'" not in init


@pytest.mark.parametrize(
    "line",
    [
        "      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:-airflow}",
        "    AIRFLOW__API_AUTH__JWT_SECRET: changeme",
        "    X: postgresql+psycopg2://airflow:airflow@postgres/airflow",
    ],
)
def test_the_secret_check_finds_a_plaintext_secret(line):
    assert _plaintext_secrets(COMPOSE_TEXT + "\n" + line + "\n")


# --------------------------------------------------------------------------- Dockerfile

DOCKERFILE_TEXT = (REPO_ROOT / "Dockerfile").read_text()
PROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
RUNTIME_EXTRAS = {"postgres", "celery"}  # what a production image may add to the runtime dependencies


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") and not current:
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        current += line
        if current.strip():
            word, _, args = current.strip().partition(" ")
            logical.append((word.upper(), args.strip()))
        current = ""
    return logical


def _extra_packages(extras: set[str], seen: set[str] | None = None) -> set[str]:
    """The package names the given extras of this project declare, following self-references."""
    seen = set() if seen is None else seen
    names = set()
    for extra in extras - seen:
        seen.add(extra)
        for line in PROJECT["optional-dependencies"][extra]:
            req = Requirement(line)
            if canonicalize_name(req.name) == canonicalize_name(PROJECT["name"]):
                names |= _extra_packages(set(req.extras), seen)
            else:
                names.add(canonicalize_name(req.name))
    return names


def _pip_problems(args: list[str]) -> list[str]:
    problems = []
    runtime = {canonicalize_name(Requirement(r).name) for r in PROJECT["dependencies"]}
    tools = _extra_packages({"test", "simulators"}) - runtime - _extra_packages(RUNTIME_EXTRAS)
    if "-c" not in args:
        problems.append("pip install without the lock as constraints (-c constraints.txt)")
    for i, arg in enumerate(args):
        if arg in ("-r", "--requirement"):
            problems.append(f"pip install -r {args[i + 1]} (the lock's direct pins include the test tools)")
        elif arg in ("-e", "--editable"):
            problems.append("pip install -e (editable: the connector must be installed as a distribution)")
        elif not arg.startswith("-") and args[i - 1] not in ("-c", "-r", "--constraint", "--requirement"):
            name, listed = re.match(r"([^\[=<>!~;\s]+)(?:\[([^\]]*)\])?", arg).groups()
            extras = {e.strip() for e in (listed or "").split(",") if e.strip()}
            if extras - RUNTIME_EXTRAS:
                problems.append(f"pip install {arg}: extras {sorted(extras - RUNTIME_EXTRAS)} are not runtime")
            if canonicalize_name(name.rsplit("/", 1)[-1]) in tools:
                problems.append(f"pip install {arg}: a test or simulator tool")
    return problems


def _context_sources(steps: list[tuple[str, str]]) -> list[str]:
    """What a Dockerfile takes from the build context: COPY/ADD sources and RUN bind mounts."""
    sources = []
    for word, args in steps:
        if word in ("COPY", "ADD"):
            plain = [a for a in shlex.split(args) if not a.startswith("--")]
            sources += [] if any(a.startswith("--from=") for a in shlex.split(args)) else plain[:-1]
        elif word == "RUN":
            for mount in re.findall(r"--mount=(\S+)", args):
                options = dict(o.partition("=")[::2] for o in mount.split(","))
                if options.get("type") == "bind" and "from" not in options:
                    sources.append(options.get("source", "."))
    return [s.rstrip("/") or "." for s in sources]


def _dockerfile_problems(text: str) -> list[str]:
    """What keeps a Dockerfile from being the production image the README promises."""
    steps = _instructions(text)
    problems = []
    if ("FROM", "apache/airflow:3.3.2-python3.11") != steps[0]:
        problems.append(f"does not start FROM apache/airflow:3.3.2-python3.11: {steps[0]}")
    if not any(word == "LABEL" and "org.opencontainers.image.title=" in args for word, args in steps):
        problems.append("no org.opencontainers.image.title label")
    for source in _context_sources(steps):
        if source.split("/")[0] in ("tests", "devtools", "bench", ".env", "requirements.txt", ".demo", ".venv", "."):
            problems.append(f"{source}: not part of the production image")
    for word, args in steps:
        if word in ("ENV", "ARG") and SECRET_NAME.search(args):
            problems.append(f"{word} {args}: a secret in the image")
        if word == "RUN":
            for command in re.split(r"&&|;", args):
                words = shlex.split(command)
                for j, word_ in enumerate(words[:-1]):  # pip, pip3, python -m pip, /path/to/pip
                    if word_.rsplit("/", 1)[-1] in ("pip", "pip3") and words[j + 1] == "install":
                        problems.extend(_pip_problems(words[j + 2 :]))
    if not any(word == "RUN" and "pip install" in args for word, args in steps):
        problems.append("the connector is never installed")
    if [args for word, args in steps if word == "USER"][-1:] != ["airflow"]:
        problems.append("does not end as USER airflow")
    return problems


def test_dockerfile_has_runtime_dependencies_only_and_installs_the_connector_non_editable():
    assert _dockerfile_problems(DOCKERFILE_TEXT) == []
    steps = _instructions(DOCKERFILE_TEXT)
    install = next(args for word, args in steps if word == "RUN" and "pip install" in args)
    assert "-c /tmp/constraints.txt" in install and '"${build}[postgres,celery]"' in install
    assert set(_context_sources(steps)) == {"pyproject.toml", "plugins/jira_esm_connector", "constraints.txt", "dags", "include"}


def test_dockerignore_sends_only_what_the_dockerfile_uses():
    lines = [l.strip() for l in (REPO_ROOT / ".dockerignore").read_text().splitlines() if l.strip() and not l.startswith("#")]
    assert lines[0] == "*"  # everything else (.venv, .demo, .env, tests, devtools) stays out
    allowed = {l[1:] for l in lines if l.startswith("!")}
    assert allowed == set(_context_sources(_instructions(DOCKERFILE_TEXT)))


OLD_INLINE_IMAGE = """\
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:0 requirements.txt constraints.txt pyproject.toml /opt/connector/
RUN pip install --no-cache-dir -r /opt/connector/requirements.txt -c /opt/connector/constraints.txt \\
 && pip install --no-cache-dir --no-deps -e /opt/connector
"""


@pytest.mark.parametrize(
    "mutate, problem",
    [
        (lambda _: OLD_INLINE_IMAGE, "requirements.txt"),  # what docker-compose.yaml used to build
        (lambda _: OLD_INLINE_IMAGE, "editable"),
        (lambda t: t.replace("[postgres,celery]", "[postgres,test]"), "are not runtime"),
        (lambda t: t.replace('"apache-airflow==', '"pytest" "apache-airflow=='), "a test or simulator tool"),
        (lambda t: t.replace("COPY --chown=airflow:0 dags", "COPY --chown=airflow:0 devtools /opt/devtools\nCOPY --chown=airflow:0 dags"), "devtools"),
        (lambda t: t.replace(" -c /tmp/constraints.txt", ""), "constraints"),
        (lambda t: t + "ENV AIRFLOW__CORE__FERNET_KEY=abc\n", "a secret in the image"),
        (lambda t: t.replace("FROM apache/airflow:3.3.2-python3.11", "FROM apache/airflow:latest"), "FROM"),
        (lambda t: t.replace("\nUSER airflow", "\nUSER root"), "USER airflow"),
        (lambda t: t.replace("&& pip install", "&& python -m pip install").replace("[postgres,celery]", "[simulators]"), "are not runtime"),
        (lambda t: t.replace("source=pyproject.toml,target", "source=.,target"), "not part of the production image"),
    ],
    ids=["old-inline-image-requirements", "old-inline-image-editable", "test-extra", "pytest", "devtools-copied", "no-lock", "secret-env", "other-base", "root", "python-m-pip", "whole-context-mounted"],
)
def test_the_dockerfile_check_finds_what_a_production_image_must_not_have(mutate, problem):
    text = mutate(DOCKERFILE_TEXT)
    assert text != DOCKERFILE_TEXT
    problems = _dockerfile_problems(text)
    assert any(problem in p for p in problems), problems


def test_airflow_reads_the_plugins_folder_without_the_connector_modules_and_without_a_warning(tmp_path):
    """Every Airflow process (each task too) lists the plugins folder through its
    ``.airflowignore``. The connector package must stay out of it (it is an installed
    distribution), and the listing must not warn: with pathspec 1.x Airflow 3.3's glob rules
    put a DeprecationWarning into every task log (pathspec is pinned below 1 in the lock)."""
    import warnings

    from airflow._shared.module_loading import find_path_from_directory

    import shutil

    # the repository's plugins folder with a plugin of the operator's own beside the package
    # (a fresh checkout holds nothing else to list; an editable install adds its egg-info)
    plugins = tmp_path / "plugins"
    shutil.copytree(REPO_ROOT / "plugins", plugins, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (plugins / "my_plugin.py").write_text("")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        listed = [Path(p) for p in find_path_from_directory(plugins, ".airflowignore", "glob")]
    package = plugins / "jira_esm_connector"
    assert plugins / "my_plugin.py" in listed
    assert [p for p in listed if p.is_relative_to(package)] == []
    assert [str(w.message) for w in caught] == []


# Folders the apache/airflow image itself creates, owned by the airflow user (its Dockerfile:
# mkdir "${AIRFLOW_HOME}/dags" "${AIRFLOW_HOME}/logs"; chown airflow:0).
BASE_IMAGE_FOLDERS = {"/opt/airflow", "/opt/airflow/dags", "/opt/airflow/logs"}


def _folders_the_image_has(dockerfile_text: str) -> set[str]:
    """The base image's Airflow folders plus those the Dockerfile creates (mkdir, COPY targets)."""
    folders = set(BASE_IMAGE_FOLDERS)
    for word, args in _instructions(dockerfile_text):
        if word == "RUN":
            for command in re.split(r"&&|;", args):
                words = shlex.split(command)
                if words[:1] == ["mkdir"]:
                    folders |= {w.rstrip("/") for w in words[1:] if not w.startswith("-")}
        elif word == "COPY":
            folders.add([a for a in shlex.split(args) if not a.startswith("--")][-1].rstrip("/"))
    return folders


def _unwritable_named_volumes(compose: dict, dockerfile_text: str) -> list[str]:
    """Named volumes the Airflow containers write to, mounted where the image has no folder:
    Docker then creates the mount point, and the fresh volume, owned by root, and the airflow
    user (uid 50000) cannot write there."""
    has = _folders_the_image_has(dockerfile_text)
    problems = []
    for volume in compose["x-airflow-common"]["volumes"]:
        source, target, *mode = volume.split(":")
        if source in compose["volumes"] and "ro" not in mode and target.rstrip("/") not in has:
            problems.append(f"{source} -> {target}: the image has no such folder owned by airflow")
    return problems


def test_every_named_volume_the_airflow_containers_write_is_a_folder_of_the_image():
    assert _unwritable_named_volumes(COMPOSE, DOCKERFILE_TEXT) == []
    # without the Dockerfile's folder the staging volume is found (logs is the base image's own)
    without = DOCKERFILE_TEXT.replace("mkdir -p /opt/airflow/staging", "true")
    assert without != DOCKERFILE_TEXT
    assert _unwritable_named_volumes(COMPOSE, without) == [
        "staging -> /opt/airflow/staging: the image has no such folder owned by airflow"
    ]
