"""The golden profile: one value per field out of every source's values, by configurable rules."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from identity.settings import IdentitySettings

# Input trait names are folded onto these canonical fields, so sources can say "first_name" or "zip".
TRAIT_ALIASES = {
    "full_name": "name",
    "display_name": "name",
    "first_name": "given_name",
    "last_name": "surname",
    "family_name": "surname",
    "date_of_birth": "birth_date",
    "dob": "birth_date",
    "birthday": "birth_date",
    "street": "address",
    "address_1": "address",
    "address_line1": "address",
    "suburb": "city",
    "locality": "city",
    "zip": "postcode",
    "zip_code": "postcode",
    "postal_code": "postcode",
    "region": "state",
}


def canonical_trait(name: str) -> str:
    folded = name.strip().lower()
    return TRAIT_ALIASES.get(folded, folded)


@dataclass
class TraitObservation:
    """A stored trait value (``id`` is None until written)."""

    customer_id: uuid.UUID
    field: str
    value: Any
    source: str
    first_observed_at: datetime
    last_observed_at: datetime
    observations: int = 1
    id: int | None = None


@dataclass(frozen=True)
class GoldenValue:
    value: Any
    source: str
    observed_at: datetime
    sources: int


def golden_profile(
    observations: Iterable[TraitObservation], settings: IdentitySettings
) -> dict[str, GoldenValue]:
    by_field: dict[str, list[TraitObservation]] = defaultdict(list)
    for observation in observations:
        by_field[observation.field].append(observation)
    return {field: _choose(values, settings) for field, values in by_field.items()}


def _choose(values: list[TraitObservation], settings: IdentitySettings) -> GoldenValue:
    rule = settings.survivorship_rule(values[0].field)
    if rule.strategy == "source_priority":
        rank = {source: position for position, source in enumerate(rule.source_priority)}
        best = min(
            values,
            key=lambda v: (rank.get(v.source, len(rank)), -v.last_observed_at.timestamp()),
        )
    elif rule.strategy == "most_frequent":
        totals: dict[str, int] = defaultdict(int)
        for value in values:
            totals[_key(value.value)] += value.observations
        best = max(values, key=lambda v: (totals[_key(v.value)], v.last_observed_at))
    else:
        best = max(values, key=lambda v: v.last_observed_at)
    return GoldenValue(
        value=best.value,
        source=best.source,
        observed_at=best.last_observed_at,
        sources=len({v.source for v in values}),
    )


def _key(value: Any) -> str:
    return str(value).strip().lower()
