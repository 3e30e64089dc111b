"""Logging setup for operators: one readable line per event.

Formats:

* ``text`` -- ``2026-11-27T19:08:22Z WARNING exporter: upstream ... unreachable``
* ``journal`` -- ``<4>exporter: upstream ...``: syslog priority prefix and no
  timestamp, because journald adds its own (chosen automatically when
  ``$JOURNAL_STREAM`` is set, i.e. stderr is connected to the journal).
* ``json`` -- one JSON object per line for log shippers.

Tracebacks are only printed at debug level: users see sentences.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from typing import Literal, TextIO

LogFormat = Literal["auto", "text", "journal", "json"]

# syslog priorities (sd-daemon.h)
_JOURNAL_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def _short_name(name: str) -> str:
    return name.removeprefix("edge_agent.")


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))
        line = f"{stamp} {record.levelname} {_short_name(record.name)}: {record.getMessage()}"
        return _with_exc(line, record, self)


class JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = max((lvl for lvl in _JOURNAL_PRIORITY if lvl <= record.levelno), default=logging.DEBUG)
        line = f"<{_JOURNAL_PRIORITY[level]}>{_short_name(record.name)}: {record.getMessage()}"
        return _with_exc(line, record, self)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": record.created,
            "level": record.levelname.lower(),
            "logger": _short_name(record.name),
            "msg": record.getMessage(),
        }
        if record.exc_info and record.levelno <= logging.DEBUG:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def _with_exc(line: str, record: logging.LogRecord, fmt: logging.Formatter) -> str:
    if record.exc_info and record.levelno <= logging.DEBUG:
        return line + "\n" + fmt.formatException(record.exc_info)
    return line


def choose_format(requested: LogFormat, environ: Mapping[str, str]) -> LogFormat:
    if requested != "auto":
        return requested
    return "journal" if environ.get("JOURNAL_STREAM") else "text"


def setup_logging(
    level: str, fmt: LogFormat, environ: Mapping[str, str], stream: TextIO | None = None
) -> None:
    formatter = {"text": TextFormatter, "journal": JournalFormatter, "json": JsonFormatter}[
        choose_format(fmt, environ)
    ]()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger("edge_agent")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
