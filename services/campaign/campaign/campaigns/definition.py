"""The JSON definition of a campaign: its shape (pydantic) and the checks on its step graph.

The shape is checked when a draft is written; the graph checks (references, reachability, cycles
without a wait, split percentages) run with the other launch checks, so a draft may be saved while
incomplete. Field paths in problems point into the request body: ``body.definition.steps.3.next``.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, time
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from campaign.channels.types import Channel, Purpose
from crm_common.errors import FieldError

StepId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]
VariantKey = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_.-]+$")]
EventType = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_.]*$")]
SegmentRule = dict[str, Any]


def _local_time(value: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError("must be a local time HH:MM")
    return value


LocalTime = Annotated[str, AfterValidator(_local_time)]
DEFINITION_FIELD = "body.definition"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SegmentEntry(_Strict):
    type: Literal["segment"]
    segment_id: uuid.UUID = Field(
        description="The segment whose members (broadcast) or entrants (journey) enroll."
    )
    include_current_members: bool = Field(
        False,
        description="Journeys: also enroll whoever is in the segment at launch, not only later entrants "
        "(broadcasts always take the members at launch).",
    )


class EventEntry(_Strict):
    type: Literal["event"]
    event: EventType
    where: SegmentRule | None = Field(
        None, description="A segment rule the customer must match when it arrives."
    )


class ScheduleEntry(_Strict):
    type: Literal["schedule"]
    at: datetime
    segment_id: uuid.UUID

    @model_validator(mode="after")
    def _aware(self) -> ScheduleEntry:
        if self.at.tzinfo is None:
            raise ValueError("at must carry a time zone offset")
        return self


Entry = Annotated[SegmentEntry | EventEntry | ScheduleEntry, Field(discriminator="type")]


class ReEntry(_Strict):
    allowed: bool = False
    cooldown_hours: float = Field(0, ge=0, le=24 * 365)


class Goal(_Strict):
    event: EventType
    within_hours: float = Field(168, gt=0, le=24 * 365)


class ExitOnEvent(_Strict):
    event: EventType


class ExitOnSegment(_Strict):
    segment_exited: uuid.UUID


class Optimize(_Strict):
    metric: Literal["opened", "clicked", "converted"] = "clicked"
    exploration_floor: float = Field(0.1, ge=0, le=1)


class Variant(_Strict):
    key: VariantKey
    subject: str | None = Field(None, max_length=1000)
    body: str = Field(min_length=1, max_length=100_000)
    payload_template: dict[str, Any] | None = None


class SendStep(_Strict):
    id: StepId
    type: Literal["send"]
    channel: Channel
    purpose: Purpose = Purpose.MARKETING
    variants: list[Variant] = Field(min_length=1, max_length=10)
    next: StepId | None = None

    @model_validator(mode="after")
    def _unique_keys(self) -> SendStep:
        keys = [variant.key for variant in self.variants]
        if len(set(keys)) != len(keys):
            raise ValueError("variant keys must be unique within a step")
        return self


class WaitStep(_Strict):
    id: StepId
    type: Literal["wait"]
    hours: float = Field(gt=0, le=24 * 365)
    next: StepId | None = None


class LocalWindow(_Strict):
    start: LocalTime
    end: LocalTime

    def bounds(self) -> tuple[time, time]:
        return time.fromisoformat(self.start), time.fromisoformat(self.end)


class WaitUntilStep(_Strict):
    id: StepId
    type: Literal["wait_until"]
    local_time: LocalWindow
    next: StepId | None = None


class ResponseCondition(_Strict):
    response: Literal["delivered", "opened", "clicked"]
    step: StepId
    within_hours: float = Field(gt=0, le=24 * 90)


class RuleCondition(_Strict):
    condition: SegmentRule


class BranchStep(_Strict):
    id: StepId
    type: Literal["branch"]
    on: ResponseCondition | RuleCondition
    then: StepId | None = None
    else_: StepId | None = Field(None, alias="else")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SplitBranch(_Strict):
    percent: float = Field(gt=0, le=100)
    next: StepId | None = None


class SplitStep(_Strict):
    id: StepId
    type: Literal["split"]
    branches: list[SplitBranch] = Field(min_length=2, max_length=10)


class ExitStep(_Strict):
    id: StepId
    type: Literal["exit"]


Step = Annotated[
    SendStep | WaitStep | WaitUntilStep | BranchStep | SplitStep | ExitStep, Field(discriminator="type")
]


class CampaignDefinition(_Strict):
    """A broadcast's or a journey's definition; the first step is where every enrollment starts."""

    entry: Entry
    re_entry: ReEntry = Field(default_factory=ReEntry)
    goal: Goal | None = None
    exit: list[ExitOnEvent | ExitOnSegment] = Field(default_factory=list, max_length=20)
    holdout_percent: float = Field(0, ge=0, le=90)
    optimize: Optimize | None = None
    steps: list[Step] = Field(min_length=1, max_length=100)

    def step(self, step_id: str) -> Any:
        for step in self.steps:
            if step.id == step_id:
                return step
        return None

    def send_steps(self) -> list[SendStep]:
        return [step for step in self.steps if isinstance(step, SendStep)]

    def optimized_step(self) -> SendStep | None:
        """The step whose variants are allocated by Thompson sampling: the first with several variants."""
        for step in self.send_steps():
            if len(step.variants) > 1:
                return step
        return None

    def segment_ids(self) -> list[tuple[str, Any]]:
        """Every segment the definition names, with the field path that names it."""
        found: list[tuple[str, Any]] = []
        if isinstance(self.entry, SegmentEntry | ScheduleEntry):
            found.append((f"{DEFINITION_FIELD}.entry.segment_id", self.entry.segment_id))
        for i, exit_rule in enumerate(self.exit):
            if isinstance(exit_rule, ExitOnSegment):
                found.append((f"{DEFINITION_FIELD}.exit.{i}.segment_exited", exit_rule.segment_exited))
        return found

    def rules(self) -> list[tuple[str, SegmentRule]]:
        """Every segment rule in the definition, with the field path of the rule."""
        found: list[tuple[str, SegmentRule]] = []
        if isinstance(self.entry, EventEntry) and self.entry.where is not None:
            found.append((f"{DEFINITION_FIELD}.entry.where", self.entry.where))
        for i, step in enumerate(self.steps):
            if isinstance(step, BranchStep) and isinstance(step.on, RuleCondition):
                found.append((f"{DEFINITION_FIELD}.steps.{i}.on.condition", step.on.condition))
        return found

    def response_branches(self) -> list[BranchStep]:
        return [s for s in self.steps if isinstance(s, BranchStep) and isinstance(s.on, ResponseCondition)]


def successors(step: Any) -> list[tuple[str, str | None]]:
    """A step's outgoing references: (the attribute path inside the step, the step id or None)."""
    if isinstance(step, SendStep | WaitStep | WaitUntilStep):
        return [("next", step.next)]
    if isinstance(step, BranchStep):
        return [("then", step.then), ("else", step.else_)]
    if isinstance(step, SplitStep):
        return [(f"branches.{i}.next", branch.next) for i, branch in enumerate(step.branches)]
    return []


