# Keyward: `make run` serves on the embedded default; `make test` runs the whole suite,
# `make test-fast` its unit layers.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-fast install install-dev lint migrate bench bench-smoke test-tools wrk clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

$(VENV)/.bench: requirements-bench.txt $(VENV)/.dev
	$(BIN)/pip install --quiet -r requirements-bench.txt
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

## Browser tests drive Debian's chromium (Playwright's own download does not work here); the
## reverse-proxy test runs Debian's nginx in front of Keyward.
test-tools:
	@test -x /usr/bin/chromium -a -x /usr/sbin/nginx -a -x /usr/bin/openssl || \
		{ apt-get update -qq && apt-get install -y -qq chromium nginx-light openssl; }
	@# tests/topology: Sentinel, Cluster and PgBouncer on real servers (skipped, saying which
	@# binary is missing, where these cannot be installed).
	@test -x /usr/bin/redis-server -a -x /usr/bin/redis-sentinel -a -x /usr/bin/redis-cli \
		-a -x /usr/sbin/pgbouncer || \
		{ apt-get update -qq && apt-get install -y -qq redis-server redis-sentinel redis-tools \
		pgbouncer; } || echo "topology packages not installed: tests/topology skips what needs them"

wrk:
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }

.env:
	sed "s|^# SECRET_KEY=.*|SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')|" .env.example > .env

migrate: install .env
	$(BIN)/python manage.py migrate --noinput

## Serve on the embedded default (SQLite + in-process cache): one process, several threads,
## and beside it the task worker (webhooks, emails, sweeps: docs/notifications.md), which
## stops when the server does.
run: migrate
	$(BIN)/python manage.py schedulesweeps
	@$(BIN)/python manage.py db_worker --no-reload & worker=$$!; \
		trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
		$(BIN)/gunicorn config.wsgi --bind $(HOST):$(PORT) --workers 1 --threads 8 \
			--access-logfile - --forwarded-allow-ips=""

## The whole suite. Set DATABASE_URL / REDIS_URL to run it on PostgreSQL + Redis.
test: install-dev test-tools
	$(BIN)/python -m pytest

## The unit layers, for the edit-test loop (under a minute on an idle two-core machine): the suite without the
## browser, the servers (multinode), the faults, the generated client and the fuzzers (every
## Hypothesis test is marked `fuzz` by tests/conftest.py). Not a replacement for `make test`.
## The plugins switched off serve only the tests left out.
SLOW_TESTS := tests/browser tests/multinode tests/faults tests/topology tests/ops/test_schemathesis.py \
	tests/ops/test_generated_client.py tests/ops/test_header_fuzz.py tests/oauth/test_fuzz.py \
	tests/ops/test_readme_quickstart.py
test-fast: install-dev
	$(BIN)/python -m pytest -p no:schemathesis -p no:anyio -p no:faker \
		$(addprefix --ignore=,$(SLOW_TESTS)) -m "not fuzz"

## Benchmark (not a test): PostgreSQL + Redis and the embedded default, peers alongside.
bench: $(VENV)/.bench wrk
	$(BIN)/python -m bench.run

bench-smoke: $(VENV)/.bench wrk
	$(BIN)/python -m bench.run --smoke

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) var staticfiles
