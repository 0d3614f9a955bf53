"""Structured logs (issue 17 finding 7): one JSON object a line, through python-json-logger, for the app,
the development server's access log (``escrow run``) and gunicorn's (``escrow serve``,
escrow/gunicorn_conf.py).

Our log calls read ``"credential.redeemed platform_id=%s credential_id=%s"``: the formatter keeps that
message and adds its event name and each ``name=value`` as members, so a log store can filter on
``event`` or ``credential_id`` without parsing text. What a line may say is the callers' rule (no person
id near a credential or pseudonym, no query string: tests/test_structured_logs.py); this module adds
nothing from the request.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any, Final

from pythonjsonlogger.json import JsonFormatter

# The members every line has, renamed from the LogRecord's attribute names.
FORMAT: Final = "%(asctime)s %(levelname)s %(name)s %(message)s"
RENAMED: Final = {"asctime": "time", "levelname": "level", "name": "logger"}
_EVENT = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+")
_FIELD = re.compile(r"([a-z][a-z0-9_]*)=(\S*)")
# Members a message's name=value may not overwrite.
_RESERVED: Final = frozenset({"time", "level", "logger", "message", "event"})


class EscrowJsonFormatter(JsonFormatter):
    """JSON lines with ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, and from a message
    of the form ``event.name key=value ...`` the members ``event`` and each ``key``."""

    converter = time.gmtime  # type: ignore[assignment]  # typeshed: the overload without an argument

    def __init__(self) -> None:
        super().__init__(FORMAT, rename_fields=RENAMED, json_ensure_ascii=True)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        seconds = logging.Formatter.formatTime(self, record, "%Y-%m-%dT%H:%M:%S")
        return f"{seconds}.{int(record.msecs):03d}Z"

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        head, _, rest = record.getMessage().partition(" ")
        if _EVENT.fullmatch(head):
            log_data["event"] = head
            for name, value in _FIELD.findall(rest):
                if name not in _RESERVED:
                    log_data.setdefault(name, value)


def json_handler(stream: Any = None) -> logging.Handler:
    """Returns a handler writing JSON lines to ``stream`` (default: standard error)."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(EscrowJsonFormatter())
    return handler


def configure_logging(level: str) -> None:
    """Sends every log record of this process (ours, Werkzeug's, SQLAlchemy's, ...) to standard error
    as JSON lines at ``level``, replacing the root logger's handlers."""
    root = logging.getLogger()
    root.handlers = [json_handler()]
    root.setLevel(level)
