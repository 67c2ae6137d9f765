"""Async PostgreSQL access: one engine per process, one transaction per request.

The session dependency commits when the handler returns and rolls back when it raises; services and
repositories only ``flush()``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import ARRAY, ColumnElement, MetaData, Table, any_, literal, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeEngine
from sqlmodel import SQLModel

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    """A service's own metadata. Each service declares its SQLModel base on it::

        class IdentityModel(SQLModel, registry=registry(metadata=metadata)): ...

    so that its migrations see only its own tables, even when several services share a process
    (as the test suite does).
    """
    return MetaData(naming_convention=NAMING_CONVENTION)


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10, **kwargs: Any) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        connect_args={"server_settings": {"application_name": kwargs.pop("application_name", "crm")}},
        **kwargs,
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """FastAPI dependency: the request's session, committed on success, rolled back on error."""
    factory: async_sessionmaker[AsyncSession] = request.app.state.session_factory
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# scope="function": the commit happens before the response is sent, so a failed commit can never
# follow a success answer.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def database_reachable(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def pool_status(engine: AsyncEngine) -> dict[str, int]:
    pool: Any = engine.pool
    return {
        "size": int(pool.size()),
        "checked_out": int(pool.checkedout()),
        "overflow": int(pool.overflow()),
        "checked_in": int(pool.checkedin()),
    }


async def ensure_database(server_url: str, name: str) -> bool:
    """Create database ``name`` on the server if it is missing; True when it was created."""
    import asyncpg  # local: only the operator CLI and tests create databases
    from sqlalchemy.engine import make_url

    dsn = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        # Identifiers cannot be bound parameters; the name is quoted and comes from settings, not users.
        await conn.execute(f'CREATE DATABASE "{name.replace(chr(34), "")}"')
        return True
    finally:
        await conn.close()


def table_of(model: type[SQLModel]) -> Table:
    """The Core table behind a SQLModel class, typed, for bulk and set-based statements."""
    table = model.__table__  # type: ignore[attr-defined]  # set by SQLModel's metaclass for table=True
    assert isinstance(table, Table)
    return table


def any_of(column: Any, values: Sequence[Any], item_type: TypeEngine[Any]) -> ColumnElement[bool]:
    """``column = ANY(:array)``: one array parameter instead of ``IN`` with one parameter per value,
    which keeps big batches cheap to compile and lets PostgreSQL reuse the plan."""
    return column == any_(literal(list(values), ARRAY(item_type)))
