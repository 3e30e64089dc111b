"""RSS budget guard: a default agent never loads the heavy optional modules.

RSS itself is measured by tools/bench/idle_footprint.py (docs/performance.md);
here we pin the deterministic part of it: which expensive modules a running
agent with the default config has imported. Each of these costs 0.3-15 MiB
on a 256 MiB device and must stay behind the feature that needs it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY = (
    "google.protobuf",  # ~5 MiB: only to validate untrusted OTLP and in processors
    "cryptography",  # ~15 MiB: only for at-rest encryption, signatures, PKI tooling
    "importlib.metadata",  # ~1.4 MiB: plugin discovery reads entry_points.txt itself
    "email",  # pulled in by importlib.metadata and Retry-After date parsing
    "zstandard",  # only with compression = "zstd"
)

SCRIPT = """
import sys, tempfile, trio
from pathlib import Path
from edge_agent.config.load import load_config
from edge_agent.runtime.agent import Agent
from edge_agent.runtime.discovery import PluginRegistry

async def main(state):
    loaded = load_config(main_path=None, environ={}, plugin_types=PluginRegistry.for_config,
                         cli_sets=[f"agent.state_dir={state}", "admin.endpoint=127.0.0.1:0",
                                   "exporter.endpoint=http://127.0.0.1:9", "agent.shutdown_grace=0s",
                                   "plugins.hostmetrics.interval=100ms"])
    agent = Agent(loaded.config, PluginRegistry.for_config(()), state_dir=Path(state), environ={})
    async with trio.open_nursery() as nursery:
        await nursery.start(agent.run)
        await trio.sleep(1.0)
        agent.request_stop()
    heavy = [m for m in sys.argv[2:] if any(k == m or k.startswith(m + ".") for k in sys.modules)]
    print(",".join(heavy))

trio.run(main, sys.argv[1])
"""


def test_default_agent_does_not_load_heavy_modules(tmp_path: Path) -> None:
    """Running the default pipeline for a second imports none of the heavy optional modules."""
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), *HEAVY],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"loaded by a default agent: {result.stdout.strip()}"
