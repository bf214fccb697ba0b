"""Alembic environment: the URL comes from the caller's config (routelearn db upgrade)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from routelearn.store.tables import include_name, metadata

config = context.config
url = config.get_main_option("sqlalchemy.url")
if not url:
    from routelearn.settings import get_settings

    url = get_settings().database_url

if context.is_offline_mode():
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=metadata, include_name=include_name
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
