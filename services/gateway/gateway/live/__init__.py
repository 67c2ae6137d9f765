"""Live events for subscriptions: the platform's NATS subjects fanned out inside one gateway process."""

from gateway.live.hub import LiveEvents, LiveEventsError, LiveSubscription
from gateway.live.subjects import LIVE_SUBJECTS

__all__ = ["LIVE_SUBJECTS", "LiveEvents", "LiveEventsError", "LiveSubscription"]
