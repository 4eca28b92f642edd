# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1
# Tests and the demo never talk to wandb's servers.
export WANDB_MODE ?= offline

.PHONY: install install-dev demo demo-data demo-control test test-all bench clean-demo

install:
	$(PYTHON) scripts/install.py --venv $(VENV)

install-dev:
	$(PYTHON) scripts/install.py --venv $(VENV) --extras dev

demo-data: install
	$(PY) tools/make_synthetic.py

## make demo: install, generate the motion dataset, train LS-ViT, evaluate, write submission.csv
demo: demo-data
	$(PY) tools/train.py experiment=demo
	$(PY) tools/inference.py checkpoint=outputs/demo/best data_root=datasets/synthetic/test output=outputs/demo/submission.csv

## the control for the README's comparison: the same backbone, frames averaged
demo-control: demo-data
	$(PY) tools/train.py experiment=demo model=vit_frame_avg run_dir=outputs/demo_frame_avg

## make test: install with the dev extras and run the suite (CPU, offline)
test: install-dev
	$(PY) -m pytest -q tests

bench: install
	$(PY) tools/benchmark_throughput.py
