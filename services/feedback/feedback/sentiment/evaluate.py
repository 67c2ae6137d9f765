"""``python -m feedback.sentiment.evaluate``: accuracy of the analyser on the labelled sample.

Prints accuracy per language and split (``dev`` was used to tune the Korean lexicon, ``test`` was not)
and the misclassified sentences; ``--json PATH`` also writes the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from feedback.sentiment.analyzer import score_text

SAMPLE_FILE = "labelled_sample.tsv"


@dataclass(frozen=True)
class LabelledSentence:
    language: str
    label: str
    split: str
    text: str


@dataclass(frozen=True)
class Outcome:
    sentence: LabelledSentence
    predicted: str
    score: float

    @property
    def correct(self) -> bool:
        return self.predicted == self.sentence.label


def labelled_sample() -> list[LabelledSentence]:
    text = resources.files(__package__).joinpath(SAMPLE_FILE).read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines()[1:] if line.strip()]
    return [LabelledSentence(language=r[0], label=r[1], split=r[2], text=r[3]) for r in rows]


def evaluate(sentences: list[LabelledSentence]) -> list[Outcome]:
    outcomes = []
    for sentence in sentences:
        sentiment = score_text(sentence.text)
        outcomes.append(Outcome(sentence=sentence, predicted=sentiment.label.value, score=sentiment.score))
    return outcomes


def accuracy(outcomes: list[Outcome]) -> float:
    return sum(o.correct for o in outcomes) / len(outcomes) if outcomes else 0.0


def report(outcomes: list[Outcome]) -> dict[str, dict[str, float | int]]:
    """Accuracy and size per language and split, and overall."""
    groups: dict[str, list[Outcome]] = {"all": outcomes}
    for o in outcomes:
        groups.setdefault(f"{o.sentence.language}/{o.sentence.split}", []).append(o)
        groups.setdefault(o.sentence.language, []).append(o)
        groups.setdefault(o.sentence.split, []).append(o)
    return {name: {"n": len(group), "accuracy": round(accuracy(group), 4)} for name, group in groups.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--quiet", action="store_true", help="do not list the misclassified sentences")
    args = parser.parse_args(argv)
    outcomes = evaluate(labelled_sample())
    figures = report(outcomes)
    for name in sorted(figures):
        print(f"{name:10} n={figures[name]['n']:4}  accuracy={figures[name]['accuracy']:.3f}")
    confusion = Counter((o.sentence.label, o.predicted) for o in outcomes if not o.correct)
    print("confusions (gold -> predicted):", dict(confusion))
    if not args.quiet:
        for o in outcomes:
            if not o.correct:
                s = o.sentence
                print(f"  [{s.language}/{s.split}] {s.label} -> {o.predicted} ({o.score:+.3f}) {s.text}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
