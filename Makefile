# Two set-up commands: `make demo` runs the main job on the bundled example, `make test` runs the checks.
# Each creates .venv if it is missing and installs the project into it from requirements.lock.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
DEMO_OUT ?= out/demo

export PREFECT_SERVER_ANALYTICS_ENABLED := false
export GX_ANALYTICS_ENABLED := False
export DO_NOT_TRACK := 1

.PHONY: demo test lint bench venv clean fuzz serve worker chromium postgresql axe-core lock

venv: $(STAMP)

# Exactly the versions and hashes of the lock file, then the checkout itself (editable, nothing resolved again).
# The lock holds every dependency, so pip installs it without resolving (--no-deps): resolving would let pip look at
# releases newer than the lock for a requirement with extras (prefect's httpx[http2]) and refuse them as unhashed.
# `pip check` then confirms the locked set satisfies every package's requirements.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip check
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Resolves pyproject.toml (with the dev and postgres extras) into the lock file, keeping the locked versions that still fit;
# `make lock LOCK_ARGS=--upgrade` moves every one to the newest allowed. uv reads PyPI unless UV_INDEX_URL says otherwise.
LOCK_ARGS ?=
# The lock file is replaced only when it changes, so an unchanged lock does not make the next run reinstall.
lock: $(STAMP)
	cp $(LOCK) $(LOCK).new
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra postgres --generate-hashes --python-version 3.11 --no-emit-index-url \
	  --custom-compile-command 'make lock' --quiet $(LOCK_ARGS) -o $(LOCK).new
	if cmp -s $(LOCK).new $(LOCK); then rm $(LOCK).new; else mv $(LOCK).new $(LOCK); fi

# The selection and a dry run of the notices on the demo's own copy of cohorts/esp-2021.yaml (the bundled responses,
# a state store under DEMO_OUT, no sheet, no mail server); each run empties DEMO_OUT and starts again.
demo: $(STAMP)
	$(BIN)/cohort-select demo --out $(DEMO_OUT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The browser test drives Debian's chromium (Playwright with executable_path; no browser download).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is not installed (apt-get install chromium): the browser test will be skipped"; fi; }

# The accessibility test runs axe-core in that chromium: exactly tests/a11y/package-lock.json, installed by `npm ci`
# into tests/a11y/node_modules (ignored by git), again only when the lock file is newer than that install.
A11Y := tests/a11y
axe-core:
	@test $(A11Y)/node_modules/.package-lock.json -nt $(A11Y)/package-lock.json || { \
	  if ! command -v npm >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; fi; \
	  if command -v npm >/dev/null 2>&1; then npm ci --prefix $(A11Y) --no-audit --no-fund --loglevel=error; \
	  else echo "npm is not installed (apt-get install npm): the accessibility tests will be skipped"; fi; }

# The store tests also run on a PostgreSQL cluster they start themselves (tests/support/postgres.py), from
# Debian's postgresql package: its initdb is in /usr/lib/postgresql/<version>/bin, not on PATH.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "postgresql is not installed (apt-get install postgresql): the PostgreSQL tests will be skipped"; fi; }

# ruff and mypy read their settings from pyproject.toml; coverage of flows/, tasks/ and schemas/ must stay at or
# above [tool.coverage.report] fail_under. The suite runs on every core (pytest-xdist): each worker process has
# its own Prefect test server and PostgreSQL cluster, and a long test is taken by whichever worker is free.
PYTEST_WORKERS ?= auto
test: $(STAMP) chromium axe-core postgresql
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal --cov --cov-report=term:skip-covered --durations=25

# Hypothesis over intake → select for FUZZ_SECONDS (not part of `make test`).
FUZZ_SECONDS ?= 120
fuzz: $(STAMP)
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(BIN)/python -m pytest -p no:cacheprovider -s tests/fuzz_intake_select.py

# A local Prefect server (UI and API on http://127.0.0.1:PORT) serving the six deployments of every cohorts/*.yaml,
# for one staff member; one Ctrl-C stops both. `make serve PORT=4300` when 4200 is taken.
PORT ?= 4200
serve: $(STAMP)
	$(BIN)/python -m flows.serve --with-server $(PORT)

# A worker of a shared Prefect server (README "Production"): checks PREFECT_API_URL, COHORT_SELECT_HOME and each
# deployment's state store, then runs `prefect worker start --pool cohort-select --type process` until one SIGTERM.
# WORKER_ARGS go to prefect, e.g. `make worker WORKER_ARGS="--name db-host-1 --limit 2"`; `--check` only checks.
WORKER_ARGS ?=
worker: $(STAMP)
	$(BIN)/python -m flows.worker $(WORKER_ARGS)

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache .coverage $(A11Y)/node_modules
