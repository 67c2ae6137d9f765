"""NATS JetStream connection and the platform's one domain-event stream."""

from __future__ import annotations

import asyncio
import contextlib

import nats
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from crm_common.events.envelope import STREAM_NAME, STREAM_SUBJECTS

log = structlog.get_logger(__name__)

# Long enough that a relay restarted after a crash re-publishes into the window and is de-duplicated;
# consumers' inboxes catch anything older.
DUPLICATE_WINDOW_SECONDS = 600.0


async def connect_nats(url: str, name: str, *, connect_timeout: float = 2.0) -> NATS:
    """Connect once (raises if the server is unreachable), then reconnect forever in the background."""
    return await nats.connect(
        url,
        name=name,
        connect_timeout=connect_timeout,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
    )


async def connect_nats_with_retry(url: str, name: str, stop: asyncio.Event | None = None) -> NATS | None:
    """Keep trying to connect until it works or ``stop`` is set (then return None)."""
    delay = 0.2
    while stop is None or not stop.is_set():
        try:
            return await connect_nats(url, name)
        except Exception as exc:  # the server may simply not be up yet
            log.warning("nats_connect_failed", url=url, error=str(exc), retry_in=delay)
            if stop is None:
                await asyncio.sleep(delay)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, 5.0)
    return None


async def ensure_stream(js: JetStreamContext) -> None:
    """Create the domain-event stream if it does not exist (safe to call from every process)."""
    config = StreamConfig(
        name=STREAM_NAME,
        subjects=STREAM_SUBJECTS,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
    )
    try:
        await js.stream_info(STREAM_NAME)
    except NotFoundError:
        try:
            await js.add_stream(config)
        except BadRequestError:
            # Another process created it between our check and our add.
            await js.stream_info(STREAM_NAME)
