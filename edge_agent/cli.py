"""The ``edge-agent`` command line.

Heavy imports (trio, psutil, the plugins) happen inside the subcommands that
need them, so ``edge-agent version`` and ``--help`` stay fast on a slow board.
Errors reach the user as one sentence on stderr and a non-zero exit code,
never as a traceback.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from edge_agent._version import __version__

if TYPE_CHECKING:
    from edge_agent.config.load import LoadedConfig
    from edge_agent.config.sources import Tree

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-agent",
        description="Telemetry agent for edge devices: collect, buffer, forward OTLP.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--config",
            "-c",
            type=Path,
            help="main config file (default: $EDGE_AGENT_CONFIG, "
            "$CONFIGURATION_DIRECTORY/agent.toml, /etc/edge-agent/agent.toml, else built-in defaults)",
        )
        p.add_argument(
            "--set",
            dest="sets",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a config value, e.g. --set exporter.endpoint=http://10.0.0.5:4318",
        )
        return p

    run = with_config(sub.add_parser("run", help="run the agent in the foreground"))
    run.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], help="overrides agent.log_level"
    )
    run.add_argument("--log-format", choices=["auto", "text", "journal", "json"], default="auto")

    check = with_config(sub.add_parser("check-config", help="validate and print the effective config"))
    check.add_argument("--quiet", "-q", action="store_true", help="only validate; print nothing on success")
    check.add_argument(
        "--suggest-profile",
        action="store_true",
        help="detect the hardware and suggest a device profile (firmware_configs/) instead",
    )

    plugins = sub.add_parser("plugins", help="list discovered plugins")
    plugins.add_argument(
        "--plugin-dir", action="append", default=[], type=Path, help="also scan this directory"
    )

    status = with_config(sub.add_parser("status", help="summarize the running agent's state"))
    status.add_argument(
        "--admin", metavar="HOST:PORT", help="admin endpoint (default: from config/state dir)"
    )
    status.add_argument("--json", action="store_true", help="print the raw /status JSON")

    install = sub.add_parser(
        "install-service", help="install the systemd unit, service user and directories (idempotent)"
    )
    from edge_agent.systemd.args import add_arguments

    add_arguments(install)

    from edge_agent.cli_buffer import add_buffer_parser

    add_buffer_parser(sub, with_config)
    sub.add_parser("version", help="print the version")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "version":
        print(f"edge-agent {__version__}")
        return EXIT_OK
    from edge_agent.errors import EdgeAgentError

    try:
        if args.command == "run":
            import signal

            # SIGHUP's default action kills the process: until the event loop handles it,
            # a reload request is ignored rather than fatal
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            from edge_agent.cli_run import run_command

            return run_command(args, _load(args), os.environ)
        if args.command == "check-config" and args.suggest_profile:
            return _suggest_profile()
        if args.command == "check-config":
            return _check_config(args)
        if args.command == "plugins":
            from edge_agent.cli_info import plugins_command

            return plugins_command(args.plugin_dir)
        if args.command == "status":
            from edge_agent.cli_info import status_command

            return status_command(args, _load(args), os.environ)
        if args.command == "install-service":
            from edge_agent.systemd.install import install_service_command

            return install_service_command(args)
        if args.command == "buffer":
            from edge_agent.cli_buffer import buffer_command

            return buffer_command(args, _load(args), dict(os.environ))
    except EdgeAgentError as exc:
        print(f"edge-agent: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    raise AssertionError(f"unhandled command {args.command}")


def config_path(explicit: Path | None, environ: os._Environ[str] | dict[str, str]) -> Path | None:
    """The main config file to use, or None for built-in defaults only."""
    if explicit is not None:
        return explicit
    if environ.get("EDGE_AGENT_CONFIG"):
        return Path(environ["EDGE_AGENT_CONFIG"])
    candidates = []
    if environ.get("CONFIGURATION_DIRECTORY"):
        candidates.append(Path(environ["CONFIGURATION_DIRECTORY"].split(":")[0]) / "agent.toml")
    candidates.append(Path("/etc/edge-agent/agent.toml"))
    return next((c for c in candidates if c.is_file()), None)


def _load(args: argparse.Namespace, extra_layer: tuple[Tree, str] | None = None) -> LoadedConfig:
    from edge_agent.config.load import load_config
    from edge_agent.runtime.discovery import PluginRegistry

    return load_config(
        main_path=config_path(args.config, os.environ),
        environ=os.environ,
        cli_sets=args.sets,
        plugin_types=PluginRegistry.for_config,
        extra_layer=extra_layer,
    )


def _check_config(args: argparse.Namespace) -> int:
    from edge_agent.config.render import render_config
    from edge_agent.export.config import SECRET_KEYS

    loaded = _load(args)
    if loaded.config.fleet.enabled:  # what runs includes the last-known-good pushed config
        from edge_agent.fleet.boot import with_committed_layer

        loaded = with_committed_layer(loaded, functools.partial(_load, args), os.environ)
    if not args.quiet:
        files = ", ".join(loaded.files) or "none (built-in defaults)"
        print(f"# edge-agent {__version__}: configuration is valid")
        print(f"# files: {files}")
        print(render_config(loaded.config, loaded.provenance, redact=SECRET_KEYS))
    return EXIT_OK


def _suggest_profile() -> int:
    from edge_agent.config.hardware import gather_facts, suggest_profile

    facts = gather_facts()
    suggestion = suggest_profile(facts)
    print(f"# hardware: {facts.describe()}")
    for reason in suggestion.reasons:
        print(f"# {reason}")
    if suggestion.profile is None:
        print("no profile suggested")
    else:
        print(f'profile = "{suggestion.profile}"    # add this line to agent.toml')
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
