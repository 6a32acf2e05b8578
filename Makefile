# Two commands on a fresh machine: `make run` and `make test`. Each installs what is missing.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
NODE_MODULES := bridge-node/node_modules/.package-lock.json
# The frontend kit (issue #17): two npm packages and the Next.js example, each installed from its
# committed lock file.
CLIENT_JS_MODULES := clients/js/node_modules/.package-lock.json
CLIENT_REACT_MODULES := clients/react/node_modules/.package-lock.json
EXAMPLE_MODULES := examples/nextjs-helpdesk/node_modules/.package-lock.json
# The README's Node webhook receiver runs over npm's standardwebhooks (tests/webhooks/test_readme_snippets.py).
WEBHOOK_RECEIVER_MODULES := tests/webhooks/node-receiver/node_modules/.package-lock.json
# The browser tests check the console's accessibility with npm's axe-core (tests/browser/a11y.py).
AXE_MODULES := tests/browser/axe/node_modules/.package-lock.json

.PHONY: run demo curve-keys audit test test-node test-python bench bench-quick lint types install install-tools clean clients client-js client-js-build client-react client-react-build example example-build webhook-receiver axe

run: install
	ORCH_SPAWN_BRIDGE=$${ORCH_SPAWN_BRIDGE:-true} $(VENV)/bin/orchestrator

