"""One NATS connection per gateway process, fanned out to every subscription of the graph.

The hub holds ONE core-NATS subscription per subject (started in the lifespan), however many clients
subscribe. Core subscriptions see the messages the services' relays publish through JetStream too;
nothing is acknowledged or replayed: a subscription gets what happens while it is open, and a
client that needs the state as of now reads it with a query first.

Each subscription has its own bounded queue, filled from the NATS callback without waiting. A client
that falls ``queue_size`` events behind has its subscription *closed* with ``SUBSCRIBER_TOO_SLOW``
(its queue dropped), never the others held back: closing tells the client that it missed events,
where silently dropping some would leave it showing wrong tallies or an incomplete timeline.

NATS down at start: the gateway serves queries as usual, a subscription fails at once with
``LIVE_EVENTS_UNAVAILABLE``, and the hub keeps trying to connect in the background. NATS lost later:
every open subscription ends with ``LIVE_EVENTS_UNAVAILABLE`` (events in between are lost with core
NATS, so the client must resubscribe and refetch), and nats-py reconnects and resubscribes by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from types import TracebackType

import nats
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from pydantic import ValidationError

from crm_common.events.envelope import EventEnvelope
from gateway.clients import ErrorCode, GraphError

log = structlog.get_logger(__name__)

SERVICE = "events"
UNAVAILABLE = "LIVE_EVENTS_UNAVAILABLE"
TOO_SLOW = "SUBSCRIBER_TOO_SLOW"
TOKEN_EXPIRED = "TOKEN_EXPIRED"  # noqa: S105 - an error code, not a secret


class LiveEventsError(GraphError):
    """A subscription cannot start, or cannot go on: an expected error, shown to the client with
    ``extensions: {code, service: "events"}``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(ErrorCode.UNAVAILABLE, message)
        self.live_code = code

    @property
    def extensions(self) -> dict[str, str]:
        return {"code": self.live_code, "service": SERVICE}


def unavailable(
    message: str = "Live events are unavailable right now; try again shortly.",
) -> LiveEventsError:
    return LiveEventsError(UNAVAILABLE, message)


EventFilter = Callable[[EventEnvelope], bool]


class LiveSubscription:
    """The events one client asked for, in the order NATS delivered them.

    Iterate it for :class:`EventEnvelope` objects; it raises :class:`LiveEventsError` when it is
    closed by the hub. Use it as a context manager so that leaving (the client went away, the
    resolver's generator was closed) detaches it.
    """

    def __init__(
        self,
        hub: LiveEvents,
        subjects: frozenset[str],
        matches: EventFilter,
        size: int,
        ends_at: float | None = None,
    ) -> None:
        self.subjects = subjects
        # When the caller's token expires (seconds since the epoch): the subscription ends then, over
        # SSE as over WebSockets, so that no stream outlives the right to read it.
        self._ends_at = ends_at
        self._hub = hub
        self._matches = matches
        self._queue: asyncio.Queue[EventEnvelope | LiveEventsError] = asyncio.Queue(maxsize=size)
        self._ended = False

    def __enter__(self) -> LiveSubscription:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __aiter__(self) -> LiveSubscription:
        return self

    async def __anext__(self) -> EventEnvelope:
        if self._ends_at is None:
            item = await self._queue.get()
        else:
            try:
                async with asyncio.timeout(self._ends_at - time.time()):
                    item = await self._queue.get()
            except TimeoutError:
                self.close()
                raise LiveEventsError(
                    TOKEN_EXPIRED, "The token expired; subscribe again with a fresh one."
                ) from None
        if isinstance(item, LiveEventsError):
            raise item
        return item

    def close(self) -> None:
        """Stop receiving (the client left); idempotent."""
        self._ended = True
        self._hub._detach(self)

    def offer(self, envelope: EventEnvelope) -> None:
        """Queue the event if this subscription wants it; never waits (runs in the NATS callback)."""
        if self._ended:
            return
        try:
            wanted = self._matches(envelope)
        except Exception:  # a filter bug must not stop delivery to the other subscriptions
            log.exception("live_filter_failed", event_type=envelope.type, event_id=str(envelope.id))
            return
        if not wanted:
            return
        try:
            self._queue.put_nowait(envelope)
        except asyncio.QueueFull:
            log.warning("live_subscriber_too_slow", subjects=sorted(self.subjects))
            self.fail(
                LiveEventsError(
                    TOO_SLOW,
                    "The subscription fell too far behind and was closed; subscribe again and refetch.",
                )
            )

    def fail(self, error: LiveEventsError) -> None:
        """End the subscription with ``error``: what was still queued is dropped."""
        if self._ended:
            return
        self.close()
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(error)


