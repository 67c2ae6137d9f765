"""Probabilistic (Fellegi-Sunter) matching of customer records: pure Python, no database, no HTTP.

The resolution engine calls ``blocking_keys`` to store and look up candidates, ``FellegiSunterMatcher.score``
to weigh a candidate, and ``MatcherConfig.decide`` (thresholds, review-only rules) to act on it. See
``services/identity/MATCHING.md``.
"""

from identity.matching.blocking import blocking_keys
from identity.matching.model import (
    FellegiSunterMatcher,
    MatchDecision,
    MatcherConfig,
    MatchRecord,
    MatchScore,
    prior_for,
)
from identity.matching.names import NormalizedName, normalize_name

__all__ = [
    "FellegiSunterMatcher",
    "MatchDecision",
    "MatchRecord",
    "MatchScore",
    "MatcherConfig",
    "NormalizedName",
    "blocking_keys",
    "normalize_name",
    "prior_for",
]
