"""The import rule (STYLE.md section 1), checked by parsing every module with ``ast``.

web|api|cli -> services -> models, db, crypto. crypto/ is pure: nothing from escrow but
escrow.crypto, no Flask, no SQLAlchemy, no environment, no logging.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import escrow

PACKAGE_DIR = Path(escrow.__file__).resolve().parent
WEB_FRAMEWORKS = ("flask", "flask_login", "werkzeug", "jinja2")
ENTRY_LAYERS = ("escrow.web", "escrow.api", "escrow.cli", "escrow.app")
DATABASE_LIBRARIES = ("sqlalchemy", "alembic", "psycopg")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> Iterator[str]:
    """Yields every module name ``path`` imports, with relative imports made absolute."""
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _is_within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _files(*relative: str) -> list[Path]:
    found: list[Path] = []
    for item in relative:
        path = PACKAGE_DIR / item
        found.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return found


def _violations(files: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(PACKAGE_DIR.parent)} imports {name}"
        for path in files
        for name in _imports(path)
        if _is_within(name, forbidden)
    ]


def test_crypto_imports_nothing_from_escrow_but_crypto() -> None:
    violations = [
        f"{path.relative_to(PACKAGE_DIR.parent)} imports {name}"
        for path in _files("crypto")
        for name in _imports(path)
        if _is_within(name, ("escrow",)) and not _is_within(name, ("escrow.crypto",))
    ]

    assert violations == []


def test_crypto_imports_no_web_database_or_logging() -> None:
    forbidden = WEB_FRAMEWORKS + DATABASE_LIBRARIES + ("logging",)

    assert _violations(_files("crypto"), forbidden) == []


def test_crypto_reads_no_environment() -> None:
    uses = []
    for path in _files("crypto"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv", "environb"}:
                uses.append(f"{path.name}:{node.lineno} os.{node.attr}")
            if isinstance(node, ast.ImportFrom) and node.module == "os":
                uses.extend(
                    f"{path.name}:{node.lineno} from os import {alias.name}"
                    for alias in node.names
                    if alias.name in {"environ", "getenv", "environb"}
                )

    assert uses == []


def test_core_modules_never_import_web_layers() -> None:
    core = _files("services", "models.py", "db.py", "config.py", "errors.py", "keystore.py")

    assert _violations(core, WEB_FRAMEWORKS + ENTRY_LAYERS) == []


def test_services_do_not_import_each_other_upwards() -> None:
    assert _violations(_files("services"), ENTRY_LAYERS) == []


def test_checker_sees_relative_and_absolute_imports(tmp_path: Path) -> None:
    # Guards the checker itself: a silent parser would make every rule above pass.
    probe = PACKAGE_DIR / "services" / "health.py"

    names = set(_imports(probe))

    assert "escrow.db.database_is_reachable" in names
    assert "sqlalchemy" in names
