# gaitscope: the two commands a new user runs are `make demo` and `make test` (see README.md).
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-fast lint app bench train-lifter clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required (apt-get install python3.11 python3.11-venv)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip check
	touch $(STAMP)

install: $(STAMP)

## Install, then analyze the bundled sample video and store it in the embedded database.
demo: install
	$(VENV)/bin/gaitscope demo

## Install, start a throw-away PostgreSQL when possible, run the whole suite (slow tests included).
test: install
	bash scripts/run_tests.sh

## Quick loop while developing: skips tests marked slow.
test-fast: install
	$(PY) -m pytest -m "not slow" -q

## The rooms' import contracts (docs/architecture.md) and ruff; the suite runs both too (tests/test_architecture.py).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

app: install
	$(VENV)/bin/streamlit run streamlit_app.py

## Retrain the embedded lifter from scratch (three stages, about an hour on 2 cores; see the model card).
train-lifter: install
	bash scripts/train_lifter.sh

bench: install
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache out
