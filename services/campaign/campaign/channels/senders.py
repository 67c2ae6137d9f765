"""Channel senders: email over SMTP, signed webhooks to sms/push/webhook providers, the in-app inbox.

One :class:`ChannelSenders` per worker process: it keeps a small pool of SMTP connections and a pool of
keep-alive connections per provider URL (:mod:`campaign.channels.provider_http`: aiohttp rather than
httpx, for throughput; see there), and sends each batch concurrently within their bounds. A message's outcome
never raises: every message gets a :class:`SendOutcome`, in the order given, so the delivery worker
can record each one (sent / transient: retry later / permanent: give up and suppress).

Never imports delivery/ (delivery imports this module).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parsedate_to_datetime

import aiosmtplib
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook

from campaign.channels import repository
from campaign.channels.provider_http import ProviderEndpoint, ProviderProtocolError
from campaign.channels.templates import unsubscribe_url
from campaign.channels.types import Channel, OutcomeKind, OutgoingMessage, SendOutcome
from campaign.settings import CampaignSettings

log = structlog.get_logger(__name__)

SENT = SendOutcome(OutcomeKind.SENT)
# RFC 5322 allows 998 characters a line; folding at 78 would split the long List-Unsubscribe URL.
SMTP_POLICY = SMTP.clone(max_line_length=998)
WEBHOOK_CHANNELS = frozenset({Channel.SMS, Channel.PUSH, Channel.WEBHOOK})
# Without a provider URL nothing can go out, but that is our configuration, not the customer's
# address: retry later (and let delivery give up after its attempts), never suppress.
UNCONFIGURED_RETRY_SECONDS = 300.0
MAX_RETRY_AFTER_SECONDS = 86_400.0


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def outcome_of_status(status: int, retry_after: str | None = None) -> SendOutcome:
    """A provider's HTTP answer as an outcome: 2xx sent; 408, 429, 5xx (and redirects, which mean the
    provider URL is misconfigured) retried later; any other 4xx permanent."""
    if 200 <= status < 300:
        return SENT
    if status in (408, 425, 429) or status >= 500 or 300 <= status < 400:
        return SendOutcome(OutcomeKind.TRANSIENT, f"provider answered {status}", _retry_after(retry_after))
    return SendOutcome(OutcomeKind.PERMANENT, f"provider answered {status}")


def _smtp_outcome(code: int, message: str) -> SendOutcome:
    detail = f"SMTP {code} {message}".strip()[:500]
    if 500 <= code < 600:
        return SendOutcome(OutcomeKind.PERMANENT, detail)
    return SendOutcome(OutcomeKind.TRANSIENT, detail)


_INVISIBLE = re.compile(r"<(head|style|script|title)\b.*?</\1\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL)
_LINE_BREAK = re.compile(r"<br\s*/?>|</(p|div|h[1-6]|li|tr|table)\s*>", re.IGNORECASE)
_LINK = re.compile(
    r"""<a\b[^>]*?href\s*=\s*(["'])(https?://[^"']+)\1[^>]*>(.*?)</a\s*>""", re.IGNORECASE | re.DOTALL
)
_TAG = re.compile(r"<[^>]+>")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def _plain_text(body_html: str, unsubscribe: str) -> str:
    """A readable text version of an HTML email: links as "text (url)", the unsubscribe URL at the end."""
    text = _INVISIBLE.sub("", body_html)
    text = _LINK.sub(lambda m: f"{m.group(3)} ({m.group(2)})", text)
    text = _TAG.sub("", _LINE_BREAK.sub("\n", text))
    lines = (" ".join(line.split()) for line in html.unescape(text).splitlines())
    text = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
    return f"{text}\n\nUnsubscribe: {unsubscribe}\n"


class _SmtpPool:
    """At most ``size`` SMTP connections, opened on first use and reused; a broken one is dropped and a
    fresh one opened by the next sender that needs it."""

    def __init__(self, settings: CampaignSettings):
        self._settings = settings
        self._slots: asyncio.Queue[aiosmtplib.SMTP | None] = asyncio.Queue()
        for _ in range(settings.smtp_pool_size):
            self._slots.put_nowait(None)

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self._settings
        client = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password,
            timeout=s.smtp_timeout_seconds,
            use_tls=s.smtp_use_tls,
            start_tls=bool(s.smtp_starttls),
            local_hostname=s.email_message_id_domain,
        )
        await client.connect()
        return client

    async def acquire(self) -> aiosmtplib.SMTP:
        client = await self._slots.get()
        if client is not None and client.is_connected:
            return client
        try:
            return await self._connect()
        except BaseException:
            self._slots.put_nowait(None)
            raise

    def release(self, client: aiosmtplib.SMTP, *, healthy: bool) -> None:
        if healthy and client.is_connected:
            self._slots.put_nowait(client)
            return
        client.close()
        self._slots.put_nowait(None)

    async def close(self) -> None:
        while not self._slots.empty():
            client = self._slots.get_nowait()
            if client is not None and client.is_connected:
                with contextlib.suppress(Exception):
                    await client.quit()


