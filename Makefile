# Two commands on a fresh machine: `make demo` and `make test`.
# Both create ./.venv with the pinned dependencies on first use.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv test test-fast faults demo lock clean-demo bench

venv: $(STAMP)

$(STAMP): requirements.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt -c constraints.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

## The whole suite, as CI runs it (needs PostgreSQL on 127.0.0.1:5432 for tests marked `postgres`).
test: venv
	$(BIN)/python -m pytest -ra $(PYTEST_ARGS)

## Everything except the slow end-to-end Airflow tests.
test-fast: venv
	$(BIN)/python -m pytest -ra -m "not airflow_e2e" $(PYTEST_ARGS)

## The fault suite alone; prints the table lost / duplicated / wrongly removed (SPEC §6).
faults: venv
	$(BIN)/python -m pytest -ra tests/faults $(PYTEST_ARGS)

## Simulators + airflow standalone with the project's DAGs; Ctrl-C stops everything.
## DEMO_EXECUTOR=celery: CeleryExecutor with two workers on PostgreSQL + Redis (README).
demo: venv
	$(BIN)/python -m devtools.demo

## Re-create the transitive lock from the current venv (after changing requirements.txt).
lock:
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean-demo:
	rm -rf .demo

bench: venv
	$(BIN)/python -m bench
