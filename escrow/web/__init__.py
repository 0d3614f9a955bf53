"""HTML portal: the landing page and the public transparency report (staff login: web/auth.py)."""

from __future__ import annotations

from flask import Blueprint, render_template

from escrow.httpkit import get_session
from escrow.services.report import METRICS, build_report
from escrow.web.charts import PALETTE, grouped_bar_chart

bp = Blueprint("web", __name__)


@bp.get("/")
def index() -> str:
    """The landing page: what this service is and what works so far."""
    return render_template("index.html")


def render_error_page(status: int, title: str, detail: str | None = None) -> tuple[str, int]:
    """Returns an HTML error page for ``status`` with its title and, when given, a client-safe
    ``detail`` (a domain error's, as in the JSON problem); never an exception's text otherwise."""
    return render_template("error.html", status=status, title=title, detail=detail), status


@bp.get("/transparency")
def transparency_report() -> str:
    """The public transparency report: per-quarter numbers, drawn and tabulated."""
    report = build_report(get_session())
    labels = {metric: metric.replace("_", " ") for metric in METRICS}
    chart = grouped_bar_chart(
        report.quarters,
        {labels[m]: report.counts[m] for m in METRICS},
        title="Escrow activity per quarter",
    )
    legend = [(labels[m], PALETTE[i % len(PALETTE)]) for i, m in enumerate(METRICS)]
    return render_template("transparency.html", report=report, chart=chart, legend=legend, labels=labels)
