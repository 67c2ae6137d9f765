"""Loopback receivers for the delivery benchmarks and tests: a webhook provider that counts.

:class:`WebhookSink` is a small HTTP/1.1 server on raw asyncio streams (keep-alive, Content-Length
bodies), so that the receiving side costs little next to the sender being measured. It counts requests
and how often each ``webhook-id`` arrived (the message id: a repeat is a re-delivery, which a real
provider dedupes on). ``GET /stats`` answers the counts as JSON. A ``respond`` hook decides the status
per request, so tests can make a provider fail transiently (503) or permanently (400).

Run alone (its own process, for benchmarks)::

    python bench/_sinks.py --port 9000 --ids-file /tmp/ids.json

On SIGTERM it writes ``{"requests": n, "ids": {webhook_id: times}}`` to ``--ids-file`` and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Responder = Callable[[str, bytes], int]


class WebhookSink:
    def __init__(self, respond: Responder | None = None, *, delay_seconds: float = 0.0) -> None:
        self.respond: Responder = respond or (lambda _id, _body: 200)
        self.delay_seconds = delay_seconds
        self.requests = 0
        self.ids: Counter[str] = Counter()
        self.bodies: dict[str, bytes] = {}
        self.keep_bodies = False
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self, port: int = 0) -> WebhookSink:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    def stats(self) -> dict[str, int]:
        return {"requests": self.requests, "distinct": len(self.ids)}

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                except asyncio.CancelledError:  # the sink is closing
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path = [*lines[0].split(" "), "", ""][:2]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length else b""
                if method == "GET" and path.startswith("/stats"):
                    payload = json.dumps(self.stats()).encode()
                    status = 200
                else:
                    webhook_id = headers.get("webhook-id", "")
                    if self.delay_seconds:
                        await asyncio.sleep(self.delay_seconds)
                    status = self.respond(webhook_id, body)
                    self.requests += 1
                    if status < 300:
                        self.ids[webhook_id] += 1
                        if self.keep_bodies:
                            self.bodies[webhook_id] = body
                    payload = b"{}"
                reason = {200: "OK", 400: "Bad Request", 503: "Service Unavailable"}.get(status, "Status")
                writer.write(
                    f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
                    f"content-length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()


async def _main(port: int, ids_file: Path) -> None:
    sink = await WebhookSink().start(port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"listening {sink.port}", flush=True)
    await stop.wait()
    await sink.close()
    record = json.dumps({"requests": sink.requests, "ids": dict(sink.ids)})
    await asyncio.to_thread(ids_file.write_text, record)


# ---- shared by the delivery benchmarks: the sink and delivery workers as processes, seeding ----

ROOT = Path(__file__).resolve().parents[1]


class SinkProcess:
    """:class:`WebhookSink` in its own process (so it does not share the load generator's core)."""

    def __init__(self) -> None:
        import tempfile

        self.port = 0
        self._dir = tempfile.TemporaryDirectory(prefix="crm-sink-")
        self.ids_file = Path(self._dir.name) / "ids.json"
        self.process: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> SinkProcess:
        import socket
        import subprocess
        import sys

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench" / "_sinks.py"),
                "--port",
                str(self.port),
                "--ids-file",
                str(self.ids_file),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.process.stdout.readline()  # "listening <port>"
        return self

    def stats(self) -> dict[str, int]:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=5) as response:
            return dict(json.loads(response.read()))

    def stop(self) -> tuple[int, Counter[str]]:
        """Stop it; (requests accepted, times each webhook-id arrived)."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)
        record = json.loads(self.ids_file.read_text())
        self._dir.cleanup()
        return int(record["requests"]), Counter(record["ids"])


def worker_env(database_url: str, nats_url: str, webhook_url: str, **settings: str) -> dict[str, str]:
    """Environment of a ``python -m campaign.delivery.worker`` process for a benchmark."""
    import os

    env = dict(os.environ)
    env.update(
        {
            "CRM_ENV": "dev",
            "CRM_LOG_LEVEL": "WARNING",
            "CRM_NATS_URL": nats_url,
            "CRM_CAMPAIGN_DATABASE_URL": database_url,
            "CRM_CAMPAIGN_CHANNEL_WEBHOOK_URLS": json.dumps({"webhook": webhook_url, "sms": webhook_url}),
            "CRM_CAMPAIGN_DELIVERY_RATE_LIMITS": "{}",
            "CRM_CAMPAIGN_DELIVERY_QUIET_HOURS_START": "00:00",
            "CRM_CAMPAIGN_DELIVERY_QUIET_HOURS_END": "00:00",
        }
    )
    env.update({f"CRM_CAMPAIGN_{name.upper()}": value for name, value in settings.items()})
    return env


class WorkerPool:
    """N delivery worker processes that can be killed (SIGKILL) and restarted one by one."""

    def __init__(self, count: int, env: dict[str, str]) -> None:
        self.env = env
        self.processes: list[Any] = [None] * count
        self.kills = 0

    def start(self, index: int | None = None) -> None:
        import subprocess
        import sys

        for i in [index] if index is not None else range(len(self.processes)):
            self.processes[i] = subprocess.Popen(
                [sys.executable, "-m", "campaign.delivery.worker"], env=self.env, stdout=subprocess.DEVNULL
            )

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p is not None]

    def kill(self, index: int) -> None:
        process = self.processes[index]
        process.send_signal(signal.SIGKILL)
        process.wait()
        self.kills += 1

    def stop(self) -> list[int]:
        """SIGTERM every process; their exit codes (0: a graceful stop)."""
        for process in self.processes:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        return [process.wait(timeout=60) for process in self.processes if process is not None]


async def seed_members(
    database_url: str, count: int, *, time_zones: Sequence[str] = ("Asia/Seoul",)
) -> list[uuid.UUID]:
    """``count`` audience members with every marketing consent, written with COPY."""
    import asyncpg

    ids = [uuid.uuid4() for _ in range(count)]
    consents = json.dumps(
        {"webhook:marketing": True, "sms:marketing": True, "email:marketing": True, "push:marketing": True}
    )
    created = datetime(2026, 1, 1, tzinfo=UTC)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.copy_records_to_table(
            "audience_member",
            columns=[
                "customer_id",
                "display_name",
                "email",
                "phone",
                "time_zone",
                "consents",
                "customer_created_at",
            ],
            records=[
                (
                    cid,
                    f"Customer {n}",
                    f"c{n}@example.com",
                    f"+8210{n:08d}",
                    time_zones[n % len(time_zones)],
                    consents,
                    created,
                )
                for n, cid in enumerate(ids)
            ],
        )
    finally:
        await conn.close()
    return ids


async def marketing_content(
    session: Any, campaign_id: uuid.UUID, channel: str, subject: str, body: str
) -> uuid.UUID:
    """The one message (step ``s1``, variant ``a``, marketing) of a benchmark campaign."""
    from campaign.channels import service as channels_service
    from campaign.channels.types import Channel

    return await channels_service.upsert_content(
        session,
        campaign_id=campaign_id,
        step_id="s1",
        variant_key="a",
        channel=Channel(channel),
        purpose="marketing",
        subject=subject,
        body=body,
    )


async def enqueue_broadcast(
    sessions: Any,
    campaign_id: uuid.UUID,
    content_id: uuid.UUID,
    customers: Sequence[uuid.UUID],
    chunk: int = 5000,
) -> float:
    """Ledger rows for every customer (webhook channel), in committed chunks; returns the seconds taken."""
    import time

    from campaign.channels.types import Channel
    from campaign.delivery import service
    from campaign.delivery.service import SendRequest

    started = time.perf_counter()
    for offset in range(0, len(customers), chunk):
        async with sessions() as session, session.begin():
            await service.enqueue(
                session,
                [
                    SendRequest(campaign_id, "s1", "a", customer_id, Channel.WEBHOOK, "marketing", content_id)
                    for customer_id in customers[offset : offset + chunk]
                ],
            )
    return time.perf_counter() - started


async def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.2) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise TimeoutError("benchmark condition not met in time")
        await asyncio.sleep(interval)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ids-file", type=Path, required=True)
    arguments = parser.parse_args()
    asyncio.run(_main(arguments.port, arguments.ids_file))
