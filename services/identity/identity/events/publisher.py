"""What the identity service publishes (schema version 1; see the README's event contract).

Subjects: crm.identity.customer.{created,updated,merged,unmerged,erased}, crm.identity.touchpoint.recorded.
Every customer event carries ``customer_id``; merges carry both ids so consumers can re-key.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events import record_event
from crm_common.events.outbox import record_events
from identity.database import metadata
from identity.merges.models import Merge

PRODUCER = "identity"

Event = tuple[str, str | None, dict[str, Any]]


@dataclass(frozen=True)
class CustomerFacts:
    """What customer events say about the customer."""

    customer_id: uuid.UUID
    display_name: str | None
    created_at: datetime
    contacts: dict[str, str]
    traits: dict[str, str]

    def payload(self) -> dict[str, Any]:
        return {
            "customer_id": str(self.customer_id),
            "display_name": self.display_name,
            "email": self.contacts.get("email"),
            "phone": self.contacts.get("phone"),
            "created_at": self.created_at.isoformat(),
            # The golden value per field (city, country, time_zone, birth_date...): what targeting reads.
            "traits": dict(self.traits),
        }


def customer_created_event(facts: CustomerFacts) -> Event:
    return ("customer.created", str(facts.customer_id), facts.payload())


def customer_updated_event(
    facts: CustomerFacts, *, identifiers_added: list[dict[str, str]], fields: list[str]
) -> Event:
    payload = facts.payload()
    payload.update({"identifiers_added": identifiers_added, "fields_changed": fields})
    return ("customer.updated", str(facts.customer_id), payload)


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
            # What the channel said about it (an order's total and items, a call's outcome...).
            "properties": touchpoint.get("payload") or {},
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
