"""Packaging invariants: every package directory is listed, first-party plugins are entry points."""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DIRS = {
    "edge_agent": ROOT / "edge_agent",
    "edge_agent_plugins": ROOT / "plugins",
    "edge_agent_profiles": ROOT / "firmware_configs",
}


def _package_dirs() -> set[str]:
    found = set()
    for top, directory in DIRS.items():
        for init in directory.rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            rel = init.parent.relative_to(directory)
            found.add(".".join([top, *rel.parts]))
    return found


def test_every_package_directory_is_listed() -> None:
    """The explicit packages list in pyproject.toml covers every directory with an __init__.py."""
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    assert _package_dirs() == listed


def test_first_party_plugins_are_entry_points() -> None:
    """Each plugin package under plugins/ is registered in the edge_agent.plugins group under its own name."""
    declared = PYPROJECT["project"]["entry-points"]["edge_agent.plugins"]
    plugin_packages = {p.name for p in (ROOT / "plugins").iterdir() if (p / "__init__.py").is_file()}
    assert {v.split(":")[0].split(".")[1] for v in declared.values()} == plugin_packages
    installed = {ep.name for ep in metadata.entry_points(group="edge_agent.plugins")}
    assert set(declared) <= installed, "re-run pip install -e . after adding a plugin"


def test_top_level_layout() -> None:
    """The repository top level is exactly what issue 2 specifies (plus docs, CI and dotfiles)."""
    allowed = {
        "pyproject.toml",
        "edge_agent",
        "plugins",
        "firmware_configs",
        "tests",
        "tools",
        "README.md",
        "docs",
        "SECURITY.md",
        "LICENSE",
    }
    tracked = {
        p.name
        for p in ROOT.iterdir()
        if not p.name.startswith(".")
        and p.name not in {"build", "dist"}
        and not p.name.endswith(".egg-info")
        and p.name not in {"edge-agent-data", "venv"}
    }
    assert tracked <= allowed, tracked - allowed
