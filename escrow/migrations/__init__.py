"""Alembic environment and versions, shipped inside the package (see escrow.db.upgrade_database)."""
