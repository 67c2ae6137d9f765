"""Text types for request schemas.

PostgreSQL cannot store NUL in text, and control characters in a name or title are never meant;
both are rejected at the edge with a 422 naming the field, instead of failing at INSERT time.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

_ALLOWED_IN_MULTILINE = {"\n", "\t", "\r"}


def _reject_control_characters(value: str, allowed: set[str]) -> None:
    for char in value:
        if char not in allowed and unicodedata.category(char) in ("Cc", "Cs"):
            raise ValueError(f"must not contain control characters (found U+{ord(char):04X})")


def single_line(value: str) -> str:
    """No control characters; runs of white space folded to one space; trimmed."""
    _reject_control_characters(value, set())
    folded = " ".join(value.split())
    if not folded:
        raise ValueError("must not be blank")
    return folded


def multi_line(value: str) -> str:
    """Line breaks and tabs allowed, other control characters not; trimmed."""
    _reject_control_characters(value, _ALLOWED_IN_MULTILINE)
    stripped = value.strip()
    if not stripped:
        raise ValueError("must not be blank")
    return stripped


# The same rules as patterns, so the OpenAPI documents them and clients (and fuzzers) can follow them.
_CONTROL = r"\x00-\x1f\x7f-\x9f"
_SINGLE_LINE_PATTERN = rf"^[^{_CONTROL}]*[^\s{_CONTROL}][^{_CONTROL}]*$"
_MULTI_LINE_PATTERN = rf"^[^{_CONTROL}]*[^\s{_CONTROL}][^{_CONTROL}]*$".replace(
    f"[^{_CONTROL}]*", r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*"
)

SingleLineText = Annotated[str, StringConstraints(pattern=_SINGLE_LINE_PATTERN), AfterValidator(single_line)]
MultiLineText = Annotated[str, StringConstraints(pattern=_MULTI_LINE_PATTERN), AfterValidator(multi_line)]

# For query and path parameters (``Query(pattern=NO_CONTROL_CHARACTERS)``).
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"
