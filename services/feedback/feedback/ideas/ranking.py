"""Ranking keys, stored on the idea and kept current by every vote and comment.

- ``top``: the lower bound of the Wilson score interval (z = 1.96) for the share of up votes — an
  idea with 90 up / 10 down outranks one with 1 up / 0 down. SQL: ``wilson_lower_bound(up, down)``.
- ``trending``: every upvote and comment (and the submission itself) adds a weight that halves every
  ``trending_half_life_hours``. The stored key is ``ln Σ exp(λ·(t_i - t0))`` with λ = ln 2 / half-life
  and t in hours since ``TRENDING_EPOCH``; dividing every weight by the same ``exp(λ·now)`` does not
  change the order, so the key never needs refreshing as time passes, and adding (removing) an activity
  is one ``log_add_exp`` (``log_sub_exp``).
- ``newest``: ``created_at``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

TRENDING_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
Z = 1.96


def wilson_lower_bound(up: int, down: int) -> float:
    """The same formula as the SQL function (used in tests and documentation)."""
    n = up + down
    if n == 0:
        return 0.0
    p = up / n
    return (p + Z * Z / (2 * n) - Z * math.sqrt((p * (1 - p) + Z * Z / (4 * n)) / n)) / (1 + Z * Z / n)


def decay_rate(half_life_hours: float) -> float:
    """λ per hour."""
    return math.log(2) / half_life_hours


def activity_key(at: datetime, half_life_hours: float) -> float:
    """λ·(t - t0): the log of one activity's weight."""
    return decay_rate(half_life_hours) * (at - TRENDING_EPOCH).total_seconds() / 3600


def trending_score(activity_times: list[datetime], half_life_hours: float) -> float:
    """ln Σ exp(λ·(t_i - t0)), computed stably (for tests and recounts)."""
    keys = [activity_key(at, half_life_hours) for at in activity_times]
    top = max(keys)
    return top + math.log(sum(math.exp(k - top) for k in keys))
