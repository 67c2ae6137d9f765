"""The Fellegi-Sunter model: records, configuration, and the matcher that scores a pair.

Each comparison (given name, surname, birth date, address, postcode, phone, email ...) puts a pair in
one agreement level. A level carries two probabilities: ``m``, how often true matches land in it, and
``u``, how often two unrelated people do. The pair's evidence from that field is the match weight
``log2(m / u)``; a missing value contributes 0. The total weight plus the prior log-odds gives the
posterior match probability, which the engine compares with the auto-merge and review thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from identity.matching import comparisons as cmp
from identity.matching.defaults import DEFAULT_PARAMETERS
from identity.matching.names import (
    NormalizedName,
    korean_surname_frequencies,
    normalize_name,
    normalize_name_part,
)

# Keeps a weight finite when a level was never seen among non-matches (u = 0 in a sample).
MIN_PROBABILITY = 1e-9
# Bound on the log-odds so a posterior is a float strictly between 0 and 1 in JSON.
MAX_LOG_ODDS = 60.0

HANGUL_GIVEN_NAMES_DIFFER = "hangul_given_names_differ"
FLAGS = (HANGUL_GIVEN_NAMES_DIFFER,)


@dataclass(frozen=True)
class MatchRecord:
    """What the matcher knows about one person. Every field is optional; missing is no evidence.

    ``full_name`` is used when ``given_name`` and ``surname`` are not given separately. ``phone`` is
    E.164, ``email`` already normalized by the caller. ``address`` is the street line,
    ``address_detail`` the rest (building, apartment, unit), ``locality`` the suburb, city or district.
    """

    given_name: str | None = None
    surname: str | None = None
    full_name: str | None = None
    birth_date: date | None = None
    street_number: str | None = None
    address: str | None = None
    address_detail: str | None = None
    locality: str | None = None
    postcode: str | None = None
    state: str | None = None
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class PreparedRecord:
    """A MatchRecord with every field normalized once, ready for comparisons and blocking keys."""

    given_name: NormalizedName | None
    surname: NormalizedName | None
    birth_date: date | None
    street_number: str
    address: cmp.AddressKey
    address_detail: cmp.AddressKey
    locality: cmp.AddressKey
    postcode: str
    state: str
    phone: str
    email: str
    street_code: str = ""
    locality_code: str = ""


def _name(raw: str | None) -> NormalizedName | None:
    normalized = normalize_name_part(raw) if raw else None
    return normalized if normalized else None


@lru_cache(maxsize=200_000)
def prepare(record: MatchRecord) -> PreparedRecord:
    """Normalize a record's fields (cached: the same record is compared with many candidates)."""
    given, surname = _name(record.given_name), _name(record.surname)
    if given is None and surname is None and record.full_name:
        full = normalize_name(record.full_name)
        if full.surname is not None and full.given:
            given, surname = _name(full.given), _name(full.surname)
        elif full and full.script == "hangul" and len(full.key) == 1:
            surname = _name(full.key)
        elif full:
            given = _name(full.key)
    return PreparedRecord(
        given_name=given,
        surname=surname,
        birth_date=record.birth_date,
        street_number=cmp.normalize_code(record.street_number),
        address=cmp.AddressKey.of(record.address),
        address_detail=cmp.AddressKey.of(record.address_detail),
        locality=cmp.AddressKey.of(record.locality),
        postcode=cmp.normalize_code(record.postcode),
        state=cmp.normalize_region(record.state),
        phone=cmp.normalize_phone(record.phone),
        email=cmp.normalize_email(record.email),
        street_code=cmp.street_code(record.address),
        locality_code=cmp.place_code(record.locality),
    )


class MatchDecision(StrEnum):
    MERGE = "merge"
    REVIEW = "review"
    DISTINCT = "distinct"


@dataclass
class MatchScore:
    """How strongly two records look like the same person, and why.

    ``weight`` is the total Fellegi-Sunter match weight in bits (``field_weights`` plus
    ``adjustments``, without the prior); ``probability`` the posterior match probability given the
    configured prior; ``adjustments`` the caps of correlated evidence groups (negative); ``flags``
    facts that can hold a pair for review (see ``MatcherConfig.review_only_flags``);
    ``field_weights`` the evidence per comparison (0 when a side is missing); ``levels`` the
    agreement level of each comparison; ``swapped`` which field pairs were compared crosswise
    (given name against surname, street line against address detail).
    """

    weight: float
    probability: float
    field_weights: dict[str, float]
    levels: dict[str, str] = field(default_factory=dict)
    swapped: list[str] = field(default_factory=list)
    adjustments: dict[str, float] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)

    def evidence(self) -> dict[str, Any]:
        """The score as JSON-ready merge or suggestion evidence."""
        return {
            "weight": round(self.weight, 3),
            "probability": self.probability,
            "field_weights": {name: round(value, 3) for name, value in self.field_weights.items()},
            "levels": dict(self.levels),
            "swapped": list(self.swapped),
            "adjustments": {name: round(value, 3) for name, value in self.adjustments.items()},
            "flags": list(self.flags),
        }


