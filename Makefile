# The two commands a new operator needs: `make run` and `make test`. Everything else is for developers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Local overrides (never committed); see .env.example.
-include .env
export

.PHONY: run test test-pg test-timeless test-fast lint typecheck fmt check migrations-check contracts contracts-check bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	touch $(STAMP)

## Start the portal against the bundled Atlassian simulator on http://127.0.0.1:8000/
run: export DJANGO_DEBUG ?= true
run: $(STAMP)
	$(BIN)/python manage.py run_demo

## Run the whole test suite
test: $(STAMP)
	$(BIN)/pytest

## The same suite on PostgreSQL + Redis (the scale-out profile), against services already running:
## .ci/services.sh installs and starts them on Debian. Override the URLs to use other servers;
## PG_PYTEST_ARGS passes pytest options (e.g. PG_PYTEST_ARGS="-x tests/production").
PG_TEST_DATABASE_URL ?= postgres://portal:portal@127.0.0.1:5432/portal
PG_TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
test-pg: $(STAMP)
	DATABASE_URL=$(PG_TEST_DATABASE_URL) REDIS_URL=$(PG_TEST_REDIS_URL) $(BIN)/pytest $(PG_PYTEST_ARGS)

## The suite must not depend on the date it runs: the non-browser suite again with the system clock
## moved by faketime (Debian package `faketime`). FAKETIME is a libfaketime spec: "+400d" (400 days
## ahead, the CI run) or "@2025-06-01 12:00:00" (a fixed start that then ticks). Subprocesses inherit
## the moved clock; FAKETIME_DONT_RESET keeps one timeline across them (by default each process would
## start again at the "@" date, and a cluster started later would live in the past of the test). Debian's libfaketime (0.9.10) moves the monotonic clock too and does not translate
## sem_clockwait() deadlines, so there a timed wait that should expire (Event.wait(1.5) with nobody
## setting the event) waits for good: tests sleep and then check instead.
FAKETIME ?= +400d
test-timeless: $(STAMP)
	FAKETIME_DONT_RESET=1 faketime -f "$(FAKETIME)" $(BIN)/pytest -m "not browser" $(TIMELESS_PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/pytest -m "not slow and not browser" -x -q

## Ruff, and the architecture's import contracts (import-linter; pyproject.toml [tool.importlinter])
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

## mypy with django-stubs and djangorestframework-stubs ([tool.mypy] in pyproject.toml): strict on the
## engine, the services and the selectors, checked (untyped bodies too) everywhere else in the apps.
## Part of `lint` (so of CI).
typecheck: $(STAMP)
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrations-check: $(STAMP)
	DJANGO_SETTINGS_MODULE=governance.settings_test $(BIN)/python manage.py makemigrations --check --dry-run

## Re-derive governance/atlassian/contracts/ from Atlassian's published OpenAPI documents
## (ATLASSIAN_SPECS_DIR, by default ../shared/atlassian/specs); contracts-check exits 1 when they are stale.
contracts: $(STAMP)
	$(BIN)/python -m governance.atlassian.contracts.derive

contracts-check: $(STAMP)
	$(BIN)/python -m governance.atlassian.contracts.derive --check

bench: $(STAMP)
	$(BIN)/python bench/bench_audit.py
	$(BIN)/python bench/bench_sync.py

clean:
	rm -rf $(VENV) var
