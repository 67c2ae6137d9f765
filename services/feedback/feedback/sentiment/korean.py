"""Korean polarity: Kiwi's morphemes, a lemma lexicon and a few rules of Korean negation and emphasis.

Korean is agglutinative: "만족스럽지 않았어요" is one word to a whitespace tokenizer. Kiwi (a maintained
morphological analyser) splits it into 만족/NNG 스럽/XSA 지/EC 않/VX 었/EP 어요/EF, so the lexicon can be
keyed by lemma and the rules can see the negation. The rules, in the order they apply to a polar morpheme:

* prefix: 불/비/무/미 before a noun flip it (불친절), 대/왕/초 strengthen it (대만족);
* boosters and dampers: an intensifier (너무, 정말, 진짜 ...) within two morphemes before adds 0.3 to the
  magnitude, a damper (조금, 좀, 약간 ...) takes 0.3 off (VADER's B_INCR);
* short negation: 안/못 right before a predicate, or between a noun and its 하다/되다, scale by -0.74
  (VADER's N_SCALAR);
* long negation: -지 않다 / -지 못하다 / -지 말다 after the polar morpheme scale by -0.74;
* absence: 없다 after a polar morpheme flips the nearest one in the clause (불편함 없이, 좋은 점이 없다);
  after a "Z" noun it is that noun's complaint (답변이 없다: no answer);
* a negated action with no polarity of its own (안 돼요, 오지 않았어요, 못 받았어요) counts -1.0: in
  feedback, something that did not happen is a complaint;
* contrast: 지만 / 하지만 / 그런데 ... halve what came before in the sentence and weigh what follows by 1.5,
  -는데 only halves what came before (it often just sets the scene).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

NEGATION_SCALAR = -0.74
BOOST = 0.3
LEXICON_FILE = "lexicon_ko.tsv"

INTENSIFIERS = frozenset(
    {
        "너무",
        "너무나",
        "정말",
        "정말로",
        "진짜",
        "참",
        "아주",
        "매우",
        "엄청",
        "완전",
        "완전히",
        "굉장히",
        "되게",
        "넘",
        "특히",
        "가장",
        "제일",
        "훨씬",
        "몹시",
        "무척",
        "대단히",
        "상당히",
        "전혀",
        "계속",
        "자꾸",
    }
)
DAMPERS = frozenset({"조금", "좀", "약간", "다소", "살짝", "그나마"})
SHORT_NEGATIONS = frozenset({"안", "못"})
LONG_NEGATIONS = frozenset({"않", "못하", "말"})
ABSENCE = frozenset({"없", "없이"})
FLIP_PREFIXES = frozenset({"불", "비", "무", "미", "몰"})
STRONG_PREFIXES = frozenset({"대", "왕", "초"})
CONTRAST_CONJUNCTIONS = frozenset({"하지만", "그런데", "그러나", "근데", "그렇지만", "반면"})
CONTRAST_ENDINGS = frozenset({"지만"})
SCENE_ENDINGS = frozenset({"는데", "ᆫ데", "은데", "ㄴ데"})
# Morphemes that attach to a stem without starting a new content word: scanned past when looking for
# the negation or the light verb that follows a polar morpheme.
ATTACHED = ("XS", "EP", "EC", "ET", "VX", "J", "XPN")
LIGHT_VERBS = frozenset({"하", "되"})

CONTENT_CLASSES = {
    "VA": "P",
    "VV": "P",
    "VX": "P",
    "NNG": "N",
    "NNP": "N",
    "XR": "N",
    "MAG": "A",
    "MAJ": "A",
    "SW": "S",
    "IC": "S",
}


@dataclass(frozen=True)
class Lexicon:
    """Valences by class and lemma, plus the multi-morpheme sequences (by first form)."""

    entries: dict[tuple[str, str], float]
    sequences: dict[str, list[tuple[tuple[str, ...], float]]]

    @classmethod
    def load(cls, text: str) -> Lexicon:
        entries: dict[tuple[str, str], float] = {}
        sequences: dict[str, list[tuple[tuple[str, ...], float]]] = {}
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            try:
                lemma, klass, valence = line.split("\t")
            except ValueError as exc:
                raise ValueError(f"{LEXICON_FILE}:{number}: expected lemma, class, valence") from exc
            if klass == "Q":
                forms = tuple(lemma.split(" "))
                sequences.setdefault(forms[0], []).append((forms, float(valence)))
            else:
                entries[(klass, lemma)] = float(valence)
        for options in sequences.values():
            options.sort(key=lambda option: -len(option[0]))  # longest match first
        return cls(entries=entries, sequences=sequences)


@cache
def default_lexicon() -> Lexicon:
    return Lexicon.load(resources.files(__package__).joinpath(LEXICON_FILE).read_text(encoding="utf-8"))


@dataclass
class _Morpheme:
    form: str
    tag: str

    @property
    def klass(self) -> str | None:
        if self.tag.startswith("SW") or self.tag == "IC":
            return "S"
        return CONTENT_CLASSES.get(self.tag)

    def attached(self) -> bool:
        return self.tag.startswith(ATTACHED)


@dataclass
class _Polar:
    """A polar morpheme's valence, or (``contrast``) the point after which its sentence weighs more."""

    index: int
    valence: float
    sentence: int
    contrast: bool = False


