"""Per-caller rate limits kept in PostgreSQL (GCRA: one row per caller and action, exact under concurrency).

GCRA keeps one timestamp per caller and action, the *theoretical arrival time* (TAT) of the next hit
if hits came exactly at the allowed rate. A hit at ``now`` is allowed when the TAT is at most
``now + (count - 1) * interval`` ahead (so ``count`` hits may come at once), and moves the TAT to
``max(TAT, now) + interval``. A denied hit changes nothing.

:func:`enforce_rate` runs in the request's transaction: the row lock serializes one caller's
concurrent hits (for the rest of their transactions), and a request that fails afterwards rolls its
hit back, so it does not count.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy import (
    Column,
    DateTime,
    Interval,
    MetaData,
    String,
    Table,
    delete,
    func,
    literal,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_common.errors import TooManyRequests
from crm_common.worker import BackgroundJob

log = structlog.get_logger(__name__)


def add_rate_limit_table(metadata: MetaData) -> Table:
    """Define ``rate_limit_state`` on a service's metadata: the theoretical arrival time per caller/action."""
    return Table(
        "rate_limit_state",
        metadata,
        Column("caller", String(200), primary_key=True),
        Column("action", String(100), primary_key=True),
        Column("theoretical_arrival_at", DateTime(timezone=True), nullable=False),
    )


@dataclass(frozen=True)
class Rate:
    """``count`` hits per ``period_seconds``, all of which may come at once (burst = count)."""

    count: int
    period_seconds: float

    def __post_init__(self) -> None:
        if self.count < 1 or not self.period_seconds > 0:
            raise ValueError("A rate needs count >= 1 and period_seconds > 0.")

    @property
    def emission_interval(self) -> timedelta:
        """The steady spacing between hits: period / count."""
        return timedelta(seconds=self.period_seconds / self.count)

    @property
    def burst_tolerance(self) -> timedelta:
        # From the rounded interval, not the period: count hits at one instant must all fit exactly.
        return self.emission_interval * (self.count - 1)


async def enforce_rate(
    session: AsyncSession, metadata: MetaData, *, caller: str, action: str, rate: Rate
) -> None:
    """Count one hit of ``caller`` on ``action``, or raise :class:`TooManyRequests` (429, Retry-After).

    One statement decides and records the hit with the database clock. It runs in the caller's
    transaction: call it early in the request, whose rollback un-counts the hit.
    """
    table = metadata.tables["rate_limit_state"]
    interval = literal(rate.emission_interval, Interval())
    tolerance = literal(rate.burst_tolerance, Interval())
    # clock_timestamp(), not now(): a hit that waited for another hit's row lock (or comes late in a
    # long transaction) is judged at the time it is decided.
    now = func.clock_timestamp()
    insert = pg_insert(table).values(caller=caller, action=action, theoretical_arrival_at=now + interval)
    hit = insert.on_conflict_do_update(
        index_elements=[table.c.caller, table.c.action],
        set_={"theoretical_arrival_at": func.greatest(table.c.theoretical_arrival_at, now) + interval},
        where=table.c.theoretical_arrival_at <= now + tolerance,
    ).returning(table.c.theoretical_arrival_at)
    if (await session.execute(hit)).first() is not None:
        return
    # Denied. The statement above locked the row all the same, so its TAT cannot move under us.
    wait = await session.scalar(
        select(func.extract("epoch", table.c.theoretical_arrival_at - tolerance - now)).where(
            table.c.caller == caller, table.c.action == action
        )
    )
    retry_after = max(1, math.ceil(float(wait or 0)))
    raise TooManyRequests(
        f"Too many '{action}' requests; try again in {retry_after} s.", retry_after_seconds=retry_after
    )


async def purge_idle_rate_limits(
    sessions: async_sessionmaker[AsyncSession], metadata: MetaData, *, batch_size: int = 1000
) -> int:
    """Delete the rows whose TAT has passed (as good as no row: a full burst), one transaction per batch."""
    table = metadata.tables["rate_limit_state"]
    purged = 0
    while True:
        # SKIP LOCKED: a row a request is counting a hit on right now is left to that request.
        idle = (
            select(table.c.caller, table.c.action)
            .where(table.c.theoretical_arrival_at < func.now())
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )
        async with sessions.begin() as session:
            deleted = len(
                (
                    await session.execute(
                        delete(table)
                        .where(tuple_(table.c.caller, table.c.action).in_(idle))
                        .returning(table.c.caller)
                    )
                ).all()
            )
        purged += deleted
        if deleted < batch_size:
            return purged


def rate_limit_purge_job(metadata: MetaData, interval_seconds: float = 300) -> BackgroundJob:
    """The background job for ``run_worker``: purges idle rate-limit rows every interval until ``stop``."""

    async def run(sessions: async_sessionmaker[AsyncSession], stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                purged = await purge_idle_rate_limits(sessions, metadata)
                if purged:
                    log.info("rate_limit_rows_purged", count=purged)
            except Exception as exc:  # the database may be away: the rows wait, we retry
                log.warning("rate_limit_purge_error", error=str(exc) or type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_seconds)

    return run
