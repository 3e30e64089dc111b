"""``edge-agent plugins`` and ``edge-agent status``: read-only views for operators."""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_type_hints

from edge_agent.config.build import describe
from edge_agent.config.load import LoadedConfig
from edge_agent.config.render import toml_value
from edge_agent.errors import EdgeAgentError, PluginError
from edge_agent.runtime.agent import ADMIN_ADDRESS_FILE, resolve_state_dir
from edge_agent.runtime.discovery import PluginRegistry
from edge_agent.security.secrets import read_secret_line


def plugins_command(plugin_dirs: list[Path]) -> int:
    registry = PluginRegistry.discover(plugin_dirs)
    entries = registry.load_all()
    if not entries:
        print("no plugins found")
        return 0
    failed = 0
    for entry in entries:
        if isinstance(entry, PluginError):
            print(f"! {entry}")
            failed += 1
            continue
        cls = entry.cls
        print(f"{entry.type_name}  ({cls.kind}, version {cls.version})")
        if cls.description:
            print(f"    {cls.description}")
        print(f"    from {entry.source}")
        config_class = cls.config_class
        hints = get_type_hints(config_class)
        for fld in dataclasses.fields(config_class):
            default = _default_text(fld, hints[fld.name])
            help_text = fld.metadata.get("help", "")
            suffix = f"  {help_text}" if help_text else ""
            print(f"    {fld.name} = {default}  ({describe(hints[fld.name])}){suffix}")
    return 1 if failed else 0


def _default_text(fld: dataclasses.Field[Any], hint: Any) -> str:
    if fld.default is not dataclasses.MISSING:
        value = fld.default
    elif fld.default_factory is not dataclasses.MISSING:
        value = fld.default_factory()
    else:
        return "(required)"
    if value is None:
        return "(unset)"
    try:
        return toml_value(value, hint)
    except TypeError:
        return repr(value)


def admin_address(args: argparse.Namespace, loaded: LoadedConfig, environ: Mapping[str, str]) -> str:
    if args.admin:
        return str(args.admin)
    configured = loaded.config.admin.endpoint
    if not configured.endswith(":0"):
        return configured
    state_dir = resolve_state_dir(loaded.config.agent.state_dir, dict(environ))
    try:
        return (state_dir / ADMIN_ADDRESS_FILE).read_text().strip()
    except OSError:
        raise EdgeAgentError(
            f"admin port is 0 and {state_dir / ADMIN_ADDRESS_FILE} is missing; is the agent running?"
        ) from None


def fetch_status(address: str, timeout: float = 5.0, *, token: str = "") -> dict[str, Any]:
    host, _, port = address.rpartition(":")
    conn = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=timeout)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        conn.request("GET", "/status", headers=headers)
        response = conn.getresponse()
        body = response.read()
    except OSError as exc:
        raise EdgeAgentError(
            f"cannot reach the agent's admin endpoint at {address}: {exc}; is it running?"
        ) from None
    finally:
        conn.close()
    if response.status == 401:
        raise EdgeAgentError(
            f"admin endpoint at {address} wants a bearer token: run status with the agent's config "
            "(admin.bearer_token_file) as a user who can read that file"
        )
    if response.status != 200:
        raise EdgeAgentError(f"admin endpoint at {address} answered HTTP {response.status}")
    result: dict[str, Any] = json.loads(body)
    return result


def status_command(args: argparse.Namespace, loaded: LoadedConfig, environ: Mapping[str, str]) -> int:
    token = ""
    token_file = loaded.config.admin.bearer_token_file
    if token_file:
        token = read_secret_line(
            token_file, key="admin.bearer_token_file", what="admin token file", environ=environ
        )
    status = fetch_status(admin_address(args, loaded, environ), token=token)
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
        return 0
    print(format_status(status, now=time.time()))
    return 0


def _ago(ts: float | None, now: float) -> str:
    if not ts:
        return "never"
    seconds = max(0.0, now - ts)
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


