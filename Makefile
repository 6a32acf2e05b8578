# Two commands on a fresh machine: `make run` and `make test`. Each installs what is missing.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
NODE_MODULES := bridge-node/node_modules/.package-lock.json

.PHONY: run test test-node test-python lint install clean

run: install
	ORCH_SPAWN_BRIDGE=$${ORCH_SPAWN_BRIDGE:-true} $(VENV)/bin/orchestrator

test: install lint test-node test-python

test-node: $(NODE_MODULES)
	cd bridge-node && node --test --test-reporter=spec test/

test-python: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check orchestrator tests
	$(VENV)/bin/ruff format --check orchestrator tests
	$(VENV)/bin/mypy

install: $(VENV)/.installed $(NODE_MODULES)

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
