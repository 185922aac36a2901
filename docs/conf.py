"""Sphinx configuration for xdist-c's documentation.

Builds offline: no extension fetches anything (no intersphinx), and the
version comes from pyproject.toml, so neither the package nor its C
extension has to be built or imported.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _project_version() -> str:
    # Sphinx 9 needs Python >= 3.11, which has tomllib.
    import tomllib

    with open(ROOT / "pyproject.toml", "rb") as f:
        return str(tomllib.load(f)["project"]["version"])


project = "xdist-c"
author = "the xdist-c authors"
copyright = "the xdist-c authors"
release = _project_version()
version = ".".join(release.split(".")[:2])

extensions: list[str] = []
exclude_patterns = ["_build"]
root_doc = "index"
language = "en"
# Plain ``text`` is literal (code), as in the README, not a cross-reference.
default_role = "literal"
highlight_language = "none"

html_theme = "furo"
html_title = f"xdist-c {release}"
html_theme_options = {
    "source_repository": "https://github.com/xdist-c/xdist-c/",
    "source_branch": "main",
    "source_directory": "docs/",
}
