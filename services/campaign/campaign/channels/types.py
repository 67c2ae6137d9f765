"""The vocabulary delivery and channels share: what is sent, on which channel, and how it went.

Plain dataclasses, no I/O: the delivery worker builds :class:`OutgoingMessage` values from ledger rows,
the channel senders turn each into one :class:`SendOutcome`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    WEBHOOK = "webhook"
    IN_APP = "in_app"


class Purpose(StrEnum):
    """Why a message is sent; ``marketing`` needs a granted consent for the channel."""

    MARKETING = "marketing"
    TRANSACTIONAL = "transactional"
    SERVICE = "service"


class OutcomeKind(StrEnum):
    SENT = "sent"
    TRANSIENT = "transient"  # retry later with backoff (timeouts, 5xx, 429, SMTP 4xx)
    PERMANENT = "permanent"  # never retry; the address is suppressed (SMTP 5xx, webhook 4xx except 429)


@dataclass(frozen=True, slots=True)
class MessageContent:
    """One variant of one step's message, as a marketer wrote it (templates not yet rendered)."""

    id: uuid.UUID
    campaign_id: uuid.UUID
    step_id: str
    variant_key: str
    channel: Channel
    purpose: Purpose
    subject: str | None
    body: str
    # For webhook-borne channels (sms, push, webhook): extra template fields sent in the payload.
    payload_template: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    subject: str | None
    body: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A ledger row ready to go: ``message_id`` is the ledger row id and the idempotency key that
    receivers see (SMTP ``Message-ID``, Standard Webhooks ``webhook-id``), so a retry after a crash
    is recognisable as the same message."""

    message_id: uuid.UUID
    campaign_id: uuid.UUID
    step_id: str
    variant_key: str
    customer_id: uuid.UUID
    channel: Channel
    purpose: Purpose
    address: str  # email address, E.164 phone, or the customer id for push / webhook / in_app
    rendered: RenderedMessage


@dataclass(frozen=True, slots=True)
class SendOutcome:
    kind: OutcomeKind
    detail: str | None = None
    retry_after_seconds: float | None = None
