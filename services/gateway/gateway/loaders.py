"""Per-request DataLoaders over the services' batch endpoints.

Every field that reads something per customer (or per idea, segment, campaign) goes through one of
these, so a list of 100 customers asking for the same nested field costs one call per service, not
100. A loader lives for one request only: it caches what that caller may see, and nothing leaks to
the next caller.

The batch endpoints are for staff. A customer token only ever reads itself, through the services'
single-customer endpoints, which check that the id is the caller's own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qsl

from pydantic import BaseModel
from strawberry.dataloader import DataLoader

from crm_common.auth import Principal
from crm_common.pagination import MAX_BATCH_IDS
from gateway.clients import QueryParams, ServiceClient

ItemT = TypeVar("ItemT")
NodeT = TypeVar("NodeT")

# As many ids per call as the services' batch endpoints take.
MAX_IDS_PER_CALL = MAX_BATCH_IDS


class Batch(BaseModel, Generic[ItemT]):
    """``{"items": {"<requested id>": item}}``, the answer of every ``…:batch``-style endpoint."""

    items: dict[str, ItemT | None]


class Page(BaseModel, Generic[NodeT]):
    """One page of a list endpoint: its items and the cursor of the next page, if any."""

    items: list[NodeT]
    next_cursor: str | None = None


Loader = DataLoader[uuid.UUID, Any]


class Loaders:
    """The DataLoaders of one GraphQL request, made on first use and keyed by what they fetch."""

    def __init__(self, principal: Principal) -> None:
        self._principal = principal
        self._loaders: dict[Hashable, Loader] = {}

    @property
    def batched(self) -> bool:
        """Whether this caller reads through the batch endpoints (staff) or one by one (a customer)."""
        return self._principal.is_staff

    def by_ids(
        self,
        client: ServiceClient,
        batch_path: str,
        into: type[ItemT],
        *,
        single_path: str | None = None,
        params: QueryParams | None = None,
    ) -> DataLoader[uuid.UUID, ItemT | None]:
        """A loader of one ``into`` per id (None when the service has nothing for it).

        Staff: one ``GET batch_path?ids=…&params`` per batch. A customer: ``GET single_path`` (with
        ``{id}`` filled in) per id, or nothing at all when no single path is given.
        """
        frozen = _freeze(params)
        key = (client.service, batch_path, into, frozen)
        loader = self._loaders.get(key)
        if loader is None:
            if self.batched:
                load = _batch_load(client, batch_path, into, params)
            else:
                load = _single_load(client, single_path, into, params)
            loader = DataLoader(load_fn=load, max_batch_size=MAX_IDS_PER_CALL)
            self._loaders[key] = loader
        return loader

    def listed(
        self,
        client: ServiceClient,
        path: str,
        into: type[ItemT],
        key: Callable[[ItemT], uuid.UUID],
        envelope: type[BaseModel] | None = None,
    ) -> DataLoader[uuid.UUID, ItemT | None]:
        """A loader over an endpoint answering a list for ``?ids=…`` (plain, or ``envelope.items``).

        For endpoints every caller may use alike (ideas) or whose answer is not keyed by id.
        """
        loader_key = (client.service, path, into, "listed")
        loader = self._loaders.get(loader_key)
        if loader is None:

            async def load(ids: list[uuid.UUID]) -> Sequence[ItemT | None]:
                params = {"ids": [str(i) for i in dict.fromkeys(ids)]}
                if envelope is None:
                    found = await client.fetch_required(path, list[into], params=params)  # type: ignore[valid-type]
                else:
                    wrapped: Any = await client.fetch_required(path, envelope, params=params)
                    found = wrapped.items
                by_id = {key(item): item for item in found}
                return [by_id.get(i) for i in ids]

            loader = DataLoader(load_fn=load, max_batch_size=MAX_IDS_PER_CALL)
            self._loaders[loader_key] = loader
        return loader


def _freeze(params: QueryParams | None) -> tuple[tuple[str, Any], ...]:
    if not params:
        return ()
    return tuple(
        sorted(
            (name, tuple(value) if isinstance(value, list | tuple) else value)
            for name, value in params.items()
        )
    )


def _batch_load(
    client: ServiceClient, path: str, into: type[ItemT], params: QueryParams | None
) -> Callable[[list[uuid.UUID]], Awaitable[Sequence[ItemT | BaseException | None]]]:
    async def load(ids: list[uuid.UUID]) -> Sequence[ItemT | BaseException | None]:
        query: dict[str, Any] = dict(params or {})
        query["ids"] = [str(i) for i in dict.fromkeys(ids)]
        batch = await client.fetch_required(path, Batch[into], params=query)  # type: ignore[valid-type]
        return [batch.items.get(str(i)) for i in ids]

    return load


def single_call(template: str, item_id: uuid.UUID, params: QueryParams | None) -> tuple[str, QueryParams]:
    """``/v1/ideas?author_id={id}`` → the path and its query merged with the loader's parameters."""
    path, _, query = template.format(id=item_id).partition("?")
    return path, {**dict(parse_qsl(query)), **(params or {})}


def _single_load(
    client: ServiceClient, path: str | None, into: type[ItemT], params: QueryParams | None
) -> Callable[[list[uuid.UUID]], Awaitable[Sequence[ItemT | BaseException | None]]]:
    async def load(ids: list[uuid.UUID]) -> Sequence[ItemT | BaseException | None]:
        if path is None:
            return [None] * len(ids)
        results = await asyncio.gather(
            *(
                client.fetch(single, into, params=query)
                for single, query in (single_call(path, i, params) for i in ids)
            ),
            return_exceptions=True,
        )
        return list(results)  # an exception stands for its id only

    return load
