# Two commands on a fresh machine: `make run` and `make test`. Each installs what is missing.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
NODE_MODULES := bridge-node/node_modules/.package-lock.json

.PHONY: run test test-node test-python lint install services clean

run: install
	ORCH_SPAWN_BRIDGE=$${ORCH_SPAWN_BRIDGE:-true} $(VENV)/bin/orchestrator

test: install services lint test-node test-python

test-node: $(NODE_MODULES)
	cd bridge-node && node --test --test-reporter=spec test/

test-python: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check orchestrator tests
	$(VENV)/bin/ruff format --check orchestrator tests
	$(VENV)/bin/mypy

install: $(VENV)/.installed $(NODE_MODULES)

# The Supabase schema tests need the machine's PostgreSQL; start it if it is installed but down.
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null \
	  || (command -v pg_ctlcluster >/dev/null && pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -1) main start) \
	  || echo "make: PostgreSQL is not running on 127.0.0.1:5432; the Supabase tests will fail"

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) is required (set PYTHON=...)"; exit 1; }
	@command -v node >/dev/null || { echo "make: Node.js 20 is required"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dev]'
	touch $@

# npm ci writes node_modules/.package-lock.json, so this reruns only when the lock file changes.
$(NODE_MODULES): bridge-node/package-lock.json
	cd bridge-node && npm ci --no-audit --no-fund
	touch $@

clean:
	rm -rf $(VENV) bridge-node/node_modules .pytest_cache .mypy_cache .ruff_cache
