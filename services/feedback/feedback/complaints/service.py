"""Complaints are cases, not counts: each is opened from the customer's words, assigned to a member of
staff, moved open -> in_progress -> resolved (and reopened when it was not), with every step kept.

Events: ``complaint.opened`` (with the ``feedback.received`` of its text), ``complaint.resolved`` and
``complaint.reopened``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.errors import FieldError, ValidationFailed
from crm_common.events.outbox import record_event
from crm_common.ratelimit import Rate, enforce_rate
from feedback.complaints import repository
from feedback.complaints.errors import ComplaintNotFound, ComplaintTransitionNotAllowed
from feedback.complaints.models import TRANSITIONS, Complaint, ComplaintStatus, ComplaintStatusChange
from feedback.complaints.schemas import ComplaintCreate
from feedback.database import metadata
from feedback.experience import service as experience
from feedback.experience.models import FeedbackKind, FeedbackResponse
from feedback.settings import FeedbackSettings

PRODUCER = "feedback"


@dataclass(frozen=True)
class ComplaintView:
    """A complaint with the feedback it was opened from (its text) and, when asked for, its history."""

    complaint: Complaint
    feedback: FeedbackResponse  # never deleted: erasure blanks it
    history: list[ComplaintStatusChange] = field(default_factory=list)


async def open_complaint(
    session: AsyncSession, settings: FeedbackSettings, *, customer_id: uuid.UUID, data: ComplaintCreate
) -> ComplaintView:
    """A customer complains: the text is recorded as feedback of kind ``complaint`` (scored, counted
    as negative at its touchpoint) and a case opens for it."""
    await enforce_rate(
        session,
        metadata,
        caller=str(customer_id),
        action="complaint.submit",
        rate=Rate(*settings.complaint_submit_rate),
    )
    response = await experience.record_feedback(
        session,
        settings,
        customer_id=customer_id,
        kind=FeedbackKind.COMPLAINT,
        channel=data.channel.value,
        touchpoint=data.touchpoint,
        comment=data.text,
        campaign_id=data.campaign_id,
        message_id=data.message_id,
    )
    now = response.received_at
    complaint = await repository.add(
        session,
        Complaint(
            feedback_id=response.id,
            customer_id=customer_id,
            touchpoint=response.touchpoint,
            status=ComplaintStatus.OPEN.value,
            opened_at=now,
            updated_at=now,
        ),
    )
    change = ComplaintStatusChange(
        complaint_id=complaint.id,
        from_status=None,
        to_status=ComplaintStatus.OPEN.value,
        actor=f"customer:{customer_id}",
        changed_at=now,
    )
    await repository.add_change(session, change)
    await _publish(
        session,
        "complaint.opened",
        complaint,
        {
            "feedback_id": str(response.id),
            "channel": response.channel,
            "campaign_id": str(response.campaign_id) if response.campaign_id else None,
            "message_id": str(response.message_id) if response.message_id else None,
            "opened_at": complaint.opened_at.isoformat(),
        },
    )
    return ComplaintView(complaint=complaint, feedback=response, history=[change])


async def get_complaint(
    session: AsyncSession, complaint_id: uuid.UUID, *, with_history: bool = False
) -> ComplaintView:
    complaint = await repository.get(session, complaint_id)
    if complaint is None:
        raise ComplaintNotFound(f"No complaint with id {complaint_id}.")
    feedback = (await experience.get_many(session, [complaint.feedback_id]))[complaint.feedback_id]
    history = await repository.history(session, complaint.id) if with_history else []
    return ComplaintView(complaint=complaint, feedback=feedback, history=history)


async def list_complaints(
    session: AsyncSession,
    *,
    status: str | None = None,
    assignee: str | None = None,
    unassigned: bool = False,
    touchpoint: str | None = None,
    customer_id: uuid.UUID | None = None,
    after: tuple[datetime, uuid.UUID] | None = None,
    limit: int,
) -> list[ComplaintView]:
    """Complaints matching the filters, newest first, keyset-paginated after ``after``."""
    complaints = await repository.list_complaints(
        session,
        status=status,
        assignee=assignee,
        unassigned=unassigned,
        touchpoint=touchpoint,
        customer_id=customer_id,
        after=after,
        limit=limit,
    )
    feedback = await experience.get_many(session, [c.feedback_id for c in complaints])
    return [ComplaintView(complaint=c, feedback=feedback[c.feedback_id]) for c in complaints]


async def complaints_of_customers(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID], *, limit: int
) -> dict[uuid.UUID, list[ComplaintView]]:
    """The first ``limit`` complaints of each customer, in :func:`list_complaints` order (newest
    first), for a batch of customers at once (the gateway's loaders): two queries whatever the batch;
    every requested customer is a key."""
    pages = await repository.first_pages_of_customers(
        session, list(dict.fromkeys(customer_ids)), per_customer=limit
    )
    feedback = await experience.get_many(
        session, [complaint.feedback_id for page in pages.values() for complaint in page]
    )
    return {
        customer_id: [ComplaintView(complaint=c, feedback=feedback[c.feedback_id]) for c in page]
        for customer_id, page in pages.items()
    }


async def assign(
    session: AsyncSession, complaint_id: uuid.UUID, *, assignee: str | None, actor: str
) -> ComplaintView:
    """Give the complaint to a member of staff (or take it back, ``None``). Assigning it to whoever
    has it already changes nothing; a resolved complaint is reopened before it is reassigned."""
    complaint = await _locked(session, complaint_id)
    if complaint.status == ComplaintStatus.RESOLVED:
        raise ComplaintTransitionNotAllowed(
            f"Complaint {complaint_id} is resolved; reopen it before assigning it."
        )
    if complaint.assignee != assignee:
        now = datetime.now(UTC)
        complaint.assignee = assignee
        complaint.updated_at = now
        await repository.add_change(
            session,
            ComplaintStatusChange(
                complaint_id=complaint.id,
                from_status=complaint.status,
                to_status=complaint.status,
                assignee=assignee,
                actor=actor,
                changed_at=now,
            ),
        )
    return await get_complaint(session, complaint_id)


async def change_status(
    session: AsyncSession, complaint_id: uuid.UUID, *, status: ComplaintStatus, note: str | None, actor: str
) -> ComplaintView:
    """Move the complaint along :data:`TRANSITIONS`. Resolving needs a note (the resolution the customer
    is told) and publishes ``complaint.resolved``; reopening publishes ``complaint.reopened``."""
    if status == ComplaintStatus.RESOLVED and not note:
        raise ValidationFailed(
            "Say how the complaint was resolved.",
            errors=[FieldError(field="body.note", message="required when resolving", code="missing")],
        )
    complaint = await _locked(session, complaint_id)
    current = ComplaintStatus(complaint.status)
    if status not in TRANSITIONS[current]:
        raise ComplaintTransitionNotAllowed(
            f"A complaint that is {current.value} cannot become {status.value}; "
            f"it can become {', '.join(sorted(s.value for s in TRANSITIONS[current])) or 'nothing'}."
        )
    now = datetime.now(UTC)
    complaint.status = status.value
    complaint.updated_at = now
    if status == ComplaintStatus.RESOLVED:
        complaint.resolved_at = now
        complaint.resolution = note
    elif current == ComplaintStatus.RESOLVED:
        complaint.resolved_at = None
        complaint.resolution = None
        complaint.reopened_count += 1
    await repository.add_change(
        session,
        ComplaintStatusChange(
            complaint_id=complaint.id,
            from_status=current.value,
            to_status=status.value,
            assignee=complaint.assignee,
            actor=actor,
            note=note,
            changed_at=now,
        ),
    )
    if status == ComplaintStatus.RESOLVED:
        await _publish(
            session,
            "complaint.resolved",
            complaint,
            {
                "assignee": complaint.assignee,
                "opened_at": complaint.opened_at.isoformat(),
                "resolved_at": now.isoformat(),
                "resolution_seconds": round((now - complaint.opened_at).total_seconds(), 3),
                "reopened_count": complaint.reopened_count,
            },
        )
    elif current == ComplaintStatus.RESOLVED:
        await _publish(
            session,
            "complaint.reopened",
            complaint,
            {"reopened_at": now.isoformat(), "reopened_count": complaint.reopened_count},
        )
    return await get_complaint(session, complaint_id, with_history=True)


async def _locked(session: AsyncSession, complaint_id: uuid.UUID) -> Complaint:
    complaint = await repository.get(session, complaint_id, for_update=True)
    if complaint is None:
        raise ComplaintNotFound(f"No complaint with id {complaint_id}.")
    return complaint


async def _publish(
    session: AsyncSession, event_type: str, complaint: Complaint, extra: dict[str, Any]
) -> None:
    await record_event(
        session,
        metadata,
        producer=PRODUCER,
        event_type=event_type,
        subject_id=str(complaint.id),
        payload={
            "complaint_id": str(complaint.id),
            "customer_id": str(complaint.customer_id) if complaint.customer_id else None,
            "touchpoint": complaint.touchpoint,
            "status": complaint.status,
            **extra,
        },
    )


async def move_customer(
    session: AsyncSession, *, merge_id: uuid.UUID, from_id: uuid.UUID, to_id: uuid.UUID
) -> None:
    """identity merged ``from_id`` into ``to_id``: their complaints follow, each recorded under
    ``merge_id`` so :func:`restore_customer` moves exactly those back. Safe to repeat.

    The complaints' texts are feedback responses: ``feedback.experience.service.move_customer`` moves them.
    """
    await repository.move_customer(session, merge_id=merge_id, from_id=from_id, to_id=to_id)


async def restore_customer(session: AsyncSession, *, merge_id: uuid.UUID, restored_id: uuid.UUID) -> None:
    """identity undid the merge: the complaints it moved return to ``restored_id``. Safe to repeat."""
    await repository.restore_customer(session, merge_id=merge_id, restored_id=restored_id)


async def erase_customer(session: AsyncSession, *, customer_ids: list[uuid.UUID]) -> None:
    """identity erased the customers: their complaints lose the customer id, the resolution and the
    staff notes (which may speak of the person); status and timings stay for the statistics. The text
    is feedback, blanked by ``feedback.experience.service.erase_customer``. Safe to repeat."""
    await repository.erase(session, customer_ids)