class LiveEvents:
    """The process's NATS subscriptions and who listens to each."""

    def __init__(
        self,
        url: str,
        subjects: Iterable[str],
        *,
        queue_size: int = 100,
        reconnect_seconds: float = 1.0,
        name: str = "gateway-live",
    ) -> None:
        self._url = url
        self._name = name
        self._queue_size = queue_size
        self._reconnect_seconds = reconnect_seconds
        self._listeners: dict[str, set[LiveSubscription]] = {subject: set() for subject in subjects}
        self._nc: NATS | None = None
        self._connected = asyncio.Event()
        self._connecting: asyncio.Task[None] | None = None

    @property
    def available(self) -> bool:
        """Connected to NATS with every subject subscribed."""
        return self._connected.is_set()

    async def wait_available(self) -> None:
        """Until the hub is connected (for callers that must not race the background connect)."""
        await self._connected.wait()

    def start(self) -> None:
        """Connect in the background: the gateway must not wait for NATS to serve queries."""
        if self._connecting is None:
            self._connecting = asyncio.create_task(self._connect(), name="gateway-live-connect")

    async def close(self) -> None:
        """End every subscription and the connection."""
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        self._connected.clear()
        self._fail_all(unavailable("The gateway is shutting down; subscribe again."))
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()

    def subscribe(
        self, subjects: Iterable[str], matches: EventFilter, *, ends_at: float | None = None
    ) -> LiveSubscription:
        """A new subscription to the events on ``subjects`` that ``matches`` accepts, ending with
        ``TOKEN_EXPIRED`` at ``ends_at`` (seconds since the epoch) when given.

        Raises :class:`LiveEventsError` when NATS is not connected.
        """
        wanted = frozenset(subjects)
        unknown = wanted - self._listeners.keys()
        if unknown:
            raise ValueError(f"the hub does not follow {', '.join(sorted(unknown))}")
        if not self.available:
            raise unavailable()
        subscription = LiveSubscription(self, wanted, matches, self._queue_size, ends_at)
        for subject in wanted:
            self._listeners[subject].add(subscription)
        return subscription

    def listener_count(self) -> int:
        """Open subscriptions (each counted once)."""
        return len({s for listeners in self._listeners.values() for s in listeners})

    def _detach(self, subscription: LiveSubscription) -> None:
        for subject in subscription.subjects:
            self._listeners[subject].discard(subscription)

    def _fail_all(self, error: LiveEventsError) -> None:
        for subscription in {s for listeners in self._listeners.values() for s in listeners}:
            subscription.fail(error)

    async def _connect(self) -> None:
        async def on_error(exc: Exception) -> None:
            # nats-py reports every failed (re)connect attempt; keep them out of the warnings.
            log.debug("live_nats_error", error=str(exc) or type(exc).__name__)

        async def on_disconnected() -> None:
            if self._connected.is_set():
                log.warning("live_nats_disconnected")
            self._connected.clear()
            self._fail_all(unavailable("The connection to live events was lost; subscribe again."))

        async def on_reconnected() -> None:
            log.info("live_nats_reconnected")
            self._connected.set()

        # With max_reconnect_attempts=-1 nats-py also retries the first connection until it succeeds.
        self._nc = await nats.connect(
            self._url,
            name=self._name,
            connect_timeout=2,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=self._reconnect_seconds,  # nats-py annotates int; it sleeps on it
            error_cb=on_error,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
        )
        for subject in self._listeners:
            await self._nc.subscribe(subject, cb=self._on_message)
        self._connected.set()
        log.info("live_nats_connected", subjects=sorted(self._listeners))

    async def _on_message(self, msg: Msg) -> None:
        listeners = self._listeners.get(msg.subject)
        if not listeners:
            return  # nobody listens: not even worth parsing
        try:
            envelope = EventEnvelope.model_validate_json(msg.data)
        except ValidationError:
            log.warning("live_event_unreadable", subject=msg.subject)
            return
        for subscription in list(listeners):
            subscription.offer(envelope)
