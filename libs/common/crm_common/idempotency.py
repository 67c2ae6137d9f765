"""``Idempotency-Key`` for POST requests: a retried request creates nothing twice and gets the first answer.

The record is written in the request's own transaction, so a request that fails leaves no record and
may be retried; a second request with the same key waits on the unique key until the first commits,
then replays its stored answer. The same key with a different request is a 409.

A router uses it like this (the decorator keeps ``response_model`` for the OpenAPI; the handler returns
the :class:`~starlette.responses.Response` that :meth:`Idempotency.run` builds)::

    @router.post("/v1/ideas", status_code=201, response_model=IdeaPublic, responses=problem_responses(409))
    async def submit_idea(body: IdeaCreate, session: SessionDep, idempotency: IdempotencyDep) -> Response:
        return await idempotency.run(lambda: service.submit_idea(session, body), status_code=201)
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any

import structlog
from fastapi import Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import (
    Column,
    ColumnElement,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    func,
    null,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_common.auth import CurrentPrincipal, Principal
from crm_common.db import SessionDep
from crm_common.errors import Conflict
from crm_common.worker import BackgroundJob

log = structlog.get_logger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# How long a key is remembered unless the app sets ``app.state.idempotency_ttl``; the purge job of the
# service's worker must be given the same value.
DEFAULT_TTL = timedelta(hours=24)
# The status of a record whose request has not finished. Only its own transaction ever sees it: the
# record and the answer are committed together.
_PENDING = 0
_EMPTY_STATUSES = frozenset({204, 304})


def add_idempotency_table(metadata: MetaData) -> Table:
    """Define ``idempotency_record`` on a service's metadata (one row per caller and key)."""
    return Table(
        "idempotency_record",
        metadata,
        Column("caller", String(200), primary_key=True),
        Column("key", String(255), primary_key=True),
        Column("fingerprint", LargeBinary, nullable=False),
        Column("status_code", Integer, nullable=False),
        Column("response_body", JSONB, nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Index("ix_idempotency_record_created_at", "created_at"),
    )


class IdempotencyKeyReused(Conflict):
    type, title = "idempotency-key-reused", "Idempotency key reused"


class IdempotencyKeyPending(Conflict):
    type, title = "idempotency-key-pending", "Idempotency key in use"


Action = Callable[[], Awaitable[BaseModel | None]]


class Idempotency:
    """One request's idempotency: runs its action once per ``Idempotency-Key`` and replays the answer.

    Get it with :data:`IdempotencyDep`; it shares the request's session, so the record is committed or
    rolled back together with whatever the action wrote.
    """

    def __init__(
        self,
        *,
        session: AsyncSession,
        table: Table,
        request: Request,
        caller: str,
        key: str | None,
        ttl: timedelta = DEFAULT_TTL,
    ):
        self.session = session
        self.table = table
        self.request = request
        self.caller = caller
        self.key = key
        self.ttl = ttl

    async def run(self, action: Action, *, status_code: int = 201) -> Response:
        """Run ``action`` and answer its model as JSON with ``status_code`` (no body for ``None``/204).

        With an ``Idempotency-Key``, a repeat of the same request by the same caller does not run the
        action again: it waits for the first to finish and gets its answer (marked with
        ``Idempotent-Replayed: true``). The same key with a different request raises
        :class:`IdempotencyKeyReused` (409). A :class:`~crm_common.errors.ProblemError` raised by the
        action propagates; the request's rollback then releases the key.
        """
        if self.key is None:
            return _render(_body_of(await action(), status_code), status_code)
        fingerprint = await self._fingerprint()
        if await self._claim(fingerprint):
            body = _body_of(await action(), status_code)
            await self.session.execute(
                update(self.table)
                .where(self._is_this_record())
                .values(status_code=status_code, response_body=null() if body is None else body)
            )
            return _render(body, status_code)
        return await self._replay(fingerprint)

    async def _fingerprint(self) -> bytes:
        body = await self.request.body()  # Starlette caches it: the handler's body parsing read it first
        digest = hashlib.sha256()
        for part in (
            self.request.method.encode(),
            self.request.url.path.encode(),
            self.request.scope.get("query_string", b""),
            body,
        ):
            digest.update(len(part).to_bytes(8, "big"))  # length-prefixed: no two splits hash alike
            digest.update(part)
        return digest.digest()

    def _is_this_record(self) -> ColumnElement[bool]:
        return (self.table.c.caller == self.caller) & (self.table.c.key == self.key)

    async def _claim(self, fingerprint: bytes) -> bool:
        """Insert the pending record; False when the key is already taken by an answer still valid.

        A concurrent request holding the key makes this wait until its transaction ends: if it rolled
        back, PostgreSQL retries the insertion and it succeeds here; if it committed, the conflict
        branch locks its row. An expired record is taken over in the same statement, as if absent.
        """
        insert = pg_insert(self.table).values(
            caller=self.caller, key=self.key, fingerprint=fingerprint, status_code=_PENDING
        )
        claim = insert.on_conflict_do_update(
            index_elements=[self.table.c.caller, self.table.c.key],
            set_={
                "fingerprint": insert.excluded.fingerprint,
                "status_code": _PENDING,
                "response_body": null(),
                "created_at": func.now(),
            },
            where=self.table.c.created_at < func.now() - self.ttl,
        ).returning(self.table.c.caller)
        return (await self.session.execute(claim)).first() is not None

    async def _replay(self, fingerprint: bytes) -> Response:
        # The claim's ON CONFLICT DO UPDATE locked the row even though it changed nothing, so it
        # cannot have been purged since: it is there, committed, with its answer.
        stored = (
            await self.session.execute(
                select(self.table.c.fingerprint, self.table.c.status_code, self.table.c.response_body).where(
                    self._is_this_record()
                )
            )
        ).one()
        if stored.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                f"This {HEADER} was already used for a different request; send a new key for a new request."
            )
        if stored.status_code == _PENDING:  # only if a handler committed without finishing run()
            raise IdempotencyKeyPending(f"The request with this {HEADER} has not finished.")
        response = _render(stored.response_body, stored.status_code)
        response.headers[REPLAYED_HEADER] = "true"
        return response


