"""Issue 12: the disclosure wire format is pure, the disclosure tools import only protocol, crypto and
errors, and the portal does not reach into the JSON API for its serialization."""

from __future__ import annotations

from pathlib import Path

from tests.test_layers import DATABASE_LIBRARIES, WEB_FRAMEWORKS, _files, _imports, _is_within, _violations

PROTOCOL_MAY_IMPORT = ("escrow.protocol", "escrow.crypto", "escrow.errors")
CLIENT_MAY_IMPORT = (*PROTOCOL_MAY_IMPORT, "escrow.client")


def _outside(files: list[Path], allowed: tuple[str, ...]) -> list[str]:
    """The imports of escrow modules in `files` that are not within `allowed`."""
    return [
        f"{path.name} imports {name}"
        for path in files
        for name in _imports(path)
        if _is_within(name, ("escrow",)) and not _is_within(name, allowed)
    ]


def test_protocol_imports_only_crypto_errors_and_itself_and_no_web_or_database() -> None:
    files = _files("protocol")

    assert _outside(files, PROTOCOL_MAY_IMPORT) == []
    assert _violations(files, WEB_FRAMEWORKS + DATABASE_LIBRARIES + ("logging", "os")) == []


def test_disclosure_tools_import_only_protocol_crypto_errors_and_client() -> None:
    files = _files("client/disclosure")

    assert len(files) >= 4
    assert _outside(files, CLIENT_MAY_IMPORT) == []
    assert _violations(files, WEB_FRAMEWORKS + DATABASE_LIBRARIES) == []


def test_web_never_imports_the_json_api() -> None:
    assert _violations(_files("web"), ("escrow.api",)) == []
