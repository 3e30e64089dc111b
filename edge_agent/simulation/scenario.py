"""Scenario files: a link trace, host conditions and an ordinary agent config, in one TOML file.

``[simulation]``, ``[link]`` and ``[host]`` describe the simulated world;
every other table is agent configuration, validated exactly like
``agent.toml`` (unknown keys, bad values and wrong types are errors naming
the key and the line). The simulator pins what only makes sense on a real
device: no admin endpoint, a temporary state directory, and an upstream the
simulated link stands in for; and defaults ``buffer.fsync = "never"``
(fsync costs real time per commit and changes no policy; a scenario may set
it). See ``tools/scenarios/`` for examples.
"""

from __future__ import annotations

import calendar
import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_agent.adaptive.sampler import HostReading
from edge_agent.config.build import build
from edge_agent.config.load import build_config
from edge_agent.config.schema import AgentConfig
from edge_agent.config.sources import Leaf, Tree, load_toml_file, load_toml_text, merge
from edge_agent.config.units import Duration
from edge_agent.errors import ConfigError
from edge_agent.simulation.links import LinkConfig
from edge_agent.simulation.workload import simulation_registry

SIM_SECTIONS = ("simulation", "link", "host")
# simulator defaults a scenario may override: fsync costs real time and says nothing about policy
DEFAULTS = {("buffer", "fsync"): "never"}
PINNED = {
    ("admin", "enabled"): False,
    ("exporter", "endpoint"): "http://127.0.0.1:4318",  # never dialled: the simulated link answers
}


def _check_start(value: str) -> None:
    parse_start(value)


def parse_start(text: str) -> int:
    """``2026-01-05T22:00:00Z`` -> Unix nanoseconds."""
    try:
        parsed = time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise ValueError(f"expected a UTC time like 2026-01-05T22:00:00Z, got {text!r}") from None
    return calendar.timegm(parsed) * 10**9


@dataclass(frozen=True)
class SimulationSection:
    """``[simulation]``."""

    name: str = field(default="", metadata={"help": "scenario name (default: the file name)"})
    description: str = field(default="", metadata={"help": "one line on what the scenario shows"})
    duration: Duration = field(default=Duration(3600.0), metadata={"help": "simulated time"})
    drain: Duration = field(
        default=Duration(3600.0),
        metadata={"help": "after duration: collection stops, the link stays up this long to drain"},
    )
    seed: int = field(default=1, metadata={"help": "seeds the link, the workload and the agent"})
    start: str = field(
        default="2026-01-05T12:00:00Z",
        metadata={"help": "wall-clock start (UTC; the device's clock is UTC)", "check": _check_start},
    )


@dataclass(frozen=True)
class HostSection:
    """``[host]``: the device's own load, as the pressure sampler would read it."""

    cpu: float = field(default=0.2, metadata={"help": "device CPU busy fraction"})
    memory: float = field(default=0.4, metadata={"help": "device memory used fraction"})
    busy_from: Duration = field(default=Duration(0.0), metadata={"help": "a busy period starts here"})
    busy_until: Duration = field(default=Duration(0.0), metadata={"help": "...and ends here (0 = none)"})
    busy_cpu: float = field(default=0.98, metadata={"help": "CPU busy fraction during it"})

    def reading(self, t: float) -> HostReading:
        busy = self.busy_from <= t < self.busy_until
        return HostReading(
            host_cpu=self.busy_cpu if busy else self.cpu,
            cpu_seconds=None,  # virtual time: the agent's CPU share is measured outside the simulation
            memory_used=self.memory,
            rss=None,
        )


@dataclass(frozen=True)
class Scenario:
    sim: SimulationSection
    link: LinkConfig
    host: HostSection
    config: AgentConfig
    source: str

    @property
    def name(self) -> str:
        return self.sim.name or Path(self.source).stem

    @property
    def start_ns(self) -> int:
        return parse_start(self.sim.start)

    @property
    def start_hour(self) -> float:
        return (self.start_ns / 1e9 % 86400.0) / 3600.0

    def with_agent(self, **sections: Any) -> Scenario:
        """A copy with some agent config sections replaced (e.g. the predictor switched off)."""
        return dataclasses.replace(self, config=dataclasses.replace(self.config, **sections))


def _layer(values: dict[tuple[str, str], Any]) -> Tree:
    tree: Tree = {}
    for (section, key), value in values.items():
        table = tree.setdefault(section, {})
        assert isinstance(table, dict)
        table[key] = Leaf(value, "simulator")
    return tree


def load_scenario(path: Path) -> Scenario:
    return _scenario(load_toml_file(path), str(path))


def scenario_from_text(text: str, origin: str = "scenario") -> Scenario:
    return _scenario(load_toml_text(text, origin), origin)


def _scenario(tree: Tree, source: str) -> Scenario:
    sections: dict[str, Any] = {}
    for name, cls in (("simulation", SimulationSection), ("link", LinkConfig), ("host", HostSection)):
        node = tree.get(name, {})
        if isinstance(node, Leaf):
            raise ConfigError(f"expected a table [{name}]", key=name, origin=node.origin)
        sections[name] = build(cls, node, path=name)
    agent_tree = {k: v for k, v in tree.items() if k not in SIM_SECTIONS}
    layered = merge(merge(_layer(DEFAULTS), agent_tree), _layer(PINNED))
    config, _ = build_config(layered, lambda _dirs: simulation_registry())
    return Scenario(sections["simulation"], sections["link"], sections["host"], config, source)
