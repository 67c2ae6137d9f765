import uuid

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign.database import metadata
from crm_common.events.consumer import ConsumerRunner
from tests.campaign.support import (
    CUSTOMER_CREATED_AT,
    count_rows,
    customer_created,
    deliver,
    row_version,
    stored_member,
)


async def test_customer_created_projects_an_audience_member(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    envelope = customer_created(display_name="Kim Min-jun", email="mj@example.com")

    assert await deliver(audience_runner, envelope) is True

    member = await stored_member(campaign_engine, uuid.UUID(envelope.payload["customer_id"]))
    assert member is not None
    assert (member.display_name, member.email) == ("Kim Min-jun", "mj@example.com")
    assert member.customer_created_at == CUSTOMER_CREATED_AT


async def test_redelivered_event_leaves_one_member_and_one_inbox_row(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    envelope = customer_created()

    assert await deliver(audience_runner, envelope) is True
    assert await deliver(audience_runner, envelope, deliveries=2) is True

    assert await count_rows(campaign_engine, "audience_member") == 1
    assert await count_rows(campaign_engine, "inbox_event") == 1


async def test_same_facts_in_another_event_write_nothing(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    # A second event id gets past the inbox, so only the upsert itself can keep the row untouched.
    customer_id = uuid.uuid4()
    await deliver(audience_runner, customer_created(customer_id))
    version = await row_version(campaign_engine, customer_id)

    assert await deliver(audience_runner, customer_created(customer_id)) is True

    assert await row_version(campaign_engine, customer_id) == version
    assert await count_rows(campaign_engine, "inbox_event") == 2


async def test_changed_facts_in_another_event_update_the_member(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    customer_id = uuid.uuid4()
    await deliver(audience_runner, customer_created(customer_id, display_name="Lee", email=None))
    first = await stored_member(campaign_engine, customer_id)

    await deliver(
        audience_runner, customer_created(customer_id, display_name="Lee Ji-eun", email="je@example.com")
    )

    member = await stored_member(campaign_engine, customer_id)
    assert first is not None and member is not None
    assert (member.display_name, member.email) == ("Lee Ji-eun", "je@example.com")
    assert member.projected_at == first.projected_at
    assert member.updated_at > first.updated_at


async def test_unknown_payload_fields_are_ignored(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    envelope = customer_created(loyalty_tier="gold", preferred_channel={"kind": "sms"})

    assert await deliver(audience_runner, envelope) is True

    assert await stored_member(campaign_engine, uuid.UUID(envelope.payload["customer_id"])) is not None


async def test_malformed_envelope_is_dead_lettered_and_acknowledged(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    subject = customer_created().subject

    assert await audience_runner.handle(subject, b'{"type": "customer.created"', 1) is True

    async with campaign_engine.connect() as conn:
        dead = (await conn.execute(select(metadata.tables["dead_letter_event"]))).one()
    assert (dead.consumer, dead.event_id, dead.subject) == ("campaign-audience", None, subject)
    assert dead.error.startswith("malformed envelope")
    assert await count_rows(campaign_engine, "inbox_event") == 0


async def test_handler_failure_before_the_last_delivery_asks_for_redelivery(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    envelope = customer_created()
    del envelope.payload["customer_id"]

    assert (
        await deliver(audience_runner, envelope, deliveries=audience_runner.consumer.max_deliver - 1) is False
    )

    assert await count_rows(campaign_engine, "dead_letter_event") == 0
    assert await count_rows(campaign_engine, "inbox_event") == 0
    assert await count_rows(campaign_engine, "audience_member") == 0


async def test_handler_failure_on_the_last_delivery_is_dead_lettered_and_acknowledged(
    audience_runner: ConsumerRunner, campaign_engine: AsyncEngine
) -> None:
    envelope = customer_created()
    del envelope.payload["customer_id"]

    assert await deliver(audience_runner, envelope, deliveries=audience_runner.consumer.max_deliver) is True

    async with campaign_engine.connect() as conn:
        dead = (await conn.execute(text("SELECT event_id, deliveries, error FROM dead_letter_event"))).one()
    assert (dead.event_id, dead.deliveries) == (envelope.id, audience_runner.consumer.max_deliver)
    assert "display_name" in dead.error
    assert await count_rows(campaign_engine, "inbox_event") == 0
