# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv and install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench install clean finetune results

# The dev extras pin torch==2.13.0 (CPU), numpy<2 (procgen needs it) and so pyarrow<26.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The whole loop on the shipped network (models/reference-r5.pth): register the shipped predictions (a
# scratch copy, so predictions/registry.lock is untouched), run a batch experiment and small model-editing
# and retargeting families (the registered families on fewer mazes), fit, resolve, score and
# write the calibration report. Re-running it resumes the run and reuses the fits; a new checkpoint starts
# the run over (resume refuses to mix two networks' episodes).
DEMO := data/demo
RUN := data/runs/reference-demo
# what resolve writes (resolutions.yaml, fits, probe results, pictures): its own folder, never a run
DEMO_RESOLVED := data/resolved/reference-demo
RUN_STAMP := data/runs/.reference-demo-checkpoint
$(RUN_STAMP): models/reference-r5.pth
	rm -rf $(RUN) data/runs/model-editing-demo data/runs/retargeting-demo $(DEMO_RESOLVED)
	mkdir -p data/runs && touch $@

demo: $(STAMP) $(RUN_STAMP)
	@echo "== 1/6 register the shipped predictions in a scratch copy: $(DEMO)/predictions"
	rm -rf $(DEMO)/predictions && mkdir -p $(DEMO) && cp -r predictions $(DEMO)/predictions
	$(BIN)/mazeprobe predictions validate $(DEMO)/predictions --analysis-dir analysis
	$(BIN)/mazeprobe predictions register $(DEMO)/predictions --analysis-dir analysis
	$(BIN)/mazeprobe predictions verify $(DEMO)/predictions --analysis-dir analysis
	@echo "== 2/6 run the shipped network on 1,000 test mazes ($(RUN)), and a small model-editing family"
	$(BIN)/mazeprobe run analysis/reference-demo.yaml --out data/runs --resume
	$(BIN)/mazeprobe run analysis/model-editing-demo.yaml --out data/runs --resume
	$(BIN)/mazeprobe run analysis/retargeting-demo.yaml --out data/runs --resume
	$(BIN)/mazeprobe show $(RUN) --episode 0 --png $(DEMO)/episode-0.png
	$(BIN)/mazeprobe vfield --checkpoint models/reference-r5.pth --seed 0 --png $(DEMO)/vfield-seed-0.png
	@echo "== 3/6 fit the published behavioural regression"
	$(BIN)/mazeprobe fit $(RUN) --plan analysis/behavioral.yaml --jobs 2
	@echo "== 4/6 resolve the auto questions from the runs (the probe plan on $(RUN))"
	$(BIN)/mazeprobe resolve --predictions $(DEMO)/predictions --run $(RUN) \
		--run data/runs/model-editing-demo --run data/runs/retargeting-demo --out $(DEMO_RESOLVED)
	@echo "== 5/6 score the forecasters"
	$(BIN)/mazeprobe score --predictions $(DEMO)/predictions --resolutions $(DEMO_RESOLVED)/resolutions.yaml
	@echo "== 6/6 write the calibration report"
	$(BIN)/mazeprobe report --predictions $(DEMO)/predictions --resolutions $(DEMO_RESOLVED)/resolutions.yaml \
		--out $(DEMO)/report.html
	$(BIN)/mazeprobe report --predictions $(DEMO)/predictions --resolutions $(DEMO_RESOLVED)/resolutions.yaml \
		--out $(DEMO)/report.md
	@echo "demo done: open $(DEMO)/report.html (also $(DEMO)/report.md, $(DEMO)/episode-0.png, $(DEMO)/vfield-seed-0.png)"

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -p no:cacheprovider

# The published-size experiments on the shipped network, resolved and scored: docs/results.md and
# docs/results.html, with the machine and the time of each step (data/results/steps.json). The network is
# a stand-in for the registry's subject (the published network): its fingerprint is measured and saved
# beside it (models/reference-r5.fingerprint.json, committed), and the report scores it apart. The
# model-editing questions read round 2 (issue 19): the families model-editing-r2 and retargeting-r2, the
# probe curve on probe-run-r2, the fine-tune evaluated on new mazes; round 1's outcomes stay in the lock
# and the report shows them as superseded (its families, analysis/model-editing.yaml and retargeting.yaml,
# still run with `mazeprobe run`). About two hours on 2 CPU cores; interrupted, it resumes (each run
# continues where it stopped, fits and probes are reused). Resolving writes into data/resolved/behavioral-10k/
# (never into the runs) and appends the resolution events to predictions/registry.lock: commit it with
# the results.
# With CHECKPOINT (make results CHECKPOINT=path/to/model.pth [OUT=docs/results-NAME] [STUDY_FLAGS=--yes]):
# the same study on that network, by `mazeprobe study` (its --help): it prints an estimate of the time on
# this machine first, then runs the four specs on it into data/runs/results-<sha8>/, resolves the shipped
# questions in a scratch copy of the registry (predictions/registry.lock is untouched) and writes
# OUT/results.md and results.html (default OUT: docs/results-<first 8 of its sha256>). Without CHECKPOINT,
# the shipped flow below.
ifneq ($(CHECKPOINT),)
results: $(STAMP)
	$(BIN)/mazeprobe study $(CHECKPOINT) $(if $(OUT),--out $(OUT),) $(STUDY_FLAGS)
