"""The four services and their workers as real processes on loopback, on databases of their own."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from crm_common.events.bus import delete_durable_consumers
from crm_platform.dev import Platform
from crm_platform.engines import free_port
from tests.conftest import Servers

E2E_SERVICES = ("identity", "campaign", "feedback")


@pytest.fixture(scope="session")
def platform(servers: Servers) -> Iterator[Platform]:
    suffix = uuid.uuid4().hex[:8]
    env = dict(os.environ)
    env.update({"CRM_ENV": "dev", "CRM_LOG_JSON": "true", "CRM_LOG_LEVEL": "WARNING"})
    env.update({"CRM_DATABASE_URL": servers.database_url, "CRM_NATS_URL": servers.nats_url})
    # Durable consumers of their own: other tests' workers on the same NATS must not take these events.
    env["CRM_NATS_CONSUMER_SUFFIX"] = f"-e2e-{suffix}"
    for name in E2E_SERVICES:
        env[f"CRM_{name.upper()}_DATABASE_NAME"] = f"crm_{name}_e2e_{suffix}"
    subprocess.run([sys.executable, "-m", "crm_platform.cli", "migrate"], env=env, check=True)
    ports = {name: free_port() for name in (*E2E_SERVICES, "gateway")}
    running = Platform(servers.database_url, servers.nats_url, ports, base_env=env)
    running.start()
    try:
        running.wait_ready(timeout=90)
        yield running
    finally:
        running.stop()
        asyncio.run(delete_durable_consumers(servers.nats_url, env["CRM_NATS_CONSUMER_SUFFIX"]))
        _drop_databases(servers.database_url, [env[f"CRM_{n.upper()}_DATABASE_NAME"] for n in E2E_SERVICES])


def _drop_databases(server_url: str, names: list[str]) -> None:
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    async def drop() -> None:
        conn = await asyncpg.connect(
            make_url(server_url).set(drivername="postgresql").render_as_string(False)
        )
        try:
            for name in names:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())
