"""Health check use case: is this instance able to serve requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine

from escrow.db import database_can_write, database_is_reachable

HealthStatus = Literal["ok", "degraded"]


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The outcome of one health check."""

    status: HealthStatus
    is_database_reachable: bool


def check_health(engine: Engine) -> HealthReport:
    """Returns "ok" if the database answers a trivial query, else "degraded". Never raises."""
    is_reachable = database_is_reachable(engine)
    return HealthReport(status="ok" if is_reachable else "degraded", is_database_reachable=is_reachable)


def check_readiness(engine: Engine) -> HealthReport:
    """Returns "ok" if the database takes a write now (rolled back, so nothing changes), else
    "degraded": a read-only or locked database is reachable but cannot serve. Never raises."""
    can_write = database_can_write(engine)
    return HealthReport(status="ok" if can_write else "degraded", is_database_reachable=can_write)
