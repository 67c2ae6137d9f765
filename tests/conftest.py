"""Real PostgreSQL and NATS for the whole suite: embedded by default, or CRM_DATABASE_URL / CRM_NATS_URL."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from crm_platform.engines import EmbeddedNats, EmbeddedPostgres


@dataclass(frozen=True)
class Servers:
    database_url: str
    nats_url: str


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    database_url = os.environ.get("CRM_DATABASE_URL")
    nats_url = os.environ.get("CRM_NATS_URL")
    started: list[EmbeddedPostgres | EmbeddedNats] = []
    with tempfile.TemporaryDirectory(prefix="crm-test-") as tmp:
        if not database_url:
            pg = EmbeddedPostgres(Path(tmp) / "postgres").start()
            started.append(pg)
            database_url = pg.url
        if not nats_url:
            nats = EmbeddedNats(Path(tmp) / "nats").start()
            started.append(nats)
            nats_url = nats.url
        try:
            yield Servers(database_url=database_url, nats_url=nats_url)
        finally:
            for engine in reversed(started):
                engine.stop()
