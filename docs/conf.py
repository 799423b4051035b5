"""Sphinx configuration for the workspace's one documentation site."""

from __future__ import annotations

from importlib import metadata

project = "Workspace libraries"
author = "Platform team"
copyright = "2026, Platform team"
release = metadata.version("corekit")

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_default_options = {"members": True, "show-inheritance": True}
# Sphinx 9's new autodoc fails to import a pydantic model with extra="allow" once it has
# documented another model (sphinx-doc/sphinx#14337); the legacy documenters do not.
autodoc_use_legacy_class_based = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# Third-party types in signatures (httpx2, anyio, redis) have no inventory offline: CI reaches
# only package registries, so intersphinx is off and unresolved external names are expected.
_EXTERNAL = (
    "httpx2|httpcore2|anyio|redis|stamina|authlib|sqlite3|starlette|uvicorn|"
    "collections|typing|contextlib|os|ssl|enum|abc|fnmatch|datetime|pathlib|types|asyncio|time|"
    "fastapi|pydantic|pydantic_settings|polars|pyarrow|narwhals|dask|distributed|pandas|"
    "sqlalchemy|typer|concurrent|decimal|uuid|io|threading|logging|json|xml"
)
nitpick_ignore_regex = [
    ("py:.*", rf"({_EXTERNAL})(\..*)?"),
    ("py:.*", r"typing\.~\w+|~\w+"),
    ("py:class", r"(_?[A-Z]\w*|Any|T|P|R|K|V|Callable|Awaitable|Mapping|Sequence)"),
    ("py:.*", r"corekit\.(\w+\.)*_\w+(\..*)?"),
]

html_theme = "furo"
html_title = "Workspace libraries"
