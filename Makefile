# Each target creates the virtualenv it needs, so a fresh clone needs nothing else.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench bench-pipeline bench-ingest bench-scale fuzz run lint clean

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
test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/enhance.py

bench-pipeline: $(STAMP)
	$(BIN)/python bench/pipeline.py

bench-scale: $(STAMP)  # needs Redis; --database postgres needs PostgreSQL too
	$(BIN)/python bench/scale.py

bench-ingest: $(STAMP)  # needs wrk (apt-get install wrk)
	$(BIN)/python bench/ingest.py

# Ten CPU minutes of mutated photos through the decoders, as the workers run them (tests/pipelines/fuzz.py).
fuzz: $(STAMP)
	$(BIN)/python -m tests.pipelines.fuzz --cpu-seconds 600 --out fuzz-findings

run: $(STAMP)
	$(BIN)/darkroom serve

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

clean:
	rm -rf $(VENV) demo-output darkroom.db fuzz-findings
