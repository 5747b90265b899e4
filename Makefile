# bnlab: the two commands of the README, and a few more for course developers.
#   make course   set up, then run the instructor's pipeline on the sample submissions
#   make test     set up, then run the whole test suite (what CI runs)
#   make lab      self-study: set up .venv-lab/, build selfstudy/ and open JupyterLab there

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# PyTorch is only needed for the parity tests and the benchmarks. The pinned
# CPU release installs from a local wheel where one is provided; where it
# can't be installed the parity tests skip and say so.
TORCH ?= torch==2.13.0
export PATH := $(abspath $(BIN)):$(PATH)
export MPLBACKEND := Agg
export PYTHONWARNINGS := ignore::DeprecationWarning

.PHONY: setup course test quick lint bench sync dist clean torch sandbox

$(BIN)/.installed: pyproject.toml bnlab/pyproject.toml hatch_build.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(BIN)/.installed

$(BIN)/.torch: $(BIN)/.installed
	$(PY) -m pip install --quiet '$(TORCH)' && touch $@ || echo "PyTorch could not be installed: the parity tests will be skipped."

torch: $(BIN)/.torch

# $(call system_package,PACKAGE,FOUND,FOR,WITHOUT): unless the shell test FOUND holds,
# install Debian's PACKAGE with apt-get where this is root (updating the package lists
# if the first try fails) and say so; elsewhere say how to install it. FOR says what it
# is for, WITHOUT what happens without it.
define system_package
	@$(2) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null 2>&1)) \
	    && echo "installed $(1), $(3)" \
	    || echo "$(1) could not be installed: $(4)"; \
	  else \
	    echo "$(1) is missing: install it (apt-get install $(1), dnf install $(1)), $(3); $(4)"; \
	  fi; }
endef

# The grading sandbox (bubblewrap); grading stops with the same advice without it.
sandbox:
	$(call system_package,bubblewrap,command -v bwrap >/dev/null 2>&1,the grading sandbox,grading needs it (or --no-sandbox))

# The browser tests' Chromium (driven by Playwright, from the dev extra).
.PHONY: browser
browser:
	$(call system_package,chromium,command -v chromium >/dev/null 2>&1,for the browser tests,the browser tests will be skipped)

# The PostgreSQL gradebook test's server programs, installed before the tests run (so no
# test installs packages while another one watches the system's files).
.PHONY: postgres
postgres:
	$(call system_package,postgresql,ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1,for the PostgreSQL gradebook test,that test will say why it cannot run)

# The instructor's pipeline on the sample submissions, in the git-ignored course/:
# release (with its checks), collect the samples, grade them (progress bar),
# write feedback, export grades and print the summary table. Safe to run again:
# unchanged submissions are not graded twice.
COURSE ?= course
WORKERS ?= 2
# Where no sandbox can run, the samples (our own code) are graded without one, and
# the summary says so in capitals.
course: setup sandbox
	@if $(PY) -m autograder.sandbox --check; then \
	  $(PY) -m autograder all --samples --course $(COURSE) --workers $(WORKERS); \
	else \
	  echo "make course: no sandbox here; grading the sample submissions with --no-sandbox"; \
	  $(PY) -m autograder all --samples --course $(COURSE) --workers $(WORKERS) --no-sandbox; \
	fi

# Self-study, for someone learning alone: a venv of its own (.venv-lab/) with only the
# student package and JupyterLab (no nbgrader, no PyTorch, no test tools), the self-study
# release in $(SELFSTUDY)/ (the class release plus model answers and reveal cells, built
# from the source notebooks with nbformat, which JupyterLab brings), and JupyterLab on it.
# The builder runs from this checkout (python -m puts it on the path): the instructor
# package is not installed there. `make lab-release` builds without opening JupyterLab;
# notebooks already in $(SELFSTUDY)/ are kept, they hold your work.
.PHONY: lab lab-release
LAB_VENV := .venv-lab
LAB_PY := $(LAB_VENV)/bin/python
SELFSTUDY ?= selfstudy

$(LAB_VENV)/.installed: bnlab/pyproject.toml $(shell find bnlab -name '*.py' -o -name '*.npz')
	test -x $(LAB_PY) || $(PYTHON) -m venv $(LAB_VENV)
	$(LAB_PY) -m pip install --quiet --upgrade pip
	$(LAB_PY) -m pip install --quiet ./bnlab jupyterlab ipykernel
	touch $@

lab-release: $(LAB_VENV)/.installed
	$(LAB_PY) -m autograder.pipeline.selfstudy $(SELFSTUDY)

# (JupyterLab refuses to run as root unless told: containers often run as root.)
lab: lab-release
	cd $(SELFSTUDY) && env -u MPLBACKEND -u PYTHONWARNINGS \
	  PATH="$(abspath $(LAB_VENV))/bin:$$PATH" "$(abspath $(LAB_VENV))/bin/jupyter" lab \
	  $$([ "$$(id -u)" = 0 ] && echo --allow-root)

# Two processes (pytest-xdist) run the tests: each test module wholly in one of them (its
# fixtures are made once), but for a few whose long tests are shared one by one, the
# longest modules first (tests/conftest.py); the courses of the session fixtures are made
# once per run and shared. TESTS=... runs some: make test TESTS=tests/bnlab
XDIST ?= -n 2 --dist loadscope --no-loadscope-reorder
# Its set-up runs in two lines at once: pip (the venv, then PyTorch) beside apt-get (the
# system tools, one after another: they share dpkg's lock).
test:
	@$(MAKE) --no-print-directory -j2 --output-sync=recurse torch system
	$(BIN)/ruff check .
	$(PY) -m pytest $(XDIST) $(TESTS)

.PHONY: system
system:
	@$(MAKE) --no-print-directory sandbox
	@$(MAKE) --no-print-directory browser
	@$(MAKE) --no-print-directory postgres

# The tests that take at most a few seconds each: a loop of under a minute. Their
# fixtures cost little, so the two processes share the tests one by one.
quick: setup
	$(PY) -m pytest -n 2 --dist load -m "not slow" $(TESTS)

# Both distributions, as anyone would build them: bnlab/dist/ holds the student's
# (bnlab-*), dist/ the instructor's (bnlab_instructor-*: never hand these out).
dist: setup
	$(PY) -m build --outdir bnlab/dist bnlab
	$(PY) -m build --outdir dist .

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check bnlab autograder tests bench

bench: setup torch
	$(PY) -m bench

sync: setup
	$(PY) -m autograder.content.sync --outputs

clean:
	rm -rf $(VENV) $(LAB_VENV) course build dist bnlab/dist *.egg-info .pytest_cache .ruff_cache .hypothesis
