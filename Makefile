# Each target creates the virtualenv it needs, so a fresh clone needs nothing else.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast faults screenshots format bench bench-pipeline bench-ingest bench-scale bench-slownet bench-latency bench-volume fuzz run lint clean

$(STAMP): pyproject.toml pipelines/_tone.c  # pip builds the C extension too
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/darkroom demo

# Two pytest-xdist workers: most tests wait on a server, a worker process or a poll, not on a core.
# Each worker flushes a Redis database of its own (tests/conftest.py).
PYTEST_ARGS ?= -n 2
# Coverage of the code the tests run in their own process (what real worker processes run is not counted), with
# a floor: a change that leaves much new code untested fails here.
COVERAGE ?= --cov=ingest --cov=workers --cov=pipelines --cov=settings --cov-report=term:skip-covered --cov-fail-under=80
test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS) $(COVERAGE)

# The console's pages as PNGs for the README (docs/console/), from a darkroom with a few users' work, in Chromium.
screenshots: $(STAMP)
	$(BIN)/python -m tests.support.browser docs/console

# Everything but the end-to-end tests (real processes) and the few slow ones: under two minutes on two cores,
# for the loop of a day's work. make test runs them all.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 4 -m "not e2e and not slow"

# The fault matrix (docs/faults.md): every fault three times on a cluster of its own, at the shipped settings,
# then the table in docs/faults.md rewritten. As root (network namespaces, initdb as postgres): about 25 minutes.
FAULT_RUNS ?= 3
faults: $(STAMP)
	$(BIN)/python -m tests.faults.matrix --runs $(FAULT_RUNS) --out docs/faults.md

format: $(STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python bench/enhance.py

bench-pipeline: $(STAMP)
	$(BIN)/python bench/pipeline.py

bench-scale: $(STAMP)  # needs Redis; --database postgres needs PostgreSQL too
	$(BIN)/python bench/scale.py

bench-slownet: $(STAMP)  # root, redis-server, PostgreSQL 15 and wrk: the data a network away (docs/benchmarks.md)
	$(BIN)/python bench/slownet.py

bench-latency: $(STAMP)  # root, redis-server and PostgreSQL 15: the seconds a user waits (docs/benchmarks.md)
	$(BIN)/python bench/latency.py

bench-volume: $(STAMP)  # needs PostgreSQL: a year of data beside the work in flight alone (docs/benchmarks.md)
	$(BIN)/python bench/volume.py

bench-ingest: $(STAMP)  # needs wrk (apt-get install wrk)
	$(BIN)/python bench/ingest.py

# Ten CPU minutes of mutated photos through the decoders, as the workers run them (tests/pipelines/fuzz.py).
fuzz: $(STAMP)
	$(BIN)/python -m tests.pipelines.fuzz --cpu-seconds 600 --out fuzz-findings

run: $(STAMP)
	$(BIN)/darkroom serve

# ruff over everything; mypy strict over the app, and over tests and benchmarks too (pyproject.toml says how)
lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

clean:
	rm -rf $(VENV) demo-output darkroom.db fuzz-findings
