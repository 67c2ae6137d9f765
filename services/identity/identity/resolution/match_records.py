"""From a customer's profile values to the record the probabilistic matcher compares."""

from __future__ import annotations

from datetime import date
from typing import Any

from identity.matching.model import MatchRecord


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def parse_birth_date(value: Any) -> date | None:
    text = _text(value)
    if not text:
        return None
    digits = text.replace("-", "").replace("/", "").replace(".", "")
    if len(digits) == 8 and digits.isdigit():
        try:
            return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
        except ValueError:
            return None
    return None


def match_record_from_profile(profile: dict[str, Any]) -> MatchRecord:
    """``profile`` holds canonical trait values plus the primary ``email`` and ``phone``."""
    return MatchRecord(
        given_name=_text(profile.get("given_name")),
        surname=_text(profile.get("surname")),
        full_name=_text(profile.get("name")),
        birth_date=parse_birth_date(profile.get("birth_date")),
        street_number=_text(profile.get("street_number")),
        address=_text(profile.get("address")),
        locality=_text(profile.get("city")),
        postcode=_text(profile.get("postcode")),
        state=_text(profile.get("state")),
        phone=_text(profile.get("phone")),
        email=_text(profile.get("email")),
    )
