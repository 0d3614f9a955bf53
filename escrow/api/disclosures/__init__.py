"""Disclosure JSON API (issue 6): courts, officer keys, requests, signatures, key-holder decisions, reveal.

Split by who calls it: ``officers`` (legal officers' drafts, signatures, extensions, withdrawal and the
reveal), ``holders`` (key-holders' packages and decisions), ``courts`` (the court registry),
``roster`` (the roster the key-holders sign, officer certificates); ``shared`` holds the two blueprints
and request helpers, ``openapi`` the paths. docs/disclosure.md describes the state machine. Importing
this package registers every route on `bp` and `signed_bp`.
"""

from __future__ import annotations

from escrow.api.disclosures import courts, holders, officers, roster
from escrow.api.disclosures.openapi import OPENAPI_PATHS
from escrow.api.disclosures.shared import bp, signed_bp

__all__ = ["OPENAPI_PATHS", "bp", "courts", "holders", "officers", "roster", "signed_bp"]
