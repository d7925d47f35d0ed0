# Two commands on a fresh machine: `make train` and `make test`.
# Each creates .venv/ (if missing or out of date) with the project and its built-in plugins.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: train lint test test-fast test-integration venv benchmark example-plugin docs-images clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required; set PYTHON=python3.11")'
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --quiet --editable '.[test,optuna]'
	@# The build backend, so that logged models bundle this project's wheel without network.
	$(BIN)/python -m pip install --quiet 'setuptools>=69' wheel
	@touch $(STAMP)

venv: $(STAMP)

## Train the default experiment (MNIST, >= 98 % test accuracy), recorded in ./mlflow.db.
train: $(STAMP)
	$(BIN)/harness-train $(ARGS)

## Lint (ruff) and type-check (mypy), both configured in pyproject.toml.
lint: $(STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m mypy

## Lint, then the whole test suite on every core, slow and network tests included
## (tests/integration: see below). WORKERS=1 runs it in one process. The longest tests
## start first (tests/conftest.py) and an idle worker steals the tail of a busy one's queue;
## the 25 slowest are listed at the end.
WORKERS ?= auto
test: lint
	$(BIN)/python -m pytest -n $(WORKERS) --dist worksteal --durations=25 $(ARGS)

## The quick part of the suite: no training to 98 %, no package-index downloads.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n $(WORKERS) --dist worksteal -m "not slow and not network and not fashion" $(ARGS)

## Integration tests (tests/integration): real services and launchers, started by the tests
## themselves. PostgreSQL ones need Debian's `postgresql`, browser ones Debian's `chromium`
## (.ci/run installs both); uv builds the isolated environment a served model runs in.
INTEGRATION_STAMP := $(VENV)/.integration
$(INTEGRATION_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --editable '.[test,optuna,postgres,slurm,ray]'
	$(BIN)/python -m pip install --quiet uv playwright
	@touch $(INTEGRATION_STAMP)

test-integration: $(INTEGRATION_STAMP)
	HARNESS_INTEGRATION=1 $(BIN)/python -m pytest tests/integration $(ARGS)

## A third-party plugin installed the way users do it (pip, check, train, its tests); uninstalled after.
example-plugin: $(STAMP)
	examples/acceptance.sh

## The pictures of README.md and docs/ (docs/images/), drawn from small deterministic runs
## (scripts/docs_images.py); the MLflow UI screenshot needs Debian's chromium and Playwright.
docs-images: $(STAMP)
	$(BIN)/python -m pip install --quiet playwright
	$(BIN)/python scripts/docs_images.py $(ARGS)

benchmark: $(STAMP)
	$(BIN)/python benchmarks/train_mlp.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