# Try it without a phone: the bridge replays a generated helpdesk capture (real Baileys protos,
# with real photos and documents from bridge-node/scripts/demo-media/) at a human pace and the
# console shows it; sending works (replay-sends.js answers as WhatsApp would). Fresh state every
# time, its own ports, so it runs beside `make run`. The orchestrator prints the console's address
# and where the token is: a fresh one in $(DEMO_DATA_DIR)/api-token.
# A second demo needs its own DEMO_DATA_DIR, DEMO_PORT, DEMO_BRIDGE_PUB and DEMO_BRIDGE_ROUTER:
# a data dir in use (its lock is held while the demo runs) or a port taken is refused before
# anything is wiped, never taken over (issue #16).
DEMO_DATA_DIR ?= data/demo
DEMO_PORT ?= 8090
DEMO_BRIDGE_PUB ?= tcp://127.0.0.1:5575
DEMO_BRIDGE_ROUTER ?= tcp://127.0.0.1:5576
DEMO_TCP := 127.0.0.1:$(DEMO_PORT) $(patsubst tcp://%,%,$(filter tcp://%,$(DEMO_BRIDGE_PUB) $(DEMO_BRIDGE_ROUTER)))
demo: install
	@dir='$(DEMO_DATA_DIR)'; mkdir -p "$$dir" || exit 1; \
	exec 9>>"$$dir/demo.lock"; \
	if ! flock -n 9; then \
	  echo "make demo: $$dir is in use by another demo (pid $$(cat "$$dir/demo.pid" 2>/dev/null || echo '?')); give this one its own DEMO_DATA_DIR, DEMO_PORT, DEMO_BRIDGE_PUB and DEMO_BRIDGE_ROUTER" >&2; exit 1; \
	fi; \
	for address in $(DEMO_TCP); do \
	  host=$${address%:*}; port=$${address##*:}; case $$host in '*'|0.0.0.0) host=127.0.0.1;; esac; \
	  if (exec 3<>"/dev/tcp/$$host/$$port") 2>/dev/null; then \
	    echo "make demo: $$address is taken (another demo, or make run?); set DEMO_PORT, DEMO_BRIDGE_PUB and DEMO_BRIDGE_ROUTER to free ones" >&2; exit 1; \
	  fi; \
	done; \
	find "$$dir" -mindepth 1 -maxdepth 1 ! -name demo.lock -exec rm -rf {} + && \
	node bridge-node/scripts/make-capture.js --demo --events 1500 --now $$(date +%s) --out "$$dir/capture.jsonl" && \
	echo $$$$ > "$$dir/demo.pid" && \
	ORCH_PORT=$(DEMO_PORT) ORCH_DATA_DIR="$$dir" ORCH_SPAWN_BRIDGE=true \
	ORCH_BRIDGE_PUB='$(DEMO_BRIDGE_PUB)' ORCH_BRIDGE_ROUTER='$(DEMO_BRIDGE_ROUTER)' \
	BRIDGE_REPLAY="$$(realpath "$$dir")/capture.jsonl" BRIDGE_REPLAY_RATE=$${BRIDGE_REPLAY_RATE:-2} \
	exec $(PY) -m orchestrator

test: install install-tools lint test-node clients test-python bench-quick

# The frontend kit: @wa-helpdesk/client (clients/js), @wa-helpdesk/react (clients/react) and the
# Next.js example (examples/nextjs-helpdesk): each built, type-checked and unit-tested. The
# example's browser tests run in test-python (tests/browser/test_nextjs_example.py).
clients: client-js client-react example

# The *-build targets build only: the example's browser test asks for example-build, so it does
# not run the packages' tests again.
# The console's wa-client.js, wa-cache.js and their .d.ts are copies of clients/js's build: its
# tests fail when a fresh build differs from them (fix: cd clients/js && npm run sync-console).
client-js-build: $(CLIENT_JS_MODULES)
	cd clients/js && npm run build

client-js: client-js-build
	cd clients/js && npm run typecheck && npm test

client-react-build: client-js-build $(CLIENT_REACT_MODULES)
	cd clients/react && npm run build

client-react: client-react-build
	cd clients/react && npm run typecheck && npm test

# The Next.js example: its node_modules hold copies of the two packages (.npmrc install-links),
# installed again when a package's build output changed; `next build` runs again when a source
# changed (scripts/stale.mjs: contents and times), then `tsc --noEmit`. The build sees a backend
# token, as it would in a developer's .env.local: the browser tests check that it reaches no
# file the browser gets. NEXT_TELEMETRY_DISABLED is set by the example's npm scripts.
EXAMPLE_DIR := examples/nextjs-helpdesk
EXAMPLE_BUILD_CANARY := build-time-backend-token-canary-4f1d2c
example-build: client-js-build client-react-build $(EXAMPLE_MODULES)
	cd $(EXAMPLE_DIR) && if node scripts/stale.mjs packages; then npm ci --no-audit --no-fund; fi
	cd $(EXAMPLE_DIR) && if node scripts/stale.mjs build; then BACKEND_AUTH_TOKEN=$(EXAMPLE_BUILD_CANARY) npm run build; fi

example: example-build
	cd $(EXAMPLE_DIR) && npm run typecheck

test-node: $(NODE_MODULES)
	cd bridge-node && node --test --test-reporter=spec test/
	node --test --test-reporter=spec tests/wa-sim/
	node --test --test-reporter=spec tests/console/

test-python: install webhook-receiver axe
	$(PY) -m pytest $(PYTEST_ARGS)

# Benchmarks: figures beside baselines measured in the same run, written to
# tests/bench/results/ (the quick mode runs within `make test`; it reports, never fails on a target).
bench: install install-tools
	$(PY) -m tests.bench.bench

bench-quick: install install-tools
	$(PY) -m tests.bench.bench --quick --out test-artifacts/bench

# The JS client's types, generated from the OpenAPI document (a test fails when they drift):
# clients/js/src/wa-api.ts, then its copy orchestrator/static/wa-api.d.ts.
types: install
	$(PY) -m orchestrator.typescript --write

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
$(CLIENT_JS_MODULES): clients/js/package-lock.json
	cd clients/js && npm ci --no-audit --no-fund
	touch $@

# The packages are built first: npm ci copies their build output (install-links).
$(EXAMPLE_MODULES): $(EXAMPLE_DIR)/package-lock.json | client-js-build client-react-build
	cd $(EXAMPLE_DIR) && npm ci --no-audit --no-fund
	touch $@

# @wa-helpdesk/react's tools and test libraries (its @wa-helpdesk/client is file:../js, built by client-js).
$(CLIENT_REACT_MODULES): clients/react/package-lock.json
	cd clients/react && npm ci --no-audit --no-fund
	touch $@

webhook-receiver: $(WEBHOOK_RECEIVER_MODULES)

$(WEBHOOK_RECEIVER_MODULES): tests/webhooks/node-receiver/package-lock.json
	cd tests/webhooks/node-receiver && npm ci --no-audit --no-fund
	touch $@

axe: $(AXE_MODULES)

$(AXE_MODULES): tests/browser/axe/package-lock.json
	cd tests/browser/axe && npm ci --no-audit --no-fund
	touch $@

$(NODE_MODULES): bridge-node/package-lock.json
	cd bridge-node && npm ci --no-audit --no-fund
	touch $@

# Debian packages the tests use: chromium for the browser tests (never a downloaded build; the
# emoji font makes their screenshots show what an operator sees), zbarimg to decode the QR PNG,
# wrk to load the REST API in the benchmarks, nats-server for the JetStream tests, PostgreSQL's
# server binaries for the Supabase tests. The tests start their own NATS and PostgreSQL (free
# port or private socket, temporary data dir), so nothing needs to be running.
# Debian keeps nats-server in /usr/sbin and initdb in /usr/lib/postgresql/<major>/bin.
TOOLS := chromium:chromium zbarimg:zbar-tools wrk:wrk nats-server:nats-server initdb:postgresql
install-tools:
	@PATH="$$PATH:/usr/sbin:/usr/local/sbin$$(printf ':%s' /usr/lib/postgresql/*/bin)"; \
	missing=""; for pair in $(TOOLS); do command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then apt-get update -q && apt-get install -y -q $$missing fonts-noto-color-emoji; fi

# Key pairs for the bridge <-> orchestrator link when they run on different hosts (compose).
# Z85 keys may hold $ and #, so each value is single-quoted: compose reads it literally.
curve-keys: install
	@test ! -e .env || { echo "make: .env exists; remove it to make new keys"; exit 1; }
	@$(PY) -c 'import zmq; b, o = zmq.curve_keypair(), zmq.curve_keypair(); print(f"BRIDGE_CURVE_PUBLIC_KEY=\x27{b[0].decode()}\x27\nBRIDGE_CURVE_SECRET_KEY=\x27{b[1].decode()}\x27\nORCH_CURVE_PUBLIC_KEY=\x27{o[0].decode()}\x27\nORCH_CURVE_SECRET_KEY=\x27{o[1].decode()}\x27")' > .env
	@chmod 600 .env && echo "wrote .env (owner-only): CURVE keys for the bridge and the orchestrator"

# Known vulnerabilities in the dependencies. Needs PyPI's and npm's advisory services, which
# this project's build machines cannot reach, so it is not part of `make test`.
audit: install
	$(PY) -m pip install --quiet pip-audit && $(VENV)/bin/pip-audit --skip-editable
	cd bridge-node && npm audit --omit=dev

clean:
	rm -rf $(VENV) bridge-node/node_modules tests/console/node_modules clients/js/node_modules clients/js/dist .pytest_cache .mypy_cache .ruff_cache
	rm -rf clients/react/node_modules clients/react/dist clients/react/.test-build
	rm -rf $(EXAMPLE_DIR)/node_modules $(EXAMPLE_DIR)/.next
	rm -rf tests/webhooks/node-receiver/node_modules tests/browser/axe/node_modules
