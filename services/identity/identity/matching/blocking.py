"""Blocking keys: which existing customers a record is compared with at all.

Each key joins two attributes (a name code and the birth date, the postcode and a name code, ...), so
one key is selective, and a typo or a change in any single attribute leaves the keys built from the
others intact: a true duplicate shares at least one key with high probability. The engine stores
(key, customer_id) rows in an indexed table and fetches candidates by key; nothing ever compares all
pairs. Names enter keys through a phonetic code of their romanized fold, so 김서연 and "Kim Seo-yeon"
share keys.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence

import jellyfish

from identity.matching.comparisons import date_key
from identity.matching.model import MatchRecord, PreparedRecord, prepare
from identity.matching.names import NormalizedName


def name_code(name: NormalizedName | None) -> str:
    """A short phonetic code of a name (Soundex of its romanized fold): typos in later letters agree."""
    if name is None or not name.translit_key:
        return ""
    return jellyfish.soundex(name.translit_key)


def blocking_keys(record: MatchRecord) -> set[str]:
    """The record's blocking keys, like ``"nd:K500|19900304"`` (a name code and the birth date).

    Kinds: ``nn`` / ``nl`` / ``na`` / ``ns`` both name codes (sorted, so swapped names agree) and
    the birth year / locality code / street code / street number; ``nd`` / ``np`` a name code (given
    name or surname, one key each) and the birth date / postcode; ``nt`` the given-name code, the
    street code and the locality code; ``dp`` / ``dl`` / ``ds`` the birth date and the postcode /
    locality code / street number; ``al`` the street number, street code and locality code; ``ph`` the
    phone's last 8 digits; ``em`` the email's local part. A key whose attributes are missing is left out.
    """
    return prepared_blocking_keys(prepare(record))


def prepared_blocking_keys(record: PreparedRecord) -> set[str]:
    """``blocking_keys`` of a record already normalized with ``prepare``."""
    names = sorted({code for code in (name_code(record.given_name), name_code(record.surname)) if code})
    both_names = tuple(names) if len(names) == 2 else ()
    birth = date_key(record.birth_date)
    postcode, number = record.postcode, record.street_number
    locality, street = record.locality_code, record.street_code
    parts: list[tuple[str, tuple[str, ...]]] = [
        ("nn", both_names and (*both_names, birth[:4])),
        ("nl", both_names and (*both_names, locality)),
        ("na", both_names and (*both_names, street)),
        ("ns", both_names and (*both_names, number)),
        ("dp", (birth, postcode)),
        ("dl", (birth, locality)),
        ("ds", (birth, number)),
        ("al", (number, street, locality)),
    ]
    for code in names:
        parts += [("nd", (code, birth)), ("np", (code, postcode))]
    # Not with the surname: a fifth of Koreans are 김, too many on one road of one district.
    parts.append(("nt", (name_code(record.given_name), street, locality)))
    keys = {f"{kind}:{'|'.join(values)}" for kind, values in parts if values and all(values)}
    if len(record.phone) >= 8:
        keys.add(f"ph:{record.phone[-8:]}")
    local_part = record.email.rpartition("@")[0]
    if local_part:
        keys.add(f"em:{local_part}")
    return keys


def candidate_pairs(
    records: Sequence[MatchRecord],
    others: Sequence[MatchRecord] | None = None,
    max_block_size: int | None = None,
) -> set[tuple[int, int]]:
    """Index pairs that share at least one blocking key, in bulk (for estimation and benchmarks).

    Without ``others``: pairs (i, j), i < j, within ``records`` (de-duplication). With ``others``:
    pairs (i, j) of records[i] and others[j] (linkage). A key held by more than ``max_block_size``
    records on a side is skipped, as a stop word would be.
    """
    left = _index(prepared_blocking_keys(prepare(record)) for record in records)
    right = left if others is None else _index(prepared_blocking_keys(prepare(record)) for record in others)
    pairs: set[tuple[int, int]] = set()
    for key, members in left.items():
        partners = right.get(key)
        if not partners:
            continue
        if max_block_size is not None and max(len(members), len(partners)) > max_block_size:
            continue
        if others is None:
            pairs.update(_within(members))
        else:
            pairs.update((i, j) for i in members for j in partners)
    return pairs


def _index(keys_per_record: Iterable[set[str]]) -> dict[str, list[int]]:
    index: dict[str, list[int]] = defaultdict(list)
    for position, keys in enumerate(keys_per_record):
        for key in keys:
            index[key].append(position)
    return index


def _within(members: list[int]) -> Iterator[tuple[int, int]]:
    for n, i in enumerate(members):
        for j in members[n + 1 :]:
            yield (i, j)
