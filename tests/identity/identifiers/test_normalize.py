import pytest

from identity.identifiers.normalize import IdentifierRejected, Rejection, normalize_identifier
from identity.settings import IdentitySettings

SETTINGS = IdentitySettings(environment="dev")


def value(kind: str, raw: str) -> str:
    return normalize_identifier(kind, raw, SETTINGS).value


def test_email_is_case_folded_and_trimmed() -> None:
    assert value("email", "  Kim.MinJun@Example.COM ") == "kim.minjun@example.com"


def test_gmail_ignores_dots_and_plus_tags() -> None:
    assert value("email", "Kim.Min.Jun+promo@gmail.com") == "kimminjun@gmail.com"


def test_other_providers_keep_dots() -> None:
    assert value("email", "kim.minjun+x@example.com") == "kim.minjun@example.com"


def test_korean_mobile_numbers_become_e164_whatever_their_format() -> None:
    assert value("phone", "010-2345-6789") == value("phone", "+82 10 2345 6789") == "+821023456789"


def test_handles_are_lower_cased_without_at() -> None:
    assert value("social:Instagram", "@Seoyeon_K") == "seoyeon_k"
    assert normalize_identifier("social:Instagram", "x", SETTINGS).type == "social:instagram"


@pytest.mark.parametrize("kind", ["fax", "social:", "external:bad name", "email2"])
def test_unknown_identifier_types_are_rejected(kind: str) -> None:
    with pytest.raises(IdentifierRejected) as caught:
        normalize_identifier(kind, "x", SETTINGS)
    assert caught.value.reason is Rejection.UNKNOWN_TYPE


@pytest.mark.parametrize(("kind", "raw"), [("email", "not-an-email"), ("phone", "12"), ("phone", "010-1")])
def test_invalid_values_are_rejected(kind: str, raw: str) -> None:
    with pytest.raises(IdentifierRejected) as caught:
        normalize_identifier(kind, raw, SETTINGS)
    assert caught.value.reason is Rejection.INVALID


@pytest.mark.parametrize(
    ("kind", "raw", "reason"),
    [
        ("external:shop", "null", Rejection.BLOCKED),
        ("device", "anonymous", Rejection.BLOCKED),
        ("phone", "000-0000-0000", Rejection.BLOCKED),
        ("email", "info@acme.co.kr", Rejection.SHARED_ADDRESS),
        ("email", "Team@acme.com", Rejection.SHARED_ADDRESS),
    ],
)
def test_values_nobody_should_match_on_are_refused(kind: str, raw: str, reason: Rejection) -> None:
    with pytest.raises(IdentifierRejected) as caught:
        normalize_identifier(kind, raw, SETTINGS)
    assert caught.value.reason is reason


def test_extra_identifier_types_are_configurable() -> None:
    settings = IdentitySettings(environment="dev", extra_identifier_types=["passport_hash"])
    assert normalize_identifier("passport_hash", "ab12", settings).value == "ab12"
