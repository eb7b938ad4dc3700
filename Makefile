# econplan — the two commands a newcomer types: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin

.PHONY: demo test fuzz bench bench-quick lint serve sysdeps venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[service,test,dask,fast]"
	@# PyTorch (the non-default array engine, tested on CPU): only from a local CPU wheel,
	@# never a multi-GB CUDA download; without it the torch tests skip and say so.
	@if ls /opt/wheels/torch-*+cpu-*.whl >/dev/null 2>&1; then \
	  $(PY) -m pip install -q "torch==2.13.0" || echo "torch not installed (tests skip)"; fi
	touch $@

## demo: create .venv, install, plan the bundled example economy and print a summary
demo: venv
	$(BIN)/econplan demo --out demo-out

## test: the whole test suite (installs Debian chromium/postgresql first when root)
test: venv sysdeps
	$(PY) -m pytest

## fuzz: the property tests with new random examples on every run (`make test` draws a
## fixed set); pin what it finds with @example
fuzz: venv
	ECONPLAN_HYPOTHESIS=explore $(PY) -m pytest tests/test_random_economies.py \
		tests/test_properties.py tests/test_fill.py tests/test_unmade.py tests/test_csv_writer.py

## bench: benchmarks beside their references (~1 h: references time out at 180 s, and
## the service bench runs 1000 SIGKILL cycles); writes bench/RESULTS.md
bench: venv
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) bench/service.py
	$(PY) bench/run.py

## bench-quick: the small cases only
bench-quick: venv
	$(PY) bench/run.py --quick

lint: venv
	$(BIN)/ruff check src tests bench

## serve: the participation service on the demo economy
serve: venv
	$(BIN)/econplan serve --bundle src/econplan/examples/small

sysdeps:
	bash scripts/sysdeps.sh

clean:
	rm -rf $(VENV) demo-out artifacts .pytest_cache
