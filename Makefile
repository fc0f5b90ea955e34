# Two commands on a fresh machine: `make run` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch is pinned and installed first: an unpinned torch (pulled in by sentence-transformers)
# would fetch several GB of CUDA packages. Where the default index serves CUDA builds, add
# PIP_TORCH='--index-url https://download.pytorch.org/whl/cpu' (CPU-only wheels).
TORCH  := torch==2.13.0
PIP_TORCH ?=

.PHONY: run test test-all bench results install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(PIP_TORCH) $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[llm,test]'
	touch $(STAMP)

install: $(STAMP)

# The main job: theory verify + every experiment at the quick preset, one report
# (runs/reproduce-quick/report.md and report.html). --resume makes a second `make run` reuse
# everything already computed, and finishes a run that was interrupted.
run: $(STAMP)
	$(BIN)/jaxkd reproduce --preset quick --out runs/reproduce-quick --resume

# docs/results.md from a finished `make run` (its numbers replace docs/reference/).
results: $(STAMP)
	$(BIN)/python scripts/results.py runs/reproduce-quick

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist worksteal

# Everything, slow tests included; property tests draw fresh random examples (not derandomized).
test-all: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist worksteal -m '' --hypothesis-profile=random

bench: $(STAMP)
	$(BIN)/python benchmarks/linear_sweep.py
	$(BIN)/python benchmarks/mlp_ensemble.py
	$(BIN)/python benchmarks/gpt2_speed.py
	$(BIN)/python benchmarks/llm_distil.py
	$(BIN)/python benchmarks/llm_topk.py

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
