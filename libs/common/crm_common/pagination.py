"""Opaque cursor pagination (keyset, never OFFSET)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from crm_common.errors import FieldError, ValidationFailed

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50

# Batch reads (``GET …?ids=a&ids=b``) for the gateway's DataLoaders. 200 UUIDs keep the request line
# near 8 KiB, inside what the servers accept (h11's default limit is 16 KiB).
MAX_BATCH_IDS = 200
BatchIds = Annotated[
    list[uuid.UUID],
    Query(
        min_length=1,
        max_length=MAX_BATCH_IDS,
        description=f"Repeat for each id (`?ids=a&ids=b`), 1..{MAX_BATCH_IDS}; duplicates are fine.",
    ),
]
# Items per id in a batch of first pages.
BatchLimit = Annotated[int, Query(ge=1, le=100, description="Items per id (the first page of each).")]
MAX_PAGE_SIZE = 200


def encode_cursor(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":"), default=str).encode()).decode()


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    """Decode a cursor from ``after``; a malformed one is a 422 naming ``query.after``."""
    if cursor is None:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, UnicodeError) as exc:
        raise ValidationFailed(
            "The cursor is not one this API issued.",
            errors=[FieldError(field="query.after", message="invalid cursor", code="cursor_invalid")],
        ) from exc
    if not isinstance(key, dict):
        raise ValidationFailed(
            "The cursor is not one this API issued.",
            errors=[FieldError(field="query.after", message="invalid cursor", code="cursor_invalid")],
        )
    return key


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        None, description="Pass as `after` for the next page; null on the last page."
    )
