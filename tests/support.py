"""Helpers the whole suite shares: fresh migrated databases, apps with their lifespan, tokens."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
from fastapi import FastAPI
from sqlalchemy import MetaData, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from crm_common.auth import Role, TokenSigner
from crm_common.migrations import upgrade
from crm_common.settings import DEV_JWT_SECRET

ROOT = Path(__file__).resolve().parents[1]
SIGNER = TokenSigner(DEV_JWT_SECRET)


def service_dir(name: str) -> Path:
    return ROOT / "services" / name


def staff_token(role: Role = Role.ADMIN) -> str:
    return SIGNER.issue(f"staff-{role.value}", role)


def customer_token(customer_id: uuid.UUID | str) -> str:
    return SIGNER.issue(str(customer_id), Role.CUSTOMER)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _plain_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def create_database(server_url: str, prefix: str) -> str:
    """A new empty database on the server; returns its URL."""
    name = f"{prefix}_t{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(_plain_dsn(server_url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(server_url: str, database_url: str) -> None:
    name = make_url(database_url).database
    conn = await asyncpg.connect(_plain_dsn(server_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def migrated_database(server_url: str, service: str) -> str:
    """A fresh database with the service's migrations applied (the real Alembic path)."""
    url = await create_database(server_url, f"crm_{service}")
    async_url = make_url(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    await asyncio.to_thread(upgrade, service_dir(service), async_url)
    return url


async def truncate_all(database_url: str, metadata: MetaData) -> None:
    engine = create_async_engine(make_url(database_url).set(drivername="postgresql+asyncpg"))
    try:
        names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def running_app(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan started, and an httpx client over ASGI."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def wait_until(predicate, timeout: float = 15.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll an async predicate until it returns a truthy value (event delivery is asynchronous)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await predicate()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def _schema_diff(database_url: str, metadata: MetaData) -> list[object]:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    def compare(sync_conn) -> list[object]:  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(
            sync_conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, metadata))

    engine = create_async_engine(make_url(database_url).set(drivername="postgresql+asyncpg"))
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(compare)
    finally:
        await engine.dispose()


async def assert_migrations_reversible_and_in_sync(server_url: str, service: str, metadata: MetaData) -> None:
    """Upgrade to head, autogenerate finds nothing; downgrade to base and upgrade again both work."""
    from crm_common.migrations import alembic_config

    url = await migrated_database(server_url, service)
    try:
        assert await _schema_diff(url, metadata) == []
        async_url = make_url(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
        from alembic import command

        config = alembic_config(service_dir(service), async_url)
        await asyncio.to_thread(command.downgrade, config, "base")
        await asyncio.to_thread(command.upgrade, config, "head")
        assert await _schema_diff(url, metadata) == []
    finally:
        await drop_database(server_url, url)
