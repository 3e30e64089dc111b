"""``edge-agent run``: the foreground agent process and its signal handling.

* First SIGINT/SIGTERM: orderly stop. ``STOPPING=1`` goes to systemd, the
  sources stop, the buffer and exporter get ``agent.shutdown_grace`` to
  drain, a batch still in flight goes back to the buffer.
* A second SIGINT/SIGTERM exits at once (committed data stays committed).
* SIGHUP reloads the config files live (:meth:`Agent.reconfigure`): a config
  that does not load or validate changes nothing and is logged as one line;
  one that fails while being applied is rolled back.

The last log line is the record accounting: collected = exported + dropped
+ still queued.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import trio

from edge_agent.config.load import LoadedConfig, PluginTypesFactory, load_config
from edge_agent.errors import EdgeAgentError, ReconfigureError
from edge_agent.runtime.agent import Agent, resolve_state_dir
from edge_agent.runtime.discovery import PluginRegistry
from edge_agent.runtime.logs import setup_logging
from edge_agent.runtime.service import ServiceLink

if TYPE_CHECKING:
    from edge_agent.fleet.service import FleetService

log = logging.getLogger("edge_agent.main")

Loader = Callable[[], LoadedConfig]


def run_command(args: argparse.Namespace, loaded: LoadedConfig, environ: Mapping[str, str]) -> int:
    setup_logging(args.log_level or loaded.config.agent.log_level, args.log_format, environ)
    state_dir = resolve_state_dir(loaded.config.agent.state_dir, dict(environ))
    fleet: FleetService | None = None
    if loaded.config.fleet.enabled:  # start from the last-known-good pushed config (docs/fleet.md)
        from edge_agent.fleet.startup import start_fleet

        loaded, fleet = start_fleet(loaded, functools.partial(_load_layers, args), state_dir, environ)
    config = loaded.config
    registry = PluginRegistry.for_config(config.agent.plugin_dirs)
    for import_error in registry.import_errors:
        log.warning("%s", import_error)
    agent = Agent(config, registry, state_dir=state_dir, config_files=loaded.files)
    link = ServiceLink.from_environ(
        environ,
        health=agent.health,
        summary=agent.summary,
        status_interval=lambda: agent.config.service.status_interval,
    )
    load = functools.partial(_load_again, args, agent, fleet)
    try:
        trio.run(_serve, agent, link, load, fleet)
    except BaseException as exc:
        error = _find_agent_error(exc)
        if error is None:
            raise
        log.error("%s", error)
        link.failed(str(error))
        return 1
    finally:
        link.close()
        if agent.has_started():
            _log_accounting(agent)
    return 0


def _load_again(args: argparse.Namespace, agent: Agent, fleet: FleetService | None) -> LoadedConfig:
    """Load the config the way ``run`` did (same file, flags, environment, fleet layer); blocking."""
    return _load_layers(args, fleet.layer() if fleet is not None else None, agent.plugin_types)


def _load_layers(
    args: argparse.Namespace, extra_layer: Any, plugin_types: PluginTypesFactory
) -> LoadedConfig:
    from edge_agent.cli import config_path

    sets = list(args.sets)
    if args.log_level:  # the command-line level keeps winning over the file's on reload
        sets.append(f"agent.log_level={args.log_level}")
    return load_config(
        main_path=config_path(args.config, os.environ),
        environ=os.environ,
        cli_sets=sets,
        plugin_types=plugin_types,
        extra_layer=extra_layer,
    )


async def _serve(agent: Agent, link: ServiceLink, load: Loader, fleet: FleetService | None = None) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        ready = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(link.run)
            nursery.start_soon(
                _watch_signals, signals, agent, link, functools.partial(_reload, ready, load, fleet), nursery
            )
            await nursery.start(_run_agent, agent, nursery.cancel_scope)
            link.ready()
            ready.set()
            if fleet is not None:
                await nursery.start(fleet.run, agent)
    log.info("stopped")


async def _run_agent(
    agent: Agent, done: trio.CancelScope, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    await agent.run(task_status=task_status)
    done.cancel()  # the agent finished draining: stop the signal watcher and the service link


async def _watch_signals(
    signals: AsyncIterator[int],
    agent: Agent,
    link: ServiceLink,
    reloader: Callable[[Agent, ServiceLink], Awaitable[None]],
    nursery: trio.Nursery,
) -> None:
    stopping = False
    async for signum in signals:
        name = signal.Signals(signum).name
        if signum == signal.SIGHUP:
            if stopping:
                log.info("received SIGHUP while stopping: ignored")
            else:
                nursery.start_soon(reloader, agent, link)
        elif not stopping:
            stopping = True
            queued = sum(agent.buffer.queued_records().values())
            grace = agent.config.agent.shutdown_grace
            log.info("received %s: stopping (send it again to exit at once)", name)
            link.stopping(f"stopping: draining {queued} queued records (up to {grace:g}s)")
            agent.request_stop()
        else:
            log.warning("received %s again: exiting now", name)
            nursery.cancel_scope.cancel()


async def _reload(
    ready: trio.Event, load: Loader, fleet: FleetService | None, agent: Agent, link: ServiceLink
) -> None:
    # a SIGHUP during start-up is served once the agent is ready: READY=1 must not come early
    await ready.wait()
    link.reloading()
    log.info("received SIGHUP: reloading configuration")
    try:
        loaded = await trio.to_thread.run_sync(load)
        plan = await agent.reconfigure(loaded)
    except ReconfigureError as exc:
        log.error("reload failed: %s", exc)
        link.reloaded(str(exc))
        return
    except EdgeAgentError as exc:
        log.error("reload refused, still running the previous config: %s", exc)
        link.reloaded(str(exc))
        return
    log.info("reloaded configuration: %s", plan.describe())
    if fleet is not None and fleet.manager is not None:
        fleet.manager.note_reload(loaded)
    link.reloaded()


def _log_accounting(agent: Agent) -> None:
    totals = agent.accounting()
    fate = "kept on disk for the next start" if agent.buffer_is_durable() else "lost: memory buffer"
    log.info(
        "record accounting: collected=%d exported=%d dropped=%d queued=%d (queued records are %s)",
        totals["collected"],
        totals["exported"],
        totals["dropped"],
        totals["queued"],
        fate,
    )


def _find_agent_error(exc: BaseException) -> EdgeAgentError | None:
    if isinstance(exc, EdgeAgentError):
        return exc
    for inner in getattr(exc, "exceptions", ()):
        found = _find_agent_error(inner)
        if found is not None:
            return found
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: edge-agent run")
