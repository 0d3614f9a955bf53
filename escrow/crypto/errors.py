"""The CryptoError family: every failure in escrow.crypto is one of these, never a library exception."""

from __future__ import annotations


class CryptoError(Exception):
    """Base of every error raised by escrow.crypto."""


class EncodingError(CryptoError, ValueError):
    """Bytes or a structure from outside do not have the expected shape (length, type, field)."""


class InvalidPointError(EncodingError):
    """A point is not a canonical encoding of a non-identity element of the prime-order subgroup."""


class InvalidScalarError(EncodingError):
    """A scalar is not a canonical encoding (little-endian, strictly below the group order)."""


class InvalidParameterError(CryptoError, ValueError):
    """A threshold, index or holder set is out of range or inconsistent."""


class InvalidProofError(CryptoError):
    """A zero-knowledge proof does not verify.

    `holder` names the key-holder (or DKG dealer) whose proof failed, when there is one.
    """

    def __init__(self, message: str, *, holder: int | None = None) -> None:
        super().__init__(message)
        self.holder = holder


class InvalidNodeAnswerError(InvalidProofError):
    """A threshold OPRF node's answer does not verify under its public share; `node` names it.

    `holder` is set to the same index, so a caller that handles InvalidProofError by holder still works.
    """

    def __init__(self, message: str, *, node: int) -> None:
        super().__init__(message, holder=node)
        self.node = node


class InvalidInputError(CryptoError, ValueError):
    """An OPRF input is longer than RFC 9497 allows or hashes to the identity (RFC 9497 InvalidInputError)."""


class InvalidShareError(CryptoError):
    """A dealt share does not match its dealer's Feldman commitments; names dealer and recipient."""

    def __init__(self, message: str, *, dealer: int, recipient: int) -> None:
        super().__init__(message)
        self.dealer = dealer
        self.recipient = recipient


class UnjustifiedComplaintError(CryptoError):
    """A DKG complaint accuses a dealer whose share was in fact consistent with its commitments."""


class NotEnoughSharesError(CryptoError):
    """Fewer distinct valid partial decryptions than the threshold."""


class DuplicateShareError(CryptoError):
    """Two partial decryptions (or shares) come from the same key-holder index."""

    def __init__(self, message: str, *, holder: int) -> None:
        super().__init__(message)
        self.holder = holder


class OpenFailedError(CryptoError):
    """An envelope did not open. Deliberately carries no detail: which layer failed is an oracle."""


class HolderFileError(CryptoError):
    """A key-holder file could not be read: wrong passphrase, damaged or tampered file, or bad format."""
