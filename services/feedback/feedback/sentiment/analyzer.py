"""Sentiment of short customer feedback in Korean and English: a score in -1..1 and a label.

English goes to VADER (Hutto & Gilbert 2014, the ``vaderSentiment`` package: a validated lexicon with
rules for negation, boosters, "but", caps and punctuation). Korean goes to :mod:`feedback.sentiment.korean`
(Kiwi morphemes and a lemma lexicon on VADER's scale). Both produce a summed valence that is normalised
the way VADER normalises its compound score, ``s / sqrt(s² + 15)``; text in both scripts is the
letter-weighted mean of the two. Deterministic, offline, well under a millisecond per sentence once
loaded. SENTIMENT.md has the method and the accuracy on the labelled sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any

from feedback.sentiment.korean import korean_valence

# VADER's normalisation constant and its recommended label thresholds on the compound score.
ALPHA = 15.0
NEUTRAL_BAND = 0.05


class SentimentLabel(StrEnum):
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


@dataclass(frozen=True)
class Sentiment:
    score: float
    label: SentimentLabel
    language: str | None = None  # "ko", "en", "mixed", or None when the text has no letters


def label_for(score: float, neutral_band: float = NEUTRAL_BAND) -> SentimentLabel:
    if score >= neutral_band:
        return SentimentLabel.POSITIVE
    if score <= -neutral_band:
        return SentimentLabel.NEGATIVE
    return SentimentLabel.NEUTRAL


def normalise(valence: float) -> float:
    return max(-1.0, min(1.0, valence / math.sqrt(valence * valence + ALPHA)))


def _is_hangul(char: str) -> bool:
    code = ord(char)
    return 0xAC00 <= code <= 0xD7A3 or 0x3131 <= code <= 0x318E or 0x1100 <= code <= 0x11FF


# VADER was built on social media text. In customer feedback a few words read differently: "please" opens
# a request rather than praise, "drop" is "drop by", and complaint words VADER lacks are added.
# Set from the sample's dev split only (SENTIMENT.md), on VADER's scale.
ENGLISH_DOMAIN_VALENCES = {
    "please": 0.0,
    "drop": 0.0,
    "smooth": 1.5,
    "late": -1.5,
    "slow": -1.2,
    "buggy": -1.5,
    "unhelpful": -1.8,
    "tasteless": -1.5,
    "waiting": -0.8,
}


@cache
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    analyzer.lexicon.update(ENGLISH_DOMAIN_VALENCES)
    return analyzer


def english_score(text: str) -> float:
    return float(_vader().polarity_scores(text)["compound"])


def score_text(text: str, neutral_band: float = NEUTRAL_BAND) -> Sentiment:
    """Score one piece of feedback (blocking: CPU only, first Korean call loads Kiwi)."""
    hangul = sum(1 for char in text if _is_hangul(char))
    latin = sum(1 for char in text if char.isascii() and char.isalpha())
    if hangul == 0 and latin == 0:
        return Sentiment(score=0.0, label=SentimentLabel.NEUTRAL, language=None)
    parts: list[tuple[int, float]] = []
    if hangul:
        parts.append((hangul, normalise(korean_valence(text))))
    if latin:
        parts.append((latin, english_score(text)))
    score = round(sum(weight * value for weight, value in parts) / (hangul + latin), 4)
    language = "mixed" if hangul and latin else "ko" if hangul else "en"
    return Sentiment(score=score, label=label_for(score, neutral_band), language=language)
