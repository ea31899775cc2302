# IDHub: `make run` serves the hub with everything it needs; `make test` runs the test suite.
# Both create .venv and install the Debian and Python packages that are missing.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench setup system-deps postgres clean-var

run: setup
	$(BIN)/idhub run

test: setup postgres lint
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check idhub provisioning connectors tests
	$(BIN)/mypy idhub provisioning connectors

# What docs/benchmarks.md reports: the provisioning bench with 1 and with 2 workers on
# SQLite and with 2 on PostgreSQL (a fresh database $(BENCH_PG_DB) each time), printed one
# after the other; bench/results/provisioning.json keeps the last, SQLite with 2 workers,
# the committed figure. Then every other suite. BENCH_ARGS (e.g. --people 1000) goes to
# the provisioning runs.
BENCH_PG_DB   ?= idhub_bench
BENCH_PG      := postgresql+psycopg://postgres@127.0.0.1:5432/$(BENCH_PG_DB)
BENCH_SUITES  := restructure sso mail outage signin_flood flat app_passwords events scim
BENCH_ARGS    ?=

bench: setup postgres
	@echo "== provisioning: SQLite, 1 worker"
	$(BIN)/python -m bench provisioning --workers 1 $(BENCH_ARGS)
	@echo "== provisioning: PostgreSQL, 2 workers"
	psql -q -h 127.0.0.1 -U postgres -c 'DROP DATABASE IF EXISTS $(BENCH_PG_DB)' -c 'CREATE DATABASE $(BENCH_PG_DB)'
	$(BIN)/python -m bench provisioning --workers 2 --database $(BENCH_PG) $(BENCH_ARGS)
	@echo "== provisioning: SQLite, 2 workers (the committed figure)"
	$(BIN)/python -m bench provisioning --workers 2 $(BENCH_ARGS)
	@for suite in $(BENCH_SUITES); do echo "== $$suite"; $(BIN)/python -m bench $$suite || exit 1; done

setup: system-deps $(STAMP)

system-deps:
	@bash scripts/install-system-deps.sh

postgres:
	@bash scripts/ensure-postgres.sh

$(STAMP): requirements.txt requirements-dev.txt requirements-demo.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -e .
	$(BIN)/python -m pip install --quiet --no-deps --ignore-requires-python -r requirements-demo.txt
	touch $(STAMP)

# Removes the development data (database, slapd data, generated secrets, mail) under var/.
# A mail stack moved out of a private folder (var/mail is then a link) goes with it.
clean-var:
	if [ -L var/mail ]; then rm -rf "$$(readlink var/mail)"; fi
	rm -rf var
