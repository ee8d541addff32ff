"""Alembic environment. `pipeline.store.sql.migrate` runs it with an open connection, inside its transaction,
in `config.attributes["connection"]`; it configures no logging (the application does)."""

from alembic import context

from pipeline.store.tables import Base

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("the ticket store's migrations run through pipeline.store.open_store(url), with a connection")
# render_as_batch: SQLite cannot ALTER most things; later migrations then copy tables instead
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
