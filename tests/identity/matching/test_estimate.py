"""Unsupervised estimation: parameters from unlabelled records, labels used only to check the result."""

import random
from dataclasses import replace
from datetime import date, timedelta

import pytest

from identity.matching.blocking import candidate_pairs
from identity.matching.estimate import Estimate, correct_u, estimate_parameters, term_frequencies
from identity.matching.model import FellegiSunterMatcher, MatchDecision, MatchRecord

# One character per surname or syllable; 김 and 이 repeated because they are that common.
SURNAMES = list("김김김이이박최정강조윤장임한오서신")
SYLLABLES = list("민서지하도예시주수유준연우윤현은아진원호린빈영희")
ROADS = ["테헤란로", "올림픽로", "세종대로", "판교역로", "동일로", "반포대로", "월드컵북로", "센텀중앙로"]


def _person(rng: random.Random) -> MatchRecord:
    return MatchRecord(
        full_name=rng.choice(SURNAMES) + rng.choice(SYLLABLES) + rng.choice(SYLLABLES),
        birth_date=date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55)),
        address=f"{rng.choice(ROADS)} {rng.randrange(1, 400)}",
        postcode=f"{rng.randrange(1000, 63000):05d}",
        phone=f"+8210{rng.randrange(10**8):08d}",
    )


def _duplicate(person: MatchRecord, rng: random.Random) -> MatchRecord:
    """Another channel's record of the same person: a new phone, and one or two other changes."""
    changed = replace(person, phone=f"+8210{rng.randrange(10**8):08d}")
    for change in rng.sample(["romanize", "postcode", "birth_date", "drop_address"], k=rng.choice([1, 2])):
        if change == "romanize":
            name = person.full_name or ""
            changed = replace(changed, full_name=f"{name[0]} {name[1:]}")
        elif change == "postcode" and person.postcode:
            changed = replace(changed, postcode=person.postcode[:3] + person.postcode[4] + person.postcode[3])
        elif change == "birth_date" and person.birth_date:
            changed = replace(changed, birth_date=person.birth_date + timedelta(days=1))
        else:
            changed = replace(changed, address=None)
    return changed


@pytest.fixture(scope="module")
def population() -> tuple[list[MatchRecord], set[tuple[int, int]]]:
    rng = random.Random(7)
    records = [_person(rng) for _ in range(1500)]
    truth = set()
    for original in rng.sample(range(1500), 300):
        records.append(_duplicate(records[original], rng))
        truth.add((original, len(records) - 1))
    return records, truth


@pytest.fixture(scope="module")
def estimate(population: tuple[list[MatchRecord], set[tuple[int, int]]]) -> Estimate:
    return estimate_parameters(population[0], u_sample_pairs=30_000, seed=3)


def test_estimated_prior_is_within_a_factor_of_two_of_the_truth(
    population: tuple[list[MatchRecord], set[tuple[int, int]]], estimate: Estimate
) -> None:
    records, truth = population
    true_prior = len(truth) / (len(records) * (len(records) - 1) / 2)

    assert true_prior / 2 <= estimate.config.prior <= true_prior * 2


@pytest.mark.parametrize("comparison", ["given_name", "surname", "birth_date", "postcode", "address"])
def test_exact_agreement_is_estimated_likelier_among_matches(estimate: Estimate, comparison: str) -> None:
    parameters = estimate.config.comparisons[comparison]

    assert parameters.m["exact"] > 10 * parameters.u["exact"]


def test_comparisons_without_data_keep_the_base_parameters(estimate: Estimate) -> None:
    assert "email" in estimate.report["kept_from_base"]


def test_estimated_model_merges_duplicates_and_nothing_else(
    population: tuple[list[MatchRecord], set[tuple[int, int]]], estimate: Estimate
) -> None:
    records, truth = population
    matcher = FellegiSunterMatcher(estimate.config)
    merged = {
        pair
        for pair in candidate_pairs(records)
        if matcher.decide(matcher.score(records[pair[0]], records[pair[1]])) is MatchDecision.MERGE
    }

    assert len(merged & truth) / len(merged) >= 0.99
    assert len(merged & truth) / len(truth) >= 0.9


def test_correcting_u_takes_the_matches_out_of_random_agreement() -> None:
    corrected = correct_u(
        {"postcode": {"exact": 0.01, "close": 0.01, "different": 0.98}},
        {"postcode": {"exact": 0.9, "close": 0.05, "different": 0.05}},
        0.005,
    )

    assert corrected["postcode"]["exact"] < 0.01


def test_term_frequencies_are_shares_of_records_by_phonetic_key() -> None:
    records = [
        MatchRecord(surname="김"),
        MatchRecord(surname="Kim"),
        MatchRecord(surname="이"),
        MatchRecord(),
    ]

    assert term_frequencies(records, ["surname"]) == {"surname": {"kim": 2 / 3, "i": 1 / 3}}