class _Analyser:
    """Kiwi, loaded once per process on first use (about 1.5 s and 250 MB), one call at a time."""

    def __init__(self) -> None:
        self._kiwi: Any = None
        self._lock = threading.Lock()

    def morphemes(self, text: str) -> list[_Morpheme]:
        with self._lock:
            if self._kiwi is None:
                from kiwipiepy import Kiwi  # imported here: the model loads only where Korean arrives

                self._kiwi = Kiwi(num_workers=1)
            tokens = self._kiwi.tokenize(text, normalize_coda=True)
        return [_Morpheme(form=t.form, tag=t.tag.split("-")[0]) for t in tokens]


_ANALYSER = _Analyser()


def korean_valence(text: str, lexicon: Lexicon | None = None) -> float:
    """The summed valence of the text's Korean (VADER scale; 0 when nothing polar is found)."""
    return valence_of(_ANALYSER.morphemes(text), lexicon or default_lexicon())


def valence_of(morphemes: list[_Morpheme], lexicon: Lexicon) -> float:
    polar: list[_Polar] = []
    sentence = 0
    skip_until = -1
    for i, m in enumerate(morphemes):
        if m.tag == "SF":
            sentence += 1
            continue
        if i <= skip_until:
            continue
        if m.form in CONTRAST_CONJUNCTIONS or (m.tag == "EC" and m.form in CONTRAST_ENDINGS):
            _weaken(polar, sentence)
            polar.append(_Polar(index=i, valence=0.0, sentence=sentence, contrast=True))
            continue
        if m.tag == "EC" and m.form in SCENE_ENDINGS:
            _weaken(polar, sentence)
            continue
        sequence = _match_sequence(morphemes, i, lexicon)
        if sequence is not None:
            length, sequence_valence = sequence
            polar.append(
                _Polar(index=i, valence=_modified(morphemes, i, sequence_valence), sentence=sentence)
            )
            skip_until = i + length - 1
            continue
        if m.form in ABSENCE and m.tag in ("VA", "MAG"):
            _absence(morphemes, i, polar, sentence, lexicon)
            continue
        if m.form == "잘" and i + 1 < len(morphemes) and morphemes[i + 1].form in SHORT_NEGATIONS:
            continue  # 잘 안 돼요: the negated verb carries it
        klass = m.klass
        if klass is None:
            continue
        valence = lexicon.entries.get((klass, m.form))
        if valence is None and klass == "S":
            valence = _emoticon(m.form, lexicon)
        if valence is None or valence == 0.0:
            negated_action = (klass == "P" and m.tag == "VV" and _negated(morphemes, i, noun=False)) or (
                klass == "N" and _light_verb_negated(morphemes, i)
            )
            if negated_action:
                polar.append(_Polar(index=i, valence=-1.0, sentence=sentence))
            continue
        polar.append(_Polar(index=i, valence=_modified(morphemes, i, valence), sentence=sentence))
    return _total(polar)