class ComparisonConfig(BaseModel):
    """One comparison: whether it is used, its similarity thresholds, and m/u per agreement level."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="Jaro-Winkler similarity for 'close'/'partial' (names, addresses, email), or the "
        "number of edits for 'close' (postcode, street number). Unset ones take the built-in defaults.",
    )
    m: dict[str, float] = Field(description="P(level | same person), per level.")
    u: dict[str, float] = Field(description="P(level | different people), per level.")


class EvidenceGroup(BaseModel):
    """Comparisons that measure one fact, whose agreement must not be counted once per field.

    Fellegi-Sunter assumes the comparisons independent. Street line, postcode, locality and state
    are not: the street address implies the rest, and a spouse or child at the same address agrees on
    all of them. The positive evidence of a group is capped at ``max_weight`` bits (disagreements
    still count in full).
    """

    model_config = ConfigDict(extra="forbid")

    comparisons: list[str]
    max_weight: float = Field(gt=0)


def _default_evidence_groups() -> dict[str, EvidenceGroup]:
    return {
        "location": EvidenceGroup(
            comparisons=["street_number", "address", "address_detail", "locality", "postcode", "state"],
            # About what agreeing on the whole street address (line and detail) is worth under the
            # default parameters: postcode, locality and state add nothing the address did not say.
            max_weight=22.0,
        )
    }


def _default_comparisons() -> dict[str, ComparisonConfig]:
    return {
        name: ComparisonConfig.model_validate(params)
        for name, params in DEFAULT_PARAMETERS["comparisons"].items()
    }


def _default_term_frequencies() -> dict[str, dict[str, float]]:
    return {"surname": korean_surname_frequencies()}


class MatcherConfig(BaseModel):
    """Everything that decides a match: the model's parameters, the prior, and the two thresholds.

    The defaults (``defaults.py``) were estimated without labels; see ``MATCHING.md`` for how, and for
    setting ``prior`` to the size of the customer base.
    """

    model_config = ConfigDict(extra="forbid")

    prior: float = Field(
        default=DEFAULT_PARAMETERS["prior"],
        gt=0,
        lt=1,
        description="Probability that two records picked at random are the same person (see prior_for).",
    )
    auto_merge_threshold: float = Field(default=0.99, gt=0, le=1)
    review_threshold: float = Field(default=0.80, gt=0, le=1)
    comparisons: dict[str, ComparisonConfig] = Field(default_factory=_default_comparisons)
    term_frequencies: dict[str, dict[str, float]] = Field(
        default_factory=_default_term_frequencies,
        description="Per comparison, the share of people with each value (names by phonetic key): an "
        "agreement on a common value (김/Kim) counts less than on a rare one.",
    )
    evidence_groups: dict[str, EvidenceGroup] = Field(default_factory=_default_evidence_groups)
    review_only: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Rules that stop an automatic merge: a pair with one of these levels (e.g. "
        "{'given_name': ['different']}, so twins and household members go to a person) is at most "
        "suggested for review, whatever its probability.",
    )
    review_only_flags: list[str] = Field(
        default_factory=lambda: [HANGUL_GIVEN_NAMES_DIFFER],
        description="Flags of a pair that stop an automatic merge. 'hangul_given_names_differ': two "
        "given names in Hangul that are not the same (이민준 / 이민정, 서준 / 서진) may be twins or "
        "siblings - who share surname, birth date and address - as well as a typo: a person decides.",
    )
    source: str = Field(default=DEFAULT_PARAMETERS["source"], description="Where the parameters came from.")

    @model_validator(mode="after")
    def _check(self) -> MatcherConfig:
        if self.review_threshold > self.auto_merge_threshold:
            raise ValueError("review_threshold must not exceed auto_merge_threshold")
        for name, comparison in self.comparisons.items():
            kind = cmp.COMPARISONS.get(name)
            if kind is None:
                raise ValueError(
                    f"comparisons.{name}: unknown comparison (known: {', '.join(cmp.COMPARISONS)})"
                )
            for side in ("m", "u"):
                probabilities = getattr(comparison, side)
                if set(probabilities) != set(kind.levels):
                    raise ValueError(f"comparisons.{name}.{side}: expected levels {list(kind.levels)}")
                if any(not 0 <= value <= 1 for value in probabilities.values()):
                    raise ValueError(f"comparisons.{name}.{side}: probabilities must be within [0, 1]")
                if abs(sum(probabilities.values()) - 1) > 1e-3:
                    raise ValueError(f"comparisons.{name}.{side}: probabilities must sum to 1")
        for group_name, group in self.evidence_groups.items():
            unknown = [name for name in group.comparisons if name not in cmp.COMPARISONS]
            if unknown:
                raise ValueError(f"evidence_groups.{group_name}: unknown comparisons {unknown}")
        for name, levels in self.review_only.items():
            kind = cmp.COMPARISONS.get(name)
            if kind is None or not set(levels) <= {*kind.levels, cmp.MISSING}:
                raise ValueError(f"review_only.{name}: unknown comparison or level")
        unknown_flags = set(self.review_only_flags) - set(FLAGS)
        if unknown_flags:
            raise ValueError(
                f"review_only_flags: unknown {sorted(unknown_flags)} (known: {', '.join(FLAGS)})"
            )
        return self

    def decide(
        self, probability: float, levels: Mapping[str, str] | None = None, flags: Iterable[str] = ()
    ) -> MatchDecision:
        """merge at or above the auto-merge threshold, review at or above the review threshold, else
        distinct; a pair caught by a review-only rule (by its ``levels`` or ``flags``) is at most review."""
        if probability >= self.auto_merge_threshold and not self.held_for_review(levels or {}, flags):
            return MatchDecision.MERGE
        if probability >= self.review_threshold:
            return MatchDecision.REVIEW
        return MatchDecision.DISTINCT

    def held_for_review(self, levels: Mapping[str, str], flags: Iterable[str] = ()) -> bool:
        """Whether a review-only rule forbids merging a pair with these levels and flags automatically."""
        if any(flag in self.review_only_flags for flag in flags):
            return True
        return any(levels.get(name) in held for name, held in self.review_only.items())

    def thresholds_for(self, name: str) -> dict[str, float]:
        """The comparison's similarity thresholds, built-in defaults filled in."""
        configured = self.comparisons[name].thresholds if name in self.comparisons else {}
        return {**cmp.COMPARISONS[name].default_thresholds, **configured}


