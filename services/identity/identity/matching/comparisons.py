"""Field comparisons: each turns two values into one agreement level, strongest first.

Like Splink's comparison levels: exact / close (similar within a threshold) / ... / different, and
``None`` when either side is missing (a missing value is no evidence either way). The level names of
each comparison are fixed here; their m/u probabilities and similarity thresholds are configuration
(``MatcherConfig``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import jellyfish
from anyascii import anyascii
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler, Levenshtein

from identity.matching.names import NormalizedName, fold, hangul_jamo, is_hangul

EXACT = "exact"
TRANSLIT = "translit"
CLOSE = "close"
PARTIAL = "partial"
DIFFERENT = "different"
MISSING = "missing"

NAME_LEVELS = (EXACT, TRANSLIT, CLOSE, PARTIAL, DIFFERENT)
STRING_LEVELS = (EXACT, CLOSE, PARTIAL, DIFFERENT)
CODE_LEVELS = (EXACT, CLOSE, DIFFERENT)
EXACT_LEVELS = (EXACT, DIFFERENT)
EMAIL_LEVELS = (EXACT, "same_local_part", CLOSE, DIFFERENT)

Thresholds = Mapping[str, float]


# --- normalization of the non-name fields -------------------------------------------------------

# Street types written out, so "pridham st", "pridham street" and the run-together "pridhamstreet"
# share a key (abbreviating instead would split the run-together form off).
# fmt: off
_STREET_TYPES = {
    "st": "street", "str": "street", "rd": "road", "ave": "avenue", "av": "avenue", "pl": "place",
    "ct": "court", "crt": "court", "cres": "crescent", "cr": "crescent", "dr": "drive", "drv": "drive",
    "cct": "circuit", "pde": "parade", "tce": "terrace", "ln": "lane", "gr": "grove", "hwy": "highway",
    "blvd": "boulevard", "cl": "close", "sq": "square", "esp": "esplanade", "mt": "mount",
    "apt": "apartment", "bldg": "building", "fl": "floor",
}
# Korean provinces and metropolitan cities are written long (서울특별시), short (서울시) or bare (서울).
_KOREAN_REGIONS = {
    "서울특별시": "서울", "서울시": "서울", "부산광역시": "부산", "부산시": "부산", "대구광역시": "대구",
    "대구시": "대구", "인천광역시": "인천", "인천시": "인천", "광주광역시": "광주", "대전광역시": "대전",
    "대전시": "대전", "울산광역시": "울산", "울산시": "울산", "세종특별자치시": "세종", "세종시": "세종",
    "경기도": "경기", "강원도": "강원", "강원특별자치도": "강원", "충청북도": "충북", "충청남도": "충남",
    "전라북도": "전북", "전북특별자치도": "전북", "전라남도": "전남", "경상북도": "경북", "경상남도": "경남",
    "제주특별자치도": "제주", "제주도": "제주",
}
# fmt: on
_PUNCTUATION = re.compile(r"[^\w\s]|_", re.UNICODE)
_JOINERS = re.compile(r"['\-\u2010\u2011\u2019]")


def _words(raw: str) -> list[str]:
    text = unicodedata.normalize("NFKC", raw).lower()
    return _PUNCTUATION.sub(" ", text).split()


def normalize_address(raw: str | None) -> str:
    """Address line as a comparison key: lower-case, street types written out, Korean regions short,
    no spaces."""
    if not raw:
        return ""
    words = [_KOREAN_REGIONS.get(word, _STREET_TYPES.get(word, word)) for word in _words(raw)]
    return "".join(words)


def romanized_address(raw: str | None) -> str:
    """Address words romanized and sorted, to compare a Hangul address with one written in Latin script.

    "서울특별시 강남구 테헤란로 152" and "152 Teheran-ro, Gangnam-gu, Seoul" give the same string.
    """
    if not raw:
        return ""
    text = _JOINERS.sub("", unicodedata.normalize("NFKC", raw).lower())
    words = [
        _KOREAN_REGIONS.get(word, _STREET_TYPES.get(word, word))
        for word in _PUNCTUATION.sub(" ", text).split()
    ]
    romanized = (re.sub(r"[^a-z0-9]", "", anyascii(word).lower()) for word in words)
    return "".join(sorted(word for word in romanized if word))


@dataclass(frozen=True)
class AddressKey:
    """An address line (or locality) prepared for comparison: its key, its romanized words, whether
    it is Hangul, and its numbers."""

    key: str
    romanized: str = ""
    hangul: bool = False
    numbers: str = ""

    @classmethod
    def of(cls, raw: str | None) -> AddressKey:
        key = normalize_address(raw)
        if not key:
            return cls("")
        return cls(key, romanized_address(raw), is_hangul(key), "".join(re.findall(r"\d", key)))


def compare_addresses(a: AddressKey, b: AddressKey, thresholds: Thresholds) -> str | None:
    """``compare_strings`` on address keys; across scripts (Hangul / Latin), on the romanized words.

    Numbers in an address are identifiers: another building or unit number (테헤란로 152 / 125,
    105동 804호 / 109동 1502호) is another address, however alike the strings look.
    """
    if a.key and b.key and a.numbers and b.numbers and a.numbers != b.numbers:
        return DIFFERENT
    if a.hangul != b.hangul:
        return compare_strings(a.romanized, b.romanized, thresholds)
    return compare_strings(a.key, b.key, thresholds)


_KOREAN_REGION_SUFFIX = re.compile(r"^[\uac00-\ud7a3]+(?:시|도|구|군)$")


def street_code(raw: str | None) -> str:
    """A typo-tolerant code of the street (Soundex of the folded street words) for blocking keys.

    Leading region words (서울, 강남구, 성남시) are left out: they repeat the locality, and the code
    should come from the road name (테헤란로), as it does from "pridham street".
    """
    if not raw:
        return ""
    words = [word for word in _words(raw) if not _is_region(word)]
    letters = fold("".join(words))
    return jellyfish.soundex(letters) if letters else ""


def _is_region(word: str) -> bool:
    return (
        word in _KOREAN_REGIONS or word in _KOREAN_REGIONS.values() or bool(_KOREAN_REGION_SUFFIX.match(word))
    )


def place_code(raw: str | None) -> str:
    """Soundex of a romanized place name (suburb, district), for blocking keys."""
    letters = fold(raw) if raw else ""
    return jellyfish.soundex(letters) if letters else ""


def normalize_region(raw: str | None) -> str:
    """State, province or city name as a key (서울특별시 → 서울, "NSW" → nsw)."""
    if not raw:
        return ""
    return "".join(_KOREAN_REGIONS.get(word, word) for word in _words(raw))


def normalize_code(raw: str | None) -> str:
    """Postcodes and street numbers: letters and digits only, upper-case."""
    if not raw:
        return ""
    return re.sub(r"[^0-9A-Za-z]", "", unicodedata.normalize("NFKC", raw)).upper()


def normalize_phone(raw: str | None) -> str:
    """Digits of an E.164 number (the caller normalizes to E.164; this only strips formatting)."""
    if not raw:
        return ""
    return re.sub(r"\D", "", unicodedata.normalize("NFKC", raw))


def normalize_email(raw: str | None) -> str:
    """Lower-case, trimmed address (the caller has already applied its provider rules)."""
    return unicodedata.normalize("NFKC", raw).strip().lower() if raw else ""


# --- comparators -------------------------------------------------------------------------------


def jaro_winkler(a: str, b: str) -> float:
    """Jaro-Winkler similarity (0..1)."""
    return JaroWinkler.similarity(a, b)


def _similarity_level(a: str, b: str, thresholds: Thresholds) -> str:
    similarity = jaro_winkler(a, b)
    if similarity >= thresholds.get(CLOSE, 0.92):
        return CLOSE
    if PARTIAL in thresholds and similarity >= thresholds[PARTIAL]:
        return PARTIAL
    return DIFFERENT


def compare_names(a: NormalizedName | None, b: NormalizedName | None, thresholds: Thresholds) -> str | None:
    """exact / translit / close / partial / different, or None when a name is missing.

    Two Hangul names are exact or different, or close when one jamo apart (one keystroke): a whole
    different syllable is a different name (민준 / 민정), however similar the romanizations look.
    Otherwise: exact when the keys (or the romanizations, 서연 / Seoyeon) are equal, translit when
    the phonetic folds are (Kim / Gim, Choi / Choe), then Jaro-Winkler of the romanizations (of the
    folds across scripts) against the close and partial thresholds.
    """
    if not a or not b:
        return None
    if a.key == b.key:
        return EXACT
    if a.script == "hangul" and b.script == "hangul":
        return CLOSE if Levenshtein.distance(hangul_jamo(a.key), hangul_jamo(b.key)) <= 1 else DIFFERENT
    if a.romanized and a.romanized == b.romanized:
        return EXACT
    if a.translit_key and a.translit_key == b.translit_key:
        return TRANSLIT
    if a.script == b.script:
        return _similarity_level(a.romanized, b.romanized, thresholds)
    return _similarity_level(a.translit_key, b.translit_key, thresholds)


def compare_strings(a: str, b: str, thresholds: Thresholds) -> str | None:
    """exact / close / partial / different on normalized keys (Jaro-Winkler), None when one is missing."""
    if not a or not b:
        return None
    if a == b:
        return EXACT
    return _similarity_level(a, b, thresholds)


def compare_exact(a: str, b: str, thresholds: Thresholds) -> str | None:
    """exact / different, None when one is missing."""
    if not a or not b:
        return None
    return EXACT if a == b else DIFFERENT


def compare_codes(a: str, b: str, thresholds: Thresholds) -> str | None:
    """exact / close (one typo: a digit changed, added, dropped or two swapped) / different."""
    if not a or not b:
        return None
    if a == b:
        return EXACT
    max_edits = int(thresholds.get(CLOSE, 1))
    return CLOSE if DamerauLevenshtein.distance(a, b) <= max_edits else DIFFERENT


def date_key(value: date | None) -> str:
    """YYYYMMDD, or "" when missing."""
    return f"{value.year:04d}{value.month:02d}{value.day:02d}" if value else ""


def compare_dates(a: date | None, b: date | None, thresholds: Thresholds) -> str | None:
    """exact / close (one digit of YYYYMMDD changed, two adjacent ones swapped, or day and month
    swapped) / different."""
    if a is None or b is None:
        return None
    if a == b:
        return EXACT
    if a.year == b.year and a.month == b.day and a.day == b.month:
        return CLOSE
    if DamerauLevenshtein.distance(date_key(a), date_key(b)) <= 1:
        return CLOSE
    return DIFFERENT


def compare_phones(a: str, b: str, thresholds: Thresholds) -> str | None:
    """exact / close (same national number with or without the country code, or one typo) / different."""
    if not a or not b:
        return None
    if a == b:
        return EXACT
    if a[-8:] == b[-8:] and min(len(a), len(b)) >= 8:
        return CLOSE
    return CLOSE if DamerauLevenshtein.distance(a, b) <= 1 else DIFFERENT


def compare_emails(a: str, b: str, thresholds: Thresholds) -> str | None:
    """exact / same_local_part (other provider) / close (local parts similar, Jaro-Winkler) / different."""
    if not a or not b:
        return None
    if a == b:
        return EXACT
    local_a, local_b = a.rpartition("@")[0] or a, b.rpartition("@")[0] or b
    if local_a == local_b:
        return "same_local_part"
    return CLOSE if jaro_winkler(local_a, local_b) >= thresholds.get(CLOSE, 0.9) else DIFFERENT


@dataclass(frozen=True)
class ComparisonKind:
    """How a comparison turns two values into a level: its level names and default thresholds."""

    levels: tuple[str, ...]
    default_thresholds: Mapping[str, float]


NAME = ComparisonKind(NAME_LEVELS, {CLOSE: 0.92, PARTIAL: 0.80})
STRING = ComparisonKind(STRING_LEVELS, {CLOSE: 0.92, PARTIAL: 0.80})
CODE = ComparisonKind(CODE_LEVELS, {CLOSE: 1})
DATE = ComparisonKind(CODE_LEVELS, {})
EXACT_ONLY = ComparisonKind(EXACT_LEVELS, {})
PHONE = ComparisonKind(CODE_LEVELS, {})
EMAIL = ComparisonKind(EMAIL_LEVELS, {CLOSE: 0.9})

# Every comparison the matcher knows, in the order evidence is reported.
COMPARISONS: dict[str, ComparisonKind] = {
    "given_name": NAME,
    "surname": NAME,
    "birth_date": DATE,
    "street_number": CODE,
    "address": STRING,
    "address_detail": STRING,
    "locality": STRING,
    "postcode": CODE,
    "state": EXACT_ONLY,
    "phone": PHONE,
    "email": EMAIL,
}
