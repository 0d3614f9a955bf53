"""Disclosure pages (issue 6): legal officers' requests, new request, detail (sign with the tool), the
revealed identity for granted officers, and the public key-holder page with the exact command.

No page ever asks for a share, a passphrase or an officer's private key: signing happens in the tools,
or in the officer's browser with a non-extractable WebCrypto key (static/officer-key.js).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from escrow.errors import NotFoundError, ValidationError
from escrow.httpkit import (
    current_staff,
    current_time,
    get_components,
    get_session,
    order_attachment,
    public_base_url,
)
from escrow.services import disclosure as service
from escrow.services.disclosure import view_json
from escrow.services.staff import StaffView
from escrow.web.auth import role_required
from escrow.web.pagination import requested_page

bp = Blueprint("disclosures", __name__)
OFFICER = "legal_officer"
DEFAULT_EXPIRY = timedelta(days=30)


def _staff() -> StaffView:
    staff = current_staff()
    assert staff is not None  # noqa: S101 - role_required ran first
    return staff.staff


def _policy() -> service.DisclosurePolicy:
    return service.DisclosurePolicy.from_settings(get_components().settings)


@bp.get("/officer/disclosures")
@role_required(OFFICER, "admin")
def requests_page() -> str:
    views = service.page_requests(
        get_session(),
        staff=_staff(),
        policy=_policy(),
        log=get_components().log,
        now=current_time(),
        page=requested_page(),
    )
    return render_template("disclosure/list.html", requests=views)


@bp.get("/officer/disclosures/new")
@role_required(OFFICER)
def new_page() -> str:
    return _new_form({}, None)


def _new_form(values: dict[str, str], error: str | None) -> str:
    """The drafting form, filled with `values` (what the officer typed, kept when it is refused) and
    the refusal `error` (e.g. an unsigned order of a court that signs its orders, naming the court)."""
    return render_template(
        "disclosure/new.html",
        courts=service.list_courts(get_session()),
        default_expiry=(current_time() + DEFAULT_EXPIRY).strftime("%Y-%m-%dT%H:%M"),
        values=values,
        error=error,
    )


@bp.post("/officer/disclosures")
@role_required(OFFICER)
def create() -> ResponseReturnValue:
    """The draft form: one scope line per pseudonym, `platform pseudonym envelope-digest`. A refusal
    shows the form again with what was typed (the file must be chosen again: browsers never refill it)."""
    try:
        view = _draft_from_form()
    except (ValidationError, NotFoundError) as e:
        return _new_form(request.form.to_dict(), e.detail), 422
    return redirect(url_for("disclosures.detail_page", request_id=view.id))


def _draft_from_form() -> service.DisclosureView:
    form = request.form
    scope = []
    for line in form.get("scope", "").splitlines():
        parts = line.split()
        if len(parts) != 3:
            if parts:
                raise ValidationError("each scope line is: platform pseudonym envelope-digest")
            continue
        scope.append({"platform": parts[0], "pseudonym": parts[1], "envelope_digest": parts[2]})
    try:
        expires_at = datetime.fromisoformat(form.get("expires_at", "")).replace(tzinfo=UTC)
        court_id, delay = int(form.get("court_id", "")), int(form.get("notify_delay_days", "30"))
    except ValueError as e:
        raise ValidationError("court, expiry and notification delay must be filled in") from e
    upload = request.files.get("order")
    return service.create_draft(
        get_session(),
        officer=_staff(),
        court_id=court_id,
        case_number=form.get("case_number", ""),
        order=upload.read(service.MAX_ORDER_BYTES + 1) if upload else None,
        court_signature_b64=form.get("court_signature") or None,
        legal_basis=form.get("legal_basis", ""),
        scope=scope,
        expires_at=expires_at,
        notify_delay_days=delay,
        is_emergency=form.get("emergency") == "on",
        now=current_time(),
    )


@bp.get("/officer/disclosures/<int:request_id>")
@role_required(OFFICER, "admin")
def detail_page(request_id: int) -> str:
    """The request, and only the commands the disclosure policy lets this member of staff run on it now."""
    staff = _staff()
    page = service.request_page(
        get_session(),
        request_id=request_id,
        staff=staff,
        policy=_policy(),
        log=get_components().log,
        now=current_time(),
    )
    return render_template(
        "disclosure/detail.html",
        r=page.request,
        actions=page.actions,
        server=public_base_url(),
        me=staff.username,
        my_key=page.registered_key_b64,
    )


@bp.get("/officer/disclosures/<int:request_id>/request.json")
@role_required(OFFICER, "admin")
def request_file(request_id: int) -> Response:
    """The request document the officer tool signs (`escrow officer submit|cosign request.json`)."""
    view = service.get_request(
        get_session(),
        request_id=request_id,
        staff=_staff(),
        policy=_policy(),
        log=get_components().log,
        now=current_time(),
    )
    # Where to open the order the officer signs (the same read rule as the request's).
    document = {**view_json(view), "order_url": f"{public_base_url()}/api/v1/disclosures/{request_id}/order"}
    response = Response(json.dumps(document, indent=2), mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="request-{request_id}.json"'
    return response


@bp.get("/officer/disclosures/<int:request_id>/order.pdf")
@role_required(OFFICER, "admin")
def order_file(request_id: int) -> Response:
    """The stored court order (a download, never shown in our origin); 404 unless readable."""
    content = service.order_document(get_session(), request_id=request_id, staff=_staff(), policy=_policy())
    return order_attachment(content, request_id)


@bp.get("/officer/disclosures/<int:request_id>/identity")
@role_required(OFFICER)
def identity_page(request_id: int) -> ResponseReturnValue:
    """How the submitting officer opens the identities: in their own tool, never on this server."""
    staff = _staff()
    view = service.get_request(
        get_session(),
        request_id=request_id,
        staff=staff,
        policy=_policy(),
        log=get_components().log,
        now=current_time(),
    )
    html = render_template(
        "disclosure/identity.html",
        r=view,
        server=public_base_url(),
        me=staff.username,
        my_key=service.registered_officer_key(get_session(), staff.username),
    )
    return html, 200, {"Cache-Control": "no-store"}


@bp.get("/keyholder/disclosures/<int:request_id>")
def holder_page(request_id: int) -> str:
    """Public: what the transparency log already says about a request, and the command to decide."""
    view = service.logged_request(
        get_session(), request_id=request_id, log=get_components().log, now=current_time()
    )
    return render_template("disclosure/holder.html", r=view, server=public_base_url())


@bp.get("/admin/courts")
@role_required("admin")
def courts_page() -> str:
    return render_template(
        "disclosure/courts.html", courts=service.page_courts(get_session(), page=requested_page())
    )


@bp.post("/admin/courts")
@role_required("admin")
def add_court() -> ResponseReturnValue:
    form = request.form
    service.add_court(
        get_session(),
        name=form.get("name", ""),
        jurisdiction=form.get("jurisdiction", ""),
        public_key_b64=form.get("public_key") or None,
        log=get_components().log,
        now=current_time(),
    )
    return redirect(url_for("disclosures.courts_page"))


@bp.get("/officer/key")
@role_required(OFFICER, "admin")
def key_page() -> str:
    return _key_page(None)


def _key_page(fingerprint: str | None) -> str:
    me = _staff()
    registered = service.registered_officer_key(get_session(), me.username)
    return render_template(
        "disclosure/key.html",
        fingerprint=fingerprint,
        registered=registered,
        is_officer=OFFICER in me.roles,
        me=me.username,
    )


@bp.post("/officer/key/certificate")
@role_required(OFFICER, "admin")
def record_certificate() -> ResponseReturnValue:
    """Records the certificate `escrow org certify` wrote for an officer's key (issue 16)."""
    try:
        record = json.loads(request.form.get("certificate", ""))
    except ValueError as e:
        raise ValidationError("the certificate must be the JSON file escrow org certify wrote") from e
    if not isinstance(record, dict):
        raise ValidationError("the certificate must be the JSON file escrow org certify wrote")
    fingerprint = service.record_officer_certificate(
        get_session(),
        actor=_staff(),
        certificate=record.get("certificate"),
        signature_b64=record.get("signature"),
        log=get_components().log,
        now=current_time(),
    )
    return _key_page(fingerprint), 201


@bp.post("/officer/key")
@role_required(OFFICER, "admin")
def register_key() -> ResponseReturnValue:
    """Registers the public key printed by `escrow officer init` (an admin may name another officer)."""
    staff = _staff()
    fingerprint = service.register_officer_key(
        get_session(),
        actor=staff,
        username=request.form.get("username") or staff.username,
        public_key_b64=request.form.get("public_key", "").strip(),
        log=get_components().log,
        now=current_time(),
    )
    return _key_page(fingerprint), 201
