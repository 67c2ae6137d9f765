"""Synthetic people with realistic variety: Korean and Latin names, birth dates, cities.

A person's facts come from a generator seeded by the person's number, so every row about the same
person agrees (as different channels would), and different people rarely share all of them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

SURNAMES = [
    "Kim",
    "Lee",
    "Park",
    "Choi",
    "Jung",
    "Kang",
    "Cho",
    "Yoon",
    "Jang",
    "Lim",
    "Han",
    "Oh",
    "Seo",
    "Shin",
    "Kwon",
    "Hwang",
    "Ahn",
    "Song",
    "Jeon",
    "Hong",
    "Yoo",
    "Ko",
    "Moon",
    "Yang",
    "Son",
    "Bae",
]
SYLLABLES = [
    "min",
    "seo",
    "ji",
    "hoon",
    "yeon",
    "jun",
    "woo",
    "hyun",
    "soo",
    "young",
    "eun",
    "ha",
    "na",
    "yu",
    "do",
    "yun",
    "ho",
    "jin",
    "kyung",
    "sung",
    "hye",
    "mi",
    "jae",
    "won",
    "bin",
    "chan",
    "ah",
    "rin",
]
CITIES = [
    "Seoul",
    "Busan",
    "Incheon",
    "Daegu",
    "Daejeon",
    "Gwangju",
    "Suwon",
    "Ulsan",
    "Changwon",
    "Goyang",
    "Yongin",
    "Seongnam",
    "Bucheon",
    "Cheongju",
    "Ansan",
    "Jeonju",
    "Cheonan",
    "Namyangju",
    "Hwaseong",
]


@dataclass(frozen=True)
class Person:
    number: int
    given_name: str
    surname: str
    birth_date: str
    city: str
    email: str
    phone: str


def person(number: int) -> Person:
    rng = random.Random(number)
    given = (rng.choice(SYLLABLES) + "-" + rng.choice(SYLLABLES)).capitalize()
    return Person(
        number=number,
        given_name=given,
        surname=rng.choice(SURNAMES),
        birth_date=f"{rng.randrange(1950, 2006)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
        city=rng.choice(CITIES),
        email=f"p{number}@example.com",
        phone=f"010-{3000 + number // 10000:04d}-{number % 10000:04d}",
    )
