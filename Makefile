# Two commands on a fresh machine: `make run` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch is pinned and installed first: an unpinned torch (pulled in by sentence-transformers)
# would fetch several GB of CUDA packages.
TORCH  := torch==2.13.0

.PHONY: run test test-all bench install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/jaxkd theory verify --json runs/theory-verify.json
	$(BIN)/jaxkd run teacher-noise --model linear --preset quick --out runs/teacher-noise-linear --resume
	$(BIN)/jaxkd run bootstrap --model linear --preset quick --out runs/bootstrap-linear --resume
	$(BIN)/jaxkd run variance-aware --model linear --preset quick --out runs/variance-aware-linear --resume

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m ''

bench: $(STAMP)
	$(BIN)/python benchmarks/linear_sweep.py

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
