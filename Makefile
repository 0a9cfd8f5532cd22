# make run  — create .venv, install statusdesk, run it on the embedded default (console + SQLite)
# make test — create .venv, install test extras and the test servers, lint, type-check, test
# make test-soak — the long reliability runs (crash rounds, soak, long fuzzing); prints figures
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: run test test-soak lint typecheck unit bench test-servers clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "statusdesk needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/statusdesk run $(ARGS)

test-servers:
	./tests/servers/install.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy bot commands storage

test: $(STAMP) test-servers lint typecheck
	$(BIN)/pytest $(PYTEST_ARGS)

test-soak: $(STAMP) test-servers
	$(BIN)/pytest -m soak -o timeout=0 tests/reliability tests/security $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

bench: $(STAMP) test-servers
	$(BIN)/python bench/core.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
