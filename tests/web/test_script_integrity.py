"""The page scripts carry Subresource Integrity hashes of their files (issue 14), and the vendored
library is pinned to exact versions that tests/vendor_js/build.sh rebuilds byte for byte."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import escrow
from escrow.web.assets import integrity_of, script_integrity

STATIC = Path(escrow.__file__).parent / "static"
VENDOR_BUILD = Path(__file__).resolve().parents[1] / "vendor_js"


def test_every_script_has_the_sha384_of_its_file() -> None:
    hashes = script_integrity(STATIC)

    assert {"vendor/noble.js", "officer-key.js", "officer-reveal.js"} <= set(hashes)
    for name, value in hashes.items():
        digest = hashlib.sha384((STATIC / name).read_bytes()).digest()
        assert value == "sha384-" + base64.b64encode(digest).decode()


def test_a_changed_byte_changes_the_hash(tmp_path: Path) -> None:
    (tmp_path / "a.js").write_bytes(b"export const a = 1;\n")
    before = script_integrity(tmp_path)["a.js"]
    (tmp_path / "a.js").write_bytes(b"export const a = 2;\n")

    assert script_integrity(tmp_path)["a.js"] != before
    assert script_integrity(tmp_path)["a.js"] == integrity_of(b"export const a = 2;\n")
    assert script_integrity(None) == {}


def test_the_vendored_library_is_pinned_to_exact_versions_with_their_licences() -> None:
    package = json.loads((VENDOR_BUILD / "package.json").read_text())
    lock = json.loads((VENDOR_BUILD / "package-lock.json").read_text())

    for name, version in package["devDependencies"].items():
        assert version[0].isdigit(), f"{name} {version}: pin an exact version"
        locked = lock["packages"][f"node_modules/{name}"]
        assert locked["version"] == version
        assert locked["integrity"].startswith("sha512-")
    for library in ("curves", "hashes", "ciphers"):
        assert "MIT License" in (STATIC / "vendor" / f"LICENSE-noble-{library}.txt").read_text()
    assert (STATIC / "vendor" / "noble.js").read_text().startswith("// Built by tests/vendor_js/build.sh")
