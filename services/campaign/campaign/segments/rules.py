"""The segment rule language: a JSON tree checked against a field catalog and compiled to SQL.

A rule is one node:

- ``{"and": [node, ...]}``, ``{"or": [node, ...]}``, ``{"not": node}``
- a field condition ``{"field": "order_total", "op": "gte", "value": 100000}`` over ``audience_member``
  (``traits.<key>`` are text, ``consents.<channel>:<purpose>`` boolean);
- an event condition ``{"event": "order_placed", "op": "gte", "count": 2, "within_days": 30,
  "where": <node over properties.* and channel>}`` over ``customer_activity``;
- a segment reference ``{"segment": "<uuid>"}``, read from the stored membership, never inlined.

Values are always bound parameters. A condition on ``properties.<key>`` with ``eq`` / ``in`` also holds
when one of the event's ``items`` has that value (an order's lines: ``properties.category``).
Null semantics: a condition on a missing value is false (``neq`` and ``not_in`` hold for it), and
``not`` of a false condition holds.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    Boolean,
    ColumnElement,
    Interval,
    Numeric,
    Table,
    Text,
    and_,
    any_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID

from campaign.audience.models import AudienceMember, CustomerActivity
from campaign.segments.models import SegmentMembership
from crm_common.errors import FieldError

MEMBER: Table = AudienceMember.__table__  # type: ignore[attr-defined]
ACTIVITY: Table = CustomerActivity.__table__  # type: ignore[attr-defined]
MEMBERSHIP: Table = SegmentMembership.__table__  # type: ignore[attr-defined]

NUMBER, TEXT, DATETIME, BOOLEAN, TEXT_ARRAY, ENUM = "number", "text", "datetime", "boolean", "text[]", "enum"

OPS_BY_TYPE: dict[str, frozenset[str]] = {
    NUMBER: frozenset(
        {"eq", "neq", "gt", "gte", "lt", "lte", "in", "not_in", "between", "exists", "not_exists"}
    ),
    TEXT: frozenset({"eq", "neq", "in", "not_in", "contains", "starts_with", "exists", "not_exists"}),
    ENUM: frozenset({"eq", "neq", "in", "not_in", "exists", "not_exists"}),
    BOOLEAN: frozenset({"eq", "neq", "exists", "not_exists"}),
    DATETIME: frozenset(
        {"gt", "gte", "lt", "lte", "between", "within_days", "before_days", "exists", "not_exists"}
    ),
    TEXT_ARRAY: frozenset({"contains", "in", "not_in", "exists", "not_exists"}),
}
COUNT_OPS = frozenset({"eq", "neq", "gt", "gte", "lt", "lte"})
ALL_OPS = frozenset().union(*OPS_BY_TYPE.values())

CHANNELS = ("email", "sms", "push", "webhook", "in_app")
PURPOSES = ("marketing", "transactional", "service")


@dataclass(frozen=True)
class FieldSpec:
    type: str
    values: tuple[str, ...] = ()
    description: str = ""


CATALOG: dict[str, FieldSpec] = {
    "display_name": FieldSpec(TEXT),
    "email": FieldSpec(TEXT),
    "phone": FieldSpec(TEXT),
    "time_zone": FieldSpec(TEXT, description="IANA zone"),
    "order_count": FieldSpec(NUMBER),
    "order_total": FieldSpec(NUMBER),
    "avg_order_value": FieldSpec(NUMBER),
    "first_order_at": FieldSpec(DATETIME),
    "last_order_at": FieldSpec(DATETIME),
    "top_categories": FieldSpec(TEXT_ARRAY),
    "last_activity_at": FieldSpec(DATETIME),
    "latest_nps": FieldSpec(NUMBER),
    "nps_count": FieldSpec(NUMBER),
    "open_complaints": FieldSpec(NUMBER),
    "complaint_count": FieldSpec(NUMBER),
    "advocate_score": FieldSpec(NUMBER),
    "advocate_tier": FieldSpec(ENUM, ("advocate", "supporter", "neutral")),
    "rfm_recency": FieldSpec(NUMBER),
    "rfm_frequency": FieldSpec(NUMBER),
    "rfm_monetary": FieldSpec(NUMBER),
    "rfm_segment": FieldSpec(
        ENUM, ("champions", "loyal", "new_customer", "promising", "cant_lose", "at_risk", "hibernating")
    ),
    "value_tier": FieldSpec(ENUM, ("vip", "high", "medium", "low")),
    "lifecycle_stage": FieldSpec(ENUM, ("prospect", "new", "active", "at_risk", "lapsed")),
    "last_message_at": FieldSpec(DATETIME),
    "last_opened_at": FieldSpec(DATETIME),
    "last_clicked_at": FieldSpec(DATETIME),
    "customer_created_at": FieldSpec(DATETIME),
}
TRAIT_SPEC = FieldSpec(TEXT, description="identity's golden value")
CONSENT_SPEC = FieldSpec(BOOLEAN, description="granted consent")

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_PROPERTY_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,3}$")
_ACTIVITY_TYPE = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")
MAX_LIST = 1000
MAX_TEXT = 1000
MAX_DAYS = 36_500
MAX_COUNT = 1_000_000


def field_spec(name: str) -> FieldSpec | None:
    """The catalog entry of a member field (``traits.city`` and ``consents.email:marketing`` included)."""
    if name in CATALOG:
        return CATALOG[name]
    prefix, _, rest = name.partition(".")
    if prefix == "traits" and _KEY.match(rest):
        return TRAIT_SPEC
    if prefix == "consents":
        channel, _, purpose = rest.partition(":")
        if channel in CHANNELS and purpose in PURPOSES:
            return CONSENT_SPEC
    return None


def catalog() -> list[dict[str, Any]]:
    """The field catalog as the API documents it."""
    entries = [
        {"field": name, "type": spec.type, "ops": sorted(OPS_BY_TYPE[spec.type]), "values": list(spec.values)}
        for name, spec in CATALOG.items()
    ]
    entries.append({"field": "traits.<key>", "type": TEXT, "ops": sorted(OPS_BY_TYPE[TEXT]), "values": []})
    entries.append(
        {
            "field": "consents.<channel>:<purpose>",
            "type": BOOLEAN,
            "ops": sorted(OPS_BY_TYPE[BOOLEAN]),
            "values": [],
        }
    )
    return entries


# --- validation ----------------------------------------------------------------------------------------


@dataclass
class Checked:
    """What validation learned about a rule: its problems and the segments it references."""

    errors: list[FieldError] = field(default_factory=list)
    references: dict[uuid.UUID, str] = field(default_factory=dict)  # id -> path of the first use
    conditions: int = 0

    def fail(self, path: str, message: str, code: str) -> None:
        self.errors.append(FieldError(field=path, message=message, code=code))


def check(rule: Any, path: str, *, max_depth: int, max_conditions: int) -> Checked:
    """Check the rule's shape, fields, ops and values (no database); references are collected."""
    checked = Checked()
    _check_node(rule, path, 1, checked, max_depth, in_event=False)
    if checked.conditions > max_conditions:
        checked.fail(path, f"a rule may hold at most {max_conditions} conditions", "rule_too_large")
    return checked


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _check_node(
    node: Any, path: str, depth: int, checked: Checked, max_depth: int, *, in_event: bool
) -> None:
    if depth > max_depth:
        checked.fail(path, f"rules may nest at most {max_depth} levels", "rule_too_deep")
        return
    if not isinstance(node, dict) or not node:
        checked.fail(path, "a rule node must be an object", "node_type")
        return
    for combinator in ("and", "or"):
        if combinator in node:
            if len(node) != 1:
                checked.fail(path, f"'{combinator}' takes no other keys", "node_keys")
                return
            children = node[combinator]
            if not isinstance(children, list) or not children:
                checked.fail(f"{path}.{combinator}", "must be a non-empty list of rule nodes", "node_list")
                return
            for i, child in enumerate(children):
                _check_node(
                    child, f"{path}.{combinator}.{i}", depth + 1, checked, max_depth, in_event=in_event
                )
            return
    if "not" in node:
        if len(node) != 1:
            checked.fail(path, "'not' takes no other keys", "node_keys")
            return
        _check_node(node["not"], f"{path}.not", depth + 1, checked, max_depth, in_event=in_event)
        return
    checked.conditions += 1
    if in_event:
        _check_property_condition(node, path, checked)
    elif "field" in node:
        _check_field_condition(node, path, checked)
    elif "event" in node:
        _check_event_condition(node, path, depth, checked, max_depth)
    elif "segment" in node:
        _check_reference(node, path, checked)
    else:
        checked.fail(path, "expected one of: and, or, not, field, event, segment", "node_kind")


