# econplan — the two commands a newcomer types: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin

.PHONY: demo test bench lint serve sysdeps venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[service,test,dask]"
	touch $@

## demo: create .venv, install, plan the bundled example economy and print a summary
demo: venv
	$(BIN)/econplan demo --out demo-out

## test: the whole test suite (installs Debian chromium/postgresql first when root)
test: venv sysdeps
	$(PY) -m pytest

## bench: benchmarks beside their references; writes bench/RESULTS.md
bench: venv
	$(PY) bench/run.py

lint: venv
	$(BIN)/ruff check src tests bench

## serve: the participation service on the demo economy
serve: venv
	$(BIN)/econplan serve --bundle src/econplan/examples/small

sysdeps:
	bash scripts/sysdeps.sh

clean:
	rm -rf $(VENV) demo-out artifacts .pytest_cache
