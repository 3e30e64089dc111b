"""Fuzz targets: every parser of untrusted input, with the only exceptions it may raise.

Each target takes raw bytes and either returns normally or raises one of
its documented "bad input" errors; anything else is a bug (a crash for the
fuzzer). Where a parser produces OTLP, the target also checks that the
output is valid OTLP with the record count the envelope claims: an invalid
fragment would make the upstream refuse a whole batch.

Used by ``tools/fuzz/run.py`` (atheris, coverage-guided) and by
``tests/fuzz/test_fuzz.py`` (corpus replay, and a time-boxed atheris run in
CI). The first byte of the input selects a variant (signal, encoding) where
a target has several.
"""

from __future__ import annotations

import functools
import gzip
import json
import zlib
from collections.abc import Callable
from typing import Any

from edge_agent.errors import ConfigError
from edge_agent.otlp.fragment import Fragment, Signal
from edge_agent.otlp.validate import OtlpFormatError, otlp_json_to_protobuf, validate_otlp

Target = Callable[[bytes], None]
SIGNALS = (Signal.TRACES, Signal.METRICS, Signal.LOGS)
_LIMIT = 64 * 1024  # decompression cap used by the decode targets


def _signal(data: bytes) -> tuple[Signal, bytes]:
    return (SIGNALS[data[0] % 3], data[1:]) if data else (Signal.LOGS, b"")


def _assert_valid_otlp(fragment: Fragment) -> None:
    """A produced fragment must parse as its signal with exactly the records its envelope claims."""
    counted = validate_otlp(fragment.signal, fragment.payload)
    assert counted == fragment.records, (counted, fragment.records)


def otlp_protobuf(data: bytes) -> None:
    """Receiver protobuf bodies: validation either counts records or raises OtlpFormatError."""
    signal, body = _signal(data)
    try:
        validate_otlp(signal, body)
    except OtlpFormatError:
        return


def otlp_json(data: bytes) -> None:
    """Receiver JSON bodies: converted to protobuf that validates with the same count, or OtlpFormatError."""
    signal, body = _signal(data)
    try:
        payload, records = otlp_json_to_protobuf(signal, body)
    except OtlpFormatError:
        return
    assert validate_otlp(signal, payload) == records


def receiver_decode(data: bytes) -> None:
    """gzip/zstd/identity bodies through the receiver's capped decoder: output within the cap, or Rejected."""
    from edge_agent_plugins.otlp import decode

    signal, body = _signal(data)
    encoding = ("identity", "gzip", "zstd")[data[0] % 3 if data else 0]
    kind = decode.JSON if len(data) > 1 and data[1] % 2 else decode.PROTOBUF
    try:
        raw = decode.decompress(body, encoding, _LIMIT)
    except decode.Rejected:
        return
    assert len(raw) <= _LIMIT
    try:
        decoded = decode.decode(signal, body, kind, encoding, _LIMIT)
    except decode.Rejected as exc:
        _expect_status(exc.status, (400, 413))
        return
    assert validate_otlp(signal, decoded.payload) == decoded.records


def _expect_status(status: int, allowed: tuple[int, ...]) -> None:
    if status not in allowed:
        raise AssertionError(f"status {status}, expected one of {allowed}")


def gzip_bomb(data: bytes) -> None:
    """A compressed bomb built from the input (repeated) never inflates past the cap."""
    from edge_agent_plugins.otlp import decode

    body = gzip.compress((data or b"\0") * 4096, compresslevel=1)
    try:
        out = decode.decompress(body, "gzip", 1024)
    except decode.Rejected as exc:
        _expect_status(exc.status, (413,))
        return
    assert len(out) <= 1024


@functools.cache
def _plugin_types() -> Any:
    from edge_agent.runtime.discovery import PluginRegistry

    registry = PluginRegistry.for_config(())
    # fuzzed configs may name plugin directories; never scan or import from them
    return lambda _dirs: registry


def config_loader(data: bytes) -> None:
    """Config files: TOML parse and build either give a config or raise ConfigError."""
    from edge_agent.config.load import build_config
    from edge_agent.config.sources import load_toml_text, merge

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    try:
        tree = load_toml_text(text, "fuzz.toml")
        build_config(merge({}, tree), _plugin_types())
    except ConfigError:
        return


def config_env(data: bytes) -> None:
    """Environment and --set layers: text values coerced to field types, or ConfigError."""
    from edge_agent.config.load import build_config
    from edge_agent.config.sources import cli_layer, env_layer

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    lines = [line for line in text.split("\n") if line][:8]
    try:
        env = dict(line.split("=", 1) for line in lines if "=" in line and "\0" not in line)
        tree = env_layer(
            {k if k.startswith("EDGE_AGENT__") else f"EDGE_AGENT__{k}": v for k, v in env.items()}
        )
        tree.update(cli_layer([line for line in lines if "=" in line]))
        build_config(tree, _plugin_types())
    except ConfigError:
        return


