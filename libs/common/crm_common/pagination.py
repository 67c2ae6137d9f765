"""Opaque cursor pagination (keyset, never OFFSET)."""

from __future__ import annotations

import base64
import json
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from crm_common.errors import FieldError, ValidationFailed

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
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
