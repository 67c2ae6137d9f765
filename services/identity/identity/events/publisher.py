"""What the identity service publishes (schema version 1; see the README's event contract).

Subjects: crm.identity.customer.{created,updated,merged,unmerged,erased}, crm.identity.touchpoint.recorded.
Every customer event carries ``customer_id``; merges carry both ids so consumers can re-key.
"""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events import record_event
from crm_common.events.outbox import record_events
from identity.customers.models import Customer
from identity.database import metadata
from identity.merges.models import Merge

PRODUCER = "identity"

Event = tuple[str, str | None, dict[str, Any]]


def _customer_facts(customer: Customer, contacts: dict[str, str]) -> dict[str, Any]:
    return {
        "customer_id": str(customer.id),
        "display_name": customer.display_name,
        "email": contacts.get("email"),
        "phone": contacts.get("phone"),
        "created_at": customer.created_at.isoformat(),
    }


def customer_created_event(customer: Customer, contacts: dict[str, str]) -> Event:
    return ("customer.created", str(customer.id), _customer_facts(customer, contacts))


def customer_updated_event(
    customer: Customer,
    contacts: dict[str, str],
    *,
    identifiers_added: list[dict[str, str]],
    fields: list[str],
) -> Event:
    payload = _customer_facts(customer, contacts)
    payload.update({"identifiers_added": identifiers_added, "fields_changed": fields})
    return ("customer.updated", str(customer.id), payload)


def touchpoint_recorded_event(touchpoint: dict[str, Any], customer_id: Any) -> Event:
    return (
        "touchpoint.recorded",
        str(touchpoint["id"]),
        {
            "touchpoint_id": str(touchpoint["id"]),
            "customer_id": str(customer_id),
            "channel": touchpoint["channel"],
            "type": touchpoint["type"],
            "occurred_at": touchpoint["occurred_at"].isoformat(),
            "source": touchpoint["source"],
        },
    )


async def publish_all(session: AsyncSession, events: list[Event]) -> None:
    await record_events(session, metadata, producer=PRODUCER, events=events)


async def customer_merged(session: AsyncSession, merge: Merge) -> None:
    await record_event(
        session,
        metadata,
        producer=PRODUCER,
        event_type="customer.merged",
        subject_id=str(merge.survivor_id),
        payload={
            "merge_id": str(merge.id),
            "customer_id": str(merge.survivor_id),
            "survivor_id": str(merge.survivor_id),
            "merged_id": str(merge.merged_id),
            "rule": merge.rule,
        },
    )


async def customer_unmerged(session: AsyncSession, merge: Merge) -> None:
    await record_event(
        session,
        metadata,
        producer=PRODUCER,
        event_type="customer.unmerged",
        subject_id=str(merge.merged_id),
        payload={
            "merge_id": str(merge.id),
            "customer_id": str(merge.merged_id),
            "survivor_id": str(merge.survivor_id),
            "restored_id": str(merge.merged_id),
        },
    )


async def customer_erased(session: AsyncSession, customer_id: Any, merged_ids: list[Any]) -> None:
    await record_event(
        session,
        metadata,
        producer=PRODUCER,
        event_type="customer.erased",
        subject_id=str(customer_id),
        payload={"customer_id": str(customer_id), "merged_ids": [str(i) for i in merged_ids]},
    )


async def consent_changed(session: AsyncSession, customer_id: Any, changes: list[dict[str, Any]]) -> None:
    await record_event(
        session,
        metadata,
        producer=PRODUCER,
        event_type="customer.updated",
        subject_id=str(customer_id),
        payload={"customer_id": str(customer_id), "consents_changed": changes},
    )