def _unknown_keys(node: dict[str, Any], allowed: set[str], path: str, checked: Checked) -> None:
    for key in node:
        if key not in allowed:
            checked.fail(f"{path}.{key}", "unknown key", "unknown_key")


def _check_field_condition(node: dict[str, Any], path: str, checked: Checked) -> None:
    _unknown_keys(node, {"field", "op", "value"}, path, checked)
    name = node.get("field")
    spec = field_spec(name) if isinstance(name, str) else None
    if spec is None:
        checked.fail(f"{path}.field", f"unknown field {name!r}", "unknown_field")
        return
    _check_op_and_value(node, path, spec, checked)


def _check_op_and_value(node: dict[str, Any], path: str, spec: FieldSpec, checked: Checked) -> None:
    op = node.get("op")
    if op not in OPS_BY_TYPE[spec.type]:
        allowed = ", ".join(sorted(OPS_BY_TYPE[spec.type]))
        checked.fail(f"{path}.op", f"op {op!r} is not valid for a {spec.type} field (use {allowed})", "op")
        return
    if op in ("exists", "not_exists"):
        return
    if "value" not in node:
        checked.fail(f"{path}.value", "a value is required", "value_missing")
        return
    value, where = node["value"], f"{path}.value"
    if op in ("within_days", "before_days"):
        if not _is_number(value) or not 0 < value <= MAX_DAYS:
            checked.fail(where, f"must be a number of days between 0 and {MAX_DAYS}", "value_type")
        return
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value or len(value) > MAX_LIST:
            checked.fail(where, f"must be a list of 1 to {MAX_LIST} values", "value_type")
            return
        for i, item in enumerate(value):
            _check_scalar(item, f"{where}.{i}", spec, checked)
        return
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            checked.fail(where, "must be a list of two values [low, high]", "value_type")
            return
        before = len(checked.errors)
        for i, item in enumerate(value):
            _check_scalar(item, f"{where}.{i}", spec, checked)
        if len(checked.errors) == before and _scalar(value[0], spec) > _scalar(value[1], spec):
            checked.fail(where, "low must not be above high", "value_range")
        return
    if spec.type == TEXT_ARRAY and op == "contains" and isinstance(value, list):
        if not value or len(value) > MAX_LIST:
            checked.fail(where, f"must be a list of 1 to {MAX_LIST} values", "value_type")
        for i, item in enumerate(value):
            _check_scalar(item, f"{where}.{i}", spec, checked)
        return
    _check_scalar(value, where, spec, checked)


