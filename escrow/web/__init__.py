"""HTML portal: the landing page now; login, users, officers and key-holders in later issues."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("web", __name__)


@bp.get("/")
def index() -> str:
    """The landing page: what this service is and what works so far."""
    return render_template("index.html")


def render_error_page(status: int, title: str) -> tuple[str, int]:
    """Returns an HTML error page for ``status``; shows the title only, never exception details."""
    return render_template("error.html", status=status, title=title), status
