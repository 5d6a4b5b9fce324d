# The two commands a new operator needs: `make run` and `make test`. Everything else is for developers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Local overrides (never committed); see .env.example.
-include .env
export

.PHONY: run test test-fast lint fmt check migrations-check bench clean

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

test-fast: $(STAMP)
	$(BIN)/pytest -m "not slow and not browser" -x -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrations-check: $(STAMP)
	DJANGO_SETTINGS_MODULE=governance.settings_test $(BIN)/python manage.py makemigrations --check --dry-run

bench: $(STAMP)
	$(BIN)/python bench/bench_audit.py
	$(BIN)/python bench/bench_sync.py

clean:
	rm -rf $(VENV) var
