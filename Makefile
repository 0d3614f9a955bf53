# The front door: `make` lists the targets. Every target creates .venv first if needed.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 5000
OFFICER ?= alice
ESCROW_TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
# Database 15 of the local Redis: the production rate-limit store, shared between app instances.
ESCROW_TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
CHROMIUM := /usr/bin/chromium
# tests/benchmarks/http_rates.py empties and migrates this PostgreSQL database (its own: never `test`).
BENCH_DATABASE ?= bench17
BENCH_PSQL_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
BENCH_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/$(BENCH_DATABASE)
PYTEST_COV := --cov=escrow --cov-branch --cov-report=term

.PHONY: help .venv run dev-code demo test test-browser screenshots test-pg fuzz lint bench clean

help: ## show this help
	@grep -E '^[a-zA-Z_.-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-12s %s\n", $$1, $$2}'

.venv: $(STAMP) ## create the virtualenv and install escrow with the server and its dev tools

# Re-installs whenever pyproject.toml changes (the stamp is older than it).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -e '.[server,dev]'
	touch $@

run: $(STAMP) ## initialise (keys, migrations, DEVELOPMENT key, dev IdP, seeded demo accounts) and serve on 127.0.0.1:PORT
	ESCROW_DEV_MODE=$${ESCROW_DEV_MODE:-1} ESCROW_DEV_IDP=$${ESCROW_DEV_IDP:-1} \
	ESCROW_ISSUER_URL=$${ESCROW_ISSUER_URL:-http://127.0.0.1:$(PORT)} \
	$(BIN)/escrow run --host 127.0.0.1 --port $(PORT)

dev-code: $(STAMP) ## print the current TOTP code of a legal officer seeded by make run (OFFICER=alice or bob)
	@ESCROW_DEV_MODE=1 $(BIN)/escrow dev-code $(OFFICER)

demo: $(STAMP) ## start a throwaway dev server on a free port, run `escrow demo` against it, stop it
	@set -e; tmp=$$(mktemp -d); \
	port=$$($(BIN)/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'); \
	url="http://127.0.0.1:$$port"; \
	export ESCROW_DEV_MODE=1 ESCROW_DEV_IDP=1 ESCROW_ISSUER_URL="$$url" ESCROW_INSTANCE_PATH="$$tmp/instance" \
		ESCROW_KEYS_DIR="$$tmp/keys" ESCROW_DATABASE_URL="sqlite:///$$tmp/demo.sqlite3"; \
	$(BIN)/escrow run --host 127.0.0.1 --port $$port >"$$tmp/server.log" 2>&1 & pid=$$!; \
	trap 'rc=$$?; kill $$pid 2>/dev/null || true; wait $$pid 2>/dev/null || true; rm -rf "$$tmp"; exit $$rc' EXIT; \
	echo "make demo: starting a development server on $$url (throwaway instance in $$tmp)"; \
	for i in $$(seq 1 240); do \
		curl -fsS "$$url/healthz" >/dev/null 2>&1 && break; \
		kill -0 $$pid 2>/dev/null || { cat "$$tmp/server.log" >&2; exit 1; }; sleep 0.5; \
	done; \
	$(BIN)/escrow demo --url "$$url" --keys-dir "$$tmp/keys" --report "$${DEMO_REPORT:-demo-report.json}"

test: $(STAMP) ## run the whole suite on SQLite with branch coverage (browser tests too if Chromium is installed); crypto/ must reach 95%
	ESCROW_TEST_DATABASE_URL= $(BIN)/pytest $(PYTEST_COV)
	@test -x $(CHROMIUM) || echo "make test: SKIPPED the browser tests (tests/browser): $(CHROMIUM) is missing; apt-get install -y chromium"
	@if compgen -G 'escrow/crypto/*.py' >/dev/null; then \
		$(BIN)/coverage report --include='escrow/crypto/*' --fail-under=95; \
	else \
		echo "escrow/crypto/ has no files yet: skipping its coverage gate"; \
	fi

test-browser: $(STAMP) ## run only the browser tests (tests/browser) in Debian's Chromium, headless
	@test -x $(CHROMIUM) || { echo "make test-browser: $(CHROMIUM) is missing; apt-get install -y chromium" >&2; exit 1; }
	ESCROW_TEST_DATABASE_URL= $(BIN)/pytest tests/browser

screenshots: $(STAMP) ## write PNGs of each role's main page into docs/screenshots/ (needs Chromium)
	@test -x $(CHROMIUM) || { echo "make screenshots: $(CHROMIUM) is missing; apt-get install -y chromium" >&2; exit 1; }
	ESCROW_TEST_DATABASE_URL= $(BIN)/python -m tests.browser.screenshots docs/screenshots

test-pg: $(STAMP) ## run the whole suite on PostgreSQL (ESCROW_TEST_DATABASE_URL) with Redis (ESCROW_TEST_REDIS_URL)
	ESCROW_TEST_DATABASE_URL='$(ESCROW_TEST_DATABASE_URL)' ESCROW_TEST_REDIS_URL='$(ESCROW_TEST_REDIS_URL)' \
		$(BIN)/pytest $(PYTEST_COV)

fuzz: $(STAMP) ## schemathesis over /openapi.json against `escrow serve` on PostgreSQL and Redis: every operation, no 5xx, no undocumented status (seeded; about 3 minutes)
	ESCROW_FUZZ=1 ESCROW_TEST_DATABASE_URL='$(ESCROW_TEST_DATABASE_URL)' ESCROW_TEST_REDIS_URL='$(ESCROW_TEST_REDIS_URL)' \
		$(BIN)/pytest tests/fuzz -p no:cacheprovider -s

lint: $(STAMP) ## ruff check, ruff format --check, mypy, alembic check (models vs migrations)
	$(BIN)/ruff check escrow tests
	$(BIN)/ruff format --check escrow tests
	$(BIN)/mypy escrow
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	export ESCROW_INSTANCE_PATH="$$tmp" ESCROW_KEYS_DIR="$$tmp/keys" \
		ESCROW_DATABASE_URL="sqlite:///$$tmp/check.sqlite3" && \
	$(BIN)/escrow db upgrade >/dev/null && \
	echo "alembic check" && $(BIN)/alembic -c escrow/migrations/alembic.ini check

bench: $(STAMP) ## run the benchmarks in tests/benchmarks/ (crypto, credentials, transparency log and HTTP issuance on PostgreSQL, threshold OPRF, HTTP reads under wrk on BENCH_DATABASE_URL; about 20 minutes)
	$(BIN)/python tests/benchmarks/crypto.py
	$(BIN)/python tests/benchmarks/credentials.py
	$(BIN)/python tests/benchmarks/transparency.py --database-url $(ESCROW_TEST_DATABASE_URL)
	$(BIN)/python tests/benchmarks/http_issuance.py --database-url $(ESCROW_TEST_DATABASE_URL)
	$(BIN)/python tests/benchmarks/oprf.py
	@command -v wrk >/dev/null || { echo "make bench: wrk is missing; apt-get install -y wrk" >&2; exit 1; }
	psql '$(BENCH_PSQL_URL)' -c 'CREATE DATABASE $(BENCH_DATABASE)' 2>/dev/null || true
	$(BIN)/python tests/benchmarks/http_rates.py --database-url '$(BENCH_DATABASE_URL)'

clean: ## remove caches, coverage data and build output (keeps .venv, instance/ and keys/)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.* htmlcov build dist *.egg-info
	find . -path ./.venv -prune -o -name __pycache__ -type d -exec rm -rf {} +
