"""Start one service as a real uvicorn process on a migrated database, for benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Iterator

import httpx
from sqlalchemy.engine import make_url

from crm_platform.dev import Child
from crm_platform.engines import free_port
from crm_platform.migrate import migrate
from crm_platform.services import service
from tests.support import drop_database


@contextlib.contextmanager
def running_service(
    name: str, server_url: str, nats_url: str, *, workers: int = 1, extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    """The service on a fresh database; yields its base URL. Stopped and dropped afterwards."""
    database = f"crm_{name}_bench_{uuid.uuid4().hex[:6]}"
    prefix = f"CRM_{name.upper()}_"
    env = dict(os.environ)
    env.update(
        {
            "CRM_DATABASE_URL": server_url,
            "CRM_NATS_URL": nats_url,
            "CRM_ENV": "dev",
            "CRM_LOG_LEVEL": "WARNING",
            f"{prefix}DATABASE_NAME": database,
            f"{prefix}DB_POOL_SIZE": "20",
            **(extra_env or {}),
        }
    )
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        migrate([service(name)], echo=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    port = free_port()
    spec = service(name)
    child = Child(
        name,
        [
            sys.executable,
            "-m",
            "uvicorn",
            spec.app,
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        env,
    )
    child.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or not child.alive():
                raise RuntimeError(f"{name} did not become ready")
            time.sleep(0.2)
        yield url
    finally:
        child.stop()
        database_url = make_url(server_url).set(database=database).render_as_string(hide_password=False)
        asyncio.run(drop_database(server_url, database_url))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]
