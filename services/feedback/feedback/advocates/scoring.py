"""The advocate score: who speaks well of us, and is heard.

    score = nps_points + upvote_points + positive_points                       (0..100, one decimal)
    nps_points      = 5 x latest NPS (0..50; 0 without an NPS answer)
    upvote_points   = 30 x (1 - e^(-upvotes/10))  upvotes received on the customer's published ideas
    positive_points = 20 x (1 - e^(-positives/3)) responses with positive sentiment or CSAT 4-5
                                                  (complaints excluded)

The two counts saturate: the first few upvotes and kind words say most of what there is to say, and a
prolific author cannot outweigh what they told us in NPS. A customer whose latest NPS is a detractor's
(0-6) is capped at 39.9, below the supporter tier: they are not to be targeted as advocates.

Tiers: advocate >= 70, supporter >= 40, neutral below. A change is announced (``advocate.score_changed``)
when the score has moved at least 5 points from the last announced one, or the tier changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

NPS_POINTS_PER_POINT = 5.0
UPVOTE_POINTS, UPVOTE_SCALE = 30.0, 10.0
POSITIVE_POINTS, POSITIVE_SCALE = 20.0, 3.0
DETRACTOR_NPS_MAX = 6
DETRACTOR_CAP = 39.9
ADVOCATE_MIN, SUPPORTER_MIN = 70.0, 40.0
ANNOUNCE_DELTA = 5.0


@dataclass(frozen=True)
class Inputs:
    latest_nps: int | None
    upvotes_received: int
    positive_feedback: int


def advocate_score(inputs: Inputs) -> float:
    nps_points = NPS_POINTS_PER_POINT * inputs.latest_nps if inputs.latest_nps is not None else 0.0
    upvote_points = UPVOTE_POINTS * (1 - math.exp(-max(inputs.upvotes_received, 0) / UPVOTE_SCALE))
    positive_points = POSITIVE_POINTS * (1 - math.exp(-max(inputs.positive_feedback, 0) / POSITIVE_SCALE))
    score = nps_points + upvote_points + positive_points
    if inputs.latest_nps is not None and inputs.latest_nps <= DETRACTOR_NPS_MAX:
        score = min(score, DETRACTOR_CAP)
    return round(min(max(score, 0.0), 100.0), 1)


def tier_of(score: float) -> str:
    if score >= ADVOCATE_MIN:
        return "advocate"
    if score >= SUPPORTER_MIN:
        return "supporter"
    return "neutral"


def worth_announcing(
    score: float, tier: str, announced_score: float | None, announced_tier: str | None
) -> bool:
    """A meaningful change since the last announcement (never announced counts as 0, neutral)."""
    before_score = announced_score if announced_score is not None else 0.0
    before_tier = announced_tier if announced_tier is not None else "neutral"
    return abs(score - before_score) >= ANNOUNCE_DELTA or tier != before_tier
