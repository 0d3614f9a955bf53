"""Domain errors every layer may raise; api/problems.py maps them to HTTP in one table.

Each error has a stable, machine-readable ``code`` (sent to clients as the problem ``code``
member) and a short human ``title``. The message passed to the constructor becomes the problem
``detail`` shown to the client, so it must never contain an identity, a secret or a token.
"""

from __future__ import annotations


class EscrowError(Exception):
    """Base of every error the escrow service raises on purpose."""

    code: str = "escrow-error"
    title: str = "Escrow error"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail if detail is not None else self.title)

    @property
    def detail(self) -> str:
        """Returns the client-safe explanation given at construction (or the title)."""
        return str(self.args[0])


class NotFoundError(EscrowError):
    """The named record does not exist (or the caller may not know that it does)."""

    code = "not-found"
    title = "Not found"


class PermissionDeniedError(EscrowError):
    """The caller is known but may not do this."""

    code = "permission-denied"
    title = "Permission denied"


class InvalidStateError(EscrowError):
    """The record is in a state that forbids this step (e.g. approving a rejected request)."""

    code = "invalid-state"
    title = "Invalid state"


class InvalidTokenError(EscrowError):
    """A token or credential failed verification; subclasses name the precise reason."""

    code = "invalid-token"
    title = "Invalid token"


class ValidationError(EscrowError):
    """The input is well-formed but breaks a rule (wrong length, out of range, missing field)."""

    code = "validation-failed"
    title = "Validation failed"


class InvalidPageError(ValidationError):
    """A list page was asked for with a page number that is not a whole number from 1 (issue 8)."""

    code = "invalid-page"
    title = "Invalid page number"


class PageNotFoundError(NotFoundError):
    """A list page past the last one was asked for (issue 8)."""

    code = "page-not-found"
    title = "No such page"


class ConflictError(EscrowError):
    """The request conflicts with existing data (duplicate, concurrent change)."""

    code = "conflict"
    title = "Conflict"


class ConfigError(EscrowError):
    """Configuration or key material is missing or malformed: startup must stop."""

    code = "config-error"
    title = "Configuration error"


class KeyFileError(ConfigError):
    """A key file under the keys directory is unsafe (mode, length, type) or cannot be written."""

    code = "key-file-error"
    title = "Key file error"


# Credential verification failures (issue 3): one family under InvalidTokenError, so a platform
# catches the base or the one case it handles. Codes are stable API (docs/platforms.md).


class InvalidCredentialError(InvalidTokenError):
    """A credential a platform sent (in the request's content) does not verify or is not on record.

    Its own class so the API answers 422 for it, not 401: the platform's API key authenticated the
    request; only the credential it carries is bad (issue 19).
    """

    code = "credential-invalid"
    title = "Invalid credential"


class MalformedTokenError(InvalidCredentialError):
    """The credential is not a well-formed EdDSA compact JWS with the expected claims."""

    code = "credential-malformed"
    title = "Malformed credential"


class UnsupportedAlgorithmError(InvalidCredentialError):
    """The credential names another algorithm than EdDSA (``none``, ``HS256``, ...)."""

    code = "credential-algorithm"
    title = "Unsupported credential algorithm"


class UnknownSigningKeyError(InvalidCredentialError):
    """The credential's ``kid`` names no published signing key."""

    code = "credential-unknown-key"
    title = "Unknown signing key"


class BadSignatureError(InvalidCredentialError):
    """The credential's signature does not verify (tampered header, payload or signature)."""

    code = "credential-bad-signature"
    title = "Bad credential signature"


class WrongIssuerError(InvalidCredentialError):
    """The credential was issued by another issuer."""

    code = "credential-wrong-issuer"
    title = "Wrong credential issuer"


class WrongAudienceError(InvalidCredentialError):
    """The credential was issued for another platform."""

    code = "credential-wrong-audience"
    title = "Wrong credential audience"


class TokenExpiredError(InvalidCredentialError):
    """The credential's ``exp`` has passed."""

    code = "credential-expired"
    title = "Credential expired"


