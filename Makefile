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

bench: setup
	$(BIN)/python -m bench

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
