"""The concrete :class:`~edge_agent.plugin_api.PluginContext` handed to plugins."""

from __future__ import annotations

import logging

from edge_agent.otlp.builders import LogsBuilder, MetricsBuilder, TracesBuilder
from edge_agent.otlp.fragment import Fragment, Priority
from edge_agent.plugin_api import Clock, StateStore
from edge_agent.runtime.pipeline import Pipeline
from edge_agent.runtime.telemetry import Counter


class ContextBase:
    """What every plugin context shares: identity, state, clock and the OTLP builders.

    Subclasses decide where emitted fragments go (:class:`RuntimeContext`:
    the pipeline; ``edge_agent.testing.RecordingContext``: a list).
    """

    def __init__(
        self,
        *,
        name: str,
        priority: Priority,
        state: StateStore,
        clock: Clock,
        resource: bytes,
        scope: bytes,
        start_time_ns: int = 0,
    ) -> None:
        self._name = name
        self._priority = priority
        self._state = state
        self._clock = clock
        self._resource = resource
        self._scope = scope
        self._start_time_ns = start_time_ns
        self._logger = logging.getLogger(f"edge_agent.plugin.{name}")

    @property
    def name(self) -> str:
        return self._name

    @property
    def logger(self) -> logging.Logger:
        return self._logger

    @property
    def state(self) -> StateStore:
        return self._state

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def priority(self) -> Priority:
        return self._priority

    def metrics(self, *, time_ns: int | None = None) -> MetricsBuilder:
        return MetricsBuilder(
            self._resource,
            self._scope,
            time_ns=self._clock.time_ns() if time_ns is None else time_ns,
            start_time_ns=self._start_time_ns,
        )

    def logs(self) -> LogsBuilder:
        return LogsBuilder(self._resource, self._scope)

    def traces(self) -> TracesBuilder:
        return TracesBuilder(self._resource, self._scope)


class RuntimeContext(ContextBase):
    """Binds one plugin instance to the pipeline, its state file and the agent's resource."""

    def __init__(
        self,
        *,
        name: str,
        priority: Priority,
        pipeline: Pipeline,
        state: StateStore,
        clock: Clock,
        resource: bytes,
        scope: bytes,
        start_time_ns: int,
        events: Counter | None = None,
    ) -> None:
        super().__init__(
            name=name,
            priority=priority,
            state=state,
            clock=clock,
            resource=resource,
            scope=scope,
            start_time_ns=start_time_ns,
        )
        self._pipeline = pipeline
        self._events = events

    def count(self, event: str, amount: int = 1) -> None:
        if self._events is not None and amount:
            self._events.inc(amount, plugin=self._name, event=event)

    async def emit(self, fragment: Fragment, *, durable: bool = False) -> None:
        await self._pipeline.submit(fragment, plugin=self._name, priority=self._priority, durable=durable)

    def offer(self, fragment: Fragment) -> bool:
        """Non-waiting emit used by the scheduler for scraper output."""
        return self._pipeline.offer(fragment, plugin=self._name, priority=self._priority)
