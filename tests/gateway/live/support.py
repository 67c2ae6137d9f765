"""The gateway served by uvicorn on loopback (WebSockets and SSE need a real server), and NATS events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import nats
import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from crm_common.events.envelope import EventEnvelope
from gateway.live import LiveEvents
from gateway.main import create_app
from gateway.settings import GatewaySettings
from tests.gateway.conftest import closed_port_url
from tests.support import wait_until


def live_settings(nats_url: str, **overrides: Any) -> GatewaySettings:
    return GatewaySettings(
        environment="dev",
        log_json=False,
        identity_url=closed_port_url(),
        campaign_url=closed_port_url(),
        feedback_url=closed_port_url(),
        nats_url=nats_url,
        nats_reconnect_seconds=0.2,
        **overrides,
    )


@dataclass
class ServedGateway:
    app: FastAPI
    base_url: str

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/graphql"

    @property
    def live(self) -> LiveEvents:
        hub: LiveEvents = self.app.state.live_events
        return hub

    async def wait_for_subscribers(self, count: int) -> None:
        """Until ``count`` subscriptions are registered with the hub: publishing earlier would be lost."""

        async def registered() -> bool:
            return self.live.listener_count() >= count

        await wait_until(registered)


@contextlib.asynccontextmanager
async def serving_gateway(
    settings: GatewaySettings, apps: Mapping[str, ASGIApp] | None = None, *, wait_for_nats: bool = True
) -> AsyncIterator[ServedGateway]:
    transports = {name: httpx.ASGITransport(app=app) for name, app in (apps or {}).items()}
    app = create_app(settings, transports=transports)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, ws="websockets-sansio")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await wait_until(lambda: _started(server))
        served = ServedGateway(app=app, base_url=f"http://127.0.0.1:{port}")
        if wait_for_nats:
            await asyncio.wait_for(served.live.wait_available(), 15)
        yield served
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _started(server: uvicorn.Server) -> bool:
    return server.started


async def publish(
    nats_url: str, producer: str, event_type: str, payload: dict[str, Any], **fields: Any
) -> None:
    """An envelope as the services' relays publish it, straight onto its subject."""
    envelope = EventEnvelope(
        type=event_type, producer=producer, payload=payload, occurred_at=datetime.now(UTC), **fields
    )
    nc = await nats.connect(nats_url)
    try:
        await nc.publish(envelope.subject, envelope.model_dump_json().encode())
        await nc.flush()
    finally:
        await nc.close()


def vote_cast(idea_id: uuid.UUID, up: int, down: int) -> dict[str, Any]:
    return {
        "idea_id": str(idea_id),
        "customer_id": str(uuid.uuid4()),
        "direction": "up",
        "previous_direction": None,
        "idea_author_id": None,
        "board_id": str(uuid.uuid4()),
        "up_count": up,
        "down_count": down,
    }


class TransportWS:
    """A graphql-transport-ws client over one socket."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, url: str) -> AsyncIterator[TransportWS]:
        async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as socket:
            yield cls(socket)

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(message))

    async def receive(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(self.socket.recv(), 15))
        return message

    async def init(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self.send({"type": "connection_init", "payload": payload})
        return await self.receive()

    async def subscribe(self, operation_id: str, query: str, variables: dict[str, Any] | None = None) -> None:
        await self.send(
            {
                "id": operation_id,
                "type": "subscribe",
                "payload": {"query": query, "variables": variables or {}},
            }
        )

    async def close_code(self) -> int | None:
        """The code the server closed the socket with (waits for it)."""
        await asyncio.wait_for(self.socket.wait_closed(), 15)
        return self.socket.close_code