def statsd_lines(data: bytes) -> None:
    """StatsD datagrams: lines parse or are counted malformed; the flushed metrics are valid OTLP."""
    from edge_agent.otlp import attributes
    from edge_agent.otlp.builders import MetricsBuilder, Temporality
    from edge_agent_plugins.statsd.aggregate import Aggregator
    from edge_agent_plugins.statsd.parse import StatsdParseError, parse_line

    aggregator = Aggregator((1.0, 10.0, 100.0), Temporality.DELTA, 100, 100)
    for raw in data.split(b"\n"):
        try:
            sample = parse_line(raw.strip().decode("utf-8"))
        except (StatsdParseError, UnicodeDecodeError):
            continue
        aggregator.add(sample)
    builder = MetricsBuilder(attributes.resource({}), attributes.scope("fuzz"), time_ns=1)
    aggregator.flush(builder, start_time_ns=1)
    if not builder.is_empty():
        _assert_valid_otlp(builder.build())


def prometheus_text(data: bytes) -> None:
    """Prometheus exposition pages: parsed families convert to valid OTLP, or ExpositionError."""
    from edge_agent.otlp import attributes
    from edge_agent.otlp.builders import MetricsBuilder
    from edge_agent_plugins.prometheus.convert import add_families
    from edge_agent_plugins.prometheus.textparse import ExpositionError, parse

    try:
        families = parse(data.decode("utf-8", "replace"))
    except ExpositionError:
        return
    builder = MetricsBuilder(attributes.resource({}), attributes.scope("fuzz"), time_ns=1)
    add_families(builder, families, {"job": "fuzz"})
    if not builder.is_empty():
        _assert_valid_otlp(builder.build())


def journald_json(data: bytes) -> None:
    """journalctl JSON lines: entries become valid OTLP log records, or EntryError."""
    from edge_agent.otlp import attributes
    from edge_agent.otlp.builders import LogsBuilder
    from edge_agent_plugins.journald.convert import EntryError, parse_entry

    builder = LogsBuilder(attributes.resource({}), attributes.scope("fuzz"))
    for line in data.split(b"\n")[:16]:
        try:
            entry = parse_entry(line)
        except EntryError:
            continue
        builder.record(
            entry.body,
            time_ns=entry.time_ns,
            observed_time_ns=1,
            severity=entry.severity,
            severity_text=entry.severity_text,
            attributes=entry.attributes,
        )
    if not builder.is_empty():
        _assert_valid_otlp(builder.build())


@functools.cache
def _chain() -> Any:
    from edge_agent.processors.attributes import AttributeEditor, AttributesProcessor, ResourceProcessor
    from edge_agent.processors.chain import ProcessorChain, Selection
    from edge_agent.processors.filter import RecordFilter
    from edge_agent.processors.presets import Rule, expand
    from edge_agent.processors.redact import Redactor, make_hasher

    rules = tuple(Rule.from_preset(p) for p in expand(("all",)))
    everything = frozenset(Signal)
    return ProcessorChain(
        [
            (
                ResourceProcessor("res", AttributeEditor(set={"site": "x"}, delete=("a*",)), everything),
                Selection(),
            ),
            (
                AttributesProcessor("attrs", AttributeEditor(rename={"b": "c"}, add={"n": 1}), everything),
                Selection(),
            ),
            (
                Redactor(
                    "scrub",
                    keys=("*pass*",),
                    rules=rules,
                    template="{rule}:{hash}",
                    hasher=make_hasher(b"k" * 32, "blake2b", 16),
                ),
                Selection(),
            ),
            (RecordFilter("f", attributes={"c": "*1*"}), Selection()),
        ]
    )


def processors(data: bytes) -> None:
    """Any valid OTLP request goes through every processor without failing, and stays valid OTLP."""
    signal, body = _signal(data)
    try:
        records = validate_otlp(signal, body)
    except OtlpFormatError:
        return
    chain = _chain()
    fragment = Fragment(signal, body, records)
    outcome = chain.run(fragment, chain.route("fuzz", signal))
    assert not outcome.failed, (outcome.failed, outcome.error)
    if outcome.fragment is not None:
        _assert_valid_otlp(outcome.fragment)
        assert outcome.fragment.records <= records


def redaction_text(data: bytes) -> None:
    """Every preset together on arbitrary text: no error, and the result differs only if something fired."""
    from edge_agent.processors.api import Tally

    redactor = _chain().entries[2][0]
    tally = Tally()
    result = redactor.redact_text(data.decode("utf-8", "replace"), tally)
    assert (result is None) == (not tally.redacted)


