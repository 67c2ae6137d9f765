"""The fan-out against real NATS servers: the suite's, and a private one that can be stopped."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from crm_common.events.envelope import EventEnvelope
from crm_platform.engines import EmbeddedNats, free_port
from gateway.live import LiveEvents, LiveEventsError
from gateway.live.hub import TOO_SLOW, UNAVAILABLE
from gateway.live.subjects import VOTE_CAST
from tests.conftest import Servers
from tests.gateway.live.support import publish, vote_cast


async def next_event(subscription: AsyncIterator[EventEnvelope]) -> EventEnvelope:
    return await asyncio.wait_for(anext(subscription), 15)


@pytest.fixture
async def hub(servers: Servers) -> AsyncIterator[LiveEvents]:
    live = LiveEvents(servers.nats_url, [VOTE_CAST], queue_size=2, reconnect_seconds=0.2)
    live.start()
    await asyncio.wait_for(live.wait_available(), 15)
    yield live
    await live.close()


def for_idea(idea_id: uuid.UUID) -> object:
    return lambda envelope: envelope.payload["idea_id"] == str(idea_id)


async def test_each_subscription_gets_only_the_events_it_filters_for(
    hub: LiveEvents, servers: Servers
) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    with (
        hub.subscribe({VOTE_CAST}, for_idea(first)) as on_first,  # type: ignore[arg-type]
        hub.subscribe({VOTE_CAST}, for_idea(second)) as on_second,  # type: ignore[arg-type]
    ):
        await publish(servers.nats_url, "feedback", "vote.cast", vote_cast(first, 1, 0))
        await publish(servers.nats_url, "feedback", "vote.cast", vote_cast(second, 0, 1))

        assert (await next_event(on_first)).payload["idea_id"] == str(first)
        assert (await next_event(on_second)).payload["idea_id"] == str(second)
    assert hub.listener_count() == 0


async def test_a_slow_subscription_is_closed_and_the_others_keep_receiving(
    hub: LiveEvents, servers: Servers
) -> None:
    idea_id = uuid.uuid4()
    with (
        hub.subscribe({VOTE_CAST}, for_idea(idea_id)) as slow,  # type: ignore[arg-type]
        hub.subscribe({VOTE_CAST}, for_idea(idea_id)) as reader,  # type: ignore[arg-type]
    ):
        received = []
        for up in range(1, 5):  # the slow one holds 2, the third closes it
            await publish(servers.nats_url, "feedback", "vote.cast", vote_cast(idea_id, up, 0))
            received.append((await next_event(reader)).payload["up_count"])

        with pytest.raises(LiveEventsError) as closed:
            await next_event(slow)

    assert received == [1, 2, 3, 4]
    assert closed.value.extensions == {"code": TOO_SLOW, "service": "events"}


async def test_without_nats_subscribing_fails_at_once() -> None:
    hub = LiveEvents(f"nats://127.0.0.1:{free_port()}", [VOTE_CAST], reconnect_seconds=0.2)
    hub.start()
    try:
        with pytest.raises(LiveEventsError) as refused:
            hub.subscribe({VOTE_CAST}, lambda _envelope: True)
    finally:
        await hub.close()

    assert refused.value.extensions["code"] == UNAVAILABLE


async def test_nats_lost_ends_open_subscriptions_and_the_hub_reconnects(tmp_path: Path) -> None:
    nats_server = EmbeddedNats(tmp_path / "nats").start()
    hub = LiveEvents(nats_server.url, [VOTE_CAST], reconnect_seconds=0.1)
    hub.start()
    try:
        await asyncio.wait_for(hub.wait_available(), 15)
        idea_id = uuid.uuid4()
        with hub.subscribe({VOTE_CAST}, for_idea(idea_id)) as before:  # type: ignore[arg-type]
            nats_server.kill()
            with pytest.raises(LiveEventsError) as lost:
                await next_event(before)
        assert lost.value.extensions["code"] == UNAVAILABLE

        nats_server.start()  # same port
        await asyncio.wait_for(hub.wait_available(), 15)
        with hub.subscribe({VOTE_CAST}, for_idea(idea_id)) as after:  # type: ignore[arg-type]
            await publish(nats_server.url, "feedback", "vote.cast", vote_cast(idea_id, 5, 0))
            assert (await next_event(after)).payload["up_count"] == 5
    finally:
        await hub.close()
        nats_server.stop()
