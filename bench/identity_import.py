"""Bulk import: synthetic customers with realistic duplicates, resolved through the identity rules.

    .venv/bin/python bench/identity_import.py [--rows 1000000]

Target (issue #3): 1,000,000 rows ≤ 60 s. The file is generated first (not timed), then imported
with `crm identity import`'s code path on embedded PostgreSQL (or CRM_DATABASE_URL).
About 20% of rows are another channel's view of an earlier person (same phone or email, name spelled
differently), as in a real CRM export.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import tempfile
import time
from pathlib import Path

import _harness
import _people
from sqlalchemy.engine import make_url

from crm_common.db import create_engine, session_factory
from identity.imports.service import import_csv
from identity.settings import IdentitySettings
from tests.support import drop_database, migrated_database

GIVEN = [
    "Minjun",
    "Seoyeon",
    "Jihoon",
    "Yuna",
    "Doyun",
    "Haeun",
    "Jiwoo",
    "Sua",
    "Eunwoo",
    "Jian",
    "Olivia",
    "Liam",
]
FAMILY = [
    "Kim",
    "Lee",
    "Park",
    "Choi",
    "Jung",
    "Kang",
    "Cho",
    "Yoon",
    "Jang",
    "Lim",
    "Han",
    "Oh",
    "Seo",
    "Shin",
]
CITIES = ["Seoul", "Busan", "Incheon", "Daegu", "Daejeon", "Gwangju", "Suwon", "Ulsan", "Changwon", "Goyang"]


def birth_date(rng: random.Random) -> str:
    return f"{rng.randrange(1950, 2006)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"


def write_file(path: Path, rows: int, seed: int = 3) -> None:
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "phone", "external:legacy", "given_name", "surname", "city", "birth_date"])
        people = 0
        for _ in range(rows):
            if people and rng.random() < 0.2:
                person = rng.randrange(people)  # seen before, through another channel
                facts = _people.person(person)
                email = facts.email if rng.random() < 0.5 else ""
                phone = "" if email else facts.phone
                legacy = ""
            else:
                person = people
                people += 1
                facts = _people.person(person)
                email = facts.email
                phone = facts.phone if rng.random() < 0.7 else ""
                legacy = f"L{person}"
            writer.writerow(
                [email, phone, legacy, facts.given_name, facts.surname, facts.city, facts.birth_date]
            )


async def run_import(server_url: str, path: Path, chunk: int) -> dict[str, float | int]:
    url = await migrated_database(server_url, "identity")
    try:
        settings = IdentitySettings(database_url=url, environment="dev")
        engine = create_engine(make_url(url).set(drivername="postgresql+asyncpg").render_as_string(False))
        started = time.perf_counter()
        report = await import_csv(path, session_factory(engine), settings, chunk_size=chunk)
        seconds = time.perf_counter() - started
        await engine.dispose()
    finally:
        await drop_database(server_url, url)
    return {
        "rows": report.rows,
        "seconds": round(seconds, 1),
        "rows_per_s": round(report.rows / seconds),
        "created": report.created,
        "matched": report.matched,
        "merged": report.merged,
        "conflicts": report.conflicts,
        "rejected": report.rejected,
        "projected_seconds_for_1m_rows": round(1_000_000 / (report.rows / seconds)),
        "target": "1,000,000 rows <= 60 s",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-size", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, _harness.engines() as (server_url, _nats):
        path = Path(tmp) / "customers.csv"
        write_file(path, args.rows)
        figures = asyncio.run(run_import(server_url, path, args.chunk_size))
    _harness.report("identity_import", figures)


if __name__ == "__main__":
    main()
