"""The keyset cursor of the experience lists (feedback, complaints, alerts): newest first by a
timestamp, ties broken by id."""

from __future__ import annotations

import uuid
from datetime import datetime

from crm_common.errors import FieldError, ValidationFailed
from crm_common.pagination import decode_cursor, encode_cursor
from feedback.experience.schemas import within_range


def encode_time_cursor(at: datetime, row_id: uuid.UUID) -> str:
    return encode_cursor({"at": at.isoformat(), "id": str(row_id)})


def decode_time_cursor(after: str | None) -> tuple[datetime, uuid.UUID] | None:
    """The position ``after`` names, or a 422 naming ``query.after`` when it is not one we issued."""
    key = decode_cursor(after)
    if key is None:
        return None
    try:
        at, row_id = datetime.fromisoformat(str(key["at"])), uuid.UUID(str(key["id"]))
        if at.tzinfo is None:
            raise ValueError("a cursor's time has a zone")
        within_range(at)
        return at, row_id
    except (KeyError, ValueError) as exc:
        raise ValidationFailed(
            "The cursor is not one this API issued.",
            errors=[FieldError(field="query.after", message="invalid cursor", code="cursor_invalid")],
        ) from exc
