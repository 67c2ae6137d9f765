"""Thompson sampling over a step's variants, with an exploration floor.

Each variant's response rate has the posterior Beta(1 + successes, 1 + failures). A variant's weight is
the posterior probability that it is the best, estimated from Monte Carlo draws; then each weight is
mixed with the uniform share so that every variant keeps at least ``floor / n``:
``w_i = floor / n + (1 - floor) · P(i is best)``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def thompson_weights(
    successes: Mapping[str, int],
    trials: Mapping[str, int],
    *,
    floor: float,
    draws: int = 20_000,
    seed: int | None = None,
) -> dict[str, float]:
    keys = sorted(trials)
    if not keys:
        return {}
    n = len(keys)
    rng = np.random.default_rng(seed)
    alpha = np.array([1 + max(0, successes.get(k, 0)) for k in keys], dtype=float)
    beta = np.array([1 + max(0, trials[k] - successes.get(k, 0)) for k in keys], dtype=float)
    samples = rng.beta(alpha, beta, size=(draws, n))
    wins = np.bincount(samples.argmax(axis=1), minlength=n) / draws
    floor = min(max(floor, 0.0), 1.0)
    weights = floor / n + (1 - floor) * wins
    weights = weights / weights.sum()
    return {key: float(weight) for key, weight in zip(keys, weights, strict=True)}
