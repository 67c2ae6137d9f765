"""What the identity service publishes (contract: docs in README, schema version 1)."""

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events import record_event
from identity.customers.models import Customer
from identity.database import metadata

PRODUCER = "identity"


async def customer_created(session: AsyncSession, customer: Customer) -> None:
    await record_event(
        session,
        metadata,
        producer=PRODUCER,
        event_type="customer.created",
        subject_id=str(customer.id),
        payload={
            "customer_id": str(customer.id),
            "display_name": customer.display_name,
            "email": customer.email,
            "created_at": customer.created_at.isoformat(),
        },
    )
