"""Shared by the benchmarks: real engines (embedded unless configured) and results as JSON."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crm_platform.engines import EmbeddedNats, EmbeddedPostgres  # noqa: E402

RESULTS = ROOT / "bench" / "results"


@contextlib.contextmanager
def engines() -> Iterator[tuple[str, str]]:
    """(database server URL, NATS URL) for the run; embedded ones are stopped afterwards."""
    started: list[EmbeddedPostgres | EmbeddedNats] = []
    with tempfile.TemporaryDirectory(prefix="crm-bench-") as tmp:
        database_url = os.environ.get("CRM_DATABASE_URL")
        nats_url = os.environ.get("CRM_NATS_URL")
        try:
            if not database_url:
                pg = EmbeddedPostgres(Path(tmp) / "pg").start()
                started.append(pg)
                database_url = pg.url
            if not nats_url:
                nats = EmbeddedNats(Path(tmp) / "nats").start()
                started.append(nats)
                nats_url = nats.url
            yield database_url, nats_url
        finally:
            for engine in reversed(started):
                engine.stop()


def report(name: str, figures: dict[str, Any]) -> Path:
    """Print the figures and write them to bench/results/<name>.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {
        "benchmark": name,
        "measured_at": datetime.now(UTC).isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "system": platform.platform(),
        },
        "figures": figures,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    width = max(len(key) for key in figures)
    print(f"\n{name}")
    for key, value in figures.items():
        print(f"  {key:<{width}}  {value}")
    print(f"  -> {path.relative_to(ROOT)}")
    return path


def engines_in_use() -> str:
    """Which PostgreSQL and NATS :func:`engines` gives, for the record."""
    database = (
        "external PostgreSQL (CRM_DATABASE_URL)"
        if os.environ.get("CRM_DATABASE_URL")
        else "embedded PostgreSQL"
    )
    nats = "external NATS (CRM_NATS_URL)" if os.environ.get("CRM_NATS_URL") else "embedded NATS"
    return f"{database}, {nats}"
