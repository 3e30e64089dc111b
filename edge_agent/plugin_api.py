"""The stable API plugin authors write against.

A plugin is a class with a ``name`` and an optional config dataclass, of one
of three kinds:

* :class:`Scraper` -- ``async def scrape(ctx)`` is called on an interval and
  returns fragments; it must not block (await anything slow).
* :class:`BlockingScraper` -- ``def scrape(ctx)`` is called on an interval in
  a worker thread; use it for psutil, file reads and other blocking calls.
* :class:`Receiver` -- ``async def run(ctx, task_status=...)`` runs for the
  agent's lifetime and pushes data with :meth:`PluginContext.emit`.

The agent constructs the plugin with its validated config
(``Plugin(config)``), then calls it with a :class:`PluginContext`: the narrow
handle a plugin gets instead of the agent (emit helpers, logger, a small
persistent state store, the clock). A plugin that raises is restarted with
exponential backoff and counted; it never stops the agent.

See ``docs/plugin-authoring.md`` for a walk-through and
``plugins/example`` for a complete, tested example plugin.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from edge_agent.otlp.builders import LogsBuilder, MetricsBuilder, TracesBuilder
from edge_agent.otlp.fragment import Fragment, Priority

if TYPE_CHECKING:
    import logging

    import trio


def setting(
    default: Any = dataclasses.MISSING,
    *,
    default_factory: Any = dataclasses.MISSING,
    help: str = "",
    check: Callable[[Any], object] | None = None,
    secret: bool = False,
    secret_file: bool = False,
) -> Any:
    """Declare a plugin config field with documentation and an optional validator.

    ``help`` is shown by ``edge-agent plugins`` and ``check-config``;
    ``check`` raises ``ValueError`` for a bad value, which the loader reports
    with the full key path and the file and line it came from. ``secret=True``
    marks a value (a token, a password) that must never be shown:
    ``check-config`` and the effective config reported to the fleet print
    ``"<redacted>"``, and config errors do not quote it. Prefer a ``*_file``
    setting over a literal secret, declared with ``secret_file=True``: the
    agent then refuses to start while that file is readable by other users
    (read it with ``edge_agent.security.secrets.read_secret``).
    """
    metadata = {"help": help, "check": check, "secret": secret, "secret_file": secret_file}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class NoConfig:
    """Config class of a plugin that takes no settings of its own."""


ConfigT = TypeVar("ConfigT")


class StateStore(Protocol):
    """A small persistent key-value store, private to one plugin instance.

    Values are anything CBOR encodes (str, int, float, bytes, bool, None,
    lists and dicts of those). :meth:`put` and :meth:`update` replace the file
    atomically (temp file, fsync, rename) off the event loop; use them for
    checkpoints such as file offsets or journal cursors.
    """

    def get(self, key: str, default: Any = None) -> Any: ...

    async def put(self, key: str, value: Any) -> None: ...

    async def update(self, values: dict[str, Any]) -> None: ...


class Clock(Protocol):
    """Time as the agent sees it; tests and the simulator drive it virtually."""

    def monotonic(self) -> float:
        """Seconds on trio's clock (virtual under ``MockClock``)."""
        ...

    def time_ns(self) -> int:
        """Wall-clock Unix time in nanoseconds, for record timestamps."""
        ...


class PluginContext(Protocol):
    """What a running plugin instance may use."""

    @property
    def name(self) -> str:
        """The instance name (the key under ``[plugins]``)."""
        ...

    @property
    def logger(self) -> logging.Logger: ...

    @property
    def state(self) -> StateStore: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def priority(self) -> Priority:
        """The instance's configured buffer priority."""
        ...

    def metrics(self, *, time_ns: int | None = None) -> MetricsBuilder:
        """A builder for metrics stamped ``time_ns`` (default: now)."""
        ...

    def logs(self) -> LogsBuilder: ...

    def traces(self) -> TracesBuilder: ...

    def count(self, event: str, amount: int = 1) -> None:
        """Count a plugin-specific event: malformed input, truncated lines, refused requests.

        Exported with the agent's own metrics as
        ``edge_agent.plugin.events{plugin=<instance>, event=<event>}`` (and on the
        admin endpoint as ``edge_agent_plugin_events_total``), so loss and bad
        input are visible upstream. Use a small fixed set of event names.
        """
        ...

    async def emit(self, fragment: Fragment, *, durable: bool = False) -> None:
        """Hand a fragment to the buffer.

        Waits while the buffer applies backpressure. With ``durable=True``
        returns only once the data is committed to disk (what a receiver
        needs before it acknowledges its client). Raises
        :class:`~edge_agent.errors.BufferFullError` when the buffer refuses
        the data under its ``block`` policy deadline.
        """
        ...


class Plugin(abc.ABC, Generic[ConfigT]):
    """Common base of all plugin kinds.

    Class attributes describe the plugin for discovery and ``edge-agent
    plugins``; ``config_class`` is a frozen dataclass validated by the config
    loader like every other section (unknown keys are errors).
    """

    name: ClassVar[str]
    kind: ClassVar[str]
    version: ClassVar[str] = "0.0.0"
    description: ClassVar[str] = ""
    config_class: ClassVar[type[Any]] = NoConfig
    default_priority: ClassVar[Priority] = Priority.NORMAL

    def __init__(self, config: ConfigT) -> None:
        self.config = config


class Scraper(Plugin[ConfigT]):
    """Called on an interval on the event loop; must not block."""

    kind = "scraper"
    default_interval: ClassVar[float] = 10.0

    async def setup(self, ctx: PluginContext) -> None:
        """Called once before the first scrape (and after each restart)."""

    @abc.abstractmethod
    async def scrape(self, ctx: PluginContext) -> Iterable[Fragment]:
        """Collect once and return the fragments to buffer."""


class BlockingScraper(Plugin[ConfigT]):
    """Called on an interval in a worker thread; may block."""

    kind = "scraper"
    default_interval: ClassVar[float] = 10.0

    def setup(self, ctx: PluginContext) -> None:
        """Called once (in a worker thread) before the first scrape and after each restart."""

    @abc.abstractmethod
    def scrape(self, ctx: PluginContext) -> Iterable[Fragment]:
        """Collect once and return the fragments to buffer."""


class Receiver(Plugin[ConfigT]):
    """A long-running task that pushes data as it arrives."""

    kind = "receiver"

    @abc.abstractmethod
    async def run(self, ctx: PluginContext, *, task_status: trio.TaskStatus[None]) -> None:
        """Run until cancelled; call ``task_status.started()`` once ready to accept data."""
