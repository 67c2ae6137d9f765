"""The R of CRM: customers keep their own data and consents up to date, each change with its provenance."""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from identity.consents import repository as consents
from identity.consents.schemas import ConsentIn
from identity.customers import repository as customers_repository
from identity.customers import service as customers
from identity.customers.profile import TraitObservation, canonical_trait
from identity.events import publisher
from identity.settings import IdentitySettings

SELF_SOURCE = "customer"


async def update_profile(
    session: AsyncSession, customer_id: uuid.UUID, traits: dict[str, str | None], settings: IdentitySettings
) -> None:
    now = datetime.now(UTC)
    observations = [
        TraitObservation(
            customer_id=customer_id,
            field=canonical_trait(name),
            value=value.strip() if value is not None else "",
            source=SELF_SOURCE,
            first_observed_at=now,
            last_observed_at=now,
        )
        for name, value in traits.items()
    ]
    await customers_repository.insert_traits(session, observations)
    profile = (await customers.refresh_profiles(session, [customer_id], settings))[customer_id]
    customer = await customers_repository.get(session, customer_id)
    assert customer is not None
    facts = publisher.CustomerFacts(
        customer_id, profile.display_name, customer.created_at, profile.contacts, profile.traits
    )
    await publisher.publish_all(
        session,
        [
            publisher.customer_updated_event(
                facts, identifiers_added=[], fields=sorted({o.field for o in observations})
            )
        ],
    )


async def current_consents(session: AsyncSession, customer_id: uuid.UUID) -> list[Any]:
    return await consents.current(session, customer_id)


async def set_consents(
    session: AsyncSession, customer_id: uuid.UUID, changes: list[ConsentIn], *, actor: str, source: str
) -> list[Any]:
    """Record the changes that differ from the current consent; unchanged ones write nothing."""
    now_by_key = {
        (row.channel, row.purpose): row.granted for row in await consents.current(session, customer_id)
    }
    rows = [
        {
            "customer_id": customer_id,
            "channel": change.channel.value,
            "purpose": change.purpose.value,
            "granted": change.granted,
            "source": source,
            "actor": actor,
        }
        for change in {(c.channel, c.purpose): c for c in changes}.values()
        if now_by_key.get((change.channel.value, change.purpose.value)) != change.granted
    ]
    await consents.add_changes(session, rows)
    if rows:
        await publisher.consent_changed(
            session,
            customer_id,
            [{"channel": r["channel"], "purpose": r["purpose"], "granted": r["granted"]} for r in rows],
        )
    return await consents.current(session, customer_id)
