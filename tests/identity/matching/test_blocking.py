"""Blocking keys: true duplicates share one; nothing compares all pairs."""

from dataclasses import replace
from datetime import date

from identity.matching.blocking import blocking_keys, candidate_pairs
from identity.matching.model import MatchRecord

HARLEY = MatchRecord(
    given_name="harley",
    surname="mccarthy",
    birth_date=date(1908, 4, 19),
    street_number="177",
    address="pridham street",
    address_detail="milton",
    locality="marsden",
    postcode="3165",
    state="nsw",
)


def test_typo_duplicate_shares_a_blocking_key() -> None:
    duplicate = replace(HARLEY, given_name="haryley", surname="mccarhty", postcode="3167", locality="marsdne")

    assert blocking_keys(HARLEY) & blocking_keys(duplicate)


def test_hangul_and_romanized_records_share_a_blocking_key() -> None:
    hangul = MatchRecord(full_name="김서연", birth_date=date(1990, 3, 4))
    romanized = MatchRecord(given_name="Seo-yeon", surname="Gim", birth_date=date(1990, 3, 4))

    assert blocking_keys(hangul) & blocking_keys(romanized)


def test_keys_combine_two_attributes_so_one_attribute_alone_shares_none() -> None:
    same_birth_date_only = MatchRecord(given_name="zoe", surname="tran", birth_date=HARLEY.birth_date)

    assert not blocking_keys(HARLEY) & blocking_keys(same_birth_date_only)


def test_record_without_usable_fields_has_no_keys() -> None:
    assert blocking_keys(MatchRecord(state="nsw")) == set()


def test_keys_are_short_and_tagged_by_kind() -> None:
    keys = blocking_keys(replace(HARLEY, phone="+821012345678", email="harley@example.com"))

    assert all(len(key) <= 64 and key[2] == ":" for key in keys)
    assert {"ph:12345678", "em:harley"} <= keys


def test_candidate_pairs_are_exactly_the_key_sharers() -> None:
    records = [HARLEY, replace(HARLEY, given_name="haryley"), MatchRecord(given_name="zoe", surname="tran")]

    assert candidate_pairs(records) == {(0, 1)}


def test_linkage_candidates_pair_left_with_right_only() -> None:
    left = [HARLEY, MatchRecord(given_name="zoe", surname="tran", postcode="2000")]
    right = [replace(HARLEY, surname="mccarhty"), replace(HARLEY, surname="mccarthy")]

    assert candidate_pairs(left, right) == {(0, 0), (0, 1)}
