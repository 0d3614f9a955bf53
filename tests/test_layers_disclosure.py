"""Issue 12: the disclosure wire format is pure, the disclosure tools import only protocol, crypto and
errors, and the portal does not reach into the JSON API for its serialization."""

from __future__ import annotations

from tests.test_layers import DATABASE_LIBRARIES, WEB_FRAMEWORKS, _files, _imports, _is_within, _violations

CLIENT_MAY_IMPORT = ("escrow.protocol", "escrow.crypto", "escrow.errors", "escrow.client")


def test_protocol_imports_only_crypto_errors_and_itself_and_no_web_or_database() -> None:
    files = _files("protocol")
    outside = [
        f"{path.name} imports {name}"
        for path in files
        for name in _imports(path)
        if _is_within(name, ("escrow",))
        and not _is_within(name, ("escrow.protocol", "escrow.crypto", "escrow.errors"))
    ]

    assert outside == []
    assert _violations(files, WEB_FRAMEWORKS + DATABASE_LIBRARIES + ("logging", "os")) == []


def test_disclosure_tools_import_only_protocol_crypto_errors_and_client() -> None:
    files = _files("client/disclosure")
    outside = [
        f"{path.name} imports {name}"
        for path in files
        for name in _imports(path)
        if _is_within(name, ("escrow",)) and not _is_within(name, CLIENT_MAY_IMPORT)
    ]

    assert len(files) >= 4
    assert outside == []
    assert _violations(files, WEB_FRAMEWORKS + DATABASE_LIBRARIES) == []


def test_web_never_imports_the_json_api() -> None:
    assert _violations(_files("web"), ("escrow.api",)) == []
