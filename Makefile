# Two commands on a fresh machine: `make train` and `make test`.
# Each creates .venv/ (if missing or out of date) with the project and its built-in plugins.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: train test test-fast test-integration venv benchmark example-plugin clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	@# The distribution was called "harness" before (a name taken on the package index).
	@$(BIN)/python -m pip uninstall --quiet --yes harness 2>/dev/null || true
	@rm -rf harness.egg-info
	$(BIN)/python -m pip install --quiet --editable '.[test]'
	@# The build backend, so that logged models bundle this project's wheel without network.
	$(BIN)/python -m pip install --quiet 'setuptools>=69' wheel
	@touch $(STAMP)

venv: $(STAMP)

## Train the default experiment (MNIST, >= 98 % test accuracy), recorded in ./mlflow.db.
train: $(STAMP)
	$(BIN)/harness-train $(ARGS)

## Run the whole test suite, slow and network tests included (tests/integration: see below).
test: $(STAMP)
	$(BIN)/python -m pytest --ignore=tests/integration $(ARGS)

## Tests against real services (tests/integration/): the MLflow UI in Debian's headless Chromium,
## a logged model served from an isolated environment built by uv. CI installs chromium first.
test-integration: $(STAMP)
	$(BIN)/python -m pip install --quiet uv playwright
	$(BIN)/python -m pytest tests/integration $(ARGS)

## The quick part of the suite: no training to 98 %, no package-index downloads.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not network and not fashion" $(ARGS)

## A third-party plugin installed the way users do it (pip, check, train, its tests); uninstalled after.
example-plugin: $(STAMP)
	examples/acceptance.sh

benchmark: $(STAMP)
	$(BIN)/python benchmarks/train_mlp.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