def _body_of(model: BaseModel | None, status_code: int) -> Any:
    if model is None or status_code in _EMPTY_STATUSES:
        return None
    # by_alias: what FastAPI itself answers for a response_model.
    return model.model_dump(mode="json", by_alias=True)


def _render(body: Any, status_code: int) -> Response:
    if body is None:
        return Response(status_code=status_code)
    return JSONResponse(body, status_code=status_code)


def _caller(principal: Principal) -> str:
    return f"{principal.role.value}:{principal.subject}"


async def _idempotency(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            min_length=1,
            max_length=255,
            pattern=r"^[\x21-\x7e]+$",
            description=(
                "Makes a retried POST safe: a repeat with the same key gets the first answer "
                f"(`{REPLAYED_HEADER}: true`) and creates nothing twice. 1-255 visible ASCII characters, "
                "e.g. a UUID; a new key for each new request."
            ),
        ),
    ] = None,
) -> Idempotency:
    return Idempotency(
        session=session,
        table=request.app.state.metadata.tables["idempotency_record"],
        request=request,
        caller=_caller(principal),
        key=key,
        ttl=getattr(request.app.state, "idempotency_ttl", DEFAULT_TTL),
    )


IdempotencyDep = Annotated[Idempotency, Depends(_idempotency)]


async def purge_expired_records(
    sessions: async_sessionmaker[AsyncSession], metadata: MetaData, *, ttl: timedelta, batch_size: int = 1000
) -> int:
    """Delete idempotency records older than ``ttl``, one transaction per batch; returns how many."""
    table = metadata.tables["idempotency_record"]
    purged = 0
    while True:
        # SKIP LOCKED: a record being taken over by a request right now is left to that request.
        expired = (
            select(table.c.caller, table.c.key)
            .where(table.c.created_at < func.now() - ttl)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )
        async with sessions.begin() as session:
            deleted = len(
                (
                    await session.execute(
                        delete(table)
                        .where(tuple_(table.c.caller, table.c.key).in_(expired))
                        .returning(table.c.key)
                    )
                ).all()
            )
        purged += deleted
        if deleted < batch_size:
            return purged


def purge_job(metadata: MetaData, ttl: timedelta, interval_seconds: float = 300) -> BackgroundJob:
    """The background job for ``run_worker``: purges expired records every interval until ``stop`` is set."""

    async def run(sessions: async_sessionmaker[AsyncSession], stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                purged = await purge_expired_records(sessions, metadata, ttl=ttl)
                if purged:
                    log.info("idempotency_records_purged", count=purged)
            except Exception as exc:  # the database may be away: the records wait, we retry
                log.warning("idempotency_purge_error", error=str(exc) or type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_seconds)

    return run
