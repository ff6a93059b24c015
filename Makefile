# Two commands set everything up from a fresh clone:
#   make repro   - create .venv, install pinned deps, run the DVC pipeline (dvc repro)
#   make test    - create .venv, install pinned deps, run the test suite
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.zsbir-installed
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup repro test lock bench gate relog wordnet grid tables paper tune tune-all tune-report
setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

repro: setup
	dvc repro

test: setup
	python -m pytest -q

# Re-resolve requirements.in + pyproject.toml (all extras) into requirements.lock: one
# universal lock (platform markers: Linux/macOS/Windows, x86_64/arm64) with sha256 hashes,
# made by uv from PyPI in a throw-away venv. Versions already in requirements.lock are kept
# where they still fit; `make lock LOCKFLAGS=--upgrade` moves everything to the newest.
UV_VERSION ?= 0.13.9
LOCKFLAGS  ?=
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	.venv-lock/bin/uv pip compile requirements.in pyproject.toml --all-extras --universal \
	  --generate-hashes --python-version 3.11 --custom-compile-command "make lock" \
	  --quiet $(LOCKFLAGS) -o requirements.lock
	rm -rf .venv-lock

bench: setup
	for b in benchmarks/*.py; do python $$b; done

# Fail when a metric regressed against the committed baseline (see ci/baselines).
gate: setup
	python scripts/gate.py

# Log the workspace's run to MLflow again from metrics/*.json (after a tracking-store failure).
relog: setup
	python scripts/relog.py

# The paper's experiments (README, "Experiments for the paper").
GRID ?= experiments/paper.yaml
JOBS ?= 2
grid: setup
	python scripts/experiments.py run $(GRID) --jobs $(JOBS)

tables: setup
	python scripts/experiments.py tables $(GRID)

paper: grid tables

# Equal hyperparameter tuning (README, "Baselines, tuning, significance"): Optuna on
# seen-class val mAP only, on the built data/pca (dvc repro pca); best params ->
# experiments/tuned.yaml. Every model gets the same TRIALS and EPOCHS.
MODEL  ?= cvaegan
TRIALS ?= 20
EPOCHS ?= 40
MODELS ?= raw semantic-regression twotower cvae cvaegan
tune: setup
	python scripts/tune.py --model $(MODEL) --trials $(TRIALS) --epochs $(EPOCHS)

tune-all: setup
	for m in $(MODELS); do python scripts/tune.py --model $$m --trials $(TRIALS) --epochs $(EPOCHS) || exit 1; done

# Did each search converge? Running best per trial of the stored studies (reports/tables/tuning/).
BUDGETS ?= 16
tune-report: setup
	python scripts/tune_report.py --models $(MODELS) --budgets $(BUDGETS)

# Full WordNet 3.0 (Debian packages + nltk folder .nltk_data/): only for name lookups
# of classes without a WordNet id and for regenerating the committed ImageNet table.
wordnet:
	bash scripts/install_wordnet.sh
