# make run  — create .venv, install statusdesk (only what running needs), run it on the
#             embedded default (console + SQLite)
# make test — also install the test and dev toolchain, every extra and the test servers;
#             lint, type-check, test
# make test-soak — the long reliability runs (crash rounds, soak, long fuzzing); prints figures
# make lock — rewrite constraints.txt from the dev venv (after changing a dependency)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Both installs take their versions from constraints.txt: what `make run` runs is what
# `make test` tested.
PIP_INSTALL := $(BIN)/python -m pip install --quiet -c constraints.txt
VENV_STAMP := $(VENV)/.created
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed-dev

.PHONY: run test test-soak lint typecheck unit bench test-servers lock clean

$(VENV_STAMP):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "statusdesk needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	touch $(VENV_STAMP)

# Not editable: `make run` is a user's install. `make test` installs the same tree editable
# over it (the tests import the working copy).
$(RUN_STAMP): $(VENV_STAMP) pyproject.toml constraints.txt
	$(PIP_INSTALL) .
	touch $(RUN_STAMP)

$(STAMP): $(VENV_STAMP) pyproject.toml constraints.txt
	$(PIP_INSTALL) -e '.[dev]'
	touch $(STAMP) $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/statusdesk run $(ARGS)

# Installs without the old constraints (a range changed in pyproject.toml may exclude them),
# keeping what is installed where it still fits, then records what is there.
lock: $(VENV_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@echo "# Versions for reproducible installs: make run / make test install with" > constraints.txt.new
	@echo "# 'pip install -c constraints.txt'. Regenerate with 'make lock' after changing a" >> constraints.txt.new
	@echo "# dependency in pyproject.toml." >> constraints.txt.new
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^statusdesk[ =@]' >> constraints.txt.new
	mv constraints.txt.new constraints.txt

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
	$(BIN)/python bench/metrics_scrape.py --quick
	$(BIN)/python bench/export.py --quick
	$(BIN)/python bench/now_query.py --quick
	$(BIN)/python bench/irc_broadcast.py --quick
	$(BIN)/python bench/page_update.py --quick
	$(BIN)/python bench/sse_fanout.py --quick
	$(BIN)/python bench/page.py --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
