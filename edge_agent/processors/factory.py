"""Turn validated processor configs into a :class:`~edge_agent.processors.chain.ProcessorChain`.

This is where processors touch the outside world, once, at start: the hash
key file of ``redact`` (permission-checked like every secret), the
environment and files of ``resource``. Blocking: call it from a worker
thread. Errors are :class:`~edge_agent.errors.ConfigError` naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from edge_agent.errors import ConfigError
from edge_agent.otlp.fragment import Signal
from edge_agent.processors.api import Processor
from edge_agent.processors.attributes import AttributeEditor, AttributesProcessor, ResourceProcessor, Scalar
from edge_agent.processors.chain import ProcessorChain, Selection
from edge_agent.processors.checks import parse_severity
from edge_agent.processors.config import (
    AttributesConfig,
    FilterConfig,
    ProcessorInstanceConfig,
    RedactConfig,
    ResourceConfig,
)
from edge_agent.processors.filter import RecordFilter
from edge_agent.processors.redact import Redactor, make_hasher
from edge_agent.security.secrets import read_secret

MIN_HASH_KEY_BYTES = 16
_MAX_VALUE_FILE_BYTES = 4096


def build_chain(
    configs: tuple[ProcessorInstanceConfig, ...],
    *,
    environ: Mapping[str, str],
    agent_attributes: Mapping[str, str],
) -> ProcessorChain | None:
    """The chain of enabled processors, or None when there are none (the bytes-only path)."""
    entries: list[tuple[Processor, Selection]] = []
    for inst in configs:
        if not inst.enabled:
            continue
        signals = frozenset(inst.signals)
        processor = _build(inst, signals, environ, agent_attributes)
        entries.append((processor, Selection(signals, inst.plugins)))
    return ProcessorChain(entries) if entries else None


def _build(
    inst: ProcessorInstanceConfig,
    signals: frozenset[Signal],
    environ: Mapping[str, str],
    agent_attributes: Mapping[str, str],
) -> Processor:
    settings = inst.settings
    path = f"processors.{inst.name}"
    if isinstance(settings, RedactConfig):
        return _redactor(inst.name, settings, signals, environ, path)
    if isinstance(settings, FilterConfig):
        return RecordFilter(
            inst.name,
            action=settings.action,
            metric_names=settings.metric_names,
            span_names=settings.span_names,
            severity_min=parse_severity(settings.severity_min),
            severity_max=parse_severity(settings.severity_max),
            match_undefined_severity=settings.match_undefined_severity,
            bodies=settings.bodies,
            attributes=settings.attributes,
            resource_attributes=settings.resource_attributes,
            signals=signals,
        )
    if isinstance(settings, ResourceConfig):
        editor = _resource_editor(settings, environ, agent_attributes, path)
        return ResourceProcessor(inst.name, editor, signals)
    if isinstance(settings, AttributesConfig):
        editor = AttributeEditor(
            delete=settings.delete, rename=settings.rename, set=settings.set, add=settings.add
        )
        return AttributesProcessor(inst.name, editor, signals)
    raise ConfigError(f"no processor implements type {inst.type!r}", key=f"{path}.type")


def _redactor(
    name: str, settings: RedactConfig, signals: frozenset[Signal], environ: Mapping[str, str], path: str
) -> Redactor:
    hasher = None
    if settings.action == "hash":
        key_name = f"{path}.hash_key_file"
        key = read_secret(settings.hash_key_file, key=key_name, what="hash key file", environ=environ).strip()
        if len(key) < MIN_HASH_KEY_BYTES:
            raise ConfigError(
                f"the hash key in {settings.hash_key_file} is shorter than {MIN_HASH_KEY_BYTES} bytes; "
                "generate one with: head -c 32 /dev/urandom | base64 > FILE; chmod 600 FILE",
                key=key_name,
            )
        hasher = make_hasher(key, settings.hash_algorithm, settings.hash_length)
    return Redactor(
        name,
        keys=settings.keys,
        rules=settings.rules(),
        allow_keys=settings.allow_keys,
        template=settings.template(),
        hasher=hasher,
        signals=signals,
    )


def _resource_editor(
    settings: ResourceConfig, environ: Mapping[str, str], agent_attributes: Mapping[str, str], path: str
) -> AttributeEditor:
    set_values: dict[str, Scalar] = dict(settings.set)
    for attribute, variable in settings.from_env.items():
        value = environ.get(variable)
        if value is None:
            raise ConfigError(
                f"environment variable {variable} is not set (it should hold the value of {attribute!r})",
                key=f"{path}.from_env.{attribute}",
            )
        set_values[attribute] = value
    for attribute, file_name in settings.from_file.items():
        set_values[attribute] = read_value_file(Path(file_name), key=f"{path}.from_file.{attribute}")
    add_values: dict[str, Scalar] = dict(settings.add)
    if settings.agent_attributes:
        for attribute, value in agent_attributes.items():
            add_values.setdefault(attribute, value)
    return AttributeEditor(delete=settings.delete, rename=settings.rename, set=set_values, add=add_values)


def read_value_file(path: Path, *, key: str) -> str:
    """The first line of a small text file (``/sys/firmware/devicetree/base/model`` ends in NUL)."""
    try:
        with path.open("rb") as f:
            data = f.read(_MAX_VALUE_FILE_BYTES)
    except FileNotFoundError:
        raise ConfigError(f"file not found: {path}", key=key) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}", key=key) from None
    text = data.replace(b"\x00", b"").decode("utf-8", errors="replace")
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not line:
        raise ConfigError(f"{path} is empty", key=key)
    return line