def _check_scalar(value: Any, where: str, spec: FieldSpec, checked: Checked) -> None:
    kind = spec.type
    if kind == NUMBER and not _is_number(value):
        checked.fail(where, "must be a number", "value_type")
    elif kind in (TEXT, TEXT_ARRAY, ENUM) and not isinstance(value, str):
        checked.fail(where, "must be a string", "value_type")
    elif kind in (TEXT, TEXT_ARRAY) and len(value) > MAX_TEXT:
        checked.fail(where, f"must be at most {MAX_TEXT} characters", "value_length")
    elif kind == ENUM and value not in spec.values:
        checked.fail(where, f"must be one of: {', '.join(spec.values)}", "value_enum")
    elif kind == BOOLEAN and not isinstance(value, bool):
        checked.fail(where, "must be true or false", "value_type")
    elif kind == DATETIME and _datetime(value) is None:
        checked.fail(where, "must be an ISO 8601 date-time", "value_type")


def _datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _scalar(value: Any, spec: FieldSpec) -> Any:
    return _datetime(value) if spec.type == DATETIME else value


def _check_event_condition(
    node: dict[str, Any], path: str, depth: int, checked: Checked, max_depth: int
) -> None:
    _unknown_keys(node, {"event", "op", "count", "within_days", "where"}, path, checked)
    event = node.get("event")
    if not isinstance(event, str) or not _ACTIVITY_TYPE.match(event):
        checked.fail(f"{path}.event", "must be an activity type such as 'order_placed'", "event_type")
    op = node.get("op", "gte")
    if op not in COUNT_OPS:
        checked.fail(f"{path}.op", f"op {op!r} is not a count comparison (eq, neq, gt, gte, lt, lte)", "op")
    count = node.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_COUNT:
        checked.fail(f"{path}.count", f"must be a whole number from 0 to {MAX_COUNT}", "value_type")
    if "within_days" in node:
        days = node["within_days"]
        if not _is_number(days) or not 0 < days <= MAX_DAYS:
            checked.fail(
                f"{path}.within_days", f"must be a number of days between 0 and {MAX_DAYS}", "value_type"
            )
    if "where" in node:
        _check_node(node["where"], f"{path}.where", depth + 1, checked, max_depth, in_event=True)


def property_spec(name: Any) -> str | None:
    """``channel`` or ``properties.<path>``: the SQL-side path, or None when it is neither."""
    if name == "channel":
        return "channel"
    if isinstance(name, str) and name.startswith("properties.") and _PROPERTY_PATH.match(name[11:]):
        return name[11:]
    return None


def _check_property_condition(node: dict[str, Any], path: str, checked: Checked) -> None:
    if "field" not in node:
        checked.fail(
            path, "inside 'where' only field conditions (and/or/not of them) are allowed", "node_kind"
        )
        return
    _unknown_keys(node, {"field", "op", "value"}, path, checked)
    if property_spec(node.get("field")) is None:
        checked.fail(f"{path}.field", "must be 'channel' or 'properties.<key>'", "unknown_field")
        return
    # A property's type is the value's: numbers compare as numbers, booleans as booleans, else text.
    value = node.get("value")
    sample = value[0] if isinstance(value, list) and value else value
    kind = NUMBER if _is_number(sample) else BOOLEAN if isinstance(sample, bool) else TEXT
    _check_op_and_value(node, path, FieldSpec(kind), checked)


def _check_reference(node: dict[str, Any], path: str, checked: Checked) -> None:
    _unknown_keys(node, {"segment"}, path, checked)
    try:
        segment_id = uuid.UUID(str(node["segment"]))
    except ValueError:
        checked.fail(f"{path}.segment", "must be a segment id (uuid)", "value_type")
        return
    checked.references.setdefault(segment_id, f"{path}.segment")


def references(rule: Any) -> set[uuid.UUID]:
    """The segment ids a (valid) rule references."""
    return {uuid.UUID(str(node["segment"])) for node in _nodes(rule) if "segment" in node}


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(node, dict):
        return
    yield node
    for key in ("and", "or"):
        for child in node.get(key) or []:
            yield from _nodes(child)
    if "not" in node:
        yield from _nodes(node["not"])


# --- compilation ---------------------------------------------------------------------------------------


class Compiler:
    """Compiles a valid rule to a boolean SQL expression over ``audience_member``.

    ``scope``: when the rule is evaluated for a few customers only, the event subqueries are limited to
    them too, so an incremental pass never aggregates the whole activity table.
    """

    def __init__(self, scope: list[uuid.UUID] | None = None):
        self.scope = scope
        self._aliases = 0

    def _alias(self, table: Table, prefix: str) -> Any:
        self._aliases += 1
        return table.alias(f"{prefix}_{self._aliases}")

    def compile(self, node: dict[str, Any]) -> ColumnElement[bool]:
        if "and" in node:
            return and_(*(self.compile(child) for child in node["and"]))
        if "or" in node:
            return or_(*(self.compile(child) for child in node["or"]))
        if "not" in node:
            inner = self.compile(node["not"])
            if _never_null(node["not"]):  # EXISTS stays bare, so PostgreSQL can plan an anti-join
                return not_(inner)
            # A condition on a missing value is false, so its negation holds (SQL's NULL would not).
            return not_(func.coalesce(inner, false()))
        if "field" in node:
            return self._field(node)
        if "event" in node:
            return self._event(node)
        return self._reference(uuid.UUID(str(node["segment"])))

    def _field(self, node: dict[str, Any]) -> ColumnElement[bool]:
        name, op, value = node["field"], node["op"], node.get("value")
        spec = field_spec(name)
        assert spec is not None  # validated
        if name.startswith("consents."):
            return _consent(name.partition(".")[2], op, value)
        column: Any = MEMBER.c.traits[name[7:]].astext if name.startswith("traits.") else MEMBER.c[name]
        if spec.type == TEXT_ARRAY:
            return _array(column, op, value)
        return _compare(column, op, value, spec.type)

    def _event(self, node: dict[str, Any]) -> ColumnElement[bool]:
        activity = self._alias(ACTIVITY, "activity")
        conditions: list[ColumnElement[bool]] = [activity.c.activity_type == node["event"]]
        if "within_days" in node:
            conditions.append(activity.c.occurred_at >= func.now() - _days(node["within_days"]))
        if "where" in node:
            conditions.append(_properties(activity, node["where"]))
        if self.scope is not None:
            conditions.append(
                activity.c.customer_id == any_(literal(self.scope, ARRAY(PG_UUID(as_uuid=True))))
            )
        op, count = node.get("op", "gte"), int(node.get("count", 1))
        zero_holds = _holds(op, 0, count)
        if (op, count) in (("gte", 1), ("gt", 0), ("eq", 0), ("lt", 1), ("lte", 0), ("neq", 0)):
            # "any such event" / "no such event": a (anti) semi-join, no counting.
            any_event = exists(
                select(literal(1))
                .select_from(activity)
                .where(activity.c.customer_id == MEMBER.c.customer_id, *conditions)
            )
            return not_(any_event) if zero_holds else any_event
        failing = not zero_holds
        counted = (
            select(activity.c.customer_id)
            .where(*conditions)
            .group_by(activity.c.customer_id)
            .having(_count_holds(op, count) if failing else not_(_count_holds(op, count)))
            .subquery()
        )
        found = exists(
            select(literal(1)).select_from(counted).where(counted.c.customer_id == MEMBER.c.customer_id)
        )
        # 0 fails: the customer needs a group that holds. 0 holds: no group may fail.
        return found if failing else not_(found)

    def _reference(self, segment_id: uuid.UUID) -> ColumnElement[bool]:
        membership = self._alias(MEMBERSHIP, "member_of")
        return exists(
            select(literal(1))
            .select_from(membership)
            .where(membership.c.segment_id == segment_id, membership.c.customer_id == MEMBER.c.customer_id)
        )


def _never_null(node: dict[str, Any]) -> bool:
    """Event conditions and segment references compile to EXISTS, which is never NULL."""
    if "and" in node or "or" in node:
        return all(_never_null(child) for child in node.get("and") or node.get("or") or [])
    if "not" in node:
        return _never_null(node["not"])
    return "event" in node or "segment" in node


def _holds(op: str, actual: int, count: int) -> bool:
    return {
        "eq": actual == count,
        "neq": actual != count,
        "gt": actual > count,
        "gte": actual >= count,
        "lt": actual < count,
        "lte": actual <= count,
    }[op]


def _count_holds(op: str, count: int) -> ColumnElement[bool]:
    n: Any = func.count()
    return {
        "eq": n == count,
        "neq": n != count,
        "gt": n > count,
        "gte": n >= count,
        "lt": n < count,
        "lte": n <= count,
    }[op]


def _days(days: Any) -> Any:
    return literal(timedelta(days=float(days)), Interval())


def _like_pattern(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _compare(column: Any, op: str, value: Any, kind: str) -> ColumnElement[bool]:
    if op == "exists":
        return column.is_not(None)
    if op == "not_exists":
        return column.is_(None)
    if kind == DATETIME:
        if op == "within_days":
            return column >= func.now() - _days(value)
        if op == "before_days":
            return column < func.now() - _days(value)
        value = [_datetime(v) for v in value] if isinstance(value, list) else _datetime(value)
    if op == "eq":
        return column == value
    if op == "neq":
        return column.is_distinct_from(value)
    if op == "gt":
        return column > value
    if op == "gte":
        return column >= value
    if op == "lt":
        return column < value
    if op == "lte":
        return column <= value
    if op == "between":
        return column.between(value[0], value[1])
    if op in ("in", "not_in"):
        item_type = Numeric() if kind == NUMBER else Text()
        matched = func.coalesce(column == any_(literal(list(value), ARRAY(item_type))), false())
        return matched if op == "in" else not_(matched)
    if op == "contains":
        return column.ilike(f"%{_like_pattern(value)}%", escape="\\")
    if op == "starts_with":
        return column.ilike(f"{_like_pattern(value)}%", escape="\\")
    raise ValueError(f"unsupported op {op}")


def _array(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "exists":
        return func.cardinality(column) > 0
    if op == "not_exists":
        return func.cardinality(column) == 0
    values = value if isinstance(value, list) else [value]
    literal_values = literal(values, ARRAY(Text()))
    if op == "contains":
        return column.contains(literal_values)
    overlap = column.overlap(literal_values)
    return overlap if op == "in" else not_(overlap)


def _consent(key: str, op: str, value: Any) -> ColumnElement[bool]:
    if op == "exists":
        return MEMBER.c.consents.has_key(key)
    if op == "not_exists":
        return not_(MEMBER.c.consents.has_key(key))
    granted = MEMBER.c.consents.contains(type_coerce({key: True}, JSONB))
    wanted = value if op == "eq" else not value
    return granted if wanted else not_(granted)


_NUMERIC_TEXT = r"^-?[0-9]+(\.[0-9]+)?$"


def _properties(activity: Any, node: dict[str, Any]) -> ColumnElement[bool]:
    if "and" in node:
        return and_(*(_properties(activity, child) for child in node["and"]))
    if "or" in node:
        return or_(*(_properties(activity, child) for child in node["or"]))
    if "not" in node:
        return not_(func.coalesce(_properties(activity, node["not"]), false()))
    path = property_spec(node["field"])
    assert path is not None  # validated
    op, value = node["op"], node.get("value")
    if path == "channel":
        return _compare(activity.c.channel, op, value, TEXT)
    keys = path.split(".")
    as_text: Any = (
        activity.c.properties[tuple(keys)].astext if len(keys) > 1 else activity.c.properties[keys[0]].astext
    )
    sample = value[0] if isinstance(value, list) and value else value
    if isinstance(sample, bool):
        column: Any = case((as_text.in_(("true", "false")), cast(as_text, Boolean)))
        kind = BOOLEAN
    elif _is_number(sample) and op not in ("exists", "not_exists"):
        column = case((as_text.regexp_match(_NUMERIC_TEXT), cast(as_text, Numeric)))
        kind = NUMBER
    else:
        column, kind = as_text, TEXT
    condition = _compare(column, op, value, kind)
    if op in ("eq", "in") and len(keys) == 1:
        # An order's lines: the condition also holds when one of its items has the value.
        items = activity.c.properties["items"]
        values: list[Any] = value if isinstance(value, list) else [value]
        in_items = or_(*(items.contains(type_coerce([{keys[0]: v}], JSONB)) for v in values))
        condition = or_(condition, in_items)
    return condition


def explain(node: Any) -> str:
    """A rule in words, for people (never SQL)."""
    if "and" in node:
        return "(" + " AND ".join(explain(child) for child in node["and"]) + ")"
    if "or" in node:
        return "(" + " OR ".join(explain(child) for child in node["or"]) + ")"
    if "not" in node:
        return "NOT " + explain(node["not"])
    if "segment" in node:
        return f"in segment {node['segment']}"
    if "event" in node:
        words = {
            "eq": "exactly",
            "neq": "other than",
            "gt": "more than",
            "gte": "at least",
            "lt": "fewer than",
            "lte": "at most",
        }
        text = f"{words[node.get('op', 'gte')]} {node.get('count', 1)} '{node['event']}' event(s)"
        if "within_days" in node:
            text += f" in the last {node['within_days']} days"
        if "where" in node:
            text += f" where {explain(node['where'])}"
        return text
    words = {
        "eq": "is",
        "neq": "is not",
        "gt": "is above",
        "gte": "is at least",
        "lt": "is below",
        "lte": "is at most",
        "in": "is one of",
        "not_in": "is none of",
        "contains": "contains",
        "starts_with": "starts with",
        "between": "is between",
        "within_days": "is within the last",
        "before_days": "is more than",
        "exists": "is set",
        "not_exists": "is not set",
    }
    op = node["op"]
    if op in ("exists", "not_exists"):
        return f"{node['field']} {words[op]}"
    value = node.get("value")
    shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    if op == "between":
        shown = f"{value[0]} and {value[1]}"
    if op == "within_days":
        shown = f"{value} days"
    if op == "before_days":
        shown = f"{value} days ago"
    return f"{node['field']} {words[op]} {shown}"
