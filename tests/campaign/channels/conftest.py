"""Real servers on loopback for the channel senders: an SMTP server (aiosmtpd) and an HTTP sink (uvicorn)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email import policy as email_policy
from email.message import Message
from typing import Any

import httpx
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from campaign.channels.consumers import channels_consumer
from campaign.database import metadata
from campaign.main import create_app
from campaign.settings import CampaignSettings
from crm_common.db import session_factory
from crm_common.events.consumer import ConsumerRunner
from tests.support import running_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SmtpInbox:
    """What the SMTP server accepted. Recipients starting ``soft`` get 451, ``hard`` get 550."""

    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    connections: int = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address.startswith("soft"):
            return "451 4.3.0 Mailbox temporarily unavailable"
        if address.startswith("hard"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(
            message_from_bytes(envelope.original_content or envelope.content, policy=email_policy.default)
        )
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[SmtpInbox, int]]:
    inbox = SmtpInbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@dataclass
class SinkRequest:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookSink:
    """An HTTP server that records every POST. The status it answers comes from the message's address:
    ``status:<code>`` (with ``Retry-After: 7`` on 429/503), ``slow`` sleeps past the client timeout."""

    requests: list[SinkRequest] = field(default_factory=list)
    port: int = 0

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if not event.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests.append(SinkRequest(scope["path"], headers, body))
        status, extra = 200, []
        with contextlib.suppress(ValueError, KeyError):
            address = str(json.loads(body).get("address", ""))
            if address.startswith("status:"):
                status = int(address.split(":", 1)[1])
                if status in (429, 503):
                    extra = [(b"retry-after", b"7")]
            elif address == "slow":
                await asyncio.sleep(0.8)
        await send({"type": "http.response.start", "status": status, "headers": extra})
        await send({"type": "http.response.body", "body": b"{}"})


@pytest.fixture
async def webhook_sink() -> AsyncIterator[WebhookSink]:
    sink = WebhookSink()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sink.port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(sink, log_level="warning", lifespan="off", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield sink
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
def channel_settings(
    campaign_settings: CampaignSettings, smtp_server: tuple[SmtpInbox, int], webhook_sink: WebhookSink
) -> CampaignSettings:
    return campaign_settings.model_copy(
        update={
            "smtp_port": smtp_server[1],
            "channel_webhook_urls": {"sms": webhook_sink.url("/sms"), "push": webhook_sink.url("/push")},
            "channel_http_timeout_seconds": 0.5,
            "smtp_pool_size": 2,
        }
    )


@pytest.fixture
def sessions(campaign_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(campaign_engine)


PROVIDER_SECRET = "whsec_" + base64.b64encode(b"test-provider-secret-for-channel-events").decode()


@pytest.fixture
async def channels_client(
    campaign_settings: CampaignSettings, campaign_engine: AsyncEngine
) -> AsyncIterator[httpx.AsyncClient]:
    """The campaign app with a provider ``acme`` whose events are signed with PROVIDER_SECRET.

    The tables are emptied afterwards by ``campaign_engine``'s teardown (one TRUNCATE per test)."""
    settings = campaign_settings.model_copy(
        update={"channel_provider_secrets": {"acme": PROVIDER_SECRET}, "public_base_url": "http://testserver"}
    )
    async with running_app(create_app(settings)) as client:
        yield client


@pytest.fixture
def channels_runner(campaign_engine: AsyncEngine, campaign_settings: CampaignSettings) -> ConsumerRunner:
    """The worker's channels consumer, fed by hand through ``handle`` (no broker in between)."""
    return ConsumerRunner(
        channels_consumer, session_factory(campaign_engine), metadata, campaign_settings.nats_url
    )
