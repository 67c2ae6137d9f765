"""The crisis detector's arithmetic: is this window's negative count a spike for this touchpoint?

Method (EXPERIENCE.md): time is cut into fixed windows (default an hour, aligned to round times). For a
touchpoint and a window with ``k`` negatives, the baseline rate ``λ`` is the mean number of negatives in
the touchpoint's previous ``N`` windows (default 24; a window with none counts as 0), floored at
``min_rate`` so that a touchpoint that is usually silent needs more than one bad review to alarm. The
window is a spike when ``k >= min_count`` and the Poisson tail ``P(X >= k | λ) <= max_p``: under the
touchpoint's own usual rate, that many negatives would happen by chance at most once in 1/max_p
windows. Pure functions, no clock: the caller says which windows to judge.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class SpikeRule:
    window: timedelta
    baseline_windows: int
    min_count: int
    max_p_value: float
    min_baseline_rate: float


@dataclass(frozen=True)
class Spike:
    touchpoint: str
    window_start: datetime
    window_end: datetime
    negatives: int
    baseline_rate: float
    p_value: float


def poisson_tail(k: int, rate: float) -> float:
    """P(X >= k) for X ~ Poisson(rate), summed in log space so large counts do not overflow."""
    if k <= 0:
        return 1.0
    if rate <= 0:
        return 0.0
    # Below the mean the tail is large: 1 - P(X < k) is accurate. Above it, sum the tail terms, which
    # shrink fast, directly (no cancellation in 1 - (1 - tiny)).
    if k <= rate:
        below = sum(math.exp(i * math.log(rate) - rate - math.lgamma(i + 1)) for i in range(k))
        return max(0.0, 1.0 - below)
    total = 0.0
    i = k
    while True:
        term = math.exp(i * math.log(rate) - rate - math.lgamma(i + 1))
        total += term
        if term < total * 1e-15 or i > k + 10_000:
            return min(1.0, total)
        i += 1


def window_floor(at: datetime, window: timedelta, origin: datetime) -> datetime:
    """The start of the fixed window containing ``at`` (the same as PostgreSQL's ``date_bin``)."""
    return origin + ((at - origin) // window) * window


def find_spikes(
    negatives: Mapping[str, Mapping[datetime, int]], *, judged: Sequence[datetime], rule: SpikeRule
) -> list[Spike]:
    """The windows among ``judged`` (window starts) where a touchpoint's negatives spike above its own
    baseline. ``negatives`` holds counts per touchpoint and window start; absent windows count 0."""
    spikes: list[Spike] = []
    for touchpoint, by_window in sorted(negatives.items()):
        for start in judged:
            count = by_window.get(start, 0)
            if count < rule.min_count:
                continue
            history = [
                by_window.get(start - rule.window * back, 0) for back in range(1, rule.baseline_windows + 1)
            ]
            rate = max(sum(history) / len(history), rule.min_baseline_rate)
            p_value = poisson_tail(count, rate)
            if p_value <= rule.max_p_value:
                spikes.append(
                    Spike(
                        touchpoint=touchpoint,
                        window_start=start,
                        window_end=start + rule.window,
                        negatives=count,
                        baseline_rate=round(rate, 4),
                        p_value=p_value,
                    )
                )
    return spikes
