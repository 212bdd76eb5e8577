"""Sphinx configuration for the volnux-actors docs."""

project = "volnux-actors"
author = "the volnux-actors developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]
html_theme = "alabaster"
autodoc_member_order = "bysource"
