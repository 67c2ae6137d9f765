"""POSTing signed JSON to a channel provider, fast: one aiohttp session per provider URL.

Why aiohttp and not httpx here: against the same local sink on this 2-core machine, httpx.AsyncClient
managed ~100-200 POSTs/s with 32 requests in flight (its connection pool serialises waiting requests),
aiohttp ~1,200/s under the same load; the delivery worker must push thousands of webhooks a second.
Service-to-service calls elsewhere keep httpx (:mod:`crm_common.http`).

A POST that fails because the provider closed an idle keep-alive connection before answering is retried
once on a fresh connection; receivers deduplicate on ``webhook-id`` anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

MAX_BODY_BYTES = 1_048_576  # a provider's answer beyond this is not read


class ProviderProtocolError(Exception):
    """The provider's answer was not HTTP as we can read it."""


@dataclass(frozen=True, slots=True)
class ProviderResponse:
    status: int
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value


class ProviderEndpoint:
    """Persistent connections to one provider URL, at most ``max_connections`` at a time."""

    def __init__(self, url: str, *, max_connections: int, timeout_seconds: float, user_agent: str):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        if any(c in url for c in " \r\n"):
            raise ValueError(f"not a valid request target: {url!r}")
        self._url = url
        self._max_connections = max_connections
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._headers = {"User-Agent": user_agent, "Content-Type": "application/json", "Accept": "*/*"}
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use, inside the running event loop (aiohttp binds a session to its loop).
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=300),
                timeout=self._timeout,
                headers=self._headers,
                skip_auto_headers=("Accept-Encoding",),
                # Providers set no cookies we want, and a response body is never decoded: both are
                # per-request work aiohttp would otherwise do on the hot path.
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
            )
        return self._session

    async def post(self, body: bytes, headers: dict[str, str]) -> ProviderResponse:
        """POST ``body``; raises ``TimeoutError``, ``OSError`` or :class:`ProviderProtocolError`."""
        for attempt in (1, 2):
            try:
                async with self._client().post(self._url, data=body, headers=headers) as response:
                    await response.content.read(MAX_BODY_BYTES)
                    return ProviderResponse(
                        response.status, {name.lower(): value for name, value in response.headers.items()}
                    )
            except aiohttp.ServerDisconnectedError as exc:
                if attempt == 2:
                    raise ConnectionResetError(
                        "the provider closed the connection without answering"
                    ) from exc
            except aiohttp.ClientConnectionError as exc:  # refused, reset, DNS: the provider is unreachable
                raise ConnectionError(str(exc) or type(exc).__name__) from exc
            except aiohttp.ClientError as exc:  # a malformed answer
                raise ProviderProtocolError(str(exc) or type(exc).__name__) from exc
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
