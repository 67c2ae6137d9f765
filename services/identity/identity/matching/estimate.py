"""Unsupervised estimation of the model's parameters, the way Splink does it: no labels anywhere.

- ``u`` (how often two different people agree at each level) from pairs drawn at random, which are
  almost all non-matches. The exact-agreement level is computed from value counts rather than sampled
  (the chance that two random records share a birth date is Σ share², too rare to sample well).
- ``m`` (how often the same person's records agree) by expectation maximisation over *training
  blocks*: all pairs that share a birth date, then all pairs that share a postcode. Within such a
  block matches are common enough for EM to separate the two classes. The comparisons the block was
  made on (and the ones correlated with it, locality and state for the postcode) agree by construction,
  so each session leaves them out; every other comparison gets one estimate per session, averaged.
- the prior (probability that two random records match) from each session's share of matches,
  scaled back from the block to all pairs by how often matches fall into the block (Splink's
  "recovered" probability_two_random_records_match).
- optionally, ``u`` corrected for the matches among the random pairs once m and the prior are known:
  P(level) = prior·m + (1 - prior)·u, which matters when duplicates are many (FEBRL3: 60% of records).

Term frequencies (how common each name is) are counted from the records as well.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from identity.matching import comparisons as cmp
from identity.matching.model import (
    ComparisonConfig,
    FellegiSunterMatcher,
    MatcherConfig,
    MatchRecord,
    PreparedRecord,
    prepare,
    term_key,
)
from identity.matching.names import NormalizedName

Probabilities = dict[str, dict[str, float]]


@dataclass(frozen=True)
class TrainingSession:
    """Pairs that agree exactly on ``block_on``; the comparisons in ``excluded`` are not estimated."""

    block_on: str
    excluded: frozenset[str]


DEFAULT_SESSIONS = (
    TrainingSession("birth_date", frozenset({"birth_date"})),
    TrainingSession("postcode", frozenset({"postcode", "locality", "state"})),
)

# A comparison needs this many non-missing sampled pairs to have its parameters estimated at all;
# below that (phone and email on FEBRL, say) the configured values are kept.
MIN_OBSERVED_PAIRS = 1000
# m and u never go below this: a level not seen in a sample is rare, not impossible.
PROBABILITY_FLOOR = 1e-6


@dataclass
class Estimate:
    """Estimated parameters as a ready MatcherConfig, and how they were obtained."""

    config: MatcherConfig
    report: dict[str, Any] = field(default_factory=dict)


class _Pairs:
    """Records of one data set (de-duplication) or of two (linkage), prepared once."""

    def __init__(self, records: Sequence[MatchRecord], others: Sequence[MatchRecord] | None) -> None:
        self.left = [prepare(record) for record in records]
        self.right = self.left if others is None else [prepare(record) for record in others]
        self.dedupe = others is None
        n, k = len(self.left), len(self.right)
        self.total = n * (n - 1) // 2 if self.dedupe else n * k

    def sample(self, count: int, rng: random.Random) -> Iterable[tuple[PreparedRecord, PreparedRecord]]:
        n, k = len(self.left), len(self.right)
        for _ in range(count):
            i, j = rng.randrange(n), rng.randrange(k)
            while self.dedupe and i == j:
                j = rng.randrange(k)
            yield self.left[i], self.right[j]

    def blocked(
        self, key: str, max_pairs: int, rng: random.Random
    ) -> tuple[list[tuple[PreparedRecord, PreparedRecord]], int]:
        """Pairs agreeing exactly on ``key`` (a sample of ``max_pairs`` if more), and how many there are."""
        left, right = _groups(self.left, key), _groups(self.right, key)
        blocks = []
        for value, members in left.items():
            partners = right.get(value)
            if partners:
                blocks.append((members, partners))
        total = sum(
            len(members) * (len(members) - 1) // 2 if self.dedupe else len(members) * len(partners)
            for members, partners in blocks
        )
        keep = 1.0 if total <= max_pairs else max_pairs / total
        pairs = []
        for members, partners in blocks:
            if self.dedupe:
                candidates: Iterable[tuple[int, int]] = (
                    (i, j) for n, i in enumerate(members) for j in members[n + 1 :]
                )
            else:
                candidates = ((i, j) for i in members for j in partners)
            for i, j in candidates:
                if keep == 1.0 or rng.random() < keep:
                    pairs.append((self.left[i], self.right[j]))
        return pairs, total

    def completeness(self, key: str) -> float:
        """Share of pairs in which both sides have a value for ``key``."""
        left = sum(1 for record in self.left if _exact_value(record, key)) / max(len(self.left), 1)
        right = sum(1 for record in self.right if _exact_value(record, key)) / max(len(self.right), 1)
        return left * right


def _groups(records: Sequence[PreparedRecord], key: str) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for position, record in enumerate(records):
        value = _exact_value(record, key)
        if value:
            groups[value].append(position)
    return groups


def _exact_value(record: PreparedRecord, name: str) -> str:
    """The value whose equality is the exact level (names: romanized, so 서연 = Seoyeon); training
    sessions block on it too."""
    value = getattr(record, name)
    if value is None:
        return ""
    if isinstance(value, NormalizedName):
        return value.romanized or value.key
    if isinstance(value, cmp.AddressKey):
        return value.key
    if name == "birth_date":
        return cmp.date_key(value)
    return str(value)


def _exact_agreement(pairs: _Pairs, name: str) -> float | None:
    """P(exact | both present) over all pairs, from value counts; None without enough data."""
    left = Counter(value for record in pairs.left if (value := _exact_value(record, name)))
    right = (
        left if pairs.dedupe else Counter(v for record in pairs.right if (v := _exact_value(record, name)))
    )
    n_left, n_right = sum(left.values()), sum(right.values())
    if pairs.dedupe:
        both = n_left * (n_left - 1)
        agreeing = sum(count * (count - 1) for count in left.values())
    else:
        both = n_left * n_right
        agreeing = sum(count * right.get(value, 0) for value, count in left.items())
    return agreeing / both if both else None


def estimate_u(
    records: Sequence[MatchRecord],
    others: Sequence[MatchRecord] | None = None,
    *,
    config: MatcherConfig | None = None,
    sample_pairs: int = 200_000,
    seed: int = 0,
) -> tuple[Probabilities, dict[str, int]]:
    """u per comparison and level from random pairs, and how many non-missing pairs each is based on.

    Comparisons seen in fewer than MIN_OBSERVED_PAIRS sampled pairs are left out of the result.
    """
    config = config or MatcherConfig()
    matcher = FellegiSunterMatcher(config)
    pairs = _Pairs(records, others)
    rng = random.Random(seed)  # noqa: S311 - sampling pairs, nothing secret
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for a, b in pairs.sample(sample_pairs, rng):
        for name, level in matcher.compare_prepared(a, b).levels.items():
            if level is not None:
                counts[name][level] += 1
    u: Probabilities = {}
    observed = {name: sum(level_counts.values()) for name, level_counts in counts.items()}
    for name, kind in cmp.COMPARISONS.items():
        if observed.get(name, 0) < MIN_OBSERVED_PAIRS:
            continue
        level_counts = counts[name]
        exact = _exact_agreement(pairs, name)
        if exact is None:
            continue
        # The other levels share what the exact level leaves, in their sampled proportions
        # (one pseudo-pair each: a level never sampled is rare, not impossible).
        others_total = sum(level_counts[level] + 1 for level in kind.levels if level != cmp.EXACT)
        u[name] = {cmp.EXACT: max(exact, PROBABILITY_FLOOR)}
        for level in kind.levels:
            if level != cmp.EXACT:
                u[name][level] = (1 - exact) * (level_counts[level] + 1) / others_total
        u[name] = _normalized(u[name])
    return u, observed


def _normalized(probabilities: Mapping[str, float]) -> dict[str, float]:
    floored = {level: max(value, PROBABILITY_FLOOR) for level, value in probabilities.items()}
    total = sum(floored.values())
    return {level: value / total for level, value in floored.items()}


@dataclass
class _SessionResult:
    block_on: str
    pairs: int
    blocked_pairs: int
    match_share: float
    iterations: int
    m: Probabilities


def _em(
    vectors: Counter[tuple[str | None, ...]],
    names: Sequence[str],
    m: Probabilities,
    u: Probabilities,
    *,
    match_share: float = 0.3,
    max_iterations: int = 100,
    tolerance: float = 1e-5,
) -> tuple[Probabilities, float, int]:
    """EM over comparison vectors (with their counts), u fixed: m and the match share of the block."""
    m = {name: dict(m[name]) for name in names}
    iterations = 0
    while iterations < max_iterations:
        iterations += 1
        expected: dict[str, dict[str, float]] = {name: defaultdict(float) for name in names}
        matches = total = 0.0
        log_prior = math.log(match_share / (1 - match_share))
        for vector, count in vectors.items():
            log_ratio = log_prior
            for name, level in zip(names, vector, strict=True):
                if level is not None:
                    log_ratio += math.log(m[name][level]) - math.log(u[name][level])
            posterior = 1.0 / (1.0 + math.exp(-max(-700.0, min(700.0, log_ratio))))
            matches += posterior * count
            total += count
            for name, level in zip(names, vector, strict=True):
                if level is not None:
                    expected[name][level] += posterior * count
        new_share = min(max(matches / total, 1e-6), 1 - 1e-6)
        change = abs(new_share - match_share)
        match_share = new_share
        for name in names:
            seen = sum(expected[name].values())
            if seen <= 0:
                continue
            new_m = _normalized({level: expected[name][level] / seen for level in m[name]})
            change = max(change, *(abs(new_m[level] - m[name][level]) for level in new_m))
            m[name] = new_m
        if change < tolerance:
            break
    return m, match_share, iterations


def estimate_m(
    records: Sequence[MatchRecord],
    others: Sequence[MatchRecord] | None = None,
    *,
    config: MatcherConfig,
    u: Probabilities,
    sessions: Sequence[TrainingSession] = DEFAULT_SESSIONS,
    max_pairs: int = 200_000,
    seed: int = 0,
) -> tuple[Probabilities, float, list[dict[str, Any]]]:
    """m per comparison by EM over each training session's blocked pairs, u fixed; also the prior.

    Returns (m, prior, one report per session).
    """
    matcher = FellegiSunterMatcher(config)
    pairs = _Pairs(records, others)
    rng = random.Random(seed)  # noqa: S311 - sampling pairs, nothing secret
    results: list[_SessionResult] = []
    for session in sessions:
        blocked, blocked_total = pairs.blocked(session.block_on, max_pairs, rng)
        names = [name for name in cmp.COMPARISONS if name in u and name not in session.excluded]
        vectors: Counter[tuple[str | None, ...]] = Counter()
        for a, b in blocked:
            levels = matcher.compare_prepared(a, b).levels
            vectors[tuple(levels[name] for name in names)] += 1
        if not vectors:
            continue
        start = {name: dict(config.comparisons[name].m) for name in names}
        m, share, iterations = _em(vectors, names, start, u)
        results.append(_SessionResult(session.block_on, len(blocked), blocked_total, share, iterations, m))

    m_estimates: dict[str, list[dict[str, float]]] = defaultdict(list)
    for result in results:
        for name, session_m in result.m.items():
            m_estimates[name].append(session_m)
    m_final: Probabilities = {
        name: _normalized(
            {level: sum(e[level] for e in estimates) / len(estimates) for level in estimates[0]}
        )
        for name, estimates in m_estimates.items()
    }

    priors: list[float] = []
    reports: list[dict[str, Any]] = []
    for result in results:
        # Matches land in this block when both have the value and agree exactly on it.
        m_block = m_final.get(result.block_on, config.comparisons[result.block_on].m)[cmp.EXACT]
        captured = pairs.completeness(result.block_on) * m_block
        prior = result.match_share * result.blocked_pairs / (pairs.total * captured) if captured else None
        if prior:
            priors.append(prior)
        reports.append(
            {
                "block_on": result.block_on,
                "blocked_pairs": result.blocked_pairs,
                "pairs_used": result.pairs,
                "match_share_in_block": round(result.match_share, 4),
                "em_iterations": result.iterations,
                "prior": prior,
            }
        )
    prior_final = math.exp(sum(math.log(p) for p in priors) / len(priors)) if priors else config.prior
    return m_final, min(prior_final, 0.5), reports


def correct_u(u: Probabilities, m: Probabilities, prior: float) -> Probabilities:
    """u with the matches among random pairs taken out: P(level) = prior·m + (1 - prior)·u."""
    corrected: Probabilities = {}
    for name, levels in u.items():
        if name not in m:
            corrected[name] = levels
            continue
        corrected[name] = _normalized(
            {level: max((p - prior * m[name][level]) / (1 - prior), p * 0.01) for level, p in levels.items()}
        )
    return corrected


def term_frequencies(
    records: Iterable[MatchRecord], comparisons: Sequence[str] = ("given_name", "surname")
) -> dict[str, dict[str, float]]:
    """Share of records with each value, per comparison (names by phonetic key)."""
    counts: dict[str, Counter[str]] = {name: Counter() for name in comparisons}
    for record in records:
        prepared = prepare(record)
        for name in comparisons:
            value = term_key(name, prepared)
            if value:
                counts[name][value] += 1
    return {
        name: {value: count / total for value, count in values.items()}
        for name, values in counts.items()
        if (total := sum(values.values()))
    }


def estimate_parameters(
    records: Sequence[MatchRecord],
    others: Sequence[MatchRecord] | None = None,
    *,
    base: MatcherConfig | None = None,
    sessions: Sequence[TrainingSession] = DEFAULT_SESSIONS,
    u_sample_pairs: int = 200_000,
    max_em_pairs: int = 200_000,
    correct_u_for_matches: bool = True,
    with_term_frequencies: bool = False,
    seed: int = 0,
) -> Estimate:
    """Estimate u, m and the prior from unlabelled records (``others``: a second data set to link to).

    Comparisons without enough data keep ``base``'s parameters; thresholds come from ``base`` too.
    """
    base = base or MatcherConfig()
    u, observed = estimate_u(records, others, config=base, sample_pairs=u_sample_pairs, seed=seed)
    m, prior, sessions_report = estimate_m(
        records, others, config=base, u=u, sessions=sessions, max_pairs=max_em_pairs, seed=seed
    )
    if correct_u_for_matches:
        u = correct_u(u, m, prior)
    comparisons = dict(base.comparisons)
    for name in u:
        if name in m:
            comparisons[name] = ComparisonConfig(
                enabled=base.comparisons[name].enabled,
                thresholds=dict(base.comparisons[name].thresholds),
                m=m[name],
                u=u[name],
            )
    frequencies = dict(base.term_frequencies)
    if with_term_frequencies:
        combined = list(records) + list(others or [])
        frequencies.update(term_frequencies(combined))
    config = base.model_copy(
        update={
            "prior": prior,
            "comparisons": comparisons,
            "term_frequencies": frequencies,
            "source": "estimated without labels by identity.matching.estimate",
        }
    )
    config = MatcherConfig.model_validate(config.model_dump())
    report = {
        "u_sample_pairs": u_sample_pairs,
        "observed_pairs": observed,
        "estimated": sorted(name for name in u if name in m),
        "kept_from_base": sorted(name for name in cmp.COMPARISONS if name not in u or name not in m),
        "sessions": sessions_report,
        "prior": prior,
        "u_corrected_for_matches": correct_u_for_matches,
    }
    return Estimate(config=config, report=report)