def _problem(field: str, message: str, code: str) -> FieldError:
    return FieldError(field=field, message=message, code=code)


def check_graph(definition: CampaignDefinition, kind: str) -> list[FieldError]:
    """Problems in the step graph: duplicate ids, unknown references, unreachable steps, cycles that
    never wait (a customer would loop forever within one run), split percentages not summing to 100,
    response branches on a step that is not a send step, and entries the kind does not allow."""
    problems: list[FieldError] = []
    base = f"{DEFINITION_FIELD}.steps"
    index: dict[str, int] = {}
    for i, step in enumerate(definition.steps):
        if step.id in index:
            problems.append(
                _problem(f"{base}.{i}.id", f"step id '{step.id}' is used twice", "duplicate_step")
            )
        else:
            index[step.id] = i

    if kind == "broadcast" and isinstance(definition.entry, EventEntry):
        problems.append(
            _problem(
                f"{DEFINITION_FIELD}.entry.type",
                "a broadcast goes to a segment (now or at a time); event entries need a journey",
                "entry_not_allowed",
            )
        )

    for i, step in enumerate(definition.steps):
        for path, target in successors(step):
            if target is not None and target not in index:
                problems.append(
                    _problem(f"{base}.{i}.{path}", f"no step with id '{target}'", "unknown_step_reference")
                )
        if isinstance(step, SplitStep):
            total = sum(branch.percent for branch in step.branches)
            if abs(total - 100) > 1e-9:
                problems.append(
                    _problem(
                        f"{base}.{i}.branches",
                        f"split percentages sum to {total:g}, not 100",
                        "split_not_100",
                    )
                )
        if isinstance(step, BranchStep) and isinstance(step.on, ResponseCondition):
            referred = definition.step(step.on.step)
            if not isinstance(referred, SendStep):
                problems.append(
                    _problem(
                        f"{base}.{i}.on.step",
                        f"'{step.on.step}' is not a send step",
                        "response_step_not_send",
                    )
                )

    if definition.optimize is not None and definition.optimized_step() is None:
        problems.append(
            _problem(
                f"{DEFINITION_FIELD}.optimize",
                "optimization needs a send step with at least two variants",
                "nothing_to_optimize",
            )
        )

    # Reachability from the first step.
    reachable: set[str] = set()
    frontier = [definition.steps[0].id]
    while frontier:
        current = frontier.pop()
        if current in reachable or current not in index:
            continue
        reachable.add(current)
        frontier.extend(t for _, t in successors(definition.steps[index[current]]) if t is not None)
    for i, step in enumerate(definition.steps):
        if step.id not in reachable and index.get(step.id) == i:
            problems.append(
                _problem(
                    f"{base}.{i}", f"step '{step.id}' cannot be reached from the first step", "unreachable"
                )
            )

    # Cycles through steps that take no time: follow only edges out of non-waiting steps.
    instant_edges: dict[str, list[tuple[int, str, str]]] = {}
    for i, step in enumerate(definition.steps):
        if isinstance(step, WaitStep | WaitUntilStep) or index.get(step.id) != i:
            continue
        instant_edges[step.id] = [
            (i, path, t) for path, t in successors(step) if t is not None and t in index
        ]
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    reported: set[str] = set()

    def visit(node: str) -> None:
        state[node] = 1
        for i, path, target in instant_edges.get(node, []):
            if target not in instant_edges:
                continue
            if state.get(target) == 1 and target not in reported:
                reported.add(target)
                problems.append(
                    _problem(
                        f"{base}.{i}.{path}",
                        f"the step '{node}' goes back to '{target}' in a cycle with no wait step",
                        "cycle_without_wait",
                    )
                )
            elif target not in state:
                visit(target)
        state[node] = 2

    for node in instant_edges:
        if node not in state:
            visit(node)
    return problems