def _match_sequence(morphemes: list[_Morpheme], i: int, lexicon: Lexicon) -> tuple[int, float] | None:
    for forms, valence in lexicon.sequences.get(morphemes[i].form, ()):
        window = morphemes[i : i + len(forms)]
        if len(window) == len(forms) and all(m.form == f for m, f in zip(window, forms, strict=True)):
            return len(forms), valence
    return None


def _emoticon(form: str, lexicon: Lexicon) -> float | None:
    """Runs of ㅠ/ㅜ, ㅎ or ㅋ of any length read like their two-letter entries."""
    for letter, key in (("ㅠ", "ㅠㅠ"), ("ㅜ", "ㅜㅜ"), ("ㅎ", "ㅎㅎ"), ("ㅋ", "ㅋㅋ")):
        if len(form) > 1 and set(form) <= {letter, "ㅠ" if letter == "ㅜ" else letter}:
            return lexicon.entries.get(("S", key))
    return None


def _modified(morphemes: list[_Morpheme], i: int, valence: float) -> float:
    m = morphemes[i]
    sign = 1.0 if valence > 0 else -1.0
    if i > 0 and morphemes[i - 1].tag == "XPN":
        if morphemes[i - 1].form in FLIP_PREFIXES:
            valence = -valence
            sign = -sign
        elif morphemes[i - 1].form in STRONG_PREFIXES:
            valence += sign * BOOST
    for back in (1, 2):
        if i - back < 0:
            break
        previous = morphemes[i - back].form
        if previous in INTENSIFIERS:
            valence += sign * BOOST
        elif previous in DAMPERS:
            valence -= sign * BOOST
    if _negated(morphemes, i, noun=m.klass == "N"):
        valence *= NEGATION_SCALAR
    return valence


def _negated(morphemes: list[_Morpheme], i: int, *, noun: bool) -> bool:
    """Short negation before a predicate (or before a noun's light verb), or long negation after."""
    if not noun and i > 0 and morphemes[i - 1].form in SHORT_NEGATIONS and morphemes[i - 1].tag == "MAG":
        return True
    if noun and _light_verb_negated(morphemes, i):
        return True
    j = i + 1
    while j < len(morphemes) and j <= i + 5 and morphemes[j].attached():
        if morphemes[j].tag == "VX" and morphemes[j].form in LONG_NEGATIONS:
            return morphemes[j - 1].form == "지" or morphemes[j].form == "못하"
        j += 1
    return False


def _light_verb_negated(morphemes: list[_Morpheme], i: int) -> bool:
    """추천 안 해요 / 처리가 안 돼요: noun, particles, 안|못, then 하다 or 되다."""
    j = i + 1
    while j < len(morphemes) and morphemes[j].tag.startswith("J"):
        j += 1
    return (
        j + 1 < len(morphemes)
        and morphemes[j].form in SHORT_NEGATIONS
        and morphemes[j].tag == "MAG"
        and morphemes[j + 1].form in LIGHT_VERBS
    )


def _absence(
    morphemes: list[_Morpheme], i: int, polar: list[_Polar], sentence: int, lexicon: Lexicon
) -> None:
    """없다 flips the nearest polar morpheme of the clause, or is the complaint of a "Z" noun."""
    for candidate in reversed(polar):
        if candidate.sentence != sentence or candidate.contrast:
            break
        if i - candidate.index <= 6:
            candidate.valence = -candidate.valence * 0.9
            return
        break
    j = i - 1
    while j >= 0 and morphemes[j].tag.startswith(("J", "XS", "ET")):
        j -= 1
    if j >= 0:
        complaint = lexicon.entries.get(("Z", morphemes[j].form))
        if complaint is not None:
            polar.append(_Polar(index=i, valence=complaint, sentence=sentence))


def _weaken(polar: list[_Polar], sentence: int) -> None:
    """Halve what the sentence said before a contrast (VADER's rule for "but")."""
    for item in polar:
        if item.sentence == sentence:
            item.valence *= 0.5


def _total(polar: list[_Polar]) -> float:
    """Sum the valences; whatever follows a contrast marker in its sentence weighs 1.5."""
    total = 0.0
    boosted_sentence = -1
    for item in polar:
        if item.contrast:
            boosted_sentence = item.sentence
            continue
        total += item.valence * (1.5 if item.sentence == boosted_sentence else 1.0)
    return total
