"""Identifiers are normalized before matching, so the same person's address always compares equal.

Rules: emails by email-validator (case folded; dots and plus tags per provider settings), phones to
E.164 with phonenumbers (default region configurable, KR by default), social handles lower-cased
without '@'. Values nobody should match on (blocked values, role addresses, all-zero phones) are
refused with a reason, and the caller reports them instead of storing them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from identity.settings import IdentitySettings

_FAMILY_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")
_SOCIAL_HANDLE = re.compile(r"^[a-z0-9_.]{1,64}$")
BASE_TYPES = ("email", "phone", "device", "loyalty")
FAMILY_TYPES = ("social", "external")


class Rejection(StrEnum):
    UNKNOWN_TYPE = "unknown_type"
    INVALID = "invalid"
    BLOCKED = "blocked"
    SHARED_ADDRESS = "shared_address"


class IdentifierRejected(ValueError):
    def __init__(self, reason: Rejection, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class NormalizedIdentifier:
    type: str
    value: str
    raw: str


def check_type(identifier_type: str, settings: IdentitySettings) -> str:
    """The identifier type, if it is one we know (``social:<platform>``, ``external:<source>``...)."""
    candidate = identifier_type.strip().lower()
    if candidate in BASE_TYPES or candidate in settings.extra_identifier_types:
        return candidate
    family, _, name = candidate.partition(":")
    if family in FAMILY_TYPES and _FAMILY_NAME.match(name):
        return candidate
    raise IdentifierRejected(
        Rejection.UNKNOWN_TYPE,
        f"unknown identifier type {identifier_type!r}: use email, phone, device, loyalty, "
        "social:<platform> or external:<source>",
    )


def normalize_identifier(identifier_type: str, raw: str, settings: IdentitySettings) -> NormalizedIdentifier:
    kind = check_type(identifier_type, settings)
    stripped = raw.strip()
    if stripped.lower() in settings.blocked_values:
        raise IdentifierRejected(Rejection.BLOCKED, f"{stripped!r} is a blocked value")
    if kind == "email":
        value = _normalize_email(stripped, settings)
    elif kind == "phone":
        value = _normalize_phone(stripped, settings)
    elif kind.startswith("social:"):
        value = stripped.lstrip("@").lower()
        if not _SOCIAL_HANDLE.match(value):
            raise IdentifierRejected(
                Rejection.INVALID, "a social handle has letters, digits, '_' and '.' only"
            )
    elif kind == "device":
        value = stripped.lower()
    else:
        value = stripped
    if not value or value.lower() in settings.blocked_values:
        raise IdentifierRejected(Rejection.BLOCKED, f"{stripped!r} is a blocked value")
    if len(value) > 320:
        raise IdentifierRejected(Rejection.INVALID, "longer than 320 characters")
    return NormalizedIdentifier(type=kind, value=value, raw=stripped)


def _normalize_email(raw: str, settings: IdentitySettings) -> str:
    try:
        checked = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as exc:
        raise IdentifierRejected(Rejection.INVALID, f"not a valid email address: {exc}") from exc
    local, domain = checked.local_part.lower(), checked.domain.lower()
    if settings.email_strip_plus_tags and "+" in local:
        local = local.split("+", 1)[0]
    if domain in settings.email_ignore_dots_for:
        local = local.replace(".", "")
    if not local:
        raise IdentifierRejected(Rejection.INVALID, "the local part is empty once normalized")
    if local in settings.shared_email_local_parts:
        raise IdentifierRejected(Rejection.SHARED_ADDRESS, f"{local}@ is a shared role address")
    return f"{local}@{domain}"


def _normalize_phone(raw: str, settings: IdentitySettings) -> str:
    try:
        number = phonenumbers.parse(raw, settings.default_phone_region)
    except phonenumbers.NumberParseException as exc:
        raise IdentifierRejected(Rejection.INVALID, f"not a phone number: {exc}") from exc
    national = str(number.national_number)
    if set(national) <= {"0"}:
        raise IdentifierRejected(Rejection.BLOCKED, "an all-zero phone number")
    if not phonenumbers.is_valid_number(number):
        raise IdentifierRejected(Rejection.INVALID, "not a valid phone number for its region")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
