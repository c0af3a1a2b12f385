"""Sphinx configuration: ``make docs`` builds the HTML site into ``docs/_build/html``.

The site is made of what the repository already has: the README (landing
page), the stored, nbval-validated notebooks (rendered as stored, never
executed here), the docstrings (numpydoc API reference, generated
recursively over the package, so it follows modules wherever they live), and
``data/README.md`` / ``CONTRIBUTING.md``. Sphinx fetches nothing, and the
built site reads offline: the JavaScript its pages run (MathJax, the Jupyter widget manager,
RequireJS) is served from its own ``_static/`` folder, fetched beforehand into ``docs/_vendor/``
by ``docs/vendor.py`` (``make docs`` runs it first).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.errors import ConfigError

import mink_toolkit

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

project = "mink_toolkit"
author = "mink_toolkit contributors"
copyright = "mink_toolkit contributors"
release = version = mink_toolkit.__version__

extensions = [
    "myst_nb",  # brings myst_parser for the .md pages
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
]

# --- the tutorials --------------------------------------------------------------------------
# Sphinx reads only files under docs/, so the stored notebooks are copied in at every build
# (copy2 keeps their modification time, so unchanged notebooks are not re-read). docs/tutorials/
# is git-ignored: the notebooks in notebooks/ stay the only copy under version control.
TUTORIALS = DOCS / "tutorials"
TUTORIALS.mkdir(exist_ok=True)
_sources = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
for _stale in set(TUTORIALS.glob("*.ipynb")) - {TUTORIALS / s.name for s in _sources}:
    _stale.unlink()
for _source in _sources:
    _target = TUTORIALS / _source.name
    if not _target.exists() or _target.stat().st_mtime != _source.stat().st_mtime:
        shutil.copy2(_source, _target)

# Render the stored outputs exactly as nbval validated them; never run a kernel here.
nb_execution_mode = "off"
# Saved widget state is drawn by the ipywidgets HTML manager (1.x, the one for ipywidgets 8) with
# RequireJS, and math by MathJax 3: all three from the site's own _static/ (see "offline" below),
# so that a reader without a network sees controls and typeset math. Relative paths are under
# _static/. The manager needs no other script: the tutorials use only the built-in widgets
# (base, controls, output), which embed-amd.js bundles.
nb_ipywidgets_js = {
    "requirejs/require.js": {},
    "html-manager/embed-amd.js": {},
}
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# --- the API reference ----------------------------------------------------------------------
# autosummary writes one page per module into docs/generated/ (git-ignored). Start from an empty
# folder, so that pages of modules that were moved or removed do not linger.
shutil.rmtree(DOCS / "generated", ignore_errors=True)
autosummary_generate = True
autosummary_imported_members = False  # each object once, in the module that defines it
autodoc_typehints = "none"  # numpydoc's Parameters section states the types
autodoc_member_order = "bysource"
numpydoc_show_class_members = False  # autodoc lists the members; no autosummary stubs per method
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
templates_path = ["_templates"]

# --- HTML ----------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = "mink_toolkit"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"index": []}
html_static_path = ["_static", "_vendor"]
html_css_files = ["mink.css"]  # wide outputs (tables, long lines) scroll sideways, never cut

# --- offline -------------------------------------------------------------------------------
# docs/_vendor/ (git-ignored) holds MathJax, the widget manager and RequireJS with their
# licences, at the versions pinned in docs/vendor.py; Sphinx copies it into _build/html/_static/.
VENDOR = DOCS / "_vendor"
if not (VENDOR / "versions.json").is_file():
    raise ConfigError(f"{VENDOR} is missing: run `make docs` (or `python docs/vendor.py`) to fetch the "
                      "JavaScript the site serves itself (MathJax, the widget manager, RequireJS)")
# MathJax 3 (its fonts are in its own package, unlike MathJax 4's). MyST's window.MathJax options
# are the same for both. The widget manager speaks MathJax 2's API: mathjax_widgets.js bridges it.
mathjax_path = "mathjax/tex-mml-chtml.js"
mathjax_config_path = "mathjax_widgets.js"

exclude_patterns = ["_build", "_vendor", "licenses", "jupyter_execute", "**.ipynb_checkpoints"]
