"""Alembic migrations of the ticket store, run by `pipeline.store.open_store` (no alembic.ini needed)."""
