"""Comparison levels of each field, like Splink's: exact / close / ... / different, None when missing."""

from datetime import date

import pytest

from identity.matching import comparisons as cmp
from identity.matching.names import normalize_name_part

NAME = cmp.NAME.default_thresholds


def names(a: str, b: str) -> str | None:
    return cmp.compare_names(normalize_name_part(a), normalize_name_part(b), NAME)


def test_hangul_and_its_romanization_are_an_exact_name_match() -> None:
    assert names("서연", "Seo-yeon") == cmp.EXACT


def test_romanization_variant_is_a_translit_match() -> None:
    assert names("김", "Kim") == cmp.TRANSLIT


def test_hangul_names_one_jamo_apart_are_close() -> None:
    assert names("하은", "하운") == cmp.CLOSE


def test_hangul_names_one_syllable_apart_are_different() -> None:
    assert names("민준", "민정") == cmp.DIFFERENT


def test_latin_typo_is_close() -> None:
    assert names("harley", "haryley") == cmp.CLOSE


def test_latin_names_sharing_a_stem_are_partial() -> None:
    assert names("catherine", "cathleen") == cmp.PARTIAL


def test_unrelated_names_are_different() -> None:
    assert names("matthew", "thomas") == cmp.DIFFERENT


def test_missing_name_has_no_level() -> None:
    assert cmp.compare_names(normalize_name_part("서연"), None, NAME) is None


@pytest.mark.parametrize(
    ("other", "level"),
    [
        (date(1990, 3, 4), cmp.EXACT),
        (date(1990, 3, 5), cmp.CLOSE),  # one digit
        (date(1990, 4, 3), cmp.CLOSE),  # day and month swapped
        (date(1909, 3, 4), cmp.CLOSE),  # two adjacent digits swapped
        (date(1991, 7, 4), cmp.DIFFERENT),
        (None, None),
    ],
)
def test_birth_date_levels(other: date | None, level: str | None) -> None:
    assert cmp.compare_dates(date(1990, 3, 4), other, {}) == level


@pytest.mark.parametrize(
    ("other", "level"), [("06236", cmp.EXACT), ("06263", cmp.CLOSE), ("48058", cmp.DIFFERENT)]
)
def test_postcode_levels(other: str, level: str) -> None:
    assert cmp.compare_codes("06236", other, cmp.CODE.default_thresholds) == level


@pytest.mark.parametrize(
    ("other", "level"),
    [
        ("821012345678", cmp.EXACT),
        ("01012345678", cmp.CLOSE),
        ("821012345687", cmp.CLOSE),
        ("821099998888", cmp.DIFFERENT),
    ],
)
def test_phone_levels(other: str, level: str) -> None:
    assert cmp.compare_phones("821012345678", other, {}) == level


@pytest.mark.parametrize(
    ("other", "level"),
    [
        ("seoyeon.kim@naver.com", cmp.EXACT),
        ("seoyeon.kim@gmail.com", "same_local_part"),
        ("seoyeon.kimm@gmail.com", cmp.CLOSE),
        ("jihoon.park@naver.com", cmp.DIFFERENT),
    ],
)
def test_email_levels(other: str, level: str) -> None:
    assert cmp.compare_emails("seoyeon.kim@naver.com", other, cmp.EMAIL.default_thresholds) == level


def addresses(a: str, b: str) -> str | None:
    return cmp.compare_addresses(cmp.AddressKey.of(a), cmp.AddressKey.of(b), cmp.STRING.default_thresholds)


def test_street_type_abbreviation_is_an_exact_address_match() -> None:
    assert addresses("12 Pridham St", "12 pridham street") == cmp.EXACT


def test_korean_region_written_short_is_an_exact_address_match() -> None:
    assert addresses("서울특별시 강남구 테헤란로 152", "서울 강남구 테헤란로 152") == cmp.EXACT


def test_another_building_number_is_a_different_address() -> None:
    assert addresses("서울 강남구 테헤란로 152", "서울 강남구 테헤란로 125") == cmp.DIFFERENT


def test_address_in_latin_script_compares_with_its_hangul_form() -> None:
    assert addresses("서울특별시 강남구 테헤란로 152", "152 Teheran-ro, Gangnam-gu, Seoul") == cmp.CLOSE


def test_district_in_latin_script_is_an_exact_locality_match() -> None:
    assert addresses("강남구", "Gangnam-gu") == cmp.EXACT
