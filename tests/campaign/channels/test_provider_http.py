"""The provider HTTP client (aiohttp) against hand-written servers on loopback: framing, keep-alive,
failures mapped to the errors the senders classify."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from campaign.channels.provider_http import ProviderEndpoint, ProviderProtocolError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]
StartServer = Callable[[Handler], Awaitable["RawServer"]]


class RawServer:
    """Counts connections; each connection is served by ``handler(reader, writer, connection_number)``."""

    def __init__(self, handler: Handler):
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.port = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer, self.connections)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes | None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        request = head + await reader.readexactly(length)
        self.requests.append(request)
        return request


@pytest.fixture
async def raw_server() -> AsyncIterator[StartServer]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> RawServer:
        raw = RawServer(handler)
        server = await asyncio.start_server(raw.serve, "127.0.0.1", 0)
        raw.port = server.sockets[0].getsockname()[1]
        servers.append(server)
        return raw

    yield start
    for server in servers:
        server.close()


def endpoint(server: RawServer, timeout: float = 1.0) -> ProviderEndpoint:
    return ProviderEndpoint(
        f"http://127.0.0.1:{server.port}/hooks?x=1",
        max_connections=4,
        timeout_seconds=timeout,
        user_agent="t",
    )


async def test_keeps_the_connection_across_requests_and_reads_each_framing(raw_server: StartServer) -> None:
    answers = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nX-Id: 9\r\n\r\n",
        b"HTTP/1.1 429 Too Many\r\nRetry-After: 3\r\nContent-Length: 0\r\n\r\n",
    ]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        for answer in answers:
            await server.read_request(reader)
            writer.write(answer)
            await writer.drain()

    server = await raw_server(handler)
    client = endpoint(server)
    results = [await client.post(b'{"a":1}', {"webhook-id": f"m{i}"}) for i in range(4)]
    await client.close()
    assert [r.status for r in results] == [200, 202, 204, 429]
    assert results[2].headers["x-id"] == "9" and results[3].headers["retry-after"] == "3"
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /hooks?x=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"webhook-id: m0\r\n" in first and b"Content-Length: 7\r\n" in first and first.endswith(b'{"a":1}')


async def test_a_connection_the_server_closes_is_not_reused(raw_server: StartServer) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\n\r\nbody until close")
        await writer.drain()

    server = await raw_server(handler)
    client = endpoint(server)
    assert [(await client.post(b"{}", {})).status for _ in range(3)] == [200, 200, 200]
    assert server.connections == 3


async def test_an_idle_connection_closed_by_the_server_is_retried_on_a_fresh_one(
    raw_server: StartServer,
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        # then hang up without saying Connection: close (an idle timeout on the provider's side)

    server = await raw_server(handler)
    client = endpoint(server)
    assert (await client.post(b"{}", {})).status == 200
    await asyncio.sleep(0.05)
    assert (await client.post(b"{}", {})).status == 200
    assert server.connections == 2
    assert len(server.requests) == 2


async def test_a_server_that_never_answers_times_out(raw_server: StartServer) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await asyncio.sleep(2)

    server = await raw_server(handler)
    client = endpoint(server, timeout=0.2)
    with pytest.raises(TimeoutError):
        await client.post(b"{}", {})
    await client.close()


async def test_garbage_is_a_protocol_error_and_a_closed_port_a_connection_error(
    raw_server: StartServer,
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await server.read_request(reader)
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()

    server = await raw_server(handler)
    client = endpoint(server)
    with pytest.raises(ProviderProtocolError):
        await client.post(b"{}", {})
    await client.close()
    from tests.campaign.channels.conftest import free_port

    closed = ProviderEndpoint(
        f"http://127.0.0.1:{free_port()}/", max_connections=1, timeout_seconds=1.0, user_agent="t"
    )
    with pytest.raises(OSError):
        await closed.post(b"{}", {})
    await closed.close()


def test_only_http_urls_are_accepted() -> None:
    for url in ("ftp://x/", "http:///nohost", "http://x/a b"):
        with pytest.raises(ValueError):
            ProviderEndpoint(url, max_connections=1, timeout_seconds=1.0, user_agent="t")