def _export_details(export: dict[str, Any]) -> list[str]:
    lines = []
    if export.get("health", "ok") != "ok":
        lines.append(f"  health: {export['health']}")
    lines.extend(f"  warning: {w}" for w in export.get("warnings", []))
    endpoints = export.get("endpoints", [])
    if len(endpoints) > 1:
        for e in endpoints:
            lines.append(
                f"  endpoint {e['url']}: {e['state']}, {e['requests_ok']} ok / {e['requests_failed']} failed"
            )
    concurrency = export.get("concurrency")
    if concurrency:
        limit, most, busy = concurrency["limit"], concurrency["max"], concurrency["in_flight"]
        lines.append(f"  concurrency: {limit} of {most} ({busy} in flight)")
    cert = (export.get("tls") or {}).get("client_cert")
    if cert:
        lines.append(f"  client certificate {cert['subject_cn']!r}: {cert['days_left']:.0f} days left")
    return lines


def _adaptive_lines(adaptive: dict[str, Any] | None) -> list[str]:
    """The degradation mode and any plugin not at its base interval (issue 8)."""
    if not adaptive or not adaptive.get("enabled", True):
        return []
    reasons = "; ".join(f"{k}: {v}" for k, v in adaptive.get("reasons", {}).items())
    lines = [
        f"mode: {adaptive['mode']} for {adaptive['since_s']:.0f}s" + (f" ({reasons})" if reasons else "")
    ]
    for name, p in adaptive.get("plugins", {}).items():
        if p.get("why"):
            state = "shed" if p.get("shed") else f"every {p['interval_s']:g}s"
            lines.append(f"  {name}: {state} (base {p['base_s']:g}s; {p['why']})")
    return lines


def _fleet_lines(fleet: dict[str, Any] | None) -> list[str]:
    if not fleet:
        return []
    version = fleet.get("running_version")
    running = f"pushed config v{version}" if version is not None else "local config only"
    lines = [f"fleet {fleet['endpoint']} (instance {fleet['instance_uid']}): running {running}"]
    remote = fleet.get("remote_config") or {}
    if remote.get("config_hash"):
        error = f": {remote['error']}" if remote.get("error") else ""
        lines.append(f"  last pushed config {remote['config_hash'][:12]} {remote['status']}{error}")
    cert = fleet.get("certificate")
    if cert and cert.get("status") != "UNSET":
        lines.append(
            f"  certificate rotation {cert['status']}{': ' + cert['error'] if cert.get('error') else ''}"
        )
    if fleet.get("last_error"):
        lines.append(f"  fleet server unreachable: {fleet['last_error']}")
    return lines


def format_status(status: dict[str, Any], *, now: float) -> str:
    agent, export, queue = status["agent"], status["export"], status["queue"]
    lines = [
        f"edge-agent {agent['version']} (pid {agent['pid']}), up {agent['uptime_s']:.0f}s, "
        f"pipeline {status['pipeline']['state']}",
        f"queue: {queue['bytes']} bytes ({queue['kind']}), records "
        + ", ".join(f"{k}={v}" for k, v in sorted(queue["records"].items())),
        f"export to {export['endpoint']}: upstream {export['upstream']}, "
        f"{export['requests_ok']} ok / {export['requests_failed']} failed, "
        f"last success {_ago(export['last_success_unix'], now)}",
    ]
    health = status["pipeline"].get("health", "live")
    if health != "live":
        lines.insert(1, f"  {health}")
    lines.extend(_adaptive_lines(status.get("adaptive")))
    reload = status.get("last_reload")
    if reload:
        lines.append(f"last reload {_ago(reload['unix'], now)}: {reload['changes']}")
    exported = ", ".join(f"{k}={v:.0f}" for k, v in sorted(export.get("exported", {}).items()))
    if exported:
        lines.append(f"  exported records: {exported}")
    for drop in export.get("dropped", []):
        lines.append(f"  dropped {drop['records']:.0f} {drop['signal']} ({drop['reason']})")
    if export.get("last_error"):
        lines.append(f"  last error: {export['last_error']} ({_ago(export['last_error_unix'], now)})")
    lines.extend(_export_details(export))
    lines.extend(_fleet_lines(status.get("fleet")))
    lines.append("plugins:")
    for p in status["plugins"]:
        line = (
            f"  {p['name']:<18} {p['kind']:<9} {p['state']:<8} runs {p['runs']}, errors {p['errors']}, "
            f"last run {_ago(p['last_run_unix'], now)}"
        )
        if p.get("last_error"):
            line += f"; last error: {p['last_error']}"
        lines.append(line)
    return "\n".join(lines)
