"""Write the seed corpus: ``python tools/fuzz/seeds.py`` (re)creates ``tests/fuzz_corpus/*/seed-*``.

Seeds are small valid inputs, so coverage-guided fuzzing starts from inside
each format instead of guessing its first valid byte. Files named
``crash-*`` or ``regression-*`` in those directories are inputs that once
broke a parser; they are kept by hand and never rewritten here.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from edge_agent.otlp import attributes  # noqa: E402
from edge_agent.otlp.builders import LogsBuilder, MetricsBuilder, TracesBuilder  # noqa: E402
from edge_agent.otlp.fragment import Signal  # noqa: E402

CORPUS = ROOT / "tests" / "fuzz_corpus"
SELECT = {Signal.TRACES: b"\x00", Signal.METRICS: b"\x01", Signal.LOGS: b"\x02"}


def _payloads() -> dict[Signal, bytes]:
    resource = attributes.resource({"service.name": "seed", "host.ip": "10.0.0.1"})
    scope = attributes.scope("seed", "1")
    logs = LogsBuilder(resource, scope)
    logs.record(
        "user bob@example.com from 10.1.2.3 password=x", time_ns=1, severity=9, attributes={"a": "b", "c": 1}
    )
    logs.record({"nested": {"password": "p", "list": ["4111 1111 1111 1111", 2]}}, time_ns=2, severity=5)
    metrics = MetricsBuilder(resource, scope, time_ns=3)
    metrics.gauge("system.cpu", [({"cpu": "0", "b": "x"}, 0.5), (None, 1)])
    metrics.sum("requests", [({"route": "/"}, 3)])
    traces = TracesBuilder(resource, scope)
    traces.span("GET /", trace_id=b"t" * 16, span_id=b"s" * 8, start_ns=1, end_ns=2, attributes={"c": "1"})
    return {
        Signal.LOGS: logs.build().payload,
        Signal.METRICS: metrics.build().payload,
        Signal.TRACES: traces.build().payload,
    }


def _json_bodies() -> dict[Signal, bytes]:
    return {
        Signal.LOGS: json.dumps(
            {
                "resourceLogs": [
                    {
                        "scopeLogs": [
                            {"logRecords": [{"body": {"stringValue": "hi a@b.io"}, "severityNumber": 9}]}
                        ]
                    }
                ]
            }
        ).encode(),
        Signal.TRACES: json.dumps(
            {
                "resourceSpans": [
                    {
                        "scopeSpans": [
                            {"spans": [{"traceId": "0" * 31 + "1", "spanId": "0" * 15 + "1", "name": "x"}]}
                        ]
                    }
                ]
            }
        ).encode(),
        Signal.METRICS: json.dumps(
            {
                "resourceMetrics": [
                    {
                        "scopeMetrics": [
                            {"metrics": [{"name": "m", "gauge": {"dataPoints": [{"asDouble": 1}]}}]}
                        ]
                    }
                ]
            }
        ).encode(),
    }


CONFIG = b"""
[agent]
log_level = "info"
[exporter]
endpoint = "https://collector:4318"
[plugins.otlp]
endpoint = "127.0.0.1:4318"
[plugins.syslog]
type = "filelog"
include = ["/var/log/syslog"]
[processors.scrub]
type = "redact"
presets = ["pii"]
keys = ["password"]
[processors.quiet]
type = "filter"
severity_max = "debug4"
[processors.site]
type = "resource"
set = { "site" = "plant-3" }
"""


def _segment(payloads: dict[Signal, bytes]) -> bytes:
    """Frame bytes as the disk buffer writes them: one frame per signal and codec."""
    from edge_agent.buffer import codecs
    from edge_agent.buffer.frames import Envelope, encode_frame
    from edge_agent.otlp.fragment import Priority

    frames = []
    for codec in ("identity", "gzip", "zstd"):
        for signal, payload in payloads.items():
            body = codecs.compress(codec, payload)  # type: ignore[arg-type]
            env = Envelope(signal, Priority.NORMAL, 2, 1, 2, codec, len(payload), body)
            frames.append(encode_frame(env))
    return b"".join(frames)


def seeds() -> dict[str, dict[str, bytes]]:
    payloads, bodies = _payloads(), _json_bodies()
    segment = _segment(payloads)
    by_signal = {s.value: SELECT[s] + p for s, p in payloads.items()}
    return {
        "otlp_protobuf": by_signal,
        "processors": by_signal,
        "otlp_json": {s.value: SELECT[s] + b for s, b in bodies.items()},
        "receiver_decode": {
            "gzip": b"\x01\x00" + gzip.compress(payloads[Signal.METRICS]),
            "identity-json": b"\x00\x01" + bodies[Signal.TRACES],
            "gzip-json": b"\x01\x01" + gzip.compress(bodies[Signal.METRICS]),
        },
        "gzip_bomb": {"a": b"a"},
        "buffer_frames": {"segment": b"\x10" + segment, "torn": b"\x03" + segment[:-7]},
        "compressed_json": {"a": b"abc"},
        "config_loader": {"full": CONFIG, "empty": b""},
        "config_env": {
            "env": b"EXPORTER__ENDPOINT=http://x:1\nAGENT__LOG_LEVEL=debug\nplugins.otlp.endpoint=127.0.0.1:9\n"
        },
        "statsd_lines": {
            "mixed": b"orders:3|c|@0.5|#a:b\nqueue:5|g\nlat:12|ms\nusers:bob|s\nq:+2|g\nh:1|h|#x"
        },
        "prometheus_text": {
            "page": b'# HELP up ok\n# TYPE up gauge\nup{job="a",x="q\\"z"} 1\n# TYPE h histogram\n'
            b'h_bucket{le="1"} 2\nh_bucket{le="+Inf"} 3\nh_sum 4\nh_count 3\n# TYPE s summary\n'
            b's{quantile="0.5"} 1\ns_sum 2\ns_count 2\nc_total 5 1700000000\n# EOF\n'
        },
        "journald_json": {
            "entries": b'{"__CURSOR":"s=1","MESSAGE":"hello","PRIORITY":"6","__REALTIME_TIMESTAMP":"1700000000000000",'
            b'"_SYSTEMD_UNIT":"x.service","_PID":"12"}\n{"__CURSOR":"s=2","MESSAGE":[104,105],"PRIORITY":3}\n'
        },
        "redaction_text": {
            "mixed": b"bob@example.com 10.0.0.1 fe80::1%eth0 4111 1111 1111 1111 Bearer abcdefgh12345678 "
            b"password=x postgres://a:b@h DE89 3704 0044 0532 0130 00 eyJa.eyJb.c AKIAIOSFODNN7EXAMPLE"
        },
        "http_request": {
            "get": b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n",
            "post-chunked": b"POST /v1/logs HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            "pipelined": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhiGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        },
    }


def _opamp_seeds() -> dict[str, dict[str, bytes]]:
    from edge_agent.fleet import messages as m
    from edge_agent.fleet.signing import sign_config
    from tools.fuzz.targets import _fleet_keys

    offer = m.ServerToAgent(instance_uid=bytes(16), capabilities=0x7F, flags=1)
    offer.remote_config.config_hash = b"h" * 32
    offer.remote_config.config.config_map["agent.toml"].body = b'[plugins.base]\ntag = "v2"\n'
    offer.connection_settings.hash = b"o"
    offer.connection_settings.opamp.heartbeat_interval_seconds = 30
    offer.connection_settings.opamp.certificate.cert = b"-----BEGIN CERTIFICATE-----"
    error = m.ServerToAgent(instance_uid=bytes(16))
    error.error_response.type = m.ERROR_UNAVAILABLE  # type: ignore[assignment]
    error.error_response.retry_info.retry_after_nanoseconds = 5
    report = m.AgentToServer(instance_uid=bytes(range(16)), sequence_num=0, capabilities=0xB807)
    report.agent_description.identifying_attributes.extend(m.key_values({"service.name": "edge-agent"}))
    report.health.healthy = True
    report.health.component_health_map["exporter"].status = "upstream reachable"
    report.remote_config_status.last_remote_config_hash = b"h"
    report.connection_settings_request.opamp.certificate_request.csr = b"-----BEGIN CERTIFICATE REQUEST-----"
    config = b'[plugins.base]\ntag = "v2"\n'
    return {
        "opamp_server_to_agent": {
            "offer": offer.SerializeToString(),
            "unavailable": error.SerializeToString(),
        },
        "opamp_agent_to_server": {"report": report.SerializeToString()},
        "fleet_signature": {"signed": config + b"\0" + sign_config(_fleet_keys()[0], config, version=3)},
        "fleet_remote_layer": {
            "allowed": b'profile = "pi-zero-2w"\n[plugins.cpu]\ntype = "hostmetrics"\ninterval = "30s"\n',
            "forbidden": b'[fleet]\nendpoint = "http://x"\n[plugins.x]\ntype = "exec"\n',
        },
    }


def main() -> None:
    for target, files in {**seeds(), **_opamp_seeds()}.items():
        directory = CORPUS / target
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.glob("seed-*"):
            old.unlink()
        for name, data in files.items():
            (directory / f"seed-{name}").write_bytes(data)
    print(f"wrote seeds for {len(seeds()) + len(_opamp_seeds())} targets into {CORPUS}")


if __name__ == "__main__":
    main()
