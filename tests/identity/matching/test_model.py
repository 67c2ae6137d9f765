"""The Fellegi-Sunter matcher: weights, probabilities, decisions, configuration."""

import json
from dataclasses import replace
from datetime import date

import pytest
from pydantic import ValidationError

from identity.matching.model import (
    FellegiSunterMatcher,
    MatchDecision,
    MatcherConfig,
    MatchRecord,
    prior_for,
)

SEOYEON = MatchRecord(
    full_name="김서연",
    birth_date=date(1990, 3, 4),
    address="서울특별시 강남구 테헤란로 152",
    address_detail="101동 1203호",
    locality="강남구",
    postcode="06236",
    phone="+821012345678",
    email="seoyeon.kim@naver.com",
)


@pytest.fixture(scope="module")
def matcher() -> FellegiSunterMatcher:
    return FellegiSunterMatcher(MatcherConfig())


def test_typo_duplicate_scores_above_auto_merge_threshold(matcher: FellegiSunterMatcher) -> None:
    duplicate = replace(
        SEOYEON, full_name="Kim Seo-yeon", birth_date=date(1990, 4, 3), postcode="06263", phone=None
    )

    score = matcher.score(SEOYEON, duplicate)

    assert score.probability >= matcher.config.auto_merge_threshold
    assert matcher.decide(score) is MatchDecision.MERGE


def test_people_sharing_only_surname_and_postcode_stay_below_review(matcher: FellegiSunterMatcher) -> None:
    neighbour = MatchRecord(
        full_name="김도윤",
        birth_date=date(1975, 11, 20),
        address="서울특별시 강남구 역삼로 180",
        locality="강남구",
        postcode="06236",
        phone="+821077778888",
    )

    score = matcher.score(SEOYEON, neighbour)

    assert score.probability < matcher.config.review_threshold
    assert matcher.decide(score) is MatchDecision.DISTINCT


def test_missing_field_contributes_zero_weight(matcher: FellegiSunterMatcher) -> None:
    other = replace(SEOYEON, email="someone.else@gmail.com")

    with_birth_date = matcher.score(SEOYEON, other)
    without = matcher.score(SEOYEON, replace(other, birth_date=None))

    assert without.field_weights["birth_date"] == 0.0
    assert without.levels["birth_date"] == "missing"
    assert with_birth_date.weight - without.weight == pytest.approx(
        with_birth_date.field_weights["birth_date"]
    )


def test_disagreement_is_evidence_against_a_match(matcher: FellegiSunterMatcher) -> None:
    score = matcher.score(SEOYEON, replace(SEOYEON, birth_date=date(1971, 12, 25)))

    assert score.field_weights["birth_date"] < 0


def test_given_name_and_surname_written_swapped_are_compared_crosswise(matcher: FellegiSunterMatcher) -> None:
    a = MatchRecord(given_name="harley", surname="mccarthy", birth_date=date(1908, 4, 19), postcode="3165")
    b = replace(a, given_name="mccarthy", surname="harley")

    score = matcher.score(a, b)

    assert score.swapped == ["names"]
    assert score.levels["given_name"] == score.levels["surname"] == "exact"


def test_household_member_at_the_same_address_is_not_merged(matcher: FellegiSunterMatcher) -> None:
    spouse = replace(SEOYEON, full_name="박준호", birth_date=date(1988, 6, 1), phone=None, email=None)

    score = matcher.score(SEOYEON, spouse)

    assert score.adjustments["location"] < 0
    assert matcher.decide(score) is MatchDecision.DISTINCT


def test_hangul_given_names_that_differ_are_held_for_review(matcher: FellegiSunterMatcher) -> None:
    twin = replace(SEOYEON, full_name="김서윤", phone="+821012345679", email=None)

    score = matcher.score(SEOYEON, twin)

    assert score.probability >= matcher.config.auto_merge_threshold
    assert score.flags == ["hangul_given_names_differ"]
    assert matcher.decide(score) is MatchDecision.REVIEW


def test_review_only_rule_stops_an_automatic_merge() -> None:
    strict = FellegiSunterMatcher(MatcherConfig(review_only={"phone": ["different"]}))
    duplicate = replace(SEOYEON, phone="+821099998888")

    score = strict.score(SEOYEON, duplicate)

    assert score.probability >= strict.config.auto_merge_threshold
    assert strict.decide(score) is MatchDecision.REVIEW


def test_common_surname_counts_less_than_a_rare_one(matcher: FellegiSunterMatcher) -> None:
    kim = matcher.score(MatchRecord(surname="김"), MatchRecord(surname="김"))
    namgung = matcher.score(MatchRecord(surname="남궁"), MatchRecord(surname="남궁"))

    assert kim.field_weights["surname"] < namgung.field_weights["surname"]


def test_higher_prior_gives_higher_probability_for_the_same_evidence() -> None:
    other = replace(SEOYEON, address=None, address_detail=None, phone=None, email=None)
    small_base = FellegiSunterMatcher(MatcherConfig(prior=prior_for(10_000, 0.2)))
    large_base = FellegiSunterMatcher(MatcherConfig(prior=prior_for(10_000_000, 0.2)))

    assert small_base.score(SEOYEON, other).probability > large_base.score(SEOYEON, other).probability


def test_evidence_is_json_serializable(matcher: FellegiSunterMatcher) -> None:
    evidence = matcher.score(SEOYEON, replace(SEOYEON, full_name="Kim Seoyeon")).evidence()

    assert json.loads(json.dumps(evidence)) == evidence
    assert set(evidence["field_weights"]) >= {"given_name", "surname", "birth_date", "postcode"}


def test_prior_for_is_returning_share_over_base_size() -> None:
    assert prior_for(1_000_000, 0.2) == pytest.approx(2e-7)


def test_config_rejects_review_threshold_above_auto_merge_threshold() -> None:
    with pytest.raises(ValidationError, match="review_threshold"):
        MatcherConfig(auto_merge_threshold=0.9, review_threshold=0.95)


def test_config_rejects_unknown_levels() -> None:
    comparisons = MatcherConfig().model_dump()["comparisons"]
    comparisons["postcode"]["m"] = {"exact": 0.9, "nearby": 0.1}

    with pytest.raises(ValidationError, match="postcode"):
        MatcherConfig(comparisons=comparisons)


def test_config_round_trips_through_json() -> None:
    config = MatcherConfig(auto_merge_threshold=0.995, review_threshold=0.7)

    assert MatcherConfig.model_validate_json(config.model_dump_json()) == config
