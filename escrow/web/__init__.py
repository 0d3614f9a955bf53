"""HTML portal: the landing page and the public transparency report (staff login: web/auth.py)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from werkzeug.wrappers.response import Response

from escrow.httpkit import end_session, get_session
from escrow.services.report import METRICS, build_report
from escrow.web.charts import PALETTE, grouped_bar_chart

bp = Blueprint("web", __name__)


@bp.get("/")
def index() -> str:
    """The landing page: what this service is and what works so far."""
    return render_template("index.html")


def render_error_page(
    status: int, title: str, detail: str | None = None, *, retry_after_s: int | None = None
) -> tuple[str, int]:
    """Returns an HTML error page for ``status`` with its title and, when given, a client-safe
    ``detail`` (a domain error's, as in the JSON problem); never an exception's text otherwise.
    ``retry_after_s`` (a 503) tells the reader when to try again."""
    page = render_template(
        "error.html", status=status, title=title, detail=detail, retry_after_s=retry_after_s
    )
    return page, status


def sign_in_again() -> Response:
    """Sends a person whose session lost its pseudonym secret to the sign-in page (issue 13): they are
    signed out, so the next sign-in starts clean and puts a fresh secret in the session."""
    end_session()
    flash("Your session has expired. Please sign in again.", "info")
    return redirect(url_for("users.login"))


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
