"""Results statistics: conversion rates, lift over control with a 95% confidence interval, and the
sample-ratio-mismatch alarm.

Lift is the difference of two proportions, ``p_t - p_c``. Its 95% interval uses the normal (Wald)
approximation with unpooled variances: ``(p_t - p_c) ± 1.96·√(p_t(1-p_t)/n_t + p_c(1-p_c)/n_c)``.
It is fair once each group has a few conversions and non-conversions (roughly n·p >= 5 and
n·(1-p) >= 5); below that the interval is too narrow, which the report says by flagging
``approximation_ok: false``. Relative lift is ``(p_t - p_c) / p_c`` (none when p_c = 0).

Sample-ratio mismatch: the observed sizes of treatment, control and global control are compared with
the split the hashing should produce (``scipy.stats.chisquare``); p < 0.001 raises the alarm — a
broken assignment or a lossy pipeline, which makes every lift figure suspect.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import chisquare

Z_95 = 1.959963984540054
SRM_ALPHA = 0.001


@dataclass(frozen=True, slots=True)
class Lift:
    absolute: float
    relative: float | None
    ci_low: float
    ci_high: float
    approximation_ok: bool


def rate(successes: int, trials: int) -> float | None:
    return successes / trials if trials else None


def lift(treated_successes: int, treated: int, control_successes: int, control: int) -> Lift | None:
    """Difference of proportions treatment - control with its 95% normal-approximation interval."""
    if treated == 0 or control == 0:
        return None
    p_t = treated_successes / treated
    p_c = control_successes / control
    diff = p_t - p_c
    se = math.sqrt(p_t * (1 - p_t) / treated + p_c * (1 - p_c) / control)
    ok = all(
        count >= 5
        for count in (
            treated_successes,
            treated - treated_successes,
            control_successes,
            control - control_successes,
        )
    )
    return Lift(
        absolute=diff,
        relative=(diff / p_c) if p_c > 0 else None,
        ci_low=diff - Z_95 * se,
        ci_high=diff + Z_95 * se,
        approximation_ok=ok,
    )


@dataclass(frozen=True, slots=True)
class SampleRatioCheck:
    observed: dict[str, int]
    expected_share: dict[str, float]
    p_value: float | None
    alarm: bool


def sample_ratio_check(observed: dict[str, int], expected_share: dict[str, float]) -> SampleRatioCheck:
    """Chi-square goodness of fit of the group sizes against the expected shares (groups with a zero
    expected share are left out; a count there would be an alarm on its own)."""
    groups = [group for group, share in expected_share.items() if share > 0]
    total = sum(observed.get(group, 0) for group in groups)
    stray = sum(count for group, count in observed.items() if expected_share.get(group, 0) == 0)
    if len(groups) < 2 or total == 0:
        return SampleRatioCheck(observed, expected_share, None, stray > 0)
    share_total = sum(expected_share[group] for group in groups)
    f_obs: Sequence[int] = [observed.get(group, 0) for group in groups]
    f_exp = [total * expected_share[group] / share_total for group in groups]
    p_value = float(chisquare(f_obs, f_exp).pvalue)
    return SampleRatioCheck(observed, expected_share, p_value, p_value < SRM_ALPHA or stray > 0)


def expected_group_shares(holdout_percent: float, global_control_percent: float) -> dict[str, float]:
    global_share = global_control_percent / 100
    control_share = (1 - global_share) * holdout_percent / 100
    return {
        "treatment": 1 - global_share - control_share,
        "control": control_share,
        "global_control": global_share,
    }
