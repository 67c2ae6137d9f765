"""Domain events: versioned envelopes, a transactional outbox, a relay to JetStream, idempotent consumers."""

from crm_common.events.envelope import EventEnvelope, subject_for
from crm_common.events.outbox import add_event_tables, record_event

__all__ = ["EventEnvelope", "add_event_tables", "record_event", "subject_for"]
