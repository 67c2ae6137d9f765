"""The rule language: validation with field paths, and compiled SQL against a hand-checked population."""

import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign.segments import service
from campaign.segments.errors import InvalidSegmentRule
from tests.campaign.segments.conftest import Population


async def _errors(sessions: async_sessionmaker[AsyncSession], rule: Any) -> list[tuple[str, str]]:
    async with sessions() as session:
        with pytest.raises(InvalidSegmentRule) as caught:
            await service.validate_rule(session, rule)
    return [(e.field, e.code) for e in caught.value.errors or []]


async def _matching(
    sessions: async_sessionmaker[AsyncSession], rule: dict[str, Any], people: Population
) -> set[uuid.UUID]:
    async with sessions() as session:
        await service.validate_rule(session, rule)
        return await service.matching(session, rule, list(people.everyone))


async def test_unknown_field_is_named_by_its_path(sessions: async_sessionmaker[AsyncSession]) -> None:
    rule = {
        "and": [
            {"field": "order_count", "op": "gte", "value": 1},
            {"field": "shoe_size", "op": "eq", "value": 1},
        ]
    }

    assert await _errors(sessions, rule) == [("body.rule.and.1.field", "unknown_field")]


async def test_wrong_value_type_op_and_enum_value_are_each_named(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    rule = {
        "and": [
            {"field": "order_total", "op": "gte", "value": "lots"},
            {"field": "traits.city", "op": "gt", "value": "서울"},
            {"field": "lifecycle_stage", "op": "in", "value": ["active", "sleeping"]},
            {"or": [{"field": "consents.email:marketing", "op": "eq", "value": "yes"}]},
            {"event": "order_placed", "op": "gte", "count": -1},
        ]
    }

    assert await _errors(sessions, rule) == [
        ("body.rule.and.0.value", "value_type"),
        ("body.rule.and.1.op", "op"),
        ("body.rule.and.2.value.1", "value_enum"),
        ("body.rule.and.3.or.0.value", "value_type"),
        ("body.rule.and.4.count", "value_type"),
    ]


async def test_malformed_nodes_and_where_clauses_are_named(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    rule = {
        "or": [
            {"and": []},
            {"nonsense": 1},
            {"event": "order_placed", "where": {"field": "lifecycle_stage", "op": "eq", "value": "new"}},
            {"field": "last_order_at", "op": "within_days", "value": 0},
        ]
    }

    assert await _errors(sessions, rule) == [
        ("body.rule.or.0.and", "node_list"),
        ("body.rule.or.1", "node_kind"),
        ("body.rule.or.2.where.field", "unknown_field"),
        ("body.rule.or.3.value", "value_type"),
    ]


async def test_too_deep_a_rule_is_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    rule: dict[str, Any] = {"field": "order_count", "op": "gte", "value": 1}
    for _ in range(10):
        rule = {"not": rule}

    assert ("body.rule" + ".not" * 8, "rule_too_deep") in await _errors(sessions, rule)


async def test_reference_to_a_missing_segment_is_named(sessions: async_sessionmaker[AsyncSession]) -> None:
    rule = {
        "and": [{"field": "order_count", "op": "gte", "value": 1}, {"not": {"segment": str(uuid.uuid4())}}]
    }

    assert await _errors(sessions, rule) == [("body.rule.and.1.not.segment", "segment_unknown")]


async def test_brief_example_rule_selects_exactly_the_hand_checked_customer(
    sessions: async_sessionmaker[AsyncSession], population: Population
) -> None:
    rule = {
        "and": [
            {"field": "lifecycle_stage", "op": "in", "value": ["active", "at_risk"]},
            {"field": "traits.city", "op": "eq", "value": "서울"},
            {"field": "order_total", "op": "gte", "value": 100000},
            {"event": "order_placed", "op": "gte", "count": 2, "within_days": 30},
            {
                "event": "order_placed",
                "where": {"field": "properties.category", "op": "eq", "value": "shoes"},
                "op": "gte",
                "count": 1,
            },
            {
                "or": [
                    {"field": "consents.email:marketing", "op": "eq", "value": True},
                    {"field": "advocate_tier", "op": "eq", "value": "advocate"},
                ]
            },
        ]
    }

    assert await _matching(sessions, rule, population) == {population.a}


CASES: list[tuple[dict[str, Any], str]] = [
    ({"field": "lifecycle_stage", "op": "in", "value": ["active", "at_risk"]}, "ab"),
    ({"field": "lifecycle_stage", "op": "eq", "value": "new"}, "d"),
    ({"field": "traits.city", "op": "neq", "value": "서울"}, "c"),
    ({"field": "traits.city", "op": "not_in", "value": ["부산"]}, "abd"),
    ({"field": "traits.given_name", "op": "exists"}, "d"),
    ({"field": "display_name", "op": "starts_with", "value": "b"}, "b"),
    ({"field": "display_name", "op": "contains", "value": "h"}, "ac"),
    ({"field": "order_total", "op": "between", "value": [100000, 150000]}, "b"),
    ({"field": "order_count", "op": "lt", "value": 2}, "bc"),
    ({"field": "last_order_at", "op": "within_days", "value": 7}, "ad"),
    ({"field": "last_order_at", "op": "before_days", "value": 30}, "b"),
    ({"field": "last_order_at", "op": "not_exists"}, "c"),
    ({"field": "top_categories", "op": "contains", "value": "bags"}, "ab"),
    ({"field": "top_categories", "op": "in", "value": ["shoes", "hats"]}, "ad"),
    ({"field": "consents.email:marketing", "op": "eq", "value": False}, "bc"),
    ({"field": "advocate_tier", "op": "eq", "value": "advocate"}, "b"),
    ({"not": {"field": "traits.city", "op": "eq", "value": "서울"}}, "c"),
    ({"event": "order_placed", "op": "eq", "count": 0}, "c"),
    ({"event": "order_placed", "op": "lt", "count": 2}, "bc"),
    ({"event": "order_placed", "op": "eq", "count": 2}, "d"),
    ({"event": "order_placed", "op": "gte", "count": 3}, "a"),
    ({"event": "order_placed", "op": "gte", "count": 2, "within_days": 30}, "ad"),
    (
        {"event": "order_placed", "where": {"field": "properties.category", "op": "in", "value": ["bags"]}},
        "ab",
    ),
    ({"event": "order_placed", "where": {"field": "properties.total", "op": "gt", "value": 100000}}, "b"),
    ({"event": "order_placed", "where": {"field": "channel", "op": "eq", "value": "store"}}, ""),
    ({"event": "advocate.score_changed"}, "b"),
    ({"not": {"field": "traits.given_name", "op": "eq", "value": "Dahye"}}, "abc"),
    ({"field": "order_count", "op": "in", "value": [2, 3.0]}, "ad"),
    ({"field": "avg_order_value", "op": "not_in", "value": [150000]}, "acd"),
    (
        {"field": "customer_created_at", "op": "between", "value": ["2026-01-01T00:00:00Z", "2026-12-31"]},
        "abcd",
    ),
    ({"field": "first_order_at", "op": "lt", "value": "2000-01-01T00:00:00+09:00"}, ""),
    (
        {
            "event": "order_placed",
            "where": {"not": {"field": "properties.category", "op": "eq", "value": "shoes"}},
        },
        "ab",
    ),
]


async def test_each_op_selects_the_hand_checked_customers(
    sessions: async_sessionmaker[AsyncSession], population: Population
) -> None:
    # One population for every case (building it is the slow part); all mismatches show at once.
    letters = {population.a: "a", population.b: "b", population.c: "c", population.d: "d"}
    found = {}
    for rule, _ in CASES:
        matched = await _matching(sessions, rule, population)
        found[str(rule)] = "".join(sorted(letters[customer_id] for customer_id in matched))

    assert found == {str(rule): expected for rule, expected in CASES}


async def test_values_are_bound_never_spliced_into_the_sql(
    sessions: async_sessionmaker[AsyncSession], population: Population
) -> None:
    rule = {"field": "traits.city", "op": "eq", "value": "x' OR '1'='1"}

    assert await _matching(sessions, rule, population) == set()


async def test_matching_only_answers_for_the_customers_asked(
    sessions: async_sessionmaker[AsyncSession], population: Population
) -> None:
    async with sessions() as session:
        found = await service.matching(
            session, {"field": "traits.city", "op": "eq", "value": "서울"}, [population.a, population.c]
        )

    assert found == {population.a}
