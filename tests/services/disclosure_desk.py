"""A disclosure desk for service-level tests (issue 12): the disclosure services called directly on the
test's database session, with no app, HTTP or tools in between.

A real 3-of-5 escrow key (tests/credentials_support.threshold_key) is recorded with five enrolled
key-holders who hold its shares (escrow.services.dev_ceremony.record_simulated_ceremony, as `make run` does);
a person registers and gets a credential on `forum`; the legal officers of three organisations
register the keys they sign with (tests/disclosure_support.add_officers); a court is registered.
Nothing is mocked: signatures, partial decryptions and proofs are the real ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.client.disclosure.officers import blinded_body
from escrow.config import Settings
from escrow.crypto.disclosure import (
    ROLE_COSIGN,
    ROLE_EXTEND,
    ROLE_EXTEND_COSIGN,
    ROLE_REVEAL,
    ROLE_SUBMIT,
    ROLE_WITHDRAW,
    OfficerSecrets,
    blinding_scalar,
    extension_body,
    extension_digest,
    sign_decision,
    sign_officer,
    withdrawal_body,
    withdrawal_digest,
)
from escrow.crypto.dkg import ThresholdPublicKey
from escrow.crypto.holderfile import HolderSecrets, ShareRecord
from escrow.crypto.pseudonym import PseudonymSecret
from escrow.crypto.seal import Envelope, PartialDecryption, open_blinded, partial_decrypt
from escrow.crypto.transcript import b64u_decode, b64u_encode, canonical_json
from escrow.identity.base import VerifiedIdentity
from escrow.keystore import load_keyring
from escrow.models import KeyHolder
from escrow.protocol.disclosure import DisclosureBody
from escrow.services import disclosure
from escrow.services.credentials import IssuedCredential, issue_credential
from escrow.services.passwords import make_password_hasher
from escrow.services.registration import register_person
from escrow.services.staff import StaffView
from tests.credentials_support import (
    NOW,
    TEST_HOLDERS,
    add_platform,
    install_key,
    make_log,
    make_oprf,
    threshold_key,
)
from tests.disclosure_support import PDF, add_officers

LOG = make_log()


@dataclass
class Desk:
    """The world of one test, and the steps of a disclosure as each party would sign them."""

    session: Session
    key: ThresholdPublicKey
    holders: list[tuple[int, HolderSecrets]]
    officers: dict[str, OfficerSecrets]
    staff: dict[str, StaffView]
    court_id: int
    credential: IssuedCredential
    person_id: int
    person_secret: PseudonymSecret  # what the person's signed-in session holds (issue 13)
    policy: disclosure.DisclosurePolicy = field(default_factory=disclosure.DisclosurePolicy)
    now: Any = NOW

    def scope(self) -> list[dict[str, str]]:
        c = self.credential
        return [{"platform": c.platform_id, "pseudonym": c.pseudonym, "envelope_digest": c.envelope_digest}]

    def draft(self, username: str = "alice", **overrides: Any) -> disclosure.DisclosureView:
        values: dict[str, Any] = {
            "officer": self.staff[username],
            "court_id": self.court_id,
            "case_number": "2026/CR/0042",
            "order": PDF,
            "court_signature_b64": None,
            "legal_basis": "Criminal procedure code art. 126nd (threats)",
            "scope": self.scope(),
            "expires_at": self.now + timedelta(days=14),
            "notify_delay_days": 0,
            "is_emergency": False,
            "now": self.now,
        }
        values.update(overrides)
        return disclosure.create_draft(self.session, **values)

    def signature(self, username: str, role: str, digest_b64: str) -> str:
        return b64u_encode(sign_officer(self.officers[username].signing_seed, role, b64u_decode(digest_b64)))

    def submit(
        self, view: disclosure.DisclosureView, username: str = "alice", *, blinding: object = None
    ) -> disclosure.DisclosureView:
        """`username` adds their blinding points (the officer tool's code) and signs the result; a given
        `blinding` is sent instead of theirs (signed all the same)."""
        blinded = blinded_body(self.officers[username], DisclosureBody.from_dict(view.body))
        sent = blinded.to_dict()["blinding"] if blinding is None else blinding
        return disclosure.submit_request(
            self.session,
            request_id=view.id,
            signature_b64=self.signature(username, ROLE_SUBMIT, b64u_encode(blinded.digest())),
            blinding=sent,
            policy=self.policy,
            log=LOG,
            now=self.now,
        )

    def reveal_package(self, view: disclosure.DisclosureView, username: str = "alice") -> Any:
        return disclosure.reveal_package(
            self.session,
            request_id=view.id,
            signature_b64=self.signature(username, ROLE_REVEAL, view.digest_b64),
            log=LOG,
            now=self.now,
        )

    def open(self, view: disclosure.DisclosureView, username: str = "alice") -> list[bytes]:
        """Opens every envelope from the reveal package with `username`'s blinding scalars."""
        package = self.reveal_package(view, username)
        key = ThresholdPublicKey.from_dict(package.key)
        body = DisclosureBody.from_dict(package.body)
        opened = []
        for j, data in enumerate(package.envelopes):
            envelope = Envelope.from_dict(data)
            partials = [PartialDecryption.from_dict(holder[j]) for holder in package.partials]
            b = blinding_scalar(self.officers[username].signing_seed, body.nonce, envelope.digest())
            opened.append(open_blinded(key, envelope, b64u_decode(package.digest), partials, b).identity)
        return opened

    def cosign(
        self, view: disclosure.DisclosureView, username: str = "bob", *, signer: str | None = None
    ) -> disclosure.DisclosureView:
        """`username` co-signs, with their own key or with `signer`'s."""
        return disclosure.cosign_request(
            self.session,
            request_id=view.id,
            username=username,
            signature_b64=self.signature(signer or username, ROLE_COSIGN, view.digest_b64),
            policy=self.policy,
            log=LOG,
            now=self.now,
        )

    def submitted(self, **overrides: Any) -> disclosure.DisclosureView:
        return self.submit(self.draft(**overrides))

    def cosigned(self, **overrides: Any) -> disclosure.DisclosureView:
        return self.cosign(self.submitted(**overrides))

    def decide(
        self, view: disclosure.DisclosureView, holder: int, decision: str, *, reason: str = ""
    ) -> disclosure.DisclosureView:
        """Holder number `holder` (0-based) approves with real partial decryptions, or rejects."""
        holder_id, secrets = self.holders[holder]
        digest = b64u_decode(view.digest_b64)
        package = disclosure.holder_package(
            self.session, request_id=view.id, holder_id=holder_id, policy=self.policy
        )
        partials: list[dict[str, Any]] = []
        if decision == "approve":
            share = secrets.shares[0].share
            blinding = DisclosureBody.from_dict(package.body).blinding
            partials = [
                partial_decrypt(share, Envelope.from_dict(e["envelope"]), digest, blind=b).to_dict()
                for e, b in zip(package.envelopes, blinding, strict=True)
            ]
            detail = canonical_json(partials)
        else:
            detail = reason.strip().encode()
        signature = sign_decision(secrets.signing_seed, digest, decision, detail)
        return self.send_decision(view, holder_id, decision, partials, reason, b64u_encode(signature))

    def send_decision(
        self,
        view: disclosure.DisclosureView,
        holder_id: int,
        decision: str,
        partials: object,
        reason: str = "",
        signature_b64: str = "",
    ) -> disclosure.DisclosureView:
        """Sends a decision as given (unsigned by default, for the checks made before the signature)."""
        return disclosure.decide_request(
            self.session,
            request_id=view.id,
            holder_id=holder_id,
            decision=decision,
            partials=partials,
            reason=reason,
            signature_b64=signature_b64,
            policy=self.policy,
            log=LOG,
            now=self.now,
        )

    def extension_signature(
        self, view: disclosure.DisclosureView, username: str, *, days: int, sequence: int = 1
    ) -> tuple[dict[str, Any], str]:
        body = extension_body(
            request_id=view.id,
            request_digest=b64u_decode(view.digest_b64),
            sequence=sequence,
            old_delay_days=view.notify_delay_days,
            new_delay_days=days,
            reason="the investigation is ongoing",
            order_reference="2026/CR/0042-EXT",
            order_sha256=None,
            proposer=username,
        )
        signature = sign_officer(self.officers[username].signing_seed, ROLE_EXTEND, extension_digest(body))
        return body, b64u_encode(signature)

    def extend(
        self, view: disclosure.DisclosureView, username: str = "alice", *, days: int = 30, sequence: int = 1
    ) -> disclosure.DisclosureView:
        _, signature = self.extension_signature(view, username, days=days, sequence=sequence)
        return disclosure.propose_extension(
            self.session,
            request_id=view.id,
            username=username,
            sequence=sequence,
            old_delay_days=view.notify_delay_days,
            new_delay_days=days,
            reason="the investigation is ongoing",
            order_reference="2026/CR/0042-EXT",
            order=None,
            signature_b64=signature,
            log=LOG,
            now=self.now,
        )

    def cosign_extension(
        self, view: disclosure.DisclosureView, username: str, *, sequence: int = 1
    ) -> disclosure.DisclosureView:
        extension = next(e for e in view.extensions if e.sequence == sequence)
        seed = self.officers[username].signing_seed
        signature = sign_officer(seed, ROLE_EXTEND_COSIGN, b64u_decode(extension.digest_b64))
        return disclosure.cosign_extension(
            self.session,
            request_id=view.id,
            sequence=sequence,
            username=username,
            signature_b64=b64u_encode(signature),
            policy=self.policy,
            log=LOG,
            now=self.now,
        )

    def withdraw(
        self, view: disclosure.DisclosureView, username: str = "alice", reason: str = "order set aside"
    ) -> disclosure.DisclosureView:
        body = withdrawal_body(
            request_id=view.id, request_digest=b64u_decode(view.digest_b64), officer=username, reason=reason
        )
        seed = self.officers[username].signing_seed
        return disclosure.withdraw_request(
            self.session,
            request_id=view.id,
            username=username,
            reason=reason,
            signature_b64=b64u_encode(sign_officer(seed, ROLE_WITHDRAW, withdrawal_digest(body))),
            log=LOG,
            now=self.now,
        )

    def set_holder_organisations(self, *organisations: str) -> None:
        """Moves the key-holders (in order) to these organisations, for the quorum rules."""
        for (holder_id, _), organisation in zip(self.holders, organisations, strict=False):
            row = self.session.get(KeyHolder, holder_id)
            assert row is not None
            row.organisation = organisation
        self.session.commit()


def build_desk(session: Session, tmp_path: Path) -> Desk:
    """Builds the world the module docstring describes on `session`, and returns it."""
    settings = Settings.for_tests("sqlite://", tmp_path / "keys")
    key = install_key(session)  # its ceremony enrols TEST_HOLDERS as the key's holders
    _, shares = threshold_key()
    secrets = tuple(
        HolderSecrets(h.name, h.signing_seed, h.exchange_secret, (ShareRecord(key, shares[i]),))
        for i, h in enumerate(TEST_HOLDERS, start=1)
    )
    holder_ids = list(session.scalars(select(KeyHolder.id).order_by(KeyHolder.id)))
    add_platform(session)
    identity = VerifiedIdentity("oidc", "https://idp.example", "jane", "Jane Q. Example", "1990-02-03", "low")
    person = register_person(session, identity=identity, oprf=make_oprf(), log=LOG, now=NOW)
    credential = issue_credential(
        session,
        person_id=person.account.id,
        platform_id="forum",
        secret=person.secret,
        keyring=load_keyring(settings),
        issuer="http://escrow.test",
        log=LOG,
        now=NOW,
    )
    admin, staff, officers = add_officers(session, make_password_hasher(settings), LOG, now=NOW)
    staff["root"] = admin
    court = disclosure.add_court(
        session, name="District Court", jurisdiction="EX", public_key_b64=None, log=LOG, now=NOW
    )
    return Desk(
        session,
        key,
        list(zip(holder_ids, secrets, strict=True)),
        officers,
        staff,
        court.id,
        credential,
        person.account.id,
        person.secret,
    )
