"""Sphinx configuration of the terracat documentation.

Build (warnings are errors)::

    .venv/bin/sphinx-build -W --keep-going -b html docs docs/_build/html -q
"""

from __future__ import annotations

import sys
from pathlib import Path

# Document the working tree even when terracat is not installed in editable mode.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

project = "terracat"
author = "terracat developers"
copyright = "terracat developers"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

# numpydoc-style docstrings (STYLE.md), read by napoleon
napoleon_google_docstring = False
napoleon_numpy_docstring = True

autodoc_typehints = "description"
autodoc_member_order = "bysource"

nitpicky = False
exclude_patterns = ["_build"]

html_theme = "alabaster"
html_theme_options = {
    "description": "Terrascope catalogue searches as GeoDataFrames",
}
