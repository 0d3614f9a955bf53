"""Instance setup use case: create the keys directory, secrets and instance folder; migrate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from escrow.config import Settings
from escrow.db import current_revision, make_engine, upgrade_database
from escrow.keystore import ensure_keys_dir, load_keyring


@dataclass(frozen=True, slots=True)
class InitReport:
    """What init_instance did. Holds paths and revisions only, never key material."""

    created_paths: tuple[Path, ...]
    revision_before: str | None
    revision_after: str | None


def init_instance(settings: Settings) -> InitReport:
    """Creates whatever is missing for ``settings`` and migrates the database to head. Idempotent.

    Returns what was created and the migration revisions before and after. Raises KeyFileError if
    an existing key file is unsafe, sqlalchemy.exc.SQLAlchemyError if the database is unreachable.
    """
    created: list[Path] = []
    if ensure_keys_dir(settings.keys_dir):
        created.append(settings.keys_dir)
    before_files = set(settings.keys_dir.iterdir())
    load_keyring(settings)  # creates missing key files, checks existing ones
    created.extend(sorted(set(settings.keys_dir.iterdir()) - before_files))
    if not settings.instance_path.is_dir():
        settings.instance_path.mkdir(mode=0o700, parents=True)
        created.append(settings.instance_path)

    engine = make_engine(settings.database_url)
    try:
        before = current_revision(engine)
        upgrade_database(settings.database_url)
        after = current_revision(engine)
    finally:
        engine.dispose()
    return InitReport(created_paths=tuple(created), revision_before=before, revision_after=after)
