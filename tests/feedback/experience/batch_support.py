"""Helpers for the tests of the per-customer batch reads (``/v1/customers:<field>?ids=``) the gateway's
loaders call: what SQL a request ran, and the id lists the validation tests send."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event

MAX_BATCH_IDS = 200


@contextmanager
def recorded_selects(client: httpx.AsyncClient) -> Iterator[list[str]]:
    """The SELECT statements the app's engine runs inside the block (to show a batch costs a fixed
    number of queries, however many customers it asks for)."""
    engine = client._transport.app.state.engine  # type: ignore[attr-defined]
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def too_many_ids() -> list[str]:
    return [str(uuid.uuid4()) for _ in range(MAX_BATCH_IDS + 1)]


def error_fields(response: httpx.Response) -> list[str]:
    return [error["field"] for error in response.json()["errors"]]
