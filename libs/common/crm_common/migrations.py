"""Alembic glue shared by every service: async online migrations and programmatic upgrade."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from crm_common.settings import ServiceSettings


def alembic_config(service_dir: Path, database_url: str) -> Config:
    """The Alembic config of a service (``services/<name>/alembic.ini``) pointed at ``database_url``."""
    config = Config(str(service_dir / "alembic.ini"))
    config.set_main_option("script_location", str(service_dir / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(service_dir: Path, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(service_dir, database_url), revision)


def run_env(target_metadata: MetaData, settings: ServiceSettings) -> None:
    """Body of a service's ``migrations/env.py``.

    The URL comes from the Alembic config when ``crm migrate`` set it, else from the service settings
    (so ``alembic revision --autogenerate`` works by hand with CRM_DATABASE_URL set).
    """
    url = context.config.get_main_option("sqlalchemy.url") or settings.async_database_url()

    def do_run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            compare_server_default=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return

    async def run_async() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    asyncio.run(run_async())
