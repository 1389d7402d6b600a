# Two commands do all the set-up on a fresh machine (see README):
#   make run    create .venv, install, run one pass of the pipeline on the bundled corpus
#   make test   create .venv, install, run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup run test bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0  # the CPU build, from local disk; never let pip pick another
	$(BIN)/pip install -q -e '.[test]'
	touch $@

setup: $(BIN)/.installed

run: setup
	$(BIN)/sinoscope run --once

test: setup
	$(BIN)/pytest

bench: setup
	$(BIN)/python bench/ingest_bench.py
	$(BIN)/python bench/nlp_bench.py
	$(BIN)/python bench/kafka_bench.py
	$(BIN)/python bench/store_bench.py --sqlite

clean:
	rm -rf $(VENV) .pytest_cache
