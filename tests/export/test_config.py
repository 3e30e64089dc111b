"""[exporter] config: Collector names, validation with precise errors, secrets redacted."""

from __future__ import annotations

import pytest

from edge_agent.config.build import Provenance, build
from edge_agent.config.load import load_config
from edge_agent.config.render import render_config
from edge_agent.config.sources import load_toml_text
from edge_agent.errors import ConfigError
from edge_agent.export.config import SECRET_KEYS, ExporterConfig
from edge_agent.runtime.discovery import PluginRegistry


def _build(text: str) -> ExporterConfig:
    tree = load_toml_text(text, "test.toml")
    return build(ExporterConfig, tree.get("exporter", {}), path="exporter", provenance=Provenance())  # type: ignore[arg-type]


def test_collector_style_keys_are_accepted() -> None:
    """A config written with OTel Collector otlphttp names loads into the expected values."""
    config = _build(
        """
        [exporter]
        endpoint = "https://collector.example:4318"
        compression = "zstd"
        timeout = "15s"
        headers = { "x-tenant" = "plant-3" }
        [exporter.tls]
        ca_file = "/etc/edge-agent/ca.pem"
        cert_file = "/etc/edge-agent/client.pem"
        key_file = "/etc/edge-agent/client.key"
        server_name_override = "collector.internal"
        min_version = "1.3"
        reload_interval = "30s"
        [exporter.retry_on_failure]
        initial_interval = "1s"
        max_interval = "1m"
        multiplier = 2.0
        [exporter.sending_queue]
        num_consumers = 8
        """
    )
    assert config.timeout == 15.0 and config.compression == "zstd"
    assert config.tls.min_version == "1.3" and config.tls.reload_interval == 30.0
    assert config.retry_on_failure.max_interval == 60.0
    assert config.sending_queue.num_consumers == 8


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('endpoint = "http://10.0.0.5:4318"', "unencrypted.*allow_insecure"),
        ('endpoint = "https://user:pw@gw.example"', "must not carry credentials"),
        ('endpoint = "ftp://gw.example"', "http:// or https://"),
        ('endpoint = "https://gw.example:99999"', "invalid port"),
        ('additional_endpoints = ["http://127.0.0.1:4318"]', "repeats an endpoint"),
        ('headers = { "Content-Type" = "x" }', "set by the exporter itself"),
        ('headers = { "a" = "1" }\nheaders_from_file = { "A" = "/k" }', "both headers and headers_from_file"),
        ("adaptive_concurrency = { initial_concurrency = 9 }", "initial_concurrency"),
        ('tls = { ca_file = "/ca.pem" }', "no endpoint uses https"),
        ('tls = { cert_file = "/c.pem" }', "key_file is missing"),
        ('tls = { pinned_spki_sha256 = ["nope"] }', "invalid SPKI pin"),
        ('tls = { min_version = "1.1" }', "must be one of"),
        ("circuit_breaker = { failure_threshold = 0 }", "failure_threshold"),
        ('balancing = "random"', "must be one of"),
        ("adaptive_concurrency = { decrease_ratio = 1.5 }", "decrease_ratio"),
        ("compression_params = { level = 12 }", "level for gzip must be 1-9"),
    ],
)
def test_bad_settings_name_the_key(toml: str, message: str) -> None:
    """Each invalid setting fails with a ConfigError that says what is wrong."""
    with pytest.raises(ConfigError, match=message) as info:
        _build(f"[exporter]\n{toml}\n")
    assert str(info.value).startswith("exporter")


def test_plain_http_to_a_remote_host_needs_allow_insecure() -> None:
    """allow_insecure = true permits http:// to a non-loopback host; loopback never needs it."""
    assert _build('[exporter]\nendpoint = "http://10.0.0.5:4318"\nallow_insecure = true\n').allow_insecure
    for host in ("localhost", "127.0.0.1", "[::1]"):
        _build(f'[exporter]\nendpoint = "http://{host}:4318"\n')


def test_check_config_output_redacts_header_values(tmp_path: object) -> None:
    """check-config shows header names but never their values, and stays valid TOML."""
    import pathlib

    path = pathlib.Path(str(tmp_path)) / "agent.toml"
    path.write_text('[exporter]\nheaders = { "x-api-key" = "hunter2" }\n')
    loaded = load_config(main_path=path, environ={}, plugin_types=PluginRegistry.for_config)
    text = render_config(loaded.config, loaded.provenance, redact=SECRET_KEYS)
    assert "hunter2" not in text
    assert 'x-api-key = "<redacted>"' in text
    load_toml_text(text, "rendered")


def test_check_config_command_redacts(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    """`edge-agent check-config` itself never prints header values."""
    import pathlib

    from edge_agent.cli import main

    path = pathlib.Path(str(tmp_path)) / "agent.toml"
    path.write_text('[exporter]\nheaders = { "authorization" = "Bearer hunter2" }\n')
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out and "authorization" in out


async def test_insecure_remote_endpoint_warns_loudly(caplog: pytest.LogCaptureFixture) -> None:
    """allow_insecure with a non-loopback http:// endpoint logs a warning at start."""
    import logging

    from edge_agent.buffer.memory import MemoryBuffer
    from edge_agent.export.exporter import Exporter
    from edge_agent.export.status import ExportCounters
    from edge_agent.runtime.telemetry import Registry

    counters = ExportCounters.create(Registry())
    config = ExporterConfig(endpoint="http://10.0.0.5:4318", allow_insecure=True)
    exporter = Exporter(config, MemoryBuffer(1 << 20, counters.dropped), counters, environ={})
    with caplog.at_level(logging.WARNING, logger="edge_agent.exporter"):
        await exporter.prepare()  # start-up only: nothing is sent
    assert "UNENCRYPTED" in caplog.text and "10.0.0.5" in caplog.text
