"""Alembic environment: runs on the connection the appliance hands it (never a URL of its own)."""

from alembic import context

from appliance.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
