# Self-documenting: `make help` lists every target with the comment after its `##`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PY310 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.10.*/bin/python3) $(shell command -v python3.10 2>/dev/null))
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
PYTHON := $(VENV)/bin/python
export UV_PYTHON_DOWNLOADS := never
export TF_USE_LEGACY_KERAS := 1
ARGS ?=
PYTEST_ARGS ?=
# pytest-xdist workers for `make test`: one per core (tests of one file, or of one shared run, stay together).
TEST_WORKERS ?= 2

.PHONY: help env run test test-unit check lint typecheck schema serve-config clean strip-notebooks airflow ui

help:  ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(UV):
	@test -n "$(PY310)" || { echo "Python 3.10 not found: install it (pyenv install 3.10) or set PY310=/path/to/python3.10"; exit 1; }
	$(PY310) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

# --compile-bytecode: every process that imports TensorFlow, TFX and Beam otherwise compiles them
# from source (15.2 s against 5.6 s of CPU measured for a run's imports, docs/performance.md)
# until Python writes __pycache__, which it never does under PYTHONDONTWRITEBYTECODE.
$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PY310)
	touch $@

env: $(VENV)/.synced  ## create .venv from the lock file (uv.lock), its bytecode compiled

run: env  ## run the pipeline on the bundled data (ARGS="--train-steps 500" to change flags)
	$(PYTHON) -m pipeline run $(ARGS)

test: env check  ## lint, type check, then every test on $(TEST_WORKERS) workers: unit, end to end, orchestrators, services
	$(PYTHON) -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

test-unit: env  ## the fast unit tests (tests/unit and the projects' models/*/tests, without the slow ones that run TensorFlow or Beam)
	$(PYTHON) -m pytest tests/unit models -m "not slow" $(PYTEST_ARGS)

check: lint typecheck  ## ruff and mypy, as CI runs them

lint: env  ## ruff over every Python file of the project
	$(VENV)/bin/ruff check .

typecheck: env  ## mypy (basic mode) over pipeline/ and models/
	$(VENV)/bin/mypy

schema: env  ## infer a schema from the bundled data into state/schema/ for review against the curated models/<project>/schema.pbtxt
	$(PYTHON) -m pipeline infer-schema --output state/schema/schema.pbtxt

serve-config: env  ## write TF Serving config files (serving/<project>/) from the pushed versions in MLMD
	$(PYTHON) -m pipeline serving-config $(ARGS)

strip-notebooks: env  ## remove outputs from notebooks/*.ipynb before committing them
	$(PYTHON) -m tools.notebooks

ui: env  ## sync ML Metadata into MLflow (state/mlflow), then MLflow's UI on 127.0.0.1:5000 (Ctrl-C stops it)
	$(PYTHON) -m pipeline ui $(ARGS)

airflow: env  ## Airflow as in production (LocalExecutor, PostgreSQL under state/airflow/state, UI on 127.0.0.1:8080; password in state/airflow/standalone_admin_password.txt)
	$(PYTHON) -m pipeline airflow $(ARGS)

CLEAN_SERVED ?= 0
CLEAN_YES ?= 0
clean: env  ## delete state/ after asking (CLEAN_YES=1: no question); refused while `make airflow` runs, and while models are served unless CLEAN_SERVED=1
	$(PYTHON) -m tools.clean $(if $(filter 1,$(CLEAN_SERVED)),--served) $(if $(filter 1,$(CLEAN_YES)),--yes)

BENCH_SCALES ?= 1 10 100
BENCH_ARGS ?=
QUALITY_PROJECTS ?= taxi penguins
.PHONY: bench bench-quality
bench: env bench-quality  ## benchmarks to benchmarks/results/: issue 29 targets, identical results vs benchmarks/reference/ (exit 1 if not), cold/warm, TFX example side by side, scaling (BENCH_SCALES="1 10 100") with fits and a 1000x estimate, profiles at 10x, serving, batch scoring, the weekly loop, model quality
	$(PYTHON) -m benchmarks --scales $(BENCH_SCALES) $(BENCH_ARGS)

bench-quality: env  ## five public datasets through init's defaults, and each project, against scikit-learn baselines on the same split (benchmarks/results/quality.{json,md})
	TF_USE_LEGACY_KERAS=1 $(PYTHON) -m benchmarks.quality --projects $(QUALITY_PROJECTS)
