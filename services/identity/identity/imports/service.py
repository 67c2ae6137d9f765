"""Bulk import of an existing customer base through the same resolution rules as online identify.

CSV columns named like identifier types (``email``, ``phone``, ``device``, ``loyalty``,
``social:<platform>``, ``external:<source>``) are identifiers; every other column is a trait. Rows
are resolved in chunks, one transaction per chunk, so an interrupted import can be run again: rows
already imported simply match their customers.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_common.errors import ProblemError
from identity.identifiers.normalize import IdentifierRejected, check_type
from identity.resolution import service as resolution
from identity.resolution.schemas import IdentifyRequest, IdentifyResult, Outcome
from identity.settings import IdentitySettings


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    matched: int = 0
    merged: int = 0
    conflicts: int = 0
    suppressed: int = 0
    rejected: int = 0
    rejections: list[str] = field(default_factory=list)

    def count(self, outcome: IdentifyResult | ProblemError, row_number: int) -> None:
        self.rows += 1
        if isinstance(outcome, ProblemError):
            self.rejected += 1
            if len(self.rejections) < 100:
                self.rejections.append(f"row {row_number}: {outcome.detail}")
            return
        if outcome.outcome is Outcome.CREATED:
            self.created += 1
        elif outcome.outcome is Outcome.MATCHED:
            self.matched += 1
        elif outcome.outcome is Outcome.MERGED:
            self.merged += 1
        elif outcome.outcome is Outcome.CONFLICT:
            self.conflicts += 1
        else:
            self.suppressed += 1


def split_columns(header: list[str], settings: IdentitySettings) -> tuple[list[tuple[str, str]], list[str]]:
    """(column, identifier type) pairs and trait columns."""
    identifiers: list[tuple[str, str]] = []
    traits: list[str] = []
    for column in header:
        try:
            identifiers.append((column, check_type(column, settings)))
        except IdentifierRejected:
            traits.append(column)
    if not identifiers:
        raise ValueError(
            "the file has no identifier column (email, phone, device, loyalty, social:*, external:*)"
        )
    return identifiers, traits


def read_chunks(
    path: Path, settings: IdentitySettings, chunk_size: int, source: str
) -> Iterator[list[tuple[int, IdentifyRequest | ProblemError]]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        identifier_columns, trait_columns = split_columns(list(reader.fieldnames or []), settings)
        chunk: list[tuple[int, IdentifyRequest | ProblemError]] = []
        for row_number, row in enumerate(reader, start=2):
            identifiers = [
                {"type": kind, "value": row[column].strip()}
                for column, kind in identifier_columns
                if row.get(column) and row[column].strip()
            ]
            traits: dict[str, Any] = {
                c: row[c].strip() for c in trait_columns if row.get(c) and row[c].strip()
            }
            try:
                request: IdentifyRequest | ProblemError = IdentifyRequest(
                    identifiers=identifiers,
                    traits=traits,
                    source=source,
                )
            except ValidationError as exc:
                request = ProblemError(f"invalid row: {exc.errors()[0]['msg']}")
            chunk.append((row_number, request))
            if len(chunk) >= chunk_size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


async def import_csv(
    path: Path,
    sessions: async_sessionmaker[AsyncSession],
    settings: IdentitySettings,
    *,
    chunk_size: int = 2000,
    source: str = "import",
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    report = ImportReport()
    for chunk in read_chunks(path, settings, chunk_size, source):
        valid = [(n, r) for n, r in chunk if isinstance(r, IdentifyRequest)]
        async with sessions() as session, session.begin():
            outcomes = await resolution.identify(
                session, [r for _, r in valid], settings, actor=f"import:{path.name}"
            )
        by_row = {n: outcome for (n, _), outcome in zip(valid, outcomes, strict=True)}
        for row_number, request in chunk:
            report.count(request if isinstance(request, ProblemError) else by_row[row_number], row_number)
        if progress is not None:
            progress(len(chunk))
    return report
