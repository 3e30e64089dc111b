"""Logging setup for operators: one readable line per event.

Formats:

* ``text`` -- ``2026-11-27T19:08:22Z WARNING exporter: upstream ... unreachable``
* ``journal`` -- ``<4>exporter: upstream ...``: syslog priority prefix and no
  timestamp, because journald adds its own (chosen automatically when stderr
  is the stream ``$JOURNAL_STREAM`` names: systemd sets it to the
  ``device:inode`` of the journal stream; a child whose stderr was redirected
  inherits the variable but not the stream, and gets text).
* ``json`` -- one JSON object per line for log shippers.

Tracebacks are only printed at debug level: users see sentences.
"""

from __future__ import annotations

import io
import json
import logging
import os
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


def choose_format(
    requested: LogFormat, environ: Mapping[str, str], stderr_id: tuple[int, int] | None = None
) -> LogFormat:
    """``auto`` means journal when stderr is the journal stream (``stderr_id`` = its device
    and inode; None when unknown, then the variable's presence decides), else text."""
    if requested != "auto":
        return requested
    journal = environ.get("JOURNAL_STREAM", "")
    if not journal:
        return "text"
    if stderr_id is None:
        return "journal"
    return "journal" if journal == f"{stderr_id[0]}:{stderr_id[1]}" else "text"


def stream_id(stream: TextIO) -> tuple[int, int] | None:
    """(device, inode) of the file behind ``stream``, or None when it has none."""
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        return None
    return info.st_dev, info.st_ino


def setup_logging(
    level: str, fmt: LogFormat, environ: Mapping[str, str], stream: TextIO | None = None
) -> None:
    stream = stream or sys.stderr
    formatter = {"text": TextFormatter, "journal": JournalFormatter, "json": JsonFormatter}[
        choose_format(fmt, environ, stream_id(stream))
    ]()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger("edge_agent")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
