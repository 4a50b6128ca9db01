# Two entry points: `make demo` serves the app on the built-in demo dataset, `make test` runs
# every check. Each builds the virtualenv it needs.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 5006
CATALOG ?= demo/workbench.duckdb

.PHONY: demo test lint typecheck pytest system-deps clean bench

$(VENV)/.stamp-base: pyproject.toml
	test -x $(PY) || "$$(.ci/python312)" -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.stamp-dev: $(VENV)/.stamp-base
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

system-deps:
	.ci/system-deps

demo: $(VENV)/.stamp-base
	$(VENV)/bin/workbench --catalog $(CATALOG) demo --serve --port $(PORT)

lint: $(VENV)/.stamp-dev
	$(VENV)/bin/ruff check workbench tests bench
	$(VENV)/bin/ruff format --check workbench tests bench

typecheck: $(VENV)/.stamp-dev
	$(VENV)/bin/mypy workbench

pytest: $(VENV)/.stamp-dev system-deps
	.ci/labelstudio-venv
	.ci/jupyterlab-venv
	.ci/format-sdks-venv
	.ci/moto-venv
	.ci/daft-venv $(VENV)
	$(PY) -m pytest -q -n 2 --dist loadfile tests notebooks --nbval-lax -p no:cacheprovider
	# the catalog-level tests again on lake-backed catalogs (one test compares SELECT * of
	# rois, which shows the lake's stored order as a column: docs/scale-out.md), and the jobs
	# on Daft
	WORKBENCH_TEST_STORAGE=lake $(PY) -m pytest -q -n 2 --dist loadfile -p no:cacheprovider tests/query tests/services tests/analysis \
	  --deselect tests/services/test_load.py::test_dest_field_loads_into_a_new_field
	$${DAFT_VENV:-$$HOME/.cache/workbench/daft-venv}/bin/python -m pytest -q -p no:cacheprovider tests/jobs -m "not slow"

test: lint typecheck pytest

bench: $(VENV)/.stamp-dev
	$(PY) bench/catalog_bench.py
	$(PY) bench/formats_bench.py
	$(PY) bench/services_bench.py
	$(PY) bench/ui_bench.py
	.ci/labelstudio-venv
	$(PY) bench/labelstudio_bench.py

clean:
	rm -rf $(VENV) demo .pytest_cache .mypy_cache .ruff_cache
