"""``edge-agent run``: the foreground agent process and its signal handling.

First SIGINT/SIGTERM: orderly stop (sources stop, buffer and exporter get
``agent.shutdown_grace`` to drain). A second one exits at once.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import AsyncIterator, Mapping

import trio

from edge_agent.config.load import LoadedConfig
from edge_agent.errors import EdgeAgentError
from edge_agent.runtime.agent import Agent, resolve_state_dir
from edge_agent.runtime.discovery import PluginRegistry
from edge_agent.runtime.logs import setup_logging

log = logging.getLogger("edge_agent.main")


def run_command(args: argparse.Namespace, loaded: LoadedConfig, environ: Mapping[str, str]) -> int:
    config = loaded.config
    setup_logging(args.log_level or config.agent.log_level, args.log_format, environ)
    registry = PluginRegistry.for_config(config.agent.plugin_dirs)
    for import_error in registry.import_errors:
        log.warning("%s", import_error)
    state_dir = resolve_state_dir(config.agent.state_dir, dict(environ))
    agent = Agent(config, registry, state_dir=state_dir, config_files=loaded.files)
    try:
        trio.run(_serve, agent)
    except BaseException as exc:
        error = _find_agent_error(exc)
        if error is None:
            raise
        log.error("%s", error)
        return 1
    return 0


async def _serve(agent: Agent) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_watch_signals, signals, agent, nursery.cancel_scope)
            await agent.run()
            nursery.cancel_scope.cancel()
    log.info("stopped")


async def _watch_signals(signals: AsyncIterator[int], agent: Agent, scope: trio.CancelScope) -> None:
    first = True
    async for signum in signals:
        name = signal.Signals(signum).name
        if first:
            log.info("received %s: stopping (send it again to exit at once)", name)
            agent.request_stop()
            first = False
        else:
            log.warning("received %s again: exiting now", name)
            scope.cancel()


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
