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

# The main job as it stands (until `jaxkd reproduce` lands): verify the theory, then every
# experiment at the quick preset. --resume makes a second `make run` reuse finished points.
QUICK  := teacher-noise:linear teacher-noise:mlp bootstrap:linear bootstrap:mlp \
          variance-aware:linear variance-aware:mlp init-perturbation:mlp output-entropy:all \
          variance-attribution:mlp llm-teacher-noise:gpt2 llm-init:gpt2 llm-output:gpt2 \
          llm-variance-aware:gpt2 llm-noise-transfer:gpt2

run: $(STAMP)
	$(BIN)/jaxkd theory verify --json runs/theory-verify.json
	@for e in $(QUICK); do \
	  name=$${e%%:*}; model=$${e##*:}; \
	  $(BIN)/jaxkd run $$name --model $$model --preset quick --out runs/$$name-$$model --resume > /dev/null \
	    && echo "runs/$$name-$$model/report.md" || exit $$?; \
	done

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m ''

bench: $(STAMP)
	$(BIN)/python benchmarks/linear_sweep.py

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