def http_request(data: bytes) -> None:
    """Raw bytes to the HTTP server: it answers or closes, never raises, and always finishes."""
    import trio
    import trio.testing

    from edge_agent.httpserver import HttpServer, Reply, Request, ServerLimits

    async def handler(request: Request) -> Reply:
        return Reply.text(200, f"{request.method} {len(request.body)}")

    async def main() -> None:
        server = HttpServer(handler, ServerLimits(max_header_bytes=1024, max_body_bytes=2048))
        client, server_side = trio.testing.memory_stream_pair()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.serve_stream, server_side)
            await client.send_all(data)
            await client.send_eof()
            with trio.fail_after(30):  # virtual time: the server's own timeouts end it first
                while await client.receive_some(65536):
                    pass

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def buffer_frames(data: bytes) -> None:
    """Segment bytes (torn, flipped, garbage) through the frame scanner in any chunking: frames and
    damage that cover every byte exactly once, envelopes that open or are damage, payloads that
    decompress or are refused; never an exception."""
    from edge_agent.buffer.codecs import CodecError, decompress
    from edge_agent.buffer.frames import EnvelopeError, open_body
    from edge_agent.buffer.scan import Damage, FrameScanner, NeedData, ScannedFrame

    chunk = 1 + (data[0] % 97) if data else 1
    body = data[1:]
    scanner = FrameScanner()
    events: list[ScannedFrame | Damage] = []
    for start in range(0, len(body), chunk):
        scanner.feed(body[start : start + chunk])
        while not isinstance(event := scanner.next_event(), NeedData):
            events.append(event)
    tail = scanner.finish()
    if tail is not None:
        events.append(tail)
    position = 0
    for event in events:
        assert event.offset == position, (event, position)
        position = event.end
        if isinstance(event, ScannedFrame):
            try:
                envelope = open_body(event.header, event.body)
                decompress(envelope.codec, envelope.payload, envelope.raw_size)
            except (EnvelopeError, CodecError):
                continue
    assert position == len(body)


def compressed_json(data: bytes) -> None:
    """zlib-deflated JSON bodies (a common client mistake): rejected cleanly as bad gzip or bad JSON."""
    from edge_agent_plugins.otlp import decode

    body = zlib.compress(json.dumps({"resourceLogs": [{"x": data.hex()}]}).encode())
    try:
        decode.decode(Signal.LOGS, body, decode.JSON, "gzip", _LIMIT)
    except decode.Rejected as exc:
        _expect_status(exc.status, (400,))


def opamp_server_to_agent(data: bytes) -> None:
    """ServerToAgent bytes into the client's protocol core: an Outcome, or ProtocolError; never a crash."""
    from edge_agent.fleet import messages as m
    from edge_agent.fleet.protocol import ClientCore, ProtocolError, Report

    core = ClientCore(bytes(16), m.REPORTS_STATUS | m.ACCEPTS_REMOTE_CONFIG)
    core.next_message(Report(description=m.AgentDescription()))
    try:
        outcome = core.on_response(data)
    except ProtocolError:
        return
    if outcome.remote_config is not None:
        assert outcome.remote_config.config_hash  # offers without a hash are ignored
    if outcome.new_instance_uid is not None:
        assert len(outcome.new_instance_uid) == 16


def opamp_agent_to_server(data: bytes) -> None:
    """AgentToServer bytes into the fleet server's state: always a decodable ServerToAgent answer."""
    from edge_agent.fleet import messages as m
    from tools.fleetstate import FleetState

    state = FleetState()
    for _ in range(2):  # twice: the second sees the agent the first created
        answer = m.ServerToAgent.FromString(state.handle(data, now=1.0))
        assert answer.HasField("error_response") or len(answer.instance_uid) == 16


@functools.cache
def _fleet_keys() -> tuple[bytes, bytes]:
    from edge_agent.fleet.signing import generate_keypair

    return generate_keypair()


def fleet_signature(data: bytes) -> None:
    """agent.toml.sig documents: verified, or SignatureError naming what is wrong."""
    from edge_agent.fleet.signing import SignatureError, verify_config

    config, _, sig = data.partition(b"\0")
    try:
        verify_config(_fleet_keys()[1], config, sig)
    except SignatureError:
        return
    raise AssertionError("a signature nobody made verified")


def fleet_remote_layer(data: bytes) -> None:
    """Pushed agent.toml text through the layering rules: a layer, or ConfigError."""
    from edge_agent.fleet.layering import remote_layer

    try:
        remote_layer(data.decode("utf-8", "replace"), "fleet config v1", denied_plugin_types=("exec",))
    except ConfigError:
        return


TARGETS: dict[str, Target] = {
    "otlp_protobuf": otlp_protobuf,
    "otlp_json": otlp_json,
    "receiver_decode": receiver_decode,
    "gzip_bomb": gzip_bomb,
    "compressed_json": compressed_json,
    "buffer_frames": buffer_frames,
    "config_loader": config_loader,
    "config_env": config_env,
    "statsd_lines": statsd_lines,
    "prometheus_text": prometheus_text,
    "journald_json": journald_json,
    "processors": processors,
    "redaction_text": redaction_text,
    "http_request": http_request,
    "opamp_server_to_agent": opamp_server_to_agent,
    "opamp_agent_to_server": opamp_agent_to_server,
    "fleet_signature": fleet_signature,
    "fleet_remote_layer": fleet_remote_layer,
}
