"""The import rule (STYLE.md section 1, issue 12), checked by parsing every module with ``ast``.

    web | api | cli.server -> services -> models, db, identity, protocol, crypto
    client -> protocol, crypto, errors            (runs on other people's machines)
    protocol -> crypto, errors                    (pure wire formats)
    crypto -> crypto                              (pure)

api/ and web/ never import each other (both use escrow.httpkit); services never import client/, api/,
web/ or the composition root; the light commands (cli/main, holder, officer, auditor, common) import
no server code; and the graph between escrow's packages has no cycle. Imports under
``if TYPE_CHECKING:`` are for annotations only and do not count.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import escrow

PACKAGE_DIR = Path(escrow.__file__).resolve().parent
WEB_FRAMEWORKS = ("flask", "flask_login", "flask_wtf", "flask_limiter", "werkzeug", "jinja2", "authlib")
ENTRY_LAYERS = ("escrow.web", "escrow.api", "escrow.cli", "escrow.app", "escrow.httpkit", "escrow.bootstrap")
DATABASE_LIBRARIES = ("sqlalchemy", "alembic", "psycopg")
# The light install (pyproject: dependencies without extras) has only these from outside the stdlib.
LIGHT_LIBRARIES = ("nacl", "cryptography", "click", "rbcl")
LIGHT_CLI = (
    "cli/__init__.py",
    "cli/main.py",
    "cli/common.py",
    "cli/holder.py",
    "cli/officer.py",
    "cli/auditor.py",
    "cli/court.py",
    "cli/org.py",
)
# A package's top-level unit: escrow.services.x -> escrow.services; escrow.app -> escrow.app.
_STDLIB = frozenset(__import__("sys").stdlib_module_names)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Yields every node except the bodies of ``if TYPE_CHECKING:`` blocks."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for other in node.orelse:
                yield other
                yield from _runtime_nodes(other)
            continue
        yield node
        yield from _runtime_nodes(node)


def _imports(path: Path) -> Iterator[str]:
    """Yields every module name ``path`` imports at run time, with relative imports made absolute."""
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    yield from _imports_in(path.read_text(), package)


def _imports_in(source: str, package: str) -> Iterator[str]:
    for node in _runtime_nodes(ast.parse(source)):
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


def _escrow_imports_outside(files: list[Path], allowed: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(PACKAGE_DIR.parent)} imports {name}"
        for path in files
        for name in _imports(path)
        if _is_within(name, ("escrow",)) and not _is_within(name, allowed) and name != "escrow"
    ]


def _unit(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _package_graph() -> dict[str, set[str]]:
    """Returns {unit: units it imports} over every module but the migrations and the lazy root."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        if "migrations" in path.parts or path == PACKAGE_DIR / "__init__.py":
            continue
        unit = _unit(_module_name(path))
        targets = graph.setdefault(unit, set())
        for name in _imports(path):
            if _is_within(name, ("escrow",)) and name != "escrow" and _unit(name) != unit:
                targets.add(_unit(name))
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Returns the strongly connected components with more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_crypto_imports_nothing_from_escrow_but_crypto() -> None:
    assert _escrow_imports_outside(_files("crypto"), ("escrow.crypto",)) == []


def test_crypto_and_protocol_import_no_web_database_or_logging() -> None:
    forbidden = WEB_FRAMEWORKS + DATABASE_LIBRARIES + ("logging",)

    assert _violations(_files("crypto", "protocol"), forbidden) == []


def test_protocol_imports_only_protocol_crypto_and_errors() -> None:
    allowed = ("escrow.protocol", "escrow.crypto", "escrow.errors")

    assert _escrow_imports_outside(_files("protocol"), allowed) == []


def test_crypto_and_protocol_read_no_environment() -> None:
    uses = []
    for path in _files("crypto", "protocol"):
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


def test_client_imports_only_protocol_crypto_and_errors() -> None:
    allowed = ("escrow.client", "escrow.protocol", "escrow.crypto", "escrow.errors")

    assert _escrow_imports_outside(_files("client"), allowed) == []