def prior_for(customers: int, returning_share: float) -> float:
    """The prior for matching one incoming record against a base of ``customers`` people.

    ``returning_share`` is the share of incoming records (that found no exact identifier match) that
    belong to someone already in the base. One of ``customers`` candidates is that person, so a random
    pair matches with probability returning_share / customers.
    """
    if customers < 1 or not 0 < returning_share < 1:
        raise ValueError("customers must be >= 1 and returning_share within (0, 1)")
    return min(returning_share / customers, 0.5)


@dataclass(frozen=True)
class ComparisonVector:
    """The agreement level of every comparison for one pair (None: a side is missing)."""

    levels: dict[str, str | None]
    swapped: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()


def _rank(levels: tuple[str, ...], level: str | None) -> int:
    return len(levels) - 1 if level is None else levels.index(level)


class FellegiSunterMatcher:
    """Scores pairs of records with the configured Fellegi-Sunter model. Pure: no I/O, no state."""

    def __init__(self, config: MatcherConfig | None = None) -> None:
        self.config = config or MatcherConfig()
        self._thresholds = {name: self.config.thresholds_for(name) for name in cmp.COMPARISONS}
        self._enabled = [name for name, comparison in self.config.comparisons.items() if comparison.enabled]
        self._weights = {
            name: {level: _log2_ratio(comparison.m[level], comparison.u[level]) for level in comparison.m}
            for name, comparison in self.config.comparisons.items()
        }
        self._prior_log_odds = math.log2(self.config.prior / (1 - self.config.prior))

    def compare(self, a: MatchRecord, b: MatchRecord) -> ComparisonVector:
        """The agreement level of each comparison, given name/surname and address lines aligned
        crosswise when that agrees better (a name written in the other order, fields swapped)."""
        return self.compare_prepared(prepare(a), prepare(b))

    def compare_prepared(self, a: PreparedRecord, b: PreparedRecord) -> ComparisonVector:
        """``compare`` on records already normalized with ``prepare``."""
        t = self._thresholds
        levels: dict[str, str | None] = {}
        swapped: list[str] = []

        straight = (
            cmp.compare_names(a.given_name, b.given_name, t["given_name"]),
            cmp.compare_names(a.surname, b.surname, t["surname"]),
        )
        if straight != (cmp.EXACT, cmp.EXACT):
            crossed = (
                cmp.compare_names(a.given_name, b.surname, t["given_name"]),
                cmp.compare_names(a.surname, b.given_name, t["surname"]),
            )
            if _better(cmp.NAME_LEVELS, crossed, straight):
                straight = crossed
                swapped.append("names")
        levels["given_name"], levels["surname"] = straight
        flags = []
        if (
            levels["given_name"] not in (cmp.EXACT, None)
            and not swapped
            and a.given_name is not None
            and b.given_name is not None
            and a.given_name.script == b.given_name.script == "hangul"
        ):
            flags.append(HANGUL_GIVEN_NAMES_DIFFER)

        street = (
            cmp.compare_addresses(a.address, b.address, t["address"]),
            cmp.compare_addresses(a.address_detail, b.address_detail, t["address_detail"]),
        )
        if street != (cmp.EXACT, cmp.EXACT):
            street_crossed = (
                cmp.compare_addresses(a.address, b.address_detail, t["address"]),
                cmp.compare_addresses(a.address_detail, b.address, t["address_detail"]),
            )
            if _better(cmp.STRING_LEVELS, street_crossed, street):
                street = street_crossed
                swapped.append("address")
        levels["address"], levels["address_detail"] = street

        levels["birth_date"] = cmp.compare_dates(a.birth_date, b.birth_date, t["birth_date"])
        levels["street_number"] = cmp.compare_codes(a.street_number, b.street_number, t["street_number"])
        levels["locality"] = cmp.compare_addresses(a.locality, b.locality, t["locality"])
        levels["postcode"] = cmp.compare_codes(a.postcode, b.postcode, t["postcode"])
        levels["state"] = cmp.compare_exact(a.state, b.state, t["state"])
        levels["phone"] = cmp.compare_phones(a.phone, b.phone, t["phone"])
        levels["email"] = cmp.compare_emails(a.email, b.email, t["email"])
        return ComparisonVector(levels=levels, swapped=tuple(swapped), flags=tuple(flags))

    def score(self, a: MatchRecord, b: MatchRecord) -> MatchScore:
        """The match weight and probability of two records, with the evidence per field."""
        return self.score_prepared(prepare(a), prepare(b))

    def score_prepared(self, a: PreparedRecord, b: PreparedRecord) -> MatchScore:
        """``score`` on records already normalized with ``prepare``."""
        vector = self.compare_prepared(a, b)
        field_weights: dict[str, float] = {}
        levels: dict[str, str] = {}
        for name in self._enabled:
            level = vector.levels[name]
            if level is None:
                field_weights[name] = 0.0
                levels[name] = cmp.MISSING
                continue
            levels[name] = level
            field_weights[name] = self._level_weight(name, level, a)
        adjustments: dict[str, float] = {}
        for group_name, group in self.config.evidence_groups.items():
            agreement = sum(max(field_weights.get(name, 0.0), 0.0) for name in group.comparisons)
            if agreement > group.max_weight:
                adjustments[group_name] = group.max_weight - agreement
        weight = sum(field_weights.values()) + sum(adjustments.values())
        return MatchScore(
            weight=weight,
            probability=self.probability(weight),
            field_weights=field_weights,
            levels=levels,
            swapped=list(vector.swapped),
            adjustments=adjustments,
            flags=list(vector.flags),
        )

    def probability(self, weight: float) -> float:
        """Posterior match probability of a pair with this total match weight, under the prior."""
        log_odds = max(-MAX_LOG_ODDS, min(MAX_LOG_ODDS, weight + self._prior_log_odds))
        return 1.0 / (1.0 + 2.0 ** (-log_odds))

    def decide(self, score: MatchScore) -> MatchDecision:
        """merge / review / distinct for a score, by the configured thresholds and review-only rules."""
        return self.config.decide(score.probability, score.levels, score.flags)

    def _level_weight(self, name: str, level: str, a: PreparedRecord) -> float:
        table = self.config.term_frequencies.get(name)
        if table and level in (cmp.EXACT, cmp.TRANSLIT):
            # Both sides agree, so a's value is the one whose frequency counts.
            share = table.get(term_key(name, a))
            if share is not None:
                # As Splink's term-frequency adjustment: the level's weight, moved by how much rarer
                # (or commoner) this value is than the average agreement u(exact).
                u_exact = self.config.comparisons[name].u[cmp.EXACT]
                return self._weights[name][level] + _log2_ratio(u_exact, share)
        return self._weights[name][level]


def _better(
    levels: tuple[str, ...], candidate: tuple[str | None, ...], current: tuple[str | None, ...]
) -> bool:
    return sum(_rank(levels, level) for level in candidate) < sum(_rank(levels, level) for level in current)


def _log2_ratio(m: float, u: float) -> float:
    return math.log2(max(m, MIN_PROBABILITY) / max(u, MIN_PROBABILITY))


def term_key(name: str, record: PreparedRecord) -> str:
    """The value of a comparison that term frequencies are kept for (names by their phonetic key)."""
    value = getattr(record, name)
    if isinstance(value, NormalizedName):
        return value.translit_key
    return str(value or "")


def weights_table(config: MatcherConfig) -> Mapping[str, Mapping[str, float]]:
    """log2(m/u) of every level of every comparison, for reports and documentation."""
    return {
        name: {level: round(_log2_ratio(c.m[level], c.u[level]), 2) for level in c.m}
        for name, c in config.comparisons.items()
    }
