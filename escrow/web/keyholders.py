"""Key-holder and ceremony pages: admin (invite, open, reshare, cancel) and public progress pages."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, Length, NumberRange

from escrow.crypto.ceremony_messages import fingerprint
from escrow.errors import ValidationError
from escrow.httpkit import current_time, get_components, get_session, public_base_url
from escrow.services import ceremony as ceremony_service
from escrow.services import keyholders as keyholder_service
from escrow.web.auth import role_required
from escrow.web.pagination import requested_page

bp = Blueprint("keyholders", __name__)


class InviteForm(FlaskForm):  # type: ignore[misc]
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    organisation = StringField("Organisation", validators=[DataRequired(), Length(max=200)])
    contact = StringField("Contact (e-mail or phone)", validators=[DataRequired(), Length(max=200)])


class CeremonyForm(FlaskForm):  # type: ignore[misc]
    threshold = IntegerField("Threshold t", validators=[DataRequired(), NumberRange(min=1, max=255)])
    holders = StringField("Key-holder ids, in order (e.g. 1,2,3,4,5)", validators=[DataRequired()])
    dealers = StringField("Current key-holders who reshare (reshare only)")


class CancelForm(FlaskForm):  # type: ignore[misc]
    reason = StringField("Reason", validators=[Length(max=500)])


def _ids(text: str | None) -> list[int]:
    try:
        return [int(part) for part in (text or "").replace(" ", "").split(",") if part]
    except ValueError as e:
        raise ValidationError("key-holder ids are numbers separated by commas") from e


@bp.route("/admin/keyholders", methods=["GET", "POST"])
@role_required("admin")
def admin_keyholders() -> ResponseReturnValue:
    """Key-holders and invitations; inviting shows the one-time code once."""
    form = InviteForm()
    invitation = None
    if form.validate_on_submit():
        invitation = keyholder_service.invite_keyholder(
            get_session(),
            name=form.name.data,
            organisation=form.organisation.data,
            contact=form.contact.data,
            log=get_components().log,
            now=current_time(),
        )
    holders = keyholder_service.page_keyholders(get_session(), page=requested_page())
    return render_template("admin_keyholders.html", form=form, holders=holders, invitation=invitation)


@bp.route("/admin/ceremonies", methods=["GET", "POST"])
@role_required("admin")
def admin_ceremonies() -> ResponseReturnValue:
    """Ceremonies and their progress; open a ceremony or a reshare."""
    form = CeremonyForm()
    if form.validate_on_submit():
        dealers = _ids(form.dealers.data)
        if dealers:
            ceremony_id = ceremony_service.open_reshare(
                get_session(),
                threshold=form.threshold.data,
                dealer_ids=dealers,
                holder_ids=_ids(form.holders.data),
                log=get_components().log,
                now=current_time(),
            )
        else:
            ceremony_id = ceremony_service.open_ceremony(
                get_session(),
                threshold=form.threshold.data,
                holder_ids=_ids(form.holders.data),
                log=get_components().log,
                now=current_time(),
            )
        flash(f"Ceremony {ceremony_id} opened. Tell each key-holder to run the command on its page.", "info")
        return redirect(url_for("keyholders.ceremony_page", ceremony_id=ceremony_id))
    ceremonies = ceremony_service.page_ceremonies(get_session(), page=requested_page())
    return render_template(
        "admin_ceremonies.html", form=form, ceremonies=ceremonies, cancel_form=CancelForm()
    )


@bp.post("/admin/ceremonies/<int:ceremony_id>/cancel")
@role_required("admin")
def admin_cancel(ceremony_id: int) -> ResponseReturnValue:
    """Cancels an open ceremony."""
    form = CancelForm()
    if not form.validate_on_submit():
        raise ValidationError("the cancel form is invalid")
    ceremony_service.cancel_ceremony(
        get_session(),
        ceremony_id=ceremony_id,
        reason=form.reason.data or "",
        log=get_components().log,
        now=current_time(),
    )
    flash(f"Ceremony {ceremony_id} cancelled.", "info")
    return redirect(url_for("keyholders.admin_ceremonies"))


@bp.get("/ceremonies/<int:ceremony_id>")
def ceremony_page(ceremony_id: int) -> ResponseReturnValue:
    """A ceremony's progress, holder by holder, with the command each runs next (public)."""
    state = ceremony_service.ceremony_state(get_session(), ceremony_id)
    return render_template("ceremony.html", state=state, server=public_base_url(), fingerprint=fingerprint)


@bp.get("/keyholders/<int:holder_id>")
def keyholder_page(holder_id: int) -> ResponseReturnValue:
    """A key-holder's enrolment and ceremonies, with the command to run next (public data only)."""
    session = get_session()
    holder = keyholder_service.get_keyholder(session, holder_id)
    ceremonies = ceremony_service.holder_ceremonies(session, holder_id)
    return render_template("keyholder.html", holder=holder, ceremonies=ceremonies, server=public_base_url())
