# Two commands do all the set-up on a fresh machine (see README):
#   make run    create .venv, install, run one pass of the pipeline on the bundled corpus
#   make test   create .venv, install, run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup browser run test test-fast check bench train clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0  # the CPU build, from local disk; never let pip pick another
	$(BIN)/pip install -q -e '.[test,dev]'
	touch $@

setup: $(BIN)/.installed

run: setup
	$(BIN)/sinoscope run --once

# the report test opens the report in Debian's chromium (no browser download: this machine has
# no internet); installed here when missing and when apt-get can run
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      chromium chromium-driver fonts-wqy-zenhei >/dev/null; \
	  else echo "note: chromium/chromium-driver not installed and apt-get not usable: the browser test will be skipped"; fi; \
	fi

test: setup browser
	$(BIN)/pytest

# the inner loop: no test marked slow or integration (no servers, brokers, browsers or flows)
test-fast: setup
	$(BIN)/pytest -m "not slow and not integration" -q

# the import layers (pyproject.toml [tool.importlinter]), lint and format, the core's types
check: setup
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy sinoscope/core

bench: setup
	$(BIN)/python bench/ingest_bench.py
	$(BIN)/python bench/nlp_bench.py
	$(BIN)/python bench/kafka_bench.py
	$(BIN)/python bench/store_bench.py --sqlite
	$(BIN)/python bench/search_bench.py
	$(BIN)/python bench/e2e_bench.py --articles 2000 10000 --kafka  # add 50000 for the memory figure (~15 min)
	$(BIN)/python bench/alert_bench.py

# retrain the sentiment model (never a CI step): installs the teacher's weights (the train extra,
# ~400 MB), distils (~110 minutes on 2 CPU cores, the teacher's ~55 cached in .cache/teacher), then
# the domain stage on the city/brand set (~25 minutes), then the one-pass stage (~17 minutes)
train: setup
	$(BIN)/pip install -q -e '.[train]'
	$(BIN)/sinoscope nlp train
	$(BIN)/sinoscope nlp train --domain-only
	$(BIN)/sinoscope nlp train --one-pass
	$(BIN)/sinoscope nlp train --domain-only

clean:
	rm -rf $(VENV) .pytest_cache
