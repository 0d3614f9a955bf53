"""Verification officer pages: register a person whose identity document was checked in person."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from escrow.httpkit import current_time, get_components, get_session
from escrow.identity.officer import DOCUMENT_TYPES, DocumentCheck
from escrow.services.registration import register_in_person
from escrow.web.auth import role_required

bp = Blueprint("officers", __name__, url_prefix="/officer")


@bp.get("/register")
@role_required("verification_officer")
def register_form() -> str:
    return render_template("officer/register.html", document_types=DOCUMENT_TYPES, account=None)


@bp.post("/register")
@role_required("verification_officer")
def register() -> tuple[str, int]:
    """The officer enters what the document says; the person types their own password."""
    extension = get_components()
    form = request.form
    account = register_in_person(
        get_session(),
        check=DocumentCheck(
            document_type=form.get("document_type", ""),
            issuing_country=form.get("issuing_country", ""),
            document_number=form.get("document_number", ""),
            name=form.get("name", ""),
            birthdate=form.get("birthdate", ""),
        ),
        password=form.get("password", ""),
        oprf=extension.oprf,
        hasher=extension.password_hasher,
        log=extension.log,
        now=current_time(),
    )
    return render_template("officer/register.html", document_types=DOCUMENT_TYPES, account=account), 201
