"""Sphinx configuration: ``make docs`` builds the HTML site into ``docs/_build/html``.

The site is made of what the repository already has: the README (landing
page), the stored, nbval-validated notebooks (rendered as stored, never
executed here), the docstrings (numpydoc API reference, generated
recursively over the package, so it follows modules wherever they live), and
``data/README.md`` / ``CONTRIBUTING.md``. The build needs no network.
"""

from __future__ import annotations

import shutil
from pathlib import Path

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
# Saved widget state is drawn by the ipywidgets HTML manager (version for ipywidgets 8),
# loaded by the reader's browser; the build itself fetches nothing.
nb_ipywidgets_js = {
    "https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.4/require.min.js": {
        "integrity": "sha256-Ae2Vz/4ePdIu6ZyI/5ZGsYnb+m0JlOmKPjt6XZ9JJkA=",
        "crossorigin": "anonymous",
    },
    "https://cdn.jsdelivr.net/npm/@jupyter-widgets/html-manager@1.0.15/dist/embed-amd.js": {
        "data-jupyter-widgets-cdn": "https://cdn.jsdelivr.net/npm/",
        "crossorigin": "anonymous",
    },
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
exclude_patterns = ["_build", "jupyter_execute", "**.ipynb_checkpoints"]
