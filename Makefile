# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv and install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench install clean

# The dev extras pin torch==2.13.0 (CPU), numpy<2 (procgen needs it) and so pyarrow<26.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	mkdir -p data
	$(BIN)/mazeprobe sample --n 5000 --seed 0 --require-decision-square \
		--exclude-cheese-top-right 5 --out data/demo-mazes.parquet
	$(BIN)/mazeprobe show data/demo-mazes.parquet --row 0 --png data/demo-maze.png
	$(BIN)/mazeprobe run analysis/behavioral-demo.yaml --out data/runs --resume
	$(BIN)/mazeprobe show data/runs/behavioral-demo --episode 0 --png data/demo-episode.png
	$(BIN)/mazeprobe vfield --builtin shard --seed 0 --png data/demo-vfield.png
	$(BIN)/mazeprobe fit data/runs/behavioral-demo --plan analysis/behavioral.yaml

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_maze.py
	$(BIN)/python benchmarks/bench_runner.py

clean:
	rm -rf $(VENV) *.egg-info
