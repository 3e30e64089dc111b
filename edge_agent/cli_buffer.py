"""``edge-agent buffer stats|verify|dump``: look inside the disk buffer without changing it.

* ``stats``: per signal and priority, segments, frames, records (unsent) and bytes.
* ``verify``: check every frame's checksums, envelope and payload; exit 1 on any damage.
* ``dump``: every frame as one JSON line: its envelope plus the OTLP request as
  OTLP/JSON-style JSON (``google.protobuf.json_format``; bytes fields are base64).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from edge_agent.buffer.frames import Envelope
    from edge_agent.buffer.inspect import Inspection
    from edge_agent.config.load import LoadedConfig

# Heavy modules are imported inside the command: registering the parser must
# stay cheap, ``edge-agent version`` builds it too.

ACTIONS = ("stats", "verify", "dump")


def add_buffer_parser(
    sub: Any, with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser]
) -> None:
    """Register ``edge-agent buffer`` on the CLI's subparsers."""
    parser = with_config(sub.add_parser("buffer", help="inspect the disk buffer (stats, verify, dump)"))
    parser.add_argument("action", choices=ACTIONS, help="what to do (read-only)")
    parser.add_argument("--dir", type=Path, help="buffer directory (default: from the config)")
    parser.add_argument("--json", action="store_true", help="stats/verify: print JSON")
    parser.add_argument("--signal", choices=["traces", "metrics", "logs"], help="dump: only this signal")
    parser.add_argument("--limit", type=int, default=0, help="dump: at most this many frames (0 = all)")
    parser.add_argument("--unsent", action="store_true", help="dump: only frames not yet acknowledged")


def buffer_command(args: argparse.Namespace, loaded: LoadedConfig, environ: dict[str, str]) -> int:
    from edge_agent.buffer.crypto import open_sealer
    from edge_agent.buffer.factory import buffer_directory
    from edge_agent.buffer.inspect import inspect_directory
    from edge_agent.errors import EdgeAgentError
    from edge_agent.runtime.agent import resolve_state_dir

    config = loaded.config
    directory = args.dir or buffer_directory(
        config.buffer, resolve_state_dir(config.agent.state_dir, environ)
    )
    if not directory.is_dir():
        raise EdgeAgentError(
            f"no buffer directory at {directory} (set --dir, or buffer.dir / agent.state_dir)"
        )
    sealer = open_sealer(config.buffer.encryption_key_file)
    if args.action == "dump":
        return _dump(directory, sealer, args, sys.stdout)
    result = inspect_directory(directory, sealer=sealer)
    if args.json:
        print(json.dumps(_as_json(result), indent=2, sort_keys=True))
    else:
        print(format_inspection(result, now_ns=time.time_ns(), verify=args.action == "verify"))
    if args.action == "verify":
        return 0 if result.is_clean() else 1
    return 0


def _dump(directory: Path, sealer: Any, args: argparse.Namespace, out: TextIO) -> int:
    from edge_agent.buffer.inspect import inspect_directory

    shown = 0

    def visit(name: str, offset: int, envelope: Envelope, settled: bool) -> None:
        nonlocal shown
        if args.limit and shown >= args.limit:
            return
        if (args.signal and envelope.signal.value != args.signal) or (args.unsent and settled):
            return
        shown += 1
        out.write(json.dumps(frame_json(name, offset, envelope, settled), sort_keys=True) + "\n")

    result = inspect_directory(directory, sealer=sealer, visit=visit)
    for name, damage in result.damage:
        print(
            f"# damaged: {name} at {damage.offset}, {damage.length} bytes ({damage.reason})", file=sys.stderr
        )
    return 0


def frame_json(name: str, offset: int, envelope: Envelope, settled: bool) -> dict[str, Any]:
    """One frame as JSON: where it is, its envelope, and its OTLP request (freshly parsed)."""
    from google.protobuf import json_format

    from edge_agent.buffer import codecs
    from edge_agent.testing import decode_request

    raw = codecs.decompress(envelope.codec, envelope.payload, envelope.raw_size)
    message = decode_request(envelope.signal, raw)  # a fresh message per frame (see DESIGN.md)
    return {
        "segment": name,
        "offset": offset,
        "signal": envelope.signal.value,
        "priority": envelope.priority.name.lower(),
        "records": envelope.records,
        "first_ns": envelope.first_ns,
        "last_ns": envelope.last_ns,
        "codec": envelope.codec,
        "raw_size": envelope.raw_size,
        "sent": settled,
        "request": json_format.MessageToDict(message),
    }


def _as_json(result: Inspection) -> dict[str, Any]:
    return {
        "directory": str(result.directory),
        "in_use": result.in_use,
        "total_bytes": result.total_bytes,
        "streams": [
            {"signal": signal.value, "priority": priority.name.lower(), **vars(stats)}
            for (signal, priority), stats in sorted(
                result.streams.items(), key=lambda kv: (kv[0][1], kv[0][0].value)
            )
        ],
        "damage": [
            {
                "segment": name,
                "offset": d.offset,
                "length": d.length,
                "reason": d.reason,
                "records": d.records,
            }
            for name, d in result.damage
        ],
        "ignored": result.ignored,
        "state_problem": result.state_problem,
    }


def format_inspection(result: Inspection, *, now_ns: int, verify: bool) -> str:
    running = " (agent running: a snapshot)" if result.in_use else ""
    lines = [f"buffer {result.directory}: {result.total_bytes} bytes{running}"]
    lines.append(
        f"  {'signal':<8} {'priority':<9} {'segments':>8} {'frames':>8} {'records':>9} {'unsent':>9} "
        f"{'bytes':>12} {'raw bytes':>12}  oldest"
    )
    for (signal, priority), s in sorted(result.streams.items(), key=lambda kv: (kv[0][1], kv[0][0].value)):
        age = f"{(now_ns - s.oldest_created_ns) / 1e9:.0f}s ago" if s.oldest_created_ns else "-"
        lines.append(
            f"  {signal.value:<8} {priority.name.lower():<9} {s.segments:>8} {s.frames:>8} {s.records:>9} "
            f"{s.unsent_records:>9} {s.bytes:>12} {s.raw_bytes:>12}  {age}"
        )
    if not result.streams:
        lines.append("  (empty)")
    for name in result.ignored:
        lines.append(f"  not ours, ignored: {name}")
    if result.state_problem:
        lines.append(f"  state: {result.state_problem}")
    if verify or result.damage:
        for name, d in result.damage:
            known = f", {d.records} {d.signal.value if d.signal else ''} records" if d.records else ""
            lines.append(f"  damaged: {name} at {d.offset}: {d.length} bytes ({d.reason}{known})")
        if verify:
            lines.append(
                "verify: OK, every frame is intact"
                if result.is_clean()
                else "verify: DAMAGE FOUND (see above)"
            )
    return "\n".join(lines)
