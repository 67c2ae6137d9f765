"""Names in Hangul and Latin script, normalized for comparison."""

import pytest
from rapidfuzz.distance import JaroWinkler

from identity.matching.names import fold, normalize_name, normalize_name_part


@pytest.mark.parametrize(
    "written", ["김서연", "김 서연", "Kim Seo-yeon", "KIM SEOYEON", "Gim Seoyeon", "Seoyeon Kim"]
)
def test_spellings_of_one_korean_name_share_the_translit_key(written: str) -> None:
    assert normalize_name(written).translit_key == normalize_name("김서연").translit_key


def test_hangul_name_with_and_without_space_has_one_key() -> None:
    assert normalize_name("김 서연").key == normalize_name("김서연").key == "김서연"


def test_hangul_name_is_split_surname_first() -> None:
    name = normalize_name("김서연")

    assert (name.surname, name.given, name.tokens) == ("김", "서연", ("김", "서연"))


def test_compound_hangul_surname_keeps_both_syllables() -> None:
    name = normalize_name("남궁민수")

    assert (name.surname, name.given) == ("남궁", "민수")


def test_romanized_korean_name_finds_the_surname_in_either_order() -> None:
    assert normalize_name("Seoyeon Kim").surname == normalize_name("Kim Seoyeon").surname == "kim"


def test_latin_name_order_does_not_change_the_translit_key() -> None:
    assert normalize_name("John Smith").translit_key == normalize_name("Smith, John").translit_key


def test_one_syllable_apart_are_different_names() -> None:
    minjun, minjeong = normalize_name("이민준"), normalize_name("이민정")

    assert minjun.key != minjeong.key
    assert minjun.translit_key != minjeong.translit_key


def test_romanization_variants_land_close() -> None:
    similarity = JaroWinkler.similarity(
        normalize_name("김서연").translit_key, normalize_name("Kim Seo-yun").translit_key
    )

    assert similarity >= 0.9


@pytest.mark.parametrize(
    "spellings",
    [
        ("이", "Lee", "Yi", "Rhee", "I"),
        ("박", "Park", "Bak", "Pak"),
        ("최", "Choi", "Choe"),
        ("정", "Jung", "Jeong", "Chung"),
        ("류", "Ryu", "Yu", "Yoo"),
        ("서", "Seo", "Suh"),
    ],
)
def test_surname_romanizations_fold_together(spellings: tuple[str, ...]) -> None:
    assert len({fold(spelling) for spelling in spellings}) == 1


def test_display_is_single_spaced_without_stray_punctuation() -> None:
    assert normalize_name("  Kim,,  Seo-yeon!! ").display == "Kim Seo-yeon"


def _full_width(text: str) -> str:
    return "".join("\u3000" if char == " " else chr(ord(char) + 0xFEE0) for char in text)


def test_full_width_letters_are_normalized() -> None:
    assert normalize_name(_full_width("KIM SEOYEON")).key == "kimseoyeon"


def test_key_ignores_case_spaces_and_hyphens() -> None:
    assert normalize_name("Seo-Yeon KIM").key == "seoyeonkim"


def test_name_part_keeps_a_stray_space_inside_one_name() -> None:
    assert normalize_name_part("crou ch").translit_key == normalize_name_part("crouch").translit_key


def test_empty_name_is_falsy() -> None:
    assert not normalize_name("  ,. ")
