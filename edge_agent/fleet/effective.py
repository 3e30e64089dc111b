"""The effective config as reported to the fleet server: redacted TOML plus a settings hash.

The body is what ``edge-agent check-config`` prints for the running config
(every value with its origin as a comment; fields marked secret, in any
section or plugin, ``"<redacted>"``: :mod:`edge_agent.config.secrets`),
preceded by one header line carrying the SHA-256 of the *settings only*
(origin comments stripped). Two devices running the same settings from
different files report the same hash, which is what an operator compares
across a fleet; the origins stay in the body for debugging one device.
"""

from __future__ import annotations

import hashlib
import re

from edge_agent.config.build import Provenance
from edge_agent.config.render import render_config
from edge_agent.config.schema import AgentConfig
from edge_agent.fleet import messages as m

NAME = "agent.toml"
CONTENT_TYPE = "application/toml"
HEADER = "# edge-agent effective config; settings sha256 "
_HEADER_LINE = re.compile(rb"^# edge-agent effective config; settings sha256 ([0-9a-f]{64})$", re.MULTILINE)


def strip_origins(text: str) -> str:
    """The settings without the ``# origin`` comment every rendered line ends with."""
    lines = []
    for line in text.splitlines():
        cut = line.rfind(" # ")
        lines.append((line[:cut] if cut >= 0 else line).rstrip())
    return "\n".join(lines).strip() + "\n"


def render(config: AgentConfig, provenance: Provenance) -> tuple[bytes, str]:
    """(body, settings hash) of the effective config."""
    text = render_config(config, provenance)  # fields marked secret print as "<redacted>"
    digest = hashlib.sha256(strip_origins(text).encode()).hexdigest()
    return f"{HEADER}{digest}\n{text}".encode(), digest


def message(body: bytes) -> m.EffectiveConfig:
    config = m.EffectiveConfig()
    entry = config.config_map.config_map[NAME]
    entry.body = body
    entry.content_type = CONTENT_TYPE
    return config


def settings_hash(body: bytes) -> str:
    """The hash a reported body declares; a body from another agent type is hashed whole."""
    found = _HEADER_LINE.search(body)
    return found.group(1).decode() if found else hashlib.sha256(body).hexdigest()
