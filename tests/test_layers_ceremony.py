"""The key-holder tool runs on a holder's own machine: it needs no database and no web framework."""

from __future__ import annotations

from tests.test_layers import DATABASE_LIBRARIES, WEB_FRAMEWORKS, _files, _violations


def test_holder_tool_and_protocol_import_no_database_or_web_framework() -> None:
    files = _files("client/holder.py", "protocol/ceremony.py", "crypto/ceremony_messages.py")

    assert _violations(files, DATABASE_LIBRARIES + WEB_FRAMEWORKS + ("escrow.models", "escrow.db")) == []