class ChannelSenders:
    """Sends rendered messages on their channel. ``await start()`` once, ``await close()`` at the end."""

    def __init__(self, settings: CampaignSettings, session_factory: async_sessionmaker[AsyncSession]):
        self._settings = settings
        self._sessions = session_factory
        self._endpoints: dict[str, ProviderEndpoint] | None = None
        self._smtp: _SmtpPool | None = None
        self._signer = Webhook(settings.webhook_signing_secret)
        self._from = settings.email_from
        self._message_id_domain = settings.email_message_id_domain

    async def start(self) -> None:
        s = self._settings
        # One keep-alive pool per provider URL (channels may share one), opened lazily per connection.
        self._endpoints = {
            url: ProviderEndpoint(
                url,
                max_connections=s.channel_http_max_connections,
                timeout_seconds=s.channel_http_timeout_seconds,
                user_agent="crm-campaign",
            )
            for url in set(s.channel_webhook_urls.values())
            if url
        }
        self._smtp = _SmtpPool(s)

    async def close(self) -> None:
        if self._endpoints is not None:
            for endpoint in self._endpoints.values():
                await endpoint.close()
            self._endpoints = None
        if self._smtp is not None:
            await self._smtp.close()
            self._smtp = None

    async def send(self, channel: Channel | str, messages: Sequence[OutgoingMessage]) -> list[SendOutcome]:
        """Send a batch on one channel; one outcome per message, in the same order."""
        if not messages:
            return []
        channel = Channel(channel)
        if self._endpoints is None or self._smtp is None:
            raise RuntimeError("ChannelSenders.start() was not awaited")
        if channel is Channel.EMAIL:
            return list(await asyncio.gather(*(self._send_email(m) for m in messages)))
        if channel is Channel.IN_APP:
            return await self._send_in_app(messages)
        return await self._send_webhooks(channel, messages)

    # ---- email ----

    def _email(self, message: OutgoingMessage) -> EmailMessage:
        email = EmailMessage(policy=SMTP_POLICY)
        email["From"] = self._from
        email["To"] = message.address
        email["Subject"] = message.rendered.subject or ""
        email["Date"] = format_datetime(datetime.now(UTC))
        email["Message-ID"] = f"<{message.message_id}@{self._message_id_domain}>"
        unsubscribe = unsubscribe_url(message.message_id, self._settings)
        # RFC 8058 one-click: the mailbox provider POSTs to the URL; no mailto needed.
        email["List-Unsubscribe"] = f"<{unsubscribe}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        # multipart/alternative: a plain-text part first (mail filters distrust HTML-only mail), then HTML.
        email.set_content(_plain_text(message.rendered.body, unsubscribe))
        email.add_alternative(message.rendered.body, subtype="html")
        return email

    async def _send_email(self, message: OutgoingMessage) -> SendOutcome:
        assert self._smtp is not None
        address = message.address
        if "@" not in address or any(c in address for c in "\r\n<>,"):
            return SendOutcome(OutcomeKind.PERMANENT, "not an email address")
        try:
            email = self._email(message)
        except (ValueError, TypeError) as exc:  # e.g. a header the email policy refuses
            return SendOutcome(OutcomeKind.PERMANENT, f"cannot build the email: {exc}"[:500])
        try:
            client = await self._smtp.acquire()
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return SendOutcome(OutcomeKind.TRANSIENT, f"SMTP connection failed: {exc}"[:500])
        healthy = True
        try:
            await client.send_message(email)
            return SENT
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0] if exc.recipients else None
            if refused is None:
                return SendOutcome(OutcomeKind.TRANSIENT, "recipient refused")
            return _smtp_outcome(refused.code, refused.message)
        except aiosmtplib.SMTPServerDisconnected as exc:
            healthy = False
            return SendOutcome(OutcomeKind.TRANSIENT, f"SMTP server disconnected: {exc}"[:500])
        except aiosmtplib.SMTPResponseException as exc:
            healthy = exc.code != 421  # 421: the server is closing the connection
            return _smtp_outcome(exc.code, exc.message)
        except ValueError as exc:  # aiosmtplib refuses an address it cannot send safely
            return SendOutcome(OutcomeKind.PERMANENT, f"not a sendable address: {exc}"[:500])
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            healthy = False
            return SendOutcome(OutcomeKind.TRANSIENT, f"SMTP failed: {exc}"[:500])
        finally:
            self._smtp.release(client, healthy=healthy)

    # ---- sms, push, webhook ----

    def _payload(self, message: OutgoingMessage) -> str:
        return json.dumps(
            {
                "message_id": str(message.message_id),
                "campaign_id": str(message.campaign_id),
                "step_id": message.step_id,
                "variant_key": message.variant_key,
                "channel": str(message.channel),
                "purpose": str(message.purpose),
                "customer_id": str(message.customer_id),
                "address": message.address,
                "subject": message.rendered.subject,
                "body": message.rendered.body,
                "payload": message.rendered.payload,
            },
            separators=(",", ":"),
            ensure_ascii=False,
            default=str,
        )

    async def _send_webhooks(
        self, channel: Channel, messages: Sequence[OutgoingMessage]
    ) -> list[SendOutcome]:
        assert self._endpoints is not None
        url = self._settings.channel_webhook_urls.get(channel.value)
        endpoint = self._endpoints.get(url) if url else None
        if endpoint is None:
            outcome = SendOutcome(
                OutcomeKind.TRANSIENT,
                f"no provider URL configured for {channel.value}",
                UNCONFIGURED_RETRY_SECONDS,
            )
            return [outcome] * len(messages)
        # One timestamp for the batch: signing is per message, the clock read need not be.
        now = datetime.now(UTC)
        timestamp = str(int(now.timestamp()))
        return list(await asyncio.gather(*(self._post(endpoint, m, now, timestamp) for m in messages)))

    async def _post(
        self, endpoint: ProviderEndpoint, message: OutgoingMessage, now: datetime, timestamp: str
    ) -> SendOutcome:
        body = self._payload(message)
        message_id = str(message.message_id)
        headers = {
            "webhook-id": message_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": self._signer.sign(message_id, now, body),
        }
        try:
            response = await endpoint.post(body.encode(), headers)
        except TimeoutError:
            return SendOutcome(OutcomeKind.TRANSIENT, "provider timed out")
        except (OSError, EOFError, ProviderProtocolError) as exc:
            return SendOutcome(OutcomeKind.TRANSIENT, f"provider unreachable: {type(exc).__name__}")
        return outcome_of_status(response.status, response.headers.get("retry-after"))

    # ---- in_app ----

    async def _send_in_app(self, messages: Sequence[OutgoingMessage]) -> list[SendOutcome]:
        rows = [
            {
                "id": m.message_id,
                "customer_id": m.customer_id,
                "campaign_id": m.campaign_id,
                "subject": m.rendered.subject,
                "body": m.rendered.body,
                "payload": m.rendered.payload,
            }
            for m in messages
        ]
        try:
            async with self._sessions() as session, session.begin():
                await repository.insert_inbox_messages(session, rows)
        except Exception as exc:  # the database may be briefly away: the whole batch retries later
            log.warning("inbox_insert_failed", error=str(exc)[:500], messages=len(rows))
            return [SendOutcome(OutcomeKind.TRANSIENT, "inbox unavailable")] * len(messages)
        return [SENT] * len(messages)
