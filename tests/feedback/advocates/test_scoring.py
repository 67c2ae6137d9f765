import math

import pytest

from feedback.advocates.scoring import Inputs, advocate_score, tier_of, worth_announcing


def test_a_promoter_without_ideas_or_praise_scores_five_points_per_nps_point() -> None:
    assert advocate_score(Inputs(latest_nps=10, upvotes_received=0, positive_feedback=0)) == 50.0


def test_upvotes_and_praise_saturate() -> None:
    ten_upvotes = advocate_score(Inputs(latest_nps=None, upvotes_received=10, positive_feedback=0))
    a_thousand = advocate_score(Inputs(latest_nps=None, upvotes_received=1000, positive_feedback=0))
    three_praises = advocate_score(Inputs(latest_nps=None, upvotes_received=0, positive_feedback=3))

    assert ten_upvotes == round(30 * (1 - math.exp(-1)), 1)
    assert a_thousand == 30.0
    assert three_praises == round(20 * (1 - math.exp(-1)), 1)


def test_the_score_never_exceeds_a_hundred() -> None:
    assert advocate_score(Inputs(latest_nps=10, upvotes_received=10**6, positive_feedback=10**6)) == 100.0


def test_a_detractor_is_capped_below_the_supporter_tier() -> None:
    score = advocate_score(Inputs(latest_nps=6, upvotes_received=500, positive_feedback=50))

    assert score == 39.9
    assert tier_of(score) == "neutral"


@pytest.mark.parametrize(
    ("score", "tier"), [(70.0, "advocate"), (69.9, "supporter"), (40.0, "supporter"), (39.9, "neutral")]
)
def test_tiers(score: float, tier: str) -> None:
    assert tier_of(score) == tier


@pytest.mark.parametrize(
    ("score", "tier", "announced_score", "announced_tier", "due"),
    [
        (4.9, "neutral", None, None, False),
        (5.0, "neutral", None, None, True),
        (54.0, "supporter", 50.0, "supporter", False),
        (55.0, "supporter", 50.0, "supporter", True),
        (41.0, "supporter", 39.0, "neutral", True),
    ],
)
def test_a_change_is_announced_when_it_is_five_points_or_a_tier(
    score: float, tier: str, announced_score: float | None, announced_tier: str | None, due: bool
) -> None:
    assert worth_announcing(score, tier, announced_score, announced_tier) is due