class TokenNotYetValidError(InvalidCredentialError):
    """The credential's ``nbf`` (or ``iat``) lies in the future."""

    code = "credential-not-yet-valid"
    title = "Credential not yet valid"


class TokenRevokedError(InvalidCredentialError):
    """The credential was revoked by its holder, its platform or an administrator."""

    code = "credential-revoked"
    title = "Credential revoked"


class TokenAlreadyRedeemedError(ConflictError):
    """The credential was already redeemed once; a second redemption is a replay."""

    code = "credential-already-redeemed"
    title = "Credential already redeemed"


class IdentityProofError(ValidationError):
    """Identity proofing failed (bad ID token, nonce, state, or document data). Names no identity."""

    code = "identity-proof-failed"
    title = "Identity proofing failed"


class AuthenticationError(EscrowError):
    """The caller could not be authenticated (wrong password, unknown account, missing login).

    ``challenge`` is the WWW-Authenticate value a 401 sends with it (RFC 9110 section 15.5.2), for
    the endpoints whose callers authenticate with an HTTP scheme (Bearer: RFC 6750 section 3).
    """

    code = "authentication-failed"
    title = "Authentication failed"

    def __init__(self, detail: str | None = None, *, challenge: str | None = None) -> None:
        super().__init__(detail)
        self.challenge = challenge


class SignInAgainError(AuthenticationError):
    """The signed-in person's session holds no usable pseudonym secret (an older session, a tampered
    cookie, or one moved from another account): they must sign in again (issue 13)."""

    code = "sign-in-again"
    title = "Sign in again"


class ServiceUnavailableError(EscrowError):
    """A service this step depends on cannot answer now; the caller may try again later (HTTP 503).

    ``retry_after_s`` (seconds), when known, is sent as the Retry-After header.
    """

    code = "service-unavailable"
    title = "Service unavailable"

    def __init__(self, detail: str | None = None, *, retry_after_s: int | None = None) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s if isinstance(retry_after_s, int) and retry_after_s >= 0 else None


class IdempotencyKeyInFlightError(ConflictError):
    """A request with this Idempotency-Key is still being processed (issue 17 finding 6): 409."""

    code = "idempotency-key-in-flight"
    title = "Request in progress"


class IdempotencyKeyReusedError(ValidationError):
    """This Idempotency-Key was used with another request body (issue 17 finding 6): 422."""

    code = "idempotency-key-reused"
    title = "Idempotency-Key reused"


class MalformedIdempotencyKeyError(ValidationError):
    """The Idempotency-Key header is not a string of 16-255 printable ASCII characters: 400."""

    code = "idempotency-key-malformed"
    title = "Malformed Idempotency-Key"


class RateLimitStoreUnavailableError(ServiceUnavailableError):
    """The shared rate-limit store (Redis) cannot be reached: limited requests fail closed (issue 17
    finding 5) rather than count per process."""

    code = "rate-limit-store-unavailable"


class DatabaseUnavailableError(ServiceUnavailableError):
    """The database cannot be reached, is read-only or is full (issue 17): the request did nothing
    and may be retried. Says nothing of the driver's message (it can name hosts and users)."""

    code = "database-unavailable"
    title = "Service unavailable"


class EscrowKeyUnpinnedError(ServiceUnavailableError):
    """The active escrow key is not backed by a complete, logged ceremony transcript (issue 14): a
    swapped `escrow_keys` row, a swapped transcript or a missing log entry. Nothing is sealed to it
    until an operator restores the key its ceremony proves; the detail names the mismatch."""

    code = "escrow-key-unpinned"
    title = "Escrow key not backed by its ceremony"


class OprfUnavailableError(ServiceUnavailableError):
    """Not enough OPRF nodes answered (or an answer was malformed), so no person key or pseudonym
    can be derived now (issue 13). Says nothing about the person or the input."""

    code = "oprf-unavailable"
    title = "Pseudonym service unavailable"

    def __init__(
        self, detail: str | None = None, *, retry_after_s: int | None = None, asked: tuple[int, ...] = ()
    ) -> None:
        super().__init__(detail, retry_after_s=retry_after_s)
        self.asked = asked
        """The nodes that were sent the batch and may have counted it, although too few answered."""
