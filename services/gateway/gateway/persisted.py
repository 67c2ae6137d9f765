"""Persisted queries: documents known in advance, sent by hash, and the allow-list mode.

A client build collects its operations into ``*.graphql`` files and produces the map the gateway
reads (``CRM_GATEWAY_PERSISTED_QUERIES_PATH``)::

    python -m gateway.persisted build clients/web/queries/*.graphql > persisted.json

Each file is one document, hashed exactly as it is written (the client must send the same text, or
its hash). A request then names a document in either form:

- Apollo's ``{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "<hex>"}}}`` (over GET
  as ``?extensions=<that JSON>``), with or without ``query``;
- the GraphQL-over-HTTP persisted-documents proposal's ``{"documentId": "sha256:<hex>"}``.

In allow-list mode (``CRM_GATEWAY_PERSISTED_QUERIES_ONLY``) a free-form ``query`` runs only when its
exact text is in the map; anything else is refused with ``PERSISTED_QUERY_REQUIRED``. The map is a
static list: unlike Apollo's *automatic* persisted queries, an unknown hash sent with its text is
never added to it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from graphql import GraphQLError, parse

_HASH = re.compile(r"^[0-9a-f]{64}$")
DOCUMENT_ID_PREFIX = "sha256:"


class PersistedQueryCode(StrEnum):
    """``extensions.code`` of a refused persisted-query request."""

    NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    REQUIRED = "PERSISTED_QUERY_REQUIRED"
    HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
    BAD_REQUEST = "BAD_REQUEST"


class PersistedQueryError(Exception):
    """The request names no document the gateway may run.

    ``status`` is None when the GraphQL-over-HTTP rules for a request error apply (200 for
    ``application/json``, 400 for ``application/graphql-response+json``); a refusal by policy has
    its own status.
    """

    def __init__(self, code: PersistedQueryCode, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def document_hash(document: str) -> str:
    """The sha256 hex of a document's exact text (UTF-8), as Apollo clients compute it."""
    return hashlib.sha256(document.encode()).hexdigest()


@dataclass(frozen=True)
class PersistedQueries:
    """The documents of the map, by hash, and whether only they may run."""

    documents: Mapping[str, str] = field(default_factory=dict)
    only: bool = False

    @classmethod
    def load(cls, path: Path | None, *, only: bool = False) -> PersistedQueries:
        """Read and check the map: every key must be the hash of its document, and every document
        must parse. A bad map stops the gateway at start-up rather than failing clients later."""
        if path is None:
            return cls(only=only)
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: expected a JSON object of sha256 hex → document")
        documents: dict[str, str] = {}
        for key, document in raw.items():
            if not isinstance(document, str) or not _HASH.match(key):
                raise ValueError(f"{path}: {key!r} is not a sha256 hex mapped to a document")
            if document_hash(document) != key:
                raise ValueError(f"{path}: {key} is not the sha256 of its document")
            try:
                parse(document)
            except GraphQLError as exc:
                raise ValueError(f"{path}: the document {key} does not parse: {exc.message}") from exc
            documents[key] = document
        return cls(documents=documents, only=only)

    def resolve(
        self, query: str | None, extensions: Mapping[str, Any] | None, document_id: str | None = None
    ) -> str | None:
        """The document to run for one operation of a request.

        Returns ``query`` unchanged when the request names no persisted document (None stays None:
        the transport then answers that the query is missing). Raises :class:`PersistedQueryError`.
        """
        wanted = self._requested_hash(extensions, document_id)
        if wanted is not None:
            if query is not None:
                if document_hash(query) != wanted:
                    raise PersistedQueryError(
                        PersistedQueryCode.HASH_MISMATCH,
                        "The persisted query hash is not the sha256 of the query sent with it.",
                        status=400,
                    )
                return self._allowed(query)
            document = self.documents.get(wanted)
            if document is None:
                raise PersistedQueryError(
                    PersistedQueryCode.NOT_FOUND, "PersistedQueryNotFound: the gateway has no such document."
                )
            return document
        return query if query is None else self._allowed(query)

    def _allowed(self, query: str) -> str:
        if self.only and document_hash(query) not in self.documents:
            raise PersistedQueryError(
                PersistedQueryCode.REQUIRED,
                "This gateway runs persisted queries only: send the hash of a document from the client "
                "build.",
                status=403,
            )
        return query

    @staticmethod
    def _requested_hash(extensions: Mapping[str, Any] | None, document_id: str | None) -> str | None:
        if document_id is not None:
            if not isinstance(document_id, str) or not document_id.startswith(DOCUMENT_ID_PREFIX):
                raise PersistedQueryError(
                    PersistedQueryCode.BAD_REQUEST,
                    f"documentId must be '{DOCUMENT_ID_PREFIX}<hex>'.",
                    status=400,
                )
            return _checked_hash(document_id.removeprefix(DOCUMENT_ID_PREFIX))
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            return None
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            raise PersistedQueryError(
                PersistedQueryCode.BAD_REQUEST,
                "extensions.persistedQuery must be {version: 1, sha256Hash: <hex>}.",
                status=400,
            )
        return _checked_hash(persisted.get("sha256Hash"))


def _checked_hash(value: object) -> str:
    if not isinstance(value, str) or not _HASH.match(value.lower()):
        raise PersistedQueryError(
            PersistedQueryCode.BAD_REQUEST, "A persisted query hash is 64 hex digits of sha256.", status=400
        )
    return value.lower()


def build(paths: Sequence[Path]) -> dict[str, str]:
    """The map for these ``.graphql`` files: one document per file, by the hash of its exact text."""
    documents: dict[str, str] = {}
    for path in paths:
        document = path.read_text(encoding="utf-8")
        parse(document)  # a client build must not ship a document the gateway would refuse to load
        documents[document_hash(document)] = document
    return dict(sorted(documents.items()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.persisted", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_command = commands.add_parser("build", help="Print the map of the given .graphql files as JSON.")
    build_command.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    try:
        documents = build(args.files)
    except (OSError, GraphQLError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    json.dump(documents, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
