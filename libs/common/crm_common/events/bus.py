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

    async def quiet(exc: Exception) -> None:
        # nats-py reports every failed attempt; one line per attempt at debug level is enough.
        log.debug("nats_error", error=str(exc) or type(exc).__name__)

    return await nats.connect(
        url,
        name=name,
        connect_timeout=connect_timeout,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        error_cb=quiet,
    )


async def connect_nats_with_retry(url: str, name: str, stop: asyncio.Event | None = None) -> NATS | None:
    """Connect, waiting as long as it takes for the server, unless ``stop`` is set first (then None).

    nats-py keeps retrying the first connection by itself (``max_reconnect_attempts=-1``), so the
    attempt runs as a task that ``stop`` can cancel: a worker started while NATS is down still shuts
    down on SIGTERM.
    """
    delay = 0.2
    while stop is None or not stop.is_set():
        attempt = asyncio.ensure_future(connect_nats(url, name))
        waiters: set[asyncio.Future[object]] = {attempt}  # type: ignore[arg-type]
        stopper = asyncio.ensure_future(stop.wait()) if stop is not None else None
        if stopper is not None:
            waiters.add(stopper)  # type: ignore[arg-type]
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if stopper is not None:
            stopper.cancel()
        if attempt not in done:
            attempt.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await attempt
            return None
        try:
            return attempt.result()
        except Exception as exc:  # e.g. refused credentials: retry slowly, say why
            log.warning("nats_connect_failed", url=url, error=str(exc) or type(exc).__name__, retry_in=delay)
            await asyncio.sleep(delay)
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


async def delete_durable_consumers(nats_url: str, suffix: str) -> None:
    """Delete the stream's durable consumers whose names end in ``suffix`` (a test or bench run's own,
    see CRM_NATS_CONSUMER_SUFFIX), so a shared NATS keeps no consumer of a finished run."""
    connection = await nats.connect(nats_url)
    try:
        stream = connection.jetstream()
        with contextlib.suppress(Exception):  # no stream: nothing was created
            for info in await stream.consumers_info(STREAM_NAME):
                if info.name.endswith(suffix):
                    await stream.delete_consumer(STREAM_NAME, info.name)
    finally:
        await connection.close()
