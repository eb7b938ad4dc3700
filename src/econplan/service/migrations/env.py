"""Alembic environment: runs on the connection the service passes in, or on $ECONPLAN_DB."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from econplan.service.models import Base

target_metadata = Base.metadata
config = context.config


def run_migrations_online() -> None:
    """Run migrations on the given connection (service start) or a new engine (by hand)."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    url = os.environ.get("ECONPLAN_DB", "sqlite:///econplan.db")
    engine = create_engine(url)
    with engine.connect() as conn:
        context.configure(
            connection=conn,
            target_metadata=target_metadata,
            render_as_batch=conn.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
