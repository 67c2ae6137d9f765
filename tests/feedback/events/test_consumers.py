import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.events.consumer import ConsumerRunner
from tests.feedback.support import (
    count_rows,
    customer_created,
    deliver,
    mark_erased,
    row_version,
    stored_customer,
)


async def test_customer_created_records_a_customer_ref(
    customers_runner: ConsumerRunner, feedback_engine: AsyncEngine
) -> None:
    envelope = customer_created(display_name="Choi Yuna")

    assert await deliver(customers_runner, envelope) is True

    customer = await stored_customer(feedback_engine, uuid.UUID(envelope.payload["customer_id"]))
    assert customer is not None
    assert (customer.display_name, customer.erased_at) == ("Choi Yuna", None)
    assert customer.first_seen_at is not None


async def test_redelivered_event_leaves_one_customer_ref_and_one_inbox_row(
    customers_runner: ConsumerRunner, feedback_engine: AsyncEngine
) -> None:
    envelope = customer_created()

    assert await deliver(customers_runner, envelope) is True
    assert await deliver(customers_runner, envelope, deliveries=2) is True

    assert await count_rows(feedback_engine, "customer_ref") == 1
    assert await count_rows(feedback_engine, "inbox_event") == 1


async def test_same_facts_in_another_event_write_nothing(
    customers_runner: ConsumerRunner, feedback_engine: AsyncEngine
) -> None:
    # A second event id gets past the inbox, so only the upsert itself can keep the row untouched.
    customer_id = uuid.uuid4()
    await deliver(customers_runner, customer_created(customer_id))
    version = await row_version(feedback_engine, customer_id)

    assert await deliver(customers_runner, customer_created(customer_id)) is True

    assert await row_version(feedback_engine, customer_id) == version
    assert await count_rows(feedback_engine, "inbox_event") == 2


async def test_new_name_in_another_event_updates_the_customer_ref(
    customers_runner: ConsumerRunner, feedback_engine: AsyncEngine
) -> None:
    customer_id = uuid.uuid4()
    await deliver(customers_runner, customer_created(customer_id, display_name="Yuna"))
    first = await stored_customer(feedback_engine, customer_id)

    await deliver(customers_runner, customer_created(customer_id, display_name="Choi Yuna"))

    customer = await stored_customer(feedback_engine, customer_id)
    assert first is not None and customer is not None
    assert customer.display_name == "Choi Yuna"
    assert customer.first_seen_at == first.first_seen_at


async def test_replayed_event_does_not_bring_back_an_erased_name(
    customers_runner: ConsumerRunner, feedback_engine: AsyncEngine
) -> None:
    envelope = customer_created(display_name="Choi Yuna")
    customer_id = uuid.UUID(envelope.payload["customer_id"])
    await deliver(customers_runner, envelope)
    await mark_erased(feedback_engine, customer_id)

    assert await deliver(customers_runner, customer_created(customer_id, display_name="Choi Yuna")) is True

    customer = await stored_customer(feedback_engine, customer_id)
    assert customer is not None
    assert customer.display_name == ""
    assert customer.erased_at is not None


async def test_unknown_payload_fields_are_ignored(
    customers_runner: ConsumerRunner, feedback_engine: AsyncEngine
) -> None:
    envelope = customer_created(loyalty_tier="gold", preferred_channel={"kind": "sms"})

    assert await deliver(customers_runner, envelope) is True

    assert await stored_customer(feedback_engine, uuid.UUID(envelope.payload["customer_id"])) is not None


async def test_malformed_envelope_is_dead_lettered_and_acknowledged(
    customers_runner: ConsumerRunner, feedback_engine: AsyncEngine
) -> None:
    subject = customer_created().subject

    assert await customers_runner.handle(subject, b"not json at all", 1) is True

    async with feedback_engine.connect() as conn:
        dead = (
            await conn.execute(text("SELECT consumer, event_id, subject, error FROM dead_letter_event"))
        ).one()
    assert (dead.consumer, dead.event_id, dead.subject) == ("feedback-customers", None, subject)
    assert dead.error.startswith("malformed envelope")
    assert await count_rows(feedback_engine, "inbox_event") == 0


async def test_handler_failure_before_the_last_delivery_asks_for_redelivery(
    customers_runner: ConsumerRunner, feedback_engine: AsyncEngine
) -> None:
    envelope = customer_created()
    envelope.payload["customer_id"] = "not-a-uuid"
    last = customers_runner.consumer.max_deliver

    assert await deliver(customers_runner, envelope, deliveries=last - 1) is False

    assert await count_rows(feedback_engine, "dead_letter_event") == 0
    assert await count_rows(feedback_engine, "inbox_event") == 0
    assert await count_rows(feedback_engine, "customer_ref") == 0


async def test_handler_failure_on_the_last_delivery_is_dead_lettered_and_acknowledged(
    customers_runner: ConsumerRunner, feedback_engine: AsyncEngine
) -> None:
    envelope = customer_created()
    envelope.payload["customer_id"] = "not-a-uuid"
    last = customers_runner.consumer.max_deliver

    assert await deliver(customers_runner, envelope, deliveries=last) is True

    async with feedback_engine.connect() as conn:
        dead = (await conn.execute(text("SELECT event_id, deliveries, error FROM dead_letter_event"))).one()
    assert (dead.event_id, dead.deliveries) == (envelope.id, last)
    assert "customer_id" in dead.error
    assert await count_rows(feedback_engine, "inbox_event") == 0
