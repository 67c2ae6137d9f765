"""Deterministic assignment by hashing: holdout and global control groups, split branches, variants.

Every choice is ``sha256`` of a salt and ids mapped to [0, 1): the same customer lands in the same group
of a campaign on every run, every machine and every re-entry, without storing a random draw first.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence

TREATMENT = "treatment"
CONTROL = "control"
GLOBAL_CONTROL = "global_control"


def unit_hash(*parts: object) -> float:
    """``sha256`` of the parts joined by ``|`` as a number in [0, 1) (first 8 bytes, big-endian)."""
    digest = hashlib.sha256("|".join(str(part) for part in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def in_global_control(customer_id: uuid.UUID, *, percent: float, salt: str) -> bool:
    """Whether the customer belongs to the platform-wide control group (excluded from every campaign)."""
    return percent > 0 and unit_hash(salt, customer_id) < percent / 100


def group_for(
    campaign_id: uuid.UUID,
    customer_id: uuid.UUID,
    *,
    holdout_percent: float,
    global_control_percent: float,
    global_control_salt: str,
) -> str:
    """treatment, control (this campaign's holdout) or global_control."""
    if in_global_control(customer_id, percent=global_control_percent, salt=global_control_salt):
        return GLOBAL_CONTROL
    if holdout_percent > 0 and unit_hash(campaign_id, customer_id) < holdout_percent / 100:
        return CONTROL
    return TREATMENT


def pick_weighted(point: float, weights: Sequence[tuple[str, float]]) -> str:
    """The key whose cumulative-weight bucket contains ``point`` in [0, 1) (weights need not sum to 1)."""
    total = sum(weight for _, weight in weights)
    if total <= 0:
        raise ValueError("weights must have a positive sum")
    cumulative = 0.0
    for key, weight in weights:
        cumulative += weight / total
        if point < cumulative:
            return key
    return weights[-1][0]


def split_branch(enrollment_id: uuid.UUID, step_id: str, percents: Sequence[float]) -> int:
    """The index of the split branch this enrollment takes."""
    point = unit_hash("split", enrollment_id, step_id)
    return int(pick_weighted(point, [(str(i), p) for i, p in enumerate(percents)]))


def pick_variant(enrollment_id: uuid.UUID, step_id: str, weights: Mapping[str, float]) -> str:
    """The variant for this enrollment at this step under the current weights (stable per enrollment
    while the weights stay the same)."""
    point = unit_hash("variant", enrollment_id, step_id)
    return pick_weighted(point, sorted(weights.items()))