else
RESULTS := data/results
STEP = $(BIN)/python -m mazeprobe.steplog $(RESULTS)/steps.json
RUNS := --run data/runs/behavioral-10k --run data/runs/model-editing-r2 --run data/runs/retargeting-r2 \
	--run data/runs/probe-run-r2
RESOLVE_OUT := data/resolved/behavioral-10k
RESOLVED := $(RESOLVE_OUT)/resolutions.yaml $(wildcard predictions/resolutions-manual.yaml)
FINETUNE_SEED := 3000000011
FINETUNE_EVAL := models/finetune-uniform.evaluation.json
results: $(STAMP)
	mkdir -p $(RESULTS) docs
	$(STEP) "behavioural run: 10,000 mazes, block2.res1 recorded" -- \
		$(BIN)/mazeprobe run analysis/behavioral-10k.yaml --out data/runs --resume
	$(STEP) "model-editing family, round 2: 2,000 decision-square mazes, 8 edits" -- \
		$(BIN)/mazeprobe run analysis/model-editing-r2.yaml --out data/runs --resume
	$(STEP) "retargeting family, round 2: 200 mazes x 5 off-path targets, 10 aimed edits and the ceiling" -- \
		$(BIN)/mazeprobe run analysis/retargeting-r2.yaml --out data/runs --resume
	$(STEP) "probe run, round 2: 10,000 new decision-square mazes, block2.res1 recorded" -- \
		$(BIN)/mazeprobe run analysis/probe-run-r2.yaml --out data/runs --resume
	@# once: its evaluation on round 2's mazes is committed (evaluating again would only rewrite its times)
	@$(BIN)/python -c "import json, sys; e = json.load(open('$(FINETUNE_EVAL)')); \
		sys.exit(e.get('seed') != $(FINETUNE_SEED) or 'uniform/sample' not in e['suites'])" 2>/dev/null || \
		$(STEP) "evaluate the fine-tuned network on round 2's mazes (test and uniform suites)" -- \
		$(BIN)/mazeprobe evaluate $(FINETUNE) --n 500 --seed $(FINETUNE_SEED) --quiet
	$(STEP) "fingerprint the shipped network: 500 decision-square test mazes (the report shows it)" -- \
		$(BIN)/mazeprobe fingerprint models/reference-r5.pth --save --quiet
	$(STEP) "resolve: fit the plans, run the probe plans, decide every auto question" -- \
		$(BIN)/mazeprobe resolve --predictions predictions $(RUNS) --out $(RESOLVE_OUT)
	$(STEP) "score the shipped forecasts" -- \
		$(BIN)/mazeprobe score --predictions predictions --resolutions $(RESOLVED)
	$(STEP) "write the report" -- $(BIN)/mazeprobe report --predictions predictions --resolutions $(RESOLVED) \
		--steps $(RESULTS)/steps.json --out docs/results.html
	$(BIN)/mazeprobe report --predictions predictions --resolutions $(RESOLVED) --steps $(RESULTS)/steps.json \
		--out docs/results.md
	@echo "results done: docs/results.md and docs/results.html"
endif

# Fine-tune the shipped network on uniformly placed cheese (the finetune-cheese-agent question), then evaluate
# it and write its card. Not part of demo, test or results: about 27 minutes on 2 idle CPU cores (25 to train,
# 1.5 to evaluate), longer when they are shared (1.1M samples, 9.6% of the original training's).
# Interrupted with Ctrl-C it saves its state; re-running resumes.
FINETUNE := models/finetune-uniform.pth
finetune: $(STAMP)
	$(BIN)/mazeprobe train --init models/reference-r5.pth --config analysis/finetune-uniform.yaml \
		--out $(FINETUNE) $(if $(wildcard $(FINETUNE).train),--resume,)
	$(BIN)/mazeprobe evaluate $(FINETUNE) --n 500

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_maze.py
	$(BIN)/python benchmarks/bench_runner.py
	$(BIN)/python benchmarks/bench_train.py
	$(BIN)/python benchmarks/bench_interventions.py

clean:
	rm -rf $(VENV) *.egg-info
