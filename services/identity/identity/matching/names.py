"""Person names in Hangul and Latin script, normalized for comparison.

Korean customers write the same name as 김서연, 김 서연, "Kim Seo-yeon", "KIM SEOYEON", "Gim Seoyeon" or
"Seoyeon Kim". ``normalize_name`` turns each into a ``NormalizedName`` whose ``translit_key`` is the
same for all of them: Hangul is romanized with ``anyascii`` (close to the Revised Romanization), then
every spelling goes through one *phonetic fold* that merges the romanization variants of Korean
sounds (Kim/Gim, Park/Bak, Lee/Yi/Rhee, Choi/Choe, Jung/Jeong/Chung, Yoon/Yun, Seo/Suh ...). Latin
names go through the same fold, where it acts as a crude phonetic code.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from anyascii import anyascii

Script = Literal["hangul", "latin", "mixed", "other", "empty"]

# Two-syllable Korean surnames; a Hangul name of three or more syllables starting with one of them
# (남궁민, 황보서연) keeps both syllables as the surname.
COMPOUND_SURNAMES = frozenset(
    {"남궁", "황보", "제갈", "선우", "독고", "사공", "서문", "동방", "어금", "망절", "장곡", "소봉"}
)

# Common Korean surnames in Hangul (about 95% of the population), and the usual Latin spellings that
# the fold does not already reach from the Hangul. Used to find which token of a romanized name is the
# surname, so that "Kim Seo-yeon" and "Seoyeon Kim" get the same key.
_HANGUL_SURNAMES = (
    "김 이 박 최 정 강 조 윤 장 임 한 오 서 신 권 황 안 송 전 홍 유 류 고 문 양 손 배 백 허 남 심"
    " 노 하 곽 성 차 주 우 구 민 나 진 지 엄 채 원 천 방 공 현 함 변 염 여 추 도 소 석 선 설 마 길"
    " 연 위 표 명 기 반 왕 금 옥 육 인 맹 제 모 탁 국 어 은 편 용 예 경 봉 사 부 가 복 태 목 형 계"
    " 피 두 감 음 빈 동 온 호 범 좌 팽 승 간 상 갈 단 견 당"
)
_LATIN_SURNAME_SPELLINGS = (
    "kim gim lee yi rhee rhie ri park pak bak choi choe jung jeong chung kang gang cho jo yoon yun jang"
    " chang lim im rim han oh seo suh shin sin kwon gwon hwang ahn an song jeon jun chun hong yoo yu ryu"
    " ko go moon mun yang son sohn bae pae baek paik back heo hur huh nam shim sim noh roh no ha kwak gwak"
    " sung seong cha joo ju woo koo gu min na ra jin ji eom um chae won cheon bang kong gong hyun hyeon"
    " ham byun byeon yeom yeo choo chu do so seok suk sun seon seol ma gil kil yeon wi pyo myung myeong"
    " ki gi ban wang keum geum ok yook yuk in maeng je mo tak kook guk eo eun pyeon yong ye kyung"
    " gyeong bong namgung namkung hwangbo jegal sunwoo seonu dokgo sagong seomun"
)

_HANGUL_SYLLABLE = re.compile(r"[\uac00-\ud7a3]")
_HANGUL_ANY = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")
_LATIN_LETTER = re.compile(r"[A-Za-z\u00c0-\u024f]")
# Everything that is not a letter, digit, space, hyphen or apostrophe is punctuation for names.
_NAME_NOISE = re.compile(r"[^\w\s'\-]|_|\d", re.UNICODE)
_JOINERS = re.compile(r"['\-\u2010\u2011\u2019]")

_DIGRAPHS = (("sh", "s"), ("ch", "j"), ("ph", "f"), ("th", "t"), ("kh", "k"), ("gh", "k"), ("ck", "k"))
_CONSONANTS = str.maketrans({"r": "l", "g": "k", "d": "t", "b": "p", "c": "k", "q": "k", "z": "j"})
_VOWEL_GROUPS = (("eo", "u"), ("oo", "u"), ("ou", "u"), ("eu", "u"), ("wu", "u"), ("ee", "i"), ("yi", "i"))
_VOWEL_PAIRS = (("ae", "e"), ("ai", "e"), ("oe", "oi"))
_SILENT_R = re.compile(r"(?<=[aeiouy])r(?=[^aeiouy]|$)")
_REPEATS = re.compile(r"(.)\1+")


@dataclass(frozen=True)
class NormalizedName:
    """A name ready for comparison.

    ``display`` is the cleaned name as written (single-spaced, no stray punctuation); ``key`` is
    lower-case NFKC without spaces or punctuation, for exact comparison; ``tokens`` are the words of
    the name (a Hangul name written without spaces is split into surname and given name);
    ``translit_key`` is the phonetic fold of the romanized tokens, surname first when a Korean surname
    is recognized, otherwise in sorted order, so it does not depend on the order the name was written in.
    """

    display: str
    key: str
    tokens: tuple[str, ...]
    translit_key: str
    romanized: str = ""
    script: Script = "empty"
    surname: str | None = None
    given: str | None = None

    def __bool__(self) -> bool:
        return bool(self.key)


def fold(word: str) -> str:
    """The phonetic fold of one word (any script): romanized, lower-case, romanization variants merged.

    ``fold("김") == fold("Kim") == fold("Gim")``, ``fold("서연") == fold("Seo-yeon")``,
    ``fold("박") == fold("Park")``. Different syllables stay apart: ``fold("민준") != fold("민정")``.
    """
    return _fold(word)


@lru_cache(maxsize=100_000)
def _fold(word: str) -> str:
    letters = re.sub(r"[^a-z]", "", anyascii(word).lower())
    if not letters:
        return ""
    for spelling, sound in _DIGRAPHS:
        letters = letters.replace(spelling, sound)
    # A written h after the first letter is a length or aspiration mark in these romanizations
    # (Suh, Ahn, Oh, Sohn, Rhee, Jihoon): drop it.
    letters = letters[0] + letters[1:].replace("h", "")
    # So is an r closing a syllable (Park, Hur).
    letters = _SILENT_R.sub("", letters)
    # Korean has no voicing contrast and one liquid: g/k, d/t, b/p, r/l are the same consonant.
    letters = letters.translate(_CONSONANTS)
    for spelling, sound in _VOWEL_GROUPS + _VOWEL_PAIRS:
        letters = letters.replace(spelling, sound)
    letters = _REPEATS.sub(r"\1", letters)
    # Initial-sound rule (두음법칙): 리/류 are said and often written 이/유, 로/라 as 노/나.
    if len(letters) > 1 and letters[0] == "l":
        letters = letters[1:] if letters[1] in "iy" else "n" + letters[1:]
    return letters


def _is_hangul(text: str) -> bool:
    return bool(_HANGUL_ANY.search(text))


def _script(text: str) -> Script:
    hangul = _is_hangul(text)
    latin = bool(_LATIN_LETTER.search(text))
    if hangul and latin:
        return "mixed"
    if hangul:
        return "hangul"
    if latin:
        return "latin"
    return "other" if text.strip() else "empty"


KOREAN_SURNAME_FOLDS = frozenset(
    {_fold(surname) for surname in _HANGUL_SURNAMES.split()}
    | {_fold(surname) for surname in COMPOUND_SURNAMES}
    | {_fold(spelling) for spelling in _LATIN_SURNAME_SPELLINGS.split()}
)


def split_hangul_name(compact: str) -> tuple[str, str]:
    """(surname, given name) of a Hangul name written without spaces.

    김서연 → (김, 서연); 남궁민수 → (남궁, 민수).
    """
    if len(compact) >= 3 and compact[:2] in COMPOUND_SURNAMES:
        return compact[:2], compact[2:]
    return compact[:1], compact[1:]


def clean_name(raw: str) -> str:
    """NFKC, punctuation other than hyphens and apostrophes removed, whitespace collapsed; case kept."""
    text = unicodedata.normalize("NFKC", raw or "")
    text = _NAME_NOISE.sub(" ", text)
    return " ".join(text.split())


def _word_key(word: str) -> str:
    return _JOINERS.sub("", word).lower()


def _romanize(word: str) -> str:
    return re.sub(r"[^a-z]", "", anyascii(word).lower())


def _parse(display: str) -> tuple[list[str], list[str], str | None, str | None]:
    """(tokens, tokens in canonical order, surname, given name) of a cleaned name.

    The canonical order is surname first for Korean names (a Hangul name, or a Latin one with a
    recognized Korean surname at either end) and sorted by fold otherwise, where the written order
    says nothing reliable. Surname and given name are None when they cannot be told apart.
    """
    words = [_word_key(word) for word in display.split()]
    words = [word for word in words if word]
    if len(words) <= 1 and not (words and _is_hangul(words[0]) and len(words[0]) > 1):
        return words, words, None, None
    if all(_is_hangul(word) for word in words):
        # Korean order is surname first; a name typed as 김서연, 김 서연 or 김 서 연 reads the same.
        if len(words) == 1 or all(len(word) == 1 for word in words[1:]):
            surname, given = split_hangul_name("".join(words))
        else:
            surname, given = words[0], "".join(words[1:])
        return [surname, given], [surname, given], surname, given
    first_is_korean = _fold(words[0]) in KOREAN_SURNAME_FOLDS
    last_is_korean = _fold(words[-1]) in KOREAN_SURNAME_FOLDS
    if first_is_korean and last_is_korean:
        # Both ends could be a surname (Kang Min, Min Kang): pick one by a rule that does not depend on
        # the order the name was written in, so both orders get the same key.
        first_is_korean = _fold(words[0]) <= _fold(words[-1])
        last_is_korean = not first_is_korean
    if len(words) <= 3 and (first_is_korean or last_is_korean):
        surname = words[0] if first_is_korean else words[-1]
        # Given-name syllables written apart (Seo Yeon) are one name.
        given = "".join(words[1:] if first_is_korean else words[:-1])
        return words, [surname, given], surname, given
    # Western order: given names first, surname last.
    return words, sorted(words, key=_fold), words[-1], " ".join(words[:-1])


@lru_cache(maxsize=100_000)
def normalize_name_part(raw: str) -> NormalizedName:
    """Normalize one part of a name known to be a given name or a surname (the words are kept in order).

    "Seo Yeon" and "Seo-yeon" are the same given name; a stray space ("crou ch") does not make two names.
    """
    display = clean_name(raw)
    tokens = [token for token in (_word_key(word) for word in display.split()) if token]
    key = unicodedata.normalize("NFKC", "".join(tokens))
    if not key:
        return NormalizedName(display="", key="", tokens=(), translit_key="")
    return NormalizedName(
        display=display,
        key=key,
        tokens=tuple(tokens),
        translit_key=_fold(key),
        romanized=_romanize(key),
        script=_script(display),
    )


@lru_cache(maxsize=100_000)
def normalize_name(raw: str) -> NormalizedName:
    """Normalize a person's name (full name, given name or surname) written in Hangul or Latin script.

    Spacing, case, punctuation and full-width forms do not matter for ``key``; romanization
    variants and word order do not matter for ``translit_key``.
    """
    text = unicodedata.normalize("NFKC", raw or "")
    if text.count(",") == 1 and not _is_hangul(text):
        # "Smith, John": surname before the comma.
        surname_part, given_part = text.split(",")
        text = f"{given_part} {surname_part}"
    display = clean_name(text)
    tokens, ordered, surname, given = _parse(display)
    key = unicodedata.normalize("NFKC", "".join(tokens))
    if not key:
        return NormalizedName(display="", key="", tokens=(), translit_key="")
    return NormalizedName(
        display=display,
        key=key,
        tokens=tuple(tokens),
        translit_key="".join(_fold(token) for token in ordered),
        romanized="".join(_romanize(token) for token in ordered),
        script=_script(display),
        surname=surname,
        given=given,
    )


def hangul_jamo(text: str) -> str:
    """Hangul syllables decomposed into their letters (jamo): one typo on a Korean keyboard is one jamo."""
    return unicodedata.normalize("NFD", text)


def is_hangul(text: str) -> bool:
    """Whether the text contains Hangul."""
    return _is_hangul(text)


# Approximate share of the population with each surname (Statistics Korea, 2015 census, rounded to
# 0.1%; 유 and 류 counted apart). Only sets how much an agreeing surname counts: agreeing on 김 (one
# person in five) is weak evidence, agreeing on 남궁 strong.
# fmt: off
KOREAN_SURNAME_SHARES: dict[str, float] = {
    "김": 0.215, "이": 0.147, "박": 0.084, "최": 0.047, "정": 0.043, "강": 0.024, "조": 0.021, "윤": 0.021,
    "장": 0.020, "임": 0.017, "한": 0.015, "오": 0.015, "서": 0.015, "신": 0.015, "권": 0.014, "황": 0.014,
    "안": 0.014, "송": 0.014, "전": 0.011, "홍": 0.011, "유": 0.010, "고": 0.009, "문": 0.009, "양": 0.009,
    "손": 0.009, "배": 0.008, "백": 0.008, "허": 0.007, "남": 0.006, "심": 0.005, "노": 0.004, "하": 0.005,
    "곽": 0.004, "성": 0.004, "차": 0.004, "주": 0.004, "우": 0.004, "구": 0.004, "민": 0.003, "류": 0.003,
    "나": 0.003, "진": 0.003, "지": 0.003, "엄": 0.003, "채": 0.003, "원": 0.003, "천": 0.002, "방": 0.002,
    "공": 0.002, "현": 0.002, "함": 0.002, "변": 0.003, "염": 0.001, "여": 0.001, "추": 0.001, "도": 0.001,
    "소": 0.001, "석": 0.001, "선": 0.001, "설": 0.001, "마": 0.001, "길": 0.001,
}
# fmt: on


@lru_cache(maxsize=1)
def korean_surname_frequencies() -> dict[str, float]:
    """KOREAN_SURNAME_SHARES by phonetic key (shares of surnames that fold together are added up)."""
    frequencies: dict[str, float] = {}
    for surname, share in KOREAN_SURNAME_SHARES.items():
        key = _fold(surname)
        frequencies[key] = round(frequencies.get(key, 0.0) + share, 4)
    return frequencies
