"""The configured processors in order, and which of them each plugin's data goes through.

Theory of operation: a :class:`ProcessorChain` holds every enabled processor
with its selection (``signals``, ``plugins`` globs). :meth:`route` answers,
once per (plugin instance, signal) and then from a cache, which processors
apply; an empty route means the fragment passes untouched, without being
parsed. :meth:`run` parses the fragment once into a fresh message, lets each
processor of the route transform it in order, and re-serializes only if one
of them changed something, so a redaction that found nothing forwards the
original bytes. The envelope's record count is recomputed from the message
whenever records were dropped.

A fragment that cannot be parsed, or a processor that fails, never lets the
data through unprocessed (it might carry exactly what a redaction should
have removed): the fragment is dropped and counted as
``records.dropped{reason="processor_error"}``. Sans-IO and thread-safe: the
pipeline runs :meth:`run` in a worker thread for large fragments.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from edge_agent.otlp.fragment import Fragment, Signal
from edge_agent.processors.api import SELF_TELEMETRY, Processor, Tally
from edge_agent.processors.records import count_records, parse


@dataclass(frozen=True)
class Selection:
    """Which data a processor sees: signals, and plugin instance names (globs).

    The agent's own metrics (``self_telemetry``) are selected only by that
    exact name, never by a glob: a ``keep`` filter meant for application
    metrics must not silently remove the counters that make loss visible.
    """

    signals: frozenset[Signal] = frozenset(Signal)
    plugins: tuple[str, ...] = ("*",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_plugins", re.compile("|".join(fnmatch.translate(p) for p in self.plugins)))

    def selects(self, plugin: str, signal: Signal) -> bool:
        if signal not in self.signals:
            return False
        if plugin == SELF_TELEMETRY:
            return SELF_TELEMETRY in self.plugins
        pattern: re.Pattern[str] = self.__dict__["_plugins"]
        return pattern.fullmatch(plugin) is not None


@dataclass
class Outcome:
    """The result of one :meth:`ProcessorChain.run`: the fragment to buffer (None: nothing left)."""

    fragment: Fragment | None
    tally: Tally
    failed: str = ""  # the processor that failed ("parse": the fragment did not parse); it was dropped
    error: str = ""  # the exception type only: its message may quote the data


@dataclass
class ProcessorChain:
    entries: Sequence[tuple[Processor, Selection]]
    # signal -> plugin -> route; nested so a lookup builds no key tuple (the path of unselected data)
    _routes: dict[Signal, dict[str, tuple[Processor, ...]]] = field(default_factory=dict, init=False)

    def __len__(self) -> int:
        return len(self.entries)

    def names(self) -> list[str]:
        return [p.name for p, _ in self.entries]

    def route(self, plugin: str, signal: Signal) -> tuple[Processor, ...]:
        """The processors that apply to ``plugin``'s ``signal`` data, in order (cached)."""
        by_plugin = self._routes.get(signal)
        if by_plugin is None:
            by_plugin = self._routes[signal] = {}
        route = by_plugin.get(plugin)
        if route is None:
            route = tuple(p for p, sel in self.entries if sel.selects(plugin, signal) and p.supports(signal))
            by_plugin[plugin] = route
        return route

    def run(self, fragment: Fragment, route: tuple[Processor, ...]) -> Outcome:
        """Apply ``route`` to ``fragment`` (blocking, CPU-bound; safe in a worker thread)."""
        tally = Tally()
        signal = fragment.signal
        current = ""
        try:
            message = parse(signal, fragment.payload)
            for processor in route:
                current = processor.name
                processor.process(signal, message, tally)
            if not tally.changed:
                return Outcome(fragment, tally)
            records = count_records(signal, message) if tally.dropped else fragment.records
            if not records:
                return Outcome(None, tally)
            payload = message.SerializeToString()
        except Exception as exc:  # fail closed: unprocessed data must not pass (see module docstring)
            return Outcome(None, Tally(), failed=current or "parse", error=type(exc).__name__)
        return Outcome(
            Fragment(signal, payload, records, fragment.first_ns, fragment.last_ns, fragment.priority), tally
        )