def test_node_imports_only_node_protocol_crypto_and_errors() -> None:
    """An OPRF node runs on its operator's machine with `escrow[node]`: nothing of the server."""
    allowed = ("escrow.node", "escrow.protocol", "escrow.crypto", "escrow.errors")
    assert _escrow_imports_outside(_files("node"), allowed) == []
    server_only = ("sqlalchemy", "alembic", "psycopg", "flask_login", "flask_wtf", "flask_limiter", "authlib")
    assert [
        (path.name, name)
        for path in _files("node", "cli/node.py")
        for name in _imports(path)
        if name.split(".")[0] in server_only
    ] == []


def test_witness_imports_only_witness_protocol_crypto_keystore_and_errors() -> None:
    """A witness runs on an independent organisation's machine with `escrow[witness]`: nothing of the
    server, and not the escrow client either."""
    allowed = ("escrow.witness", "escrow.protocol", "escrow.crypto", "escrow.errors", "escrow.keystore")
    assert _escrow_imports_outside(_files("witness"), allowed) == []
    server_only = ("sqlalchemy", "alembic", "psycopg", "flask_login", "flask_wtf", "flask_limiter", "authlib")
    assert [
        (path.name, name)
        for path in _files("witness", "cli/witness.py")
        for name in _imports(path)
        if name.split(".")[0] in server_only
    ] == []


def test_api_and_web_never_import_each_other() -> None:
    assert _violations(_files("api"), ("escrow.web",)) + _violations(_files("web"), ("escrow.api",)) == []


def test_services_never_import_client_api_web_or_the_composition_root() -> None:
    forbidden = ENTRY_LAYERS + ("escrow.client",) + WEB_FRAMEWORKS

    assert _violations(_files("services"), forbidden) == []


def test_core_modules_never_import_web_layers() -> None:
    core = _files(
        "services", "identity/base.py", "models.py", "db.py", "config.py", "errors.py", "keystore.py"
    )

    assert _violations(core, WEB_FRAMEWORKS + ENTRY_LAYERS) == []


def test_composition_root_builds_without_the_web_framework() -> None:
    assert _violations(_files("bootstrap.py"), WEB_FRAMEWORKS + ENTRY_LAYERS[:-1]) == []


def test_light_commands_import_only_light_code_and_libraries() -> None:
    files = _files(*LIGHT_CLI)
    allowed = (
        "escrow.cli",
        "escrow.client",
        "escrow.protocol",
        "escrow.crypto",
        "escrow.errors",
        "escrow.keystore",
    )
    outside = _escrow_imports_outside(files, allowed)
    server_cli = _violations(files, ("escrow.cli.server", "escrow.cli.demo"))
    libraries = [
        f"{path.name} imports {name}"
        for path in _files(*LIGHT_CLI, "client", "protocol", "crypto", "errors.py", "keystore.py")
        if path.name != "rsa.py"  # crypto/rsa.py serves the OpenID provider only (PyJWT, server install)
        for name in _imports(path)
        if not _is_within(name, ("escrow",))
        and name.split(".")[0] not in _STDLIB
        and name.split(".")[0] not in LIGHT_LIBRARIES
        and name != "__future__"
    ]

    assert outside + server_cli + libraries == []


def test_no_module_imports_by_name_at_run_time_but_the_command_root() -> None:
    # importlib.import_module("flask") or __import__(...) would hide an import from every rule above;
    # the one allowed use is cli/main.py, which loads the server's commands only when asked for.
    allowed = {PACKAGE_DIR / "cli" / "main.py"}
    uses = [
        f"{path.relative_to(PACKAGE_DIR.parent)}:{node.lineno}"
        for path in PACKAGE_DIR.rglob("*.py")
        if path not in allowed and "migrations" not in path.parts
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Name) and node.func.id == "__import__")
            or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
        )
    ]

    assert uses == []


def test_packages_import_each_other_without_a_cycle() -> None:
    assert _cycles(_package_graph()) == []


def test_cycle_finder_finds_a_cycle() -> None:
    # Guards the checker: a finder that never reports would make the rule above pass.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_checker_sees_relative_and_absolute_imports() -> None:
    # Guards the checker itself: a silent parser would make every rule above pass.
    probe = PACKAGE_DIR / "services" / "health.py"

    names = set(_imports(probe))

    assert "escrow.db.database_is_reachable" in names
    assert "sqlalchemy" in names


def test_checker_skips_annotation_only_imports() -> None:
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import flask\nimport json\n"

    assert set(_imports_in(source, "escrow.probe")) == {"typing", "typing.TYPE_CHECKING", "json"}
