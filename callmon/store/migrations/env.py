"""Alembic environment: runs against the engine callmon hands it."""

from __future__ import annotations

from alembic import context

from callmon.store import review_models  # noqa: F401  (its tables join Base.metadata)
from callmon.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes["engine"]
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
