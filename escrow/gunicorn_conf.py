"""gunicorn's configuration for the escrow service, kept in the repository (issue 17): read by
``escrow serve``, and usable as it is with ``gunicorn -c python:escrow.gunicorn_conf 'escrow:create_app()'``.

Workers, timeouts and logging are set here; the address and the worker count may come from the
environment (ESCROW_BIND, ESCROW_WORKERS) or ``escrow serve --bind/--workers``. Both logs are JSON lines
(escrow.logconfig). The access log names the method, the path, the status, the size, the time taken and
the request id the app sent (``X-Request-Id``, also in the app's own lines), never the query string or
the Referer: the identity provider's ``code`` arrives in the query of ``/account/oidc/callback``
(issue 17 finding 7), and RedactingLogger keeps it out even if someone adds ``%(r)s`` or ``%(q)s``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from gunicorn import glogging
from gunicorn.app.base import BaseApplication

from escrow.config import Settings
from escrow.httpkit import REDACTED_QUERY, redact_query

bind = os.environ.get("ESCROW_BIND", "127.0.0.1:8000")
# Sync workers: one request at a time each, so a worker never holds more than one database connection
# (SQLAlchemy's pool default of 5 is ample); gthread was slower on 2 cores (shared/NOTES.md).
workers = int(os.environ.get("ESCROW_WORKERS", "2"))
worker_class = "sync"
# A request that takes longer is stuck (the slowest, a court-order upload, is well under a second):
# the master kills the worker and starts another. Graceful stop waits as long for requests in flight.
timeout = 30
graceful_timeout = 30
# Behind a proxy that keeps connections open (docs/operations.md#production).
keepalive = 5
# The proxy (nginx, a load balancer) adds X-Forwarded-For; only it may, so listen on a private address.
forwarded_allow_ips = os.environ.get("ESCROW_FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn's runtime control socket is one path per user (~/.gunicorn/gunicorn.ctl): two instances on
# one host would fight over it, and nothing here uses it. A service manager restarts workers instead.
control_socket_disable = True
accesslog = "-"
errorlog = "-"
access_log_format = (
    "http.request method=%(m)s path=%(U)s status=%(s)s bytes=%(B)s duration_us=%(D)s"
    " request_id=%({x-request-id}o)s worker=%(p)s"
)
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "escrow.logconfig.EscrowJsonFormatter"}},
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
    },
    # The app's loggers ("escrow", Werkzeug, SQLAlchemy) reach the root, hence the same handler.
    "root": {"level": os.environ.get("ESCROW_LOG_LEVEL", "INFO"), "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
    },
}


class RedactingLogger(glogging.Logger):  # type: ignore[misc]  # gunicorn has no type hints
    """gunicorn's logger whose access-log atoms never carry a query string: the request line, the
    query and the Referer are redacted before any format sees them."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: timedelta) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        atoms["r"] = redact_query(str(atoms["r"]).rsplit(" ", 1)[0]) + " " + str(environ["SERVER_PROTOCOL"])
        atoms["q"] = REDACTED_QUERY if atoms.get("q") else ""
        # The path as the client sent it: a mounted app (the dev IdP) rewrites PATH_INFO on the way in.
        atoms["U"] = str(environ.get("RAW_URI") or atoms["U"]).partition("?")[0]
        atoms["f"] = redact_query(str(atoms["f"]))
        atoms["{referer}i"] = atoms["f"]
        atoms["{raw_uri}e"] = redact_query(str(atoms.get("{raw_uri}e", "")))
        atoms["{query_string}e"] = atoms["q"]
        return atoms


logger_class = RedactingLogger


class EscrowGunicorn(BaseApplication):  # type: ignore[misc]  # gunicorn has no type hints
    """gunicorn serving ``create_app(settings)`` with this module's configuration (``escrow serve``).

    Each worker builds its own app after the fork (its own database pool, caches and witnessing thread).
    """

    def __init__(self, settings: Settings, *, bind: str | None = None, workers: int | None = None) -> None:
        self._settings = settings
        self._overrides = {"bind": bind, "workers": workers}
        super().__init__()

    def load_config(self) -> None:
        for name, value in globals().items():
            if name in self.cfg.settings and value is not None:
                self.cfg.set(name, value)
        for name, value in self._overrides.items():
            if value is not None:
                self.cfg.set(name, value)

    def load(self) -> Any:
        from escrow.app import create_app

        return create_app(self._settings)
