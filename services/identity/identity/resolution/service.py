"""Online identity resolution: identifiers seen together → one customer.

The engine works on a batch of records in one transaction with a fixed number of queries per batch
(so one record and a thousand cost about the same round trips), and processes the records in order
in memory, so records of the same batch that share identifiers resolve to the same customer.

Concurrency: before reading, the transaction takes an advisory lock per identifier (sorted, so two
batches cannot deadlock on them). Two concurrent calls sharing an identifier therefore run one after
the other, and the second sees the first's customer: they never create two customers. The unique
(type, value) constraint on identifiers is the safety net.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.errors import FieldError, ProblemError, ValidationFailed
from identity.customers import repository as customers_repository
from identity.customers import service as customers
from identity.customers.models import CustomerStatus
from identity.customers.profile import TraitObservation, canonical_trait
from identity.erasure import service as erasure
from identity.events import publisher
from identity.identifiers.normalize import (
    IdentifierRejected,
    NormalizedIdentifier,
    Rejection,
    normalize_identifier,
)
from identity.matching.blocking import blocking_keys
from identity.matching.model import FellegiSunterMatcher, MatchDecision, MatcherConfig, MatchRecord
from identity.merges import service as merges
from identity.resolution import repository
from identity.resolution.match_records import match_record_from_profile
from identity.resolution.schemas import IdentifyRequest, IdentifyResult, IgnoredIdentifier, Outcome
from identity.settings import IdentitySettings
from identity.suggestions import service as suggestions

IdentifierKey = tuple[str, str]

# A blocking key shared by more customers than this says little (김 + a birth year in a large base):
# it is skipped, so one hot key cannot turn a lookup into a scan.
MAX_CUSTOMERS_PER_BLOCKING_KEY = 200


@functools.lru_cache(maxsize=8)
def _matcher(auto_merge_threshold: float, review_threshold: float) -> FellegiSunterMatcher:
    return FellegiSunterMatcher(
        MatcherConfig(auto_merge_threshold=auto_merge_threshold, review_threshold=review_threshold)
    )


def matcher_for(settings: IdentitySettings) -> FellegiSunterMatcher:
    """The matcher with the configured thresholds (built once per configuration)."""
    return _matcher(settings.auto_merge_threshold, settings.review_threshold)


@dataclass
class PreparedRecord:
    index: int
    identifiers: list[NormalizedIdentifier]
    ignored: list[IgnoredIdentifier]
    traits: dict[str, Any]
    source: str
    observed_at: datetime
    request: IdentifyRequest
    suppressed: bool = False


@dataclass
class CustomerState:
    """What the batch knows of a customer it touches."""

    id: uuid.UUID
    created_at: datetime
    is_new: bool
    identifier_counts: Counter[str] = field(default_factory=Counter)
    merges_received: int = 0
    traits: list[TraitObservation] = field(default_factory=list)
    merged_into: uuid.UUID | None = None
    identifiers_added: list[IdentifierKey] = field(default_factory=list)
    fields_changed: set[str] = field(default_factory=set)


def lock_key(identifier_type: str, value: str) -> int:
    """A stable signed 64-bit advisory-lock key for an identifier."""
    digest = hashlib.blake2b(f"{identifier_type}\x1f{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def prepare(
    request: IdentifyRequest, index: int, settings: IdentitySettings, now: datetime
) -> PreparedRecord:
    """Normalize one record. Invalid identifiers or unknown types raise a 422 naming the field."""
    normalized: dict[IdentifierKey, NormalizedIdentifier] = {}
    ignored: list[IgnoredIdentifier] = []
    errors: list[FieldError] = []
    for position, identifier in enumerate(request.identifiers):
        try:
            item = normalize_identifier(identifier.type, identifier.value, settings)
        except IdentifierRejected as rejected:
            if rejected.reason in (Rejection.BLOCKED, Rejection.SHARED_ADDRESS):
                ignored.append(
                    IgnoredIdentifier(
                        type=identifier.type,
                        value=identifier.value,
                        reason=rejected.reason,
                        detail=rejected.message,
                    )
                )
                continue
            where = "type" if rejected.reason is Rejection.UNKNOWN_TYPE else "value"
            errors.append(
                FieldError(
                    field=f"body.identifiers.{position}.{where}",
                    message=rejected.message,
                    code=rejected.reason,
                )
            )
            continue
        normalized.setdefault((item.type, item.value), item)
    if errors:
        raise ValidationFailed(f"{len(errors)} identifier(s) are not valid.", errors=errors)
    if not normalized:
        raise ValidationFailed(
            "No usable identifier: every identifier was blocked by a guardrail.",
            errors=[
                FieldError(
                    field="body.identifiers", message="no usable identifier", code="no_usable_identifier"
                )
            ],
        )
    if len(request.traits) > settings.max_traits_per_record:
        raise ValidationFailed(
            f"At most {settings.max_traits_per_record} traits per record.",
            errors=[FieldError(field="body.traits", message="too many traits", code="too_many")],
        )
    traits = {canonical_trait(name): value for name, value in request.traits.items() if value is not None}
    return PreparedRecord(
        index=index,
        identifiers=list(normalized.values()),
        ignored=ignored,
        traits=traits,
        source=request.source,
        observed_at=request.observed_at or now,
        request=request,
    )


class Resolution:
    """One batch of identify records, resolved in one transaction."""

    def __init__(self, session: AsyncSession, settings: IdentitySettings, *, actor: str):
        self.session = session
        self.settings = settings
        self.actor = actor
        self.now = datetime.now(UTC)
        self.owners: dict[IdentifierKey, uuid.UUID] = {}
        self.identifier_ids: dict[IdentifierKey, int] = {}
        self.customers: dict[uuid.UUID, CustomerState] = {}
        self.never_merge: set[frozenset[uuid.UUID]] = set()
        self.matcher = matcher_for(settings) if settings.probabilistic_matching else None
        # Pending writes, flushed before any merge and at the end.
        self.new_customers: list[dict[str, Any]] = []
        self.new_identifiers: list[dict[str, Any]] = []
        self.seen_identifier_ids: set[int] = set()
        self.new_traits: list[TraitObservation] = []
        self.bumped_traits: dict[int, TraitObservation] = {}
        self.new_touchpoints: list[dict[str, Any]] = []
        self.recorded_touchpoints: list[dict[str, Any]] = []
        self.new_suggestions: list[dict[str, Any]] = []
        self.touchpoint_keys: dict[uuid.UUID, tuple[str, str]] = {}
        # Blocking index of customers created or changed in this batch (not yet in match_key).
        self.batch_keys: dict[str, set[uuid.UUID]] = {}
        self.batch_profiles: dict[uuid.UUID, MatchRecord] = {}

    async def run(self, requests: list[IdentifyRequest]) -> list[IdentifyResult | ProblemError]:
        prepared: list[PreparedRecord | ProblemError] = []
        for index, request in enumerate(requests):
            try:
                prepared.append(prepare(request, index, self.settings, self.now))
            except ProblemError as problem:
                prepared.append(problem)
        records = [record for record in prepared if isinstance(record, PreparedRecord)]
        if records:
            await self._load(records)
        results: list[IdentifyResult | ProblemError] = []
        for item in prepared:
            if isinstance(item, ProblemError):
                results.append(item)
            else:
                results.append(await self._resolve(item))
        await self._finish(results)
        return results

    # -- loading: a fixed number of queries for the whole batch -------------------------------

    async def _load(self, records: list[PreparedRecord]) -> None:
        keys = sorted({(i.type, i.value) for record in records for i in record.identifiers})
        await repository.lock_identifiers(self.session, sorted({lock_key(t, v) for t, v in keys}))
        tombstoned = await erasure.tombstoned(self.session, keys, self.settings)
        for record in records:
            record.suppressed = any((i.type, i.value) in tombstoned for i in record.identifiers)
        existing = await repository.find_identifiers(self.session, keys)
        for key, (identifier_id, customer_id) in existing.items():
            self.owners[key] = customer_id
            self.identifier_ids[key] = identifier_id
        involved = set(self.owners.values())
        candidates = await self._probabilistic_candidates(records)
        involved |= candidates
        await self._load_customers(involved)

    async def _load_customers(self, customer_ids: set[uuid.UUID]) -> None:
        wanted = [customer_id for customer_id in customer_ids if customer_id not in self.customers]
        if not wanted:
            return
        rows = await customers_repository.get_many(self.session, wanted)
        counts = await repository.identifier_counts(self.session, wanted)
        merge_counts = await merges.active_merge_counts(self.session, wanted)
        traits = await customers_repository.traits_of(self.session, wanted)
        self.never_merge |= await merges.never_merge_pairs(self.session, wanted)
        for row in rows:
            self.customers[row.id] = CustomerState(
                id=row.id,
                created_at=row.created_at,
                is_new=False,
                identifier_counts=counts.get(row.id, Counter()),
                merges_received=merge_counts.get(row.id, 0),
                merged_into=row.merged_into_id,
            )
        for observation in traits:
            self.customers[observation.customer_id].traits.append(observation)

    async def _probabilistic_candidates(self, records: list[PreparedRecord]) -> set[uuid.UUID]:
        """Blocking-key candidates for records that no identifier matches (one query for all)."""
        self._record_keys: dict[int, set[str]] = {}
        self._candidate_profiles: dict[uuid.UUID, MatchRecord] = {}
        self._key_owners: dict[str, list[uuid.UUID]] = {}
        if self.matcher is None:
            return set()
        for record in records:
            if record.suppressed or not record.traits:
                continue
            if any((i.type, i.value) in self.owners for i in record.identifiers):
                continue
            self._record_keys[record.index] = blocking_keys(self._match_record(record))
        all_keys = sorted({key for keys in self._record_keys.values() for key in keys})
        self._key_owners = {
            key: owners
            for key, owners in (await customers_repository.candidates_by_keys(self.session, all_keys)).items()
            if len(owners) <= MAX_CUSTOMERS_PER_BLOCKING_KEY
        }
        candidate_ids = {customer_id for owners in self._key_owners.values() for customer_id in owners}
        profiles = await customers_repository.match_profiles(self.session, list(candidate_ids))
        self._candidate_profiles = {cid: match_record_from_profile(p) for cid, p in profiles.items()}
        return set(self._candidate_profiles)

    def _match_record(self, record: PreparedRecord) -> MatchRecord:
        profile: dict[str, Any] = dict(record.traits)
        for identifier in record.identifiers:
            if identifier.type in ("email", "phone"):
                profile.setdefault(identifier.type, identifier.value)
        return match_record_from_profile(profile)

    # -- resolving one record ---------------------------------------------------------------------

    async def _resolve(self, record: PreparedRecord) -> IdentifyResult:
        if record.suppressed:
            return IdentifyResult(
                customer_id=None, outcome=Outcome.SUPPRESSED, ignored_identifiers=record.ignored
            )
        owned = self._owners_of(record)
        result = IdentifyResult(
            customer_id=None, outcome=Outcome.MATCHED, ignored_identifiers=list(record.ignored)
        )
        if not owned:
            target = await self._match_or_create(record, result)
        elif len(owned) == 1:
            target = owned[0]
            result.rule = self._shared_rule(record, target)
        else:
            target = await self._merge_all(record, owned, result)
        result.customer_id = target
        self._attach_identifiers(record, target, result)
        self._observe_traits(record, target)
        if record.request.touchpoint is not None:
            result.touchpoint_id = self._add_touchpoint(record, target)
        return result

    def _owners_of(self, record: PreparedRecord) -> list[uuid.UUID]:
        found: list[uuid.UUID] = []
        for identifier in record.identifiers:
            owner = self.owners.get((identifier.type, identifier.value))
            while owner is not None and self.customers[owner].merged_into is not None:
                owner = self.customers[owner].merged_into
            if owner is not None and owner not in found:
                found.append(owner)
        # The oldest customer survives merges, so ids that partners already hold stay valid.
        return sorted(found, key=lambda cid: (self.customers[cid].created_at, str(cid)))

    def _shared_rule(self, record: PreparedRecord, customer_id: uuid.UUID) -> str:
        for identifier in record.identifiers:
            if self.owners.get((identifier.type, identifier.value)) == customer_id:
                return f"identifier:{identifier.type}"
        return "identifier"

    async def _match_or_create(self, record: PreparedRecord, result: IdentifyResult) -> uuid.UUID:
        best = self._best_candidate(record)
        decision = self.matcher.decide(best[1]) if best is not None and self.matcher is not None else None
        if best is not None and decision is MatchDecision.MERGE:
            candidate_id, score = best
            result.rule = "probabilistic"
            result.match_probability = round(score.probability, 6)
            return candidate_id
        customer_id = self._create_customer(record)
        result.outcome = Outcome.CREATED
        result.rule = "new"
        if best is not None and decision is MatchDecision.REVIEW:
            candidate_id, score = best
            result.match_probability = round(score.probability, 6)
            suggestion_id = uuid.uuid4()
            self.new_suggestions.append(
                {
                    "id": suggestion_id,
                    "customer_id": customer_id,
                    "candidate_id": candidate_id,
                    "probability": score.probability,
                    "evidence": score.evidence(),
                    "status": "pending",
                }
            )
            result.suggestion_ids.append(suggestion_id)
        return customer_id

    def _best_candidate(self, record: PreparedRecord) -> tuple[uuid.UUID, Any] | None:
        if self.matcher is None or record.index not in self._record_keys:
            return None
        keys = self._record_keys[record.index]
        candidate_ids: set[uuid.UUID] = set()
        for key in keys:
            candidate_ids.update(self._key_owners.get(key, ()))
            candidate_ids.update(self.batch_keys.get(key, ()))
        mine = self._match_record(record)
        best: tuple[uuid.UUID, Any] | None = None
        for candidate_id in candidate_ids:
            while candidate_id in self.customers and self.customers[candidate_id].merged_into is not None:
                candidate_id = self.customers[candidate_id].merged_into  # type: ignore[assignment]
            profile = self.batch_profiles.get(candidate_id) or self._candidate_profiles.get(candidate_id)
            if profile is None or candidate_id not in self.customers:
                continue
            score = self.matcher.score(mine, profile)
            if best is None or score.probability > best[1].probability:
                best = (candidate_id, score)
        return best

    def _create_customer(self, record: PreparedRecord) -> uuid.UUID:
        customer_id = uuid.uuid4()
        self.customers[customer_id] = CustomerState(id=customer_id, created_at=self.now, is_new=True)
        self.new_customers.append(
            {
                "id": customer_id,
                "status": CustomerStatus.ACTIVE,
                "created_at": self.now,
                "updated_at": self.now,
            }
        )
        if self.matcher is not None and record.traits:
            profile = self._match_record(record)
            self.batch_profiles[customer_id] = profile
            for key in blocking_keys(profile):
                self.batch_keys.setdefault(key, set()).add(customer_id)
        return customer_id

    async def _merge_all(
        self, record: PreparedRecord, owned: list[uuid.UUID], result: IdentifyResult
    ) -> uuid.UUID:
        survivor = owned[0]
        result.rule = self._shared_rule(record, owned[1])
        for other in owned[1:]:
            shared = [
                {"type": i.type, "value": i.value}
                for i in record.identifiers
                if self.owners.get((i.type, i.value)) in (survivor, other)
            ]
            evidence = {"shared_identifiers": shared, "source": record.source, "record_index": record.index}
            violation = self._guardrail_violation(survivor, other)
            if violation is not None:
                conflict_id = await merges.file_conflict(
                    self.session, survivor, other, reason=violation, evidence=evidence
                )
                result.conflict_ids.append(conflict_id)
                result.outcome = Outcome.CONFLICT
                continue
            await self._flush_pending()
            merge = await merges.merge_customers(
                self.session,
                survivor,
                other,
                rule=result.rule or "identifier",
                evidence=evidence,
                actor=self.actor,
            )
            self._apply_merge(survivor, other)
            result.merge_ids.append(merge.id)
            result.merged_customer_ids.append(other)
            if result.outcome is not Outcome.CONFLICT:
                result.outcome = Outcome.MERGED
        return survivor

    def _guardrail_violation(self, survivor: uuid.UUID, other: uuid.UUID) -> str | None:
        if frozenset((survivor, other)) in self.never_merge:
            return "never_merge"
        a, b = self.customers[survivor], self.customers[other]
        if a.merges_received + b.merges_received + 1 > self.settings.max_merges_per_customer:
            return "merge_cap"
        for identifier_type in set(a.identifier_counts) | set(b.identifier_counts):
            combined = a.identifier_counts[identifier_type] + b.identifier_counts[identifier_type]
            if combined > self.settings.identifier_limit(identifier_type):
                return f"identifier_limit:{identifier_type}"
        return None

    def _apply_merge(self, survivor: uuid.UUID, other: uuid.UUID) -> None:
        a, b = self.customers[survivor], self.customers[other]
        b.merged_into = survivor
        a.identifier_counts.update(b.identifier_counts)
        a.merges_received += b.merges_received + 1
        for observation in b.traits:
            observation.customer_id = survivor
        a.traits.extend(b.traits)
        b.traits = []
        a.fields_changed.add("merge")
        for key, owner in self.owners.items():
            if owner == other:
                self.owners[key] = survivor

    def _attach_identifiers(self, record: PreparedRecord, target: uuid.UUID, result: IdentifyResult) -> None:
        state = self.customers[target]
        for identifier in record.identifiers:
            key = (identifier.type, identifier.value)
            if key in self.owners:
                if key in self.identifier_ids:
                    self.seen_identifier_ids.add(self.identifier_ids[key])
                continue
            if state.identifier_counts[identifier.type] >= self.settings.identifier_limit(identifier.type):
                result.ignored_identifiers.append(
                    IgnoredIdentifier(
                        type=identifier.type,
                        value=identifier.raw,
                        reason="identifier_limit",
                        detail=f"the customer already has the most {identifier.type} identifiers allowed",
                    )
                )
                continue
            self.owners[key] = target
            state.identifier_counts[identifier.type] += 1
            state.identifiers_added.append(key)
            self.new_identifiers.append(
                {
                    "customer_id": target,
                    "type": identifier.type,
                    "value": identifier.value,
                    "raw_value": identifier.raw[:320],
                    "source": record.source,
                    "first_seen_at": record.observed_at,
                    "last_seen_at": record.observed_at,
                }
            )

    def _observe_traits(self, record: PreparedRecord, target: uuid.UUID) -> None:
        state = self.customers[target]
        for field_name, value in record.traits.items():
            same = next(
                (
                    o
                    for o in state.traits
                    if o.field == field_name and o.source == record.source and o.value == value
                ),
                None,
            )
            if same is not None:
                same.observations += 1
                same.last_observed_at = max(same.last_observed_at, record.observed_at)
                if same.id is not None:
                    self.bumped_traits[same.id] = same
                continue
            observation = TraitObservation(
                customer_id=target,
                field=field_name,
                value=value,
                source=record.source,
                first_observed_at=record.observed_at,
                last_observed_at=record.observed_at,
            )
            state.traits.append(observation)
            state.fields_changed.add(field_name)
            self.new_traits.append(observation)

    def _add_touchpoint(self, record: PreparedRecord, target: uuid.UUID) -> uuid.UUID:
        touchpoint = record.request.touchpoint
        assert touchpoint is not None
        touchpoint_id = uuid.uuid4()
        if touchpoint.external_id is not None:
            self.touchpoint_keys[touchpoint_id] = (record.source, touchpoint.external_id)
        self.new_touchpoints.append(
            {
                "id": touchpoint_id,
                "customer_id": target,
                "channel": touchpoint.channel.value,
                "type": touchpoint.type,
                "occurred_at": touchpoint.occurred_at or record.observed_at,
                "source": record.source,
                "external_id": touchpoint.external_id,
                "payload": touchpoint.payload,
            }
        )
        return touchpoint_id

    # -- writing ------------------------------------------------------------------------------------

    async def _flush_pending(self) -> None:
        await customers_repository.insert_customers(self.session, self.new_customers)
        self.new_customers = []
        if self.new_identifiers:
            inserted = await repository.insert_identifiers(self.session, self.new_identifiers)
            self.identifier_ids.update(inserted)
            self.new_identifiers = []
        await customers_repository.insert_traits(self.session, self.new_traits)
        # Written traits get their ids back on the next read; keep them out of later bumps.
        self.new_traits = []
        await customers_repository.bump_traits(self.session, self.bumped_traits.values())
        self.bumped_traits = {}
        if self.new_touchpoints:
            written = await repository.insert_touchpoints(self.session, self.new_touchpoints)
            self.recorded_touchpoints += [t for t in self.new_touchpoints if t["id"] in written]
            self.new_touchpoints = []

    async def _finish(self, results: list[IdentifyResult | ProblemError]) -> None:
        await self._flush_pending()
        await repository.touch_identifiers(self.session, sorted(self.seen_identifier_ids), self.now)
        await suggestions.file_many(self.session, self.new_suggestions)
        written = {touchpoint["id"] for touchpoint in self.recorded_touchpoints}
        repeated = {
            touchpoint_id: key
            for touchpoint_id, key in self.touchpoint_keys.items()
            if touchpoint_id not in written
        }
        if repeated:
            # The source sent the same touchpoint before: answer with the one already recorded.
            known = await repository.touchpoint_ids_by_external_id(self.session, list(set(repeated.values())))
            for result in results:
                if isinstance(result, IdentifyResult) and result.touchpoint_id in repeated:
                    result.touchpoint_id = known.get(repeated[result.touchpoint_id], result.touchpoint_id)
        changed = [
            state.id
            for state in self.customers.values()
            if state.merged_into is None and (state.is_new or state.identifiers_added or state.fields_changed)
        ]
        traits_in_hand = {customer_id: self.customers[customer_id].traits for customer_id in changed}
        refreshed = await customers.refresh_profiles(
            self.session, changed, self.settings, known_traits=traits_in_hand
        )
        await self._publish(changed, refreshed)

    async def _publish(
        self, changed: list[uuid.UUID], refreshed: dict[uuid.UUID, customers.RefreshedProfile]
    ) -> None:
        events: list[publisher.Event] = []
        for customer_id in changed:
            state, profile = self.customers[customer_id], refreshed[customer_id]
            facts = publisher.CustomerFacts(
                customer_id, profile.display_name, state.created_at, profile.contacts, profile.traits
            )
            if state.is_new:
                events.append(publisher.customer_created_event(facts))
            else:
                events.append(
                    publisher.customer_updated_event(
                        facts,
                        identifiers_added=[{"type": t, "value": v} for t, v in state.identifiers_added],
                        fields=sorted(state.fields_changed - {"merge"}),
                    )
                )
        for touchpoint in self.recorded_touchpoints:
            owner = touchpoint["customer_id"]
            while owner in self.customers and self.customers[owner].merged_into is not None:
                owner = self.customers[owner].merged_into
            events.append(publisher.touchpoint_recorded_event(touchpoint, owner))
        await publisher.publish_all(self.session, events)


DEADLOCK_DETECTED = "40P01"


async def identify(
    session: AsyncSession,
    requests: list[IdentifyRequest],
    settings: IdentitySettings,
    *,
    actor: str,
    attempts: int = 3,
) -> list[IdentifyResult | ProblemError]:
    """Resolve records in one transaction; per record, a result or the problem that stopped it.

    Identifier locks are taken in a fixed order, but a probabilistic match or a merge can touch a
    customer another batch also touches; PostgreSQL then aborts one of the two with a deadlock, and
    the batch is simply run again from its savepoint.
    """
    for attempt in range(1, attempts + 1):
        try:
            async with session.begin_nested():
                return await Resolution(session, settings, actor=actor).run(requests)
        except DBAPIError as exc:
            code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
            if code != DEADLOCK_DETECTED or attempt == attempts:
                raise
    raise AssertionError("unreachable")
