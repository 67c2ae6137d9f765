"""A small hand-checked population, projected through the real audience consumer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crm_common.db import session_factory
from crm_common.events.consumer import ConsumerRunner
from tests.campaign.support import consent_changed, customer_created, deliver_all, event, item, order_placed


def days_ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


@dataclass(frozen=True)
class Population:
    """A: 서울, active, 3 orders (2 in 30 days, shoes and bags), 200k, email consent.
    B: 서울, at_risk, 1 order of bags (100 days ago), 150k, an advocate.
    C: 부산, prospect, no orders.
    D: 서울, new, 2 orders of shoes (10 and 3 days ago), 50k, email consent."""

    a: uuid.UUID
    b: uuid.UUID
    c: uuid.UUID
    d: uuid.UUID

    @property
    def everyone(self) -> set[uuid.UUID]:
        return {self.a, self.b, self.c, self.d}


@pytest.fixture
def sessions(campaign_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(campaign_engine)


@pytest.fixture
async def population(audience_runner: ConsumerRunner) -> Population:
    people = Population(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    await deliver_all(
        audience_runner,
        customer_created(people.a, display_name="Ahn", traits={"city": "서울", "country": "KR"}),
        customer_created(people.b, display_name="Baek", traits={"city": "서울"}),
        customer_created(people.c, display_name="Cho", traits={"city": "부산"}),
        customer_created(people.d, display_name="Do", traits={"city": "서울", "given_name": "Dahye"}),
        order_placed(people.a, days_ago(45), [item("s1", "shoes", 100_000)]),
        order_placed(people.a, days_ago(20), [item("s2", "shoes", 60_000)]),
        order_placed(people.a, days_ago(5), [item("b1", "bags", 40_000)]),
        order_placed(people.b, days_ago(100), [item("b2", "bags", 150_000)]),
        order_placed(people.d, days_ago(10), [item("s3", "shoes", 20_000)]),
        order_placed(people.d, days_ago(3), [item("s4", "shoes", 30_000)]),
        event(
            "feedback",
            "advocate.score_changed",
            {"customer_id": str(people.b), "score": 80.0, "tier": "advocate"},
        ),
        consent_changed(people.a, "email", "marketing", True),
        consent_changed(people.d, "email", "marketing", True),
    )
    return people
