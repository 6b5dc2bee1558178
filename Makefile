# callplane — two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
PG_TEST_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test
# pytest-xdist workers; each has its own database (PostgreSQL: $(PG_TEST_URL)_gw0, _gw1…).
TEST_WORKERS ?= 2
PYTEST := $(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup
# Compiled bytecode (and pytest's rewritten test modules) kept in the venv, even where the
# environment sets PYTHONDONTWRITEBYTECODE: otherwise every pytest worker and every `callplane`
# process a test starts compiles the sources again (collection alone: ~13 s CPU instead of ~6).
export PYTHONPYCACHEPREFIX := $(CURDIR)/$(VENV)/pycache
export PYTHONDONTWRITEBYTECODE :=
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-sqlite test-postgres test-postgres-db test-postgres-processes test-browser screenshots lint format bench install clean

# The runtime (`make run`): the package with its server extra. The dev tools come on top, only
# for the targets that need them, so `make run` after `make test` installs nothing again.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[server]'
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[server,dev]'
	touch $(DEV_STAMP)

install: $(DEV_STAMP)

run: $(STAMP)
	$(BIN)/callplane migrate
	$(BIN)/callplane bootstrap --if-empty --org-name "My organization" --email admin@localhost \
		--url http://$(HOST):$(PORT)
	$(BIN)/callplane console-link --url http://$(HOST):$(PORT) || true
	$(BIN)/callplane serve --host $(HOST) --port $(PORT)

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(DEV_STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

# The SQLite run runs every test. The PostgreSQL run leaves out the tests that use no database
# (marked `nodb` by tests/conftest.py): they ran on SQLite, and would prove nothing new. Its tests
# that start processes of their own (marked `processes`) run on their own, in one pytest process:
# each starts servers and workers with their own connection pools (~60 connections at the most),
# beside the workers' apps they would exceed PostgreSQL's default 100 connections.
test-sqlite: $(DEV_STAMP)
	CALLPLANE_TEST_DATABASE_URL= $(PYTEST)

test-postgres: test-postgres-db test-postgres-processes

test-postgres-db: $(DEV_STAMP)
	CALLPLANE_TEST_DATABASE_URL=$(PG_TEST_URL) $(PYTEST) -m "not nodb and not processes and not browser"

test-postgres-processes: $(DEV_STAMP)
	CALLPLANE_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -m "processes and not nodb and not browser"

# The console and widget in chromium (tests/console; part of test-sqlite already). Skipped when
# chromium is missing: `apt-get install -y chromium` (.ci/run does). `make screenshots` stores the
# pages they visit as docs/console/*.png.
test-browser: $(DEV_STAMP)
	$(BIN)/pytest -n 0 -m browser tests/console

screenshots: $(DEV_STAMP)
	CALLPLANE_UPDATE_SCREENSHOTS=1 $(BIN)/pytest -n 0 -m browser tests/console

# The lint runs beside the PostgreSQL processes tests, first: those mostly wait on the processes
# they start (about one core of two, ~55 s), so mypy's ~16 s there cost CI next to nothing. A lint
# failure still stops `make test` before the suites. Each job's output is printed when it ends.
test: $(DEV_STAMP)
	$(MAKE) --no-print-directory -j2 --output-sync=target lint test-postgres-processes
	$(MAKE) --no-print-directory test-sqlite test-postgres-db

bench: $(DEV_STAMP)
	@command -v wrk >/dev/null || apt-get install -y -q wrk || (apt-get update -q && apt-get install -y -q wrk)
	$(BIN)/python -m benchmarks.run $(ARGS)
	$(BIN)/python -m benchmarks.workflows

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache
