"""The query cost limit: what a document may ask of the services, known before any call is made.

Every field that returns an object costs one per time it will be resolved; a field with ``first``
resolves its selection up to ``first`` times (the default page size when not given), and a plain list
is estimated at :data:`LIST_ESTIMATE` items. Fragments are expanded where they are spread, so a
fragment used twenty times costs twenty times. ``first`` outside 1..MAX_PAGE_SIZE is refused here
too, with variables taken into account, since a service would refuse it after other calls were made.

Runs inside validation, after graphql-core's own rules passed (cycles among fragments, unknown
fields and wrong variable types are theirs to report).
"""

import re
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    validate,
)
from strawberry.extensions import SchemaExtension

from gateway.schema.base import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

MAX_COST = 10_000
LIST_ESTIMATE = 10
# The document's shape, with fragments expanded where spread, checked before any validation rule runs:
# fragments spreading fragments grow a small document exponentially (ten spreads of ten spreads of …),
# and every rule (graphql-core's own included) would walk the expansion.
MAX_FIELDS = 1_000
MAX_ALIASES = 20
MAX_DEPTH = 10
# graphql-core's parser is pure Python (~10 µs a token): a long document is refused by its length before
# it is parsed, and a parse stops at MAX_TOKENS. Real documents (the customer 360: ~200 tokens, 1.5 KB)
# are far inside both.
MAX_DOCUMENT_CHARS = 16_384
MAX_TOKENS = 1_000

CompositeType = GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType


class BudgetExceeded(Exception):
    pass


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def check_shape(document: DocumentNode) -> None:
    """Raise :class:`_Refused` when an operation, expanded, is too deep, too wide or too aliased.

    Work is bounded by the limits themselves: the walk stops at the first field over a limit. A
    fragment spread inside itself is skipped here (validation reports the cycle).
    """
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    fields = aliases = 0

    def walk(selections: SelectionSetNode, depth: int, path: frozenset[str]) -> None:
        nonlocal fields, aliases
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                fields += 1
                if selection.alias is not None:
                    aliases += 1
                if fields > MAX_FIELDS:
                    raise _Refused(
                        "QUERY_TOO_LARGE",
                        f"The query selects more than {MAX_FIELDS} fields once its fragments are expanded.",
                    )
                if aliases > MAX_ALIASES:
                    raise _Refused(
                        "TOO_MANY_ALIASES",
                        f"The query uses more than {MAX_ALIASES} aliases once its fragments are expanded.",
                    )
                if selection.selection_set is not None:
                    if depth + 1 > MAX_DEPTH:
                        raise _Refused("QUERY_TOO_DEEP", f"The query nests deeper than {MAX_DEPTH} levels.")
                    walk(selection.selection_set, depth + 1, path)
            elif isinstance(selection, InlineFragmentNode):
                walk(selection.selection_set, depth, path)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is not None and name not in path:
                    walk(fragment.selection_set, depth, path | {name})

    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            walk(definition.selection_set, 0, frozenset())


@dataclass
class _Walk:
    schema: GraphQLSchema
    fragments: Mapping[str, FragmentDefinitionNode]
    variables: Mapping[str, Any]

    def cost(self, selections: SelectionSetNode, parent: CompositeType, multiplier: int) -> int:
        total = 0
        for field, owner in self._fields(selections, parent):
            if field.name.value.startswith("__") or isinstance(owner, GraphQLUnionType):
                continue
            definition = owner.fields.get(field.name.value)
            if definition is None or field.selection_set is None:
                continue
            named = get_named_type(definition.type)
            if not isinstance(named, CompositeType):
                continue
            first = self._first(field)
            if first is not None:
                inner = multiplier * first
            elif "first" in definition.args:
                inner = multiplier * DEFAULT_PAGE_SIZE
            elif isinstance(get_nullable_type(definition.type), GraphQLList) and not owner.name.endswith(
                "Connection"
            ):
                inner = multiplier * LIST_ESTIMATE
            else:
                inner = multiplier
            total += multiplier + self.cost(field.selection_set, named, inner)
            if total > MAX_COST:
                raise BudgetExceeded
        return total

    def _fields(
        self, selections: SelectionSetNode, parent: CompositeType
    ) -> Iterator[tuple[FieldNode, CompositeType]]:
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                yield selection, parent
            elif isinstance(selection, InlineFragmentNode):
                owner = self._condition(selection.type_condition, parent)
                yield from self._fields(selection.selection_set, owner)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    owner = self._condition(fragment.type_condition, parent)
                    yield from self._fields(fragment.selection_set, owner)

    def _condition(self, condition: Any, parent: CompositeType) -> CompositeType:
        if condition is None:
            return parent
        named = self.schema.get_type(condition.name.value)
        return named if isinstance(named, CompositeType) else parent

    def _first(self, field: FieldNode) -> int | None:
        for argument in field.arguments or ():
            if argument.name.value != "first":
                continue
            node = argument.value
            value: Any = None
            if isinstance(node, IntValueNode):
                value = int(node.value)
            elif isinstance(node, VariableNode):
                value = self.variables.get(node.name.value)
            if value is None:
                return None
            if not 1 <= int(value) <= MAX_PAGE_SIZE:
                raise GraphQLError(
                    f"`first` must be between 1 and {MAX_PAGE_SIZE}.",
                    argument,
                    extensions={"code": "BAD_USER_INPUT", "argument": "first"},
                )
            return int(value)
        return None


def operation_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
) -> int:
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    return _Walk(schema, fragments, variables).cost(operation.selection_set, root, 1)


# Clients send the same few documents over and over: validating each once saves most of the work.
VALIDATION_CACHE_SIZE = 512


class _ValidationCache:
    def __init__(self, size: int) -> None:
        self._size = size
        self._errors: OrderedDict[Hashable, list[GraphQLError]] = OrderedDict()

    def validate(
        self, schema: GraphQLSchema, query: str | None, document: DocumentNode, rules: Sequence[Any]
    ) -> list[GraphQLError]:
        if query is None:
            return list(validate(schema, document, rules))
        # The limiters make a new rule class per request, configured alike for a schema: their names
        # (and the schema) identify what the rules check.
        key = (id(schema), query, tuple(rule.__name__ for rule in rules))
        cached = self._errors.get(key)
        if cached is None:
            cached = list(validate(schema, document, rules))
            self._errors[key] = cached
            if len(self._errors) > self._size:
                self._errors.popitem(last=False)
        else:
            self._errors.move_to_end(key)
        return list(cached)


_validated = _ValidationCache(VALIDATION_CACHE_SIZE)


# GraphQL's lexical tokens, for counting them at the speed of ``re`` (comments and commas are ignored
# tokens, as for the parser). Close enough to the parser's count to refuse what it would refuse.
_TOKEN = re.compile(
    r'"""(?:\\"""|[^"]|"(?!""))*"""'  # block string
    r'|"(?:\\.|[^"\\\n])*"'  # string
    r"|#[^\n\r]*"  # comment (skipped)
    r"|\.\.\.|[!$&()\:=@\[\]{|}]"  # punctuators
    r"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"  # numbers
    r"|[_A-Za-z][_0-9A-Za-z]*"  # names
)


def token_count(document: str, limit: int) -> int:
    """The document's tokens, counted up to ``limit + 1`` (enough to know it is over)."""
    count = 0
    for match in _TOKEN.finditer(document):
        if not match.group().startswith("#"):
            count += 1
            if count > limit:
                break
    return count


class DocumentSizeLimit(SchemaExtension):
    """Refuses a document too long, or of too many tokens, before graphql-core's parser (pure Python,
    ~10 µs a token) reads any of it; the parser's own token limit stays as the backstop."""

    def on_parse(self) -> Iterator[None]:
        query = self.execution_context.query
        if query is not None and len(query) > MAX_DOCUMENT_CHARS:
            raise GraphQLError(
                f"The document is longer than {MAX_DOCUMENT_CHARS} characters.",
                extensions={"code": "QUERY_TOO_LARGE"},
            )
        if query is not None and token_count(query, MAX_TOKENS) > MAX_TOKENS:
            raise GraphQLError(
                f"The document has more than {MAX_TOKENS} tokens.", extensions={"code": "QUERY_TOO_LARGE"}
            )
        yield


class QueryBudget(SchemaExtension):
    """The document's shape, validation (cached per document), then the cost limit (which reads the
    variables, so it runs per request)."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.pre_execution_errors is None:
            try:
                check_shape(document)
            except _Refused as refused:
                context.pre_execution_errors = [
                    GraphQLError(refused.message, extensions={"code": refused.code})
                ]
                yield
                return
            errors = _validated.validate(
                context.schema._schema, context.query, document, context.validation_rules
            )
            if not errors:
                errors = self._within_budget(context.schema._schema, document, context.variables or {})
            # Set (even when empty) so strawberry does not validate the document a second time.
            context.pre_execution_errors = errors
        yield

    def _within_budget(
        self, schema: GraphQLSchema, document: Any, variables: Mapping[str, Any]
    ) -> list[GraphQLError]:
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        name = self.execution_context.operation_name
        chosen = [o for o in operations if name is None or (o.name is not None and o.name.value == name)]
        try:
            for operation in chosen[:1]:
                operation_cost(schema, operation, fragments, variables)
        except BudgetExceeded:
            return [
                GraphQLError(
                    f"The query would cost more than {MAX_COST} (objects resolved, lists counted at their "
                    "page size). Ask for fewer or smaller pages.",
                    extensions={"code": "QUERY_TOO_COMPLEX", "max_cost": MAX_COST},
                )
            ]
        except GraphQLError as error:
            return [error]
        return []
