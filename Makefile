# Plain runner for mink_toolkit. `make test` and `make lab` are the README's two commands.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
# The stamps are rebuilt when the dependency list changes.
STAMP  := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs

# Real OPERA files shipped beside the checkout (CI and the development machines);
# elsewhere the toolkit uses its cache and downloads them (see README).
ifneq ($(wildcard ../shared/data/opera),)
export MINK_DATA_DIR ?= $(abspath ../shared/data/opera)
endif

# torch is installed first, from this spec, so that pip keeps it when it installs the package
# (pyproject.toml asks only torch>=2.2). The default is the CPU wheel these machines have;
# for a GPU build pass e.g. TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu124".
TORCH_SPEC ?= torch==2.13.0

PYTEST_ARGS ?=
# e.g. LAB_ARGS="--no-browser --allow-root" inside a container
LAB_ARGS ?=

.PHONY: test lab venv bench docs docs-assets notebooks clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --upgrade pip
	# torch first (see TORCH_SPEC): an unpinned torch would pull a multi-GB CUDA build here.
	$(PY) -m pip install $(TORCH_SPEC)
	$(PY) -m pip install -e ".[test,lab]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (mink_toolkit)"
	touch $(STAMP)

venv: $(STAMP)

NBVAL := --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg

# Two runs. The first: everything, on this machine's kernels. The second: the notebooks and the
# doctests again with torch, oneDNN and numpy forced onto older instruction sets
# (tests/older_isa.py), because learners' CPUs round differently and the stored outputs must hold
# on all of them (CONVENTIONS.md section 4); tests/test_older_isa.py shows the kernels really change.
# The site is built first: tests/browser/test_docs.py reads it offline (MINK_DOCS_HTML), so that
# CI builds it once. MINK_SOLUTIONS=1: the kernels nbval starts run the %%solution cells, whose
# stored outputs it compares (a learner's kernel shows a "Show solution" button instead; the
# browser tests start JupyterLab without it).
# Building the docs needs npm (docs-assets): where it is missing, the site is not built and the
# offline-docs browser test says it was skipped and why.
HAVE_NPM := $(shell command -v npm 2>/dev/null)
test: $(STAMP) $(if $(HAVE_NPM),docs)
	MINK_SOLUTIONS=1 $(if $(HAVE_NPM),MINK_DOCS_HTML="$(CURDIR)/docs/_build/html") \
	$(PY) -m pytest -n 2 --dist loadscope tests notebooks mink_toolkit --doctest-modules $(NBVAL) \
		-p no:cacheprovider $(PYTEST_ARGS)
	@echo "== the notebooks and doctests again, on older instruction sets: $$($(PY) tests/older_isa.py)"
	MINK_SOLUTIONS=1 env $$($(PY) tests/older_isa.py) $(PY) -m pytest -n 2 --dist loadscope notebooks mink_toolkit \
		tests/test_older_isa.py --doctest-modules $(NBVAL) -p no:cacheprovider $(PYTEST_ARGS)

# JupyterLab draws saved widget state only in trusted notebooks; a fresh clone's are not.
lab: $(STAMP)
	$(VENV)/bin/jupyter trust notebooks/*.ipynb
	$(VENV)/bin/jupyter lab notebooks $(LAB_ARGS)

# Re-run every tutorial top to bottom and store it (outputs, widget state, folded solutions;
# mink_toolkit.notebook.execute gives its kernels MINK_SOLUTIONS=1, so the solutions' outputs are stored).
notebooks: $(STAMP)
	$(PY) -m mink_toolkit.notebook.execute notebooks/[0-9]*.ipynb

$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -e ".[docs]"
	touch $(DOCS_STAMP)

# The JavaScript the built site serves itself, so that it reads offline: MathJax, the ipywidgets
# widget manager and RequireJS, pinned (version and sha512) in docs/vendor.py, fetched with npm
# into docs/_vendor/ with their licences. Nothing is fetched when they are up to date.
docs-assets:
	$(PYTHON) docs/vendor.py

# HTML into docs/_build/html; warnings are errors, and Sphinx fetches nothing (docs-assets has).
SPHINXOPTS ?= -W --keep-going
docs: $(DOCS_STAMP) docs-assets
	$(VENV)/bin/sphinx-build -b html $(SPHINXOPTS) docs docs/_build/html

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache docs/_build docs/generated docs/tutorials docs/_vendor
