# Two set-up commands: `make demo` runs the main job on the bundled example, `make test` runs the checks.
# Each creates .venv if it is missing and installs the project into it.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_OUT ?= out/demo

export PREFECT_SERVER_ANALYTICS_ENABLED := false
export GX_ANALYTICS_ENABLED := False
export DO_NOT_TRACK := 1

.PHONY: demo test lint bench venv clean fuzz

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cohort-select select --config cohorts/esp-2021.yaml --out $(DEMO_OUT)
	$(BIN)/cohort-select notify --config cohorts/esp-2021.yaml --out $(DEMO_OUT) --as-of 2021-06-08T09:00:00-04:00

lint: $(STAMP)
	$(BIN)/ruff check .

# The browser test drives Debian's chromium (Playwright with executable_path; no browser download).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is not installed (apt-get install chromium): the browser test will be skipped"; fi; }

test: $(STAMP) chromium
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# Hypothesis over intake → select and its outputs for FUZZ_SECONDS (not part of `make test`).
FUZZ_SECONDS ?= 120
fuzz: $(STAMP)
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(BIN)/python -m pytest -p no:cacheprovider -s tests/fuzz_intake_select.py

# A local Prefect server (UI on http://127.0.0.1:4200) and the served deployments, for one staff member.
serve: $(STAMP)
	$(BIN)/python -m flows.serve --with-server 4200

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) out .pytest_cache
