"""The light entry-point reader finds what importlib.metadata finds, without its RSS cost."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

from edge_agent.runtime.entrypoints import entry_points


def _dist(root: Path, dirname: str, text: str) -> None:
    (root / dirname).mkdir(parents=True)
    (root / dirname / "entry_points.txt").write_text(text)


def test_matches_importlib_metadata_on_this_environment() -> None:
    """For the installed distributions, names, values and versions agree with importlib.metadata."""
    ours = {(ep.name, ep.value) for ep in entry_points("edge_agent.plugins")}
    theirs = {(ep.name, ep.value) for ep in metadata.entry_points(group="edge_agent.plugins")}
    assert ours == theirs
    assert ("hostmetrics", "edge_agent_plugins.hostmetrics:HostMetrics") in ours
    console = {ep.name for ep in entry_points("console_scripts")}
    assert "edge-agent" in console


def test_first_distribution_on_path_wins_and_other_groups_ignored(tmp_path: Path) -> None:
    """A distribution earlier on the path shadows a later copy; other sections are not read."""
    first, second = tmp_path / "a", tmp_path / "b"
    _dist(first, "vendor_plugins-2.0.dist-info", "[edge_agent.plugins]\nmodbus = vendor.modbus:Modbus\n")
    _dist(
        second,
        "vendor_plugins-1.0.dist-info",
        "[edge_agent.plugins]\nmodbus = old.modbus:Modbus\nextra = old:X\n",
    )
    _dist(
        second,
        "other-0.1.egg-info",
        "# comment\n[console_scripts]\nx = y:z\n\n[edge_agent.plugins]\n  can = can_bus : Can \n",
    )
    found = {ep.name: ep for ep in entry_points("edge_agent.plugins", [str(first), str(second)])}
    assert found["modbus"].value == "vendor.modbus:Modbus"
    assert (found["modbus"].dist_name, found["modbus"].dist_version) == ("vendor_plugins", "2.0")
    assert "extra" not in found  # the shadowed copy is not read at all
    assert found["can"].value == "can_bus : Can"


def test_unreadable_and_missing_files_are_skipped(tmp_path: Path) -> None:
    """A dist-info without entry_points.txt or with undecodable bytes is ignored."""
    (tmp_path / "empty-1.0.dist-info").mkdir()
    (tmp_path / "bad-1.0.dist-info").mkdir()
    (tmp_path / "bad-1.0.dist-info" / "entry_points.txt").write_bytes(b"\xff\xfe[edge_agent.plugins]\n")
    assert entry_points("edge_agent.plugins", [str(tmp_path), str(tmp_path / "missing")]) == []


def test_load_resolves_module_and_attribute() -> None:
    """EntryPoint.load imports the module and walks the attribute path."""
    (ep,) = [e for e in entry_points("edge_agent.plugins") if e.name == "hostmetrics"]
    assert ep.load().name == "hostmetrics"


def test_agent_discovery_does_not_import_importlib_metadata() -> None:
    """Discovering and loading plugins leaves importlib.metadata (and email, zipfile) unloaded."""
    code = (
        "import sys\n"
        "from edge_agent.runtime.discovery import PluginRegistry\n"
        "PluginRegistry.discover().get('hostmetrics')\n"
        "print(sorted(m for m in ('importlib.metadata', 'email', 'zipfile') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
