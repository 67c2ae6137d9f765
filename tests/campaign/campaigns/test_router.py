"""The campaigns API: drafts, the launch checks (422 naming each problem, nothing stored), broadcast
launch with a deterministic holdout, results with lift/CI/SRM, the allocation report, and access."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign.campaigns import allocation, assignment, measurement, repository
from campaign.campaigns import service as campaigns
from campaign.campaigns.jobs import runner_tick
from campaign.settings import CampaignSettings
from crm_common.auth import Role
from tests.campaign.campaigns.conftest import AddMember, enrollments, ledger, outbox_events
from tests.support import bearer, customer_token, staff_token

MARKETER = bearer(staff_token(Role.MARKETER))
ANALYST = bearer(staff_token(Role.ANALYST))


def email_step(
    step_id: str = "welcome", nxt: str | None = None, body: str = "Hi {{ customer.first_name }}"
) -> dict[str, Any]:
    step: dict[str, Any] = {
        "id": step_id,
        "type": "send",
        "channel": "email",
        "purpose": "marketing",
        "variants": [{"key": "A", "subject": "Hello", "body": body}],
    }
    if nxt:
        step["next"] = nxt
    return step


async def cohort_segment(client: httpx.AsyncClient, cohort: str) -> str:
    answer = await client.post(
        "/v1/segments",
        json={"name": f"cohort {cohort}", "rule": {"field": "traits.cohort", "op": "eq", "value": cohort}},
        headers=MARKETER,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def count(sessions: async_sessionmaker[AsyncSession], table: str) -> int:
    async with sessions() as session:
        return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())  # noqa: S608


async def test_launch_checks_name_each_problem_and_store_nothing(
    campaign_client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], add_member: AddMember
) -> None:
    cohort = uuid.uuid4().hex[:8]
    for _ in range(3):
        await add_member(traits={"cohort": cohort})  # emails and email consent, no phones
    segment_id = await cohort_segment(campaign_client, cohort)
    definition = {
        "entry": {"type": "segment", "segment_id": segment_id},
        "exit": [{"segment_exited": str(uuid.uuid4())}],
        "steps": [
            email_step("welcome", "check", body="Hi {{ customer.nickname.upper() }}"),
            {
                "id": "check",
                "type": "branch",
                "on": {"condition": {"field": "no_such_field", "op": "eq", "value": 1}},
                "then": "loop",
                "else": "texted",
            },
            {
                "id": "loop",
                "type": "split",
                "branches": [{"percent": 50, "next": "check"}, {"percent": 40, "next": "done"}],
            },
            {
                "id": "texted",
                "type": "send",
                "channel": "sms",
                "variants": [{"key": "A", "body": "Hi"}],
                "next": "done",
            },
            {"id": "done", "type": "exit"},
            {"id": "orphan", "type": "wait", "hours": 1, "next": "nowhere"},
        ],
    }
    created = await campaign_client.post(
        "/v1/campaigns",
        json={"name": "Winter", "kind": "journey", "definition": definition},
        headers=MARKETER,
    )
    assert created.status_code == 201, created.text
    campaign_id = created.json()["id"]

    launched = await campaign_client.post(f"/v1/campaigns/{campaign_id}/launch", headers=MARKETER)
    assert launched.status_code == 422
    assert launched.headers["content-type"].startswith("application/problem+json")
    problems = {(e["field"], e["code"]) for e in launched.json()["errors"]}
    base = "body.definition"
    expected = {
        (f"{base}.steps.5.next", "unknown_step_reference"),
        (f"{base}.steps.5", "unreachable"),
        (f"{base}.steps.2.branches", "split_not_100"),
        (f"{base}.steps.2.branches.0.next", "cycle_without_wait"),
        (f"{base}.exit.0.segment_exited", "segment_not_found"),
        (f"{base}.steps.3.channel", "no_eligible_recipients"),
    }
    assert expected <= problems, problems
    assert any(f.startswith(f"{base}.steps.1.on.condition") for f, _ in problems)  # the bad rule
    assert any(f == f"{base}.steps.0.variants.0.body" and c == "template_invalid" for f, c in problems)

    checked = await campaign_client.post(f"/v1/campaigns/{campaign_id}:validate", headers=MARKETER)
    assert checked.status_code == 200
    assert checked.json()["valid"] is False
    assert {(e["field"], e["code"]) for e in checked.json()["errors"]} == problems

    after = await campaign_client.get(f"/v1/campaigns/{campaign_id}", headers=ANALYST)
    assert after.json()["status"] == "draft" and after.json()["launched_at"] is None
    assert await enrollments(sessions, uuid.UUID(campaign_id)) == []
    assert await count(sessions, "message_content") == 0
    assert await outbox_events(sessions, "campaign.launched") == []


async def test_broadcast_enrolls_the_segment_and_sends_to_treatment_only(
    campaign_client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    settings: CampaignSettings,
    add_member: AddMember,
) -> None:
    cohort = uuid.uuid4().hex[:8]
    members = [await add_member(traits={"cohort": cohort}) for _ in range(24)]
    await add_member(traits={"cohort": "someone-else"})
    segment_id = await cohort_segment(campaign_client, cohort)
    definition = {
        "entry": {"type": "segment", "segment_id": segment_id},
        "holdout_percent": 30,
        "goal": {"event": "order_placed", "within_hours": 72},
        "steps": [email_step()],
    }
    created = await campaign_client.post(
        "/v1/campaigns",
        json={"name": "Sale", "kind": "broadcast", "definition": definition},
        headers=MARKETER,
    )
    campaign_id = uuid.UUID(created.json()["id"])
    assert (await campaign_client.post(f"/v1/campaigns/{campaign_id}:validate", headers=MARKETER)).json() == {
        "valid": True,
        "errors": [],
    }
    launched = await campaign_client.post(f"/v1/campaigns/{campaign_id}/launch", headers=MARKETER)
    assert launched.status_code == 200, launched.text
    assert launched.json()["status"] == "running" and launched.json()["enrollment_pending"] is False

    enrolled = {e.customer_id: e for e in await enrollments(sessions, campaign_id)}
    assert set(enrolled) == set(members)
    expected_groups = {
        c: assignment.group_for(
            campaign_id, c, holdout_percent=30, global_control_percent=0, global_control_salt="x"
        )
        for c in members
    }
    assert {c: e.group for c, e in enrolled.items()} == expected_groups
    treatment = {c for c, g in expected_groups.items() if g == "treatment"}
    assert treatment and treatment != set(members)  # 30% of 24: both groups exist

    await runner_tick(sessions, settings, datetime.now(UTC))
    rows = await ledger(sessions, campaign_id)
    assert {r.customer_id for r in rows} == treatment and len(rows) == len(treatment)
    assert all(r.step_id == "welcome" and r.occurrence == 0 for r in rows)
    await runner_tick(sessions, settings, datetime.now(UTC))  # a second pass sends nothing twice
    assert len(await ledger(sessions, campaign_id)) == len(treatment)

    control_customer = next(c for c, g in expected_groups.items() if g == "control")
    seen = await campaign_client.get(f"/v1/customers/{control_customer}/campaigns", headers=ANALYST)
    assert [(e["campaign_id"], e["group"], e["status"]) for e in seen.json()] == [
        (str(campaign_id), "control", "active")
    ]
    assert len(await outbox_events(sessions, "campaign.launched")) == 1
    again = await campaign_client.post(f"/v1/campaigns/{campaign_id}/launch", headers=MARKETER)
    assert again.status_code == 409
    patched = await campaign_client.patch(
        f"/v1/campaigns/{campaign_id}", json={"name": "x"}, headers=MARKETER
    )
    assert patched.status_code == 409
    paused = await campaign_client.post(f"/v1/campaigns/{campaign_id}/pause", headers=MARKETER)
    assert paused.json()["status"] == "paused"


async def test_drafts_can_change_and_go_and_access_is_checked(campaign_client: httpx.AsyncClient) -> None:
    body = {
        "name": "Draft",
        "kind": "journey",
        "definition": {"entry": {"type": "event", "event": "complaint.opened"}, "steps": [email_step()]},
    }
    assert (await campaign_client.post("/v1/campaigns", json=body, headers=ANALYST)).status_code == 403
    customer = bearer(customer_token(uuid.uuid4()))
    assert (await campaign_client.get("/v1/campaigns", headers=customer)).status_code == 403
    assert (await campaign_client.get("/v1/campaigns")).status_code == 401
    bad = {**body, "definition": {**body["definition"], "steps": [{"id": "x", "type": "wait", "hours": -1}]}}
    rejected = await campaign_client.post("/v1/campaigns", json=bad, headers=MARKETER)
    assert rejected.status_code == 422
    assert any(e["field"].startswith("body.definition.steps.0") for e in rejected.json()["errors"])

    created = (await campaign_client.post("/v1/campaigns", json=body, headers=MARKETER)).json()
    patched = await campaign_client.patch(
        f"/v1/campaigns/{created['id']}", json={"name": "Renamed"}, headers=MARKETER
    )
    assert patched.json()["name"] == "Renamed"
    listed = await campaign_client.get("/v1/campaigns?status=draft", headers=ANALYST)
    assert [c["id"] for c in listed.json()["items"]] == [created["id"]]
    assert (
        await campaign_client.delete(f"/v1/campaigns/{created['id']}", headers=MARKETER)
    ).status_code == 204
    assert (await campaign_client.get(f"/v1/campaigns/{created['id']}", headers=ANALYST)).status_code == 404
    for path in (":validate", "/launch", "/pause", "/resume"):
        missing = await campaign_client.post(f"/v1/campaigns/{uuid.uuid4()}{path}", headers=MARKETER)
        assert missing.status_code == 404, path
        assert missing.json()["type"].endswith("campaign-not-found")
    bad_cursor = await campaign_client.get("/v1/campaigns?after=not-a-cursor", headers=ANALYST)
    assert bad_cursor.status_code == 422 and bad_cursor.json()["errors"][0]["field"] == "query.after"


async def _journey(
    sessions: async_sessionmaker[AsyncSession], settings: CampaignSettings, definition: dict[str, Any]
) -> uuid.UUID:
    from campaign.campaigns.definition import CampaignDefinition
    from campaign.campaigns.schemas import CampaignCreate

    async with sessions() as session, session.begin():
        created = await campaigns.create_campaign(
            session,
            CampaignCreate(
                name="Measured", kind="journey", definition=CampaignDefinition.model_validate(definition)
            ),
            created_by="staff-marketer",
        )
        await campaigns.launch_campaign(session, settings, created.id)
        return created.id


async def _constructed(
    sessions: async_sessionmaker[AsyncSession],
    campaign_id: uuid.UUID,
    groups: list[tuple[str, str | None, int, int]],
) -> None:
    """Enrollments by (group, variant, how many, how many converted)."""
    now = datetime.now(UTC)
    rows = []
    for group, variant, total, converted in groups:
        for i in range(total):
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "campaign_id": campaign_id,
                    "customer_id": uuid.uuid4(),
                    "occurrence": 0,
                    "group": group,
                    "variant_key": variant,
                    "status": "converted" if i < converted else "completed",
                    "entered_at": now,
                    "visited": {},
                }
            )
    async with sessions() as session, session.begin():
        await repository.insert_enrollments(session, rows)


MEASURED = {
    "entry": {"type": "event", "event": "complaint.opened"},
    "goal": {"event": "order_placed", "within_hours": 168},
    "holdout_percent": 10,
    "optimize": {"metric": "converted", "exploration_floor": 0.2},
    "steps": [
        {
            "id": "welcome",
            "type": "send",
            "channel": "email",
            "variants": [
                {"key": "A", "subject": "A", "body": "a"},
                {"key": "B", "subject": "B", "body": "b"},
                {"key": "C", "subject": "C", "body": "c"},
            ],
        }
    ],
}


async def test_results_give_lift_with_a_confidence_interval_and_the_srm_alarm(
    campaign_client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], settings: CampaignSettings
) -> None:
    fair = await _journey(sessions, settings, MEASURED)
    await _constructed(
        sessions, fair, [("treatment", "A", 450, 54), ("treatment", "B", 450, 36), ("control", None, 100, 6)]
    )
    answer = await campaign_client.get(f"/v1/campaigns/{fair}/results", headers=ANALYST)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    groups = {g["group"]: g for g in report["groups"]}
    assert (groups["treatment"]["enrolled"], groups["treatment"]["converted"]) == (900, 90)
    assert groups["control"]["conversion_rate"] == pytest.approx(0.06)
    expected = measurement.lift(90, 900, 6, 100)
    assert expected is not None
    assert report["lift"]["absolute"] == pytest.approx(0.04)
    assert report["lift"]["ci_low"] == pytest.approx(expected.ci_low)
    assert report["lift"]["ci_high"] == pytest.approx(expected.ci_high)
    variants = {v["variant_key"]: v for v in report["variants"]}
    assert variants["A"]["conversion_rate"] == pytest.approx(0.12)
    assert variants["A"]["lift"]["absolute"] == pytest.approx(0.06)
    assert report["sample_ratio"]["alarm"] is False and report["sample_ratio"]["p_value"] > 0.001

    skewed = await _journey(sessions, settings, MEASURED)
    await _constructed(sessions, skewed, [("treatment", "A", 970, 50), ("control", None, 30, 2)])
    alarm = (await campaign_client.get(f"/v1/campaigns/{skewed}/results", headers=ANALYST)).json()
    assert alarm["sample_ratio"]["alarm"] is True and alarm["sample_ratio"]["p_value"] < 0.001


async def test_thompson_allocation_moves_toward_the_better_variant_and_the_runner_follows(
    campaign_client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], settings: CampaignSettings
) -> None:
    from campaign.campaigns import journeys

    campaign_id = await _journey(sessions, settings, MEASURED)
    before = (await campaign_client.get(f"/v1/campaigns/{campaign_id}/allocation", headers=ANALYST)).json()
    assert before["current"] == pytest.approx({"A": 1 / 3, "B": 1 / 3, "C": 1 / 3})
    await _constructed(
        sessions,
        campaign_id,
        [("treatment", "A", 300, 15), ("treatment", "B", 300, 60), ("treatment", "C", 300, 12)],
    )
    async with sessions() as session, session.begin():
        campaign = await campaigns.get_campaign(session, campaign_id)
        stored = await allocation.recompute_campaign(
            session, settings, campaign, now=datetime.now(UTC), seed=7
        )
    assert stored is not None
    assert stored.weights["B"] > 0.8
    assert min(stored.weights.values()) >= 0.2 / 3 - 1e-9
    assert stored.successes == {"A": 15, "B": 60, "C": 12} and stored.trials == {"A": 300, "B": 300, "C": 300}

    report = (await campaign_client.get(f"/v1/campaigns/{campaign_id}/allocation", headers=ANALYST)).json()
    assert report["step_id"] == "welcome" and report["metric"] == "converted"
    assert len(report["history"]) == 1 and report["current"] == pytest.approx(stored.weights)

    now = datetime.now(UTC)
    for _ in range(60):
        async with sessions() as session, session.begin():
            await journeys.on_activity(
                session, settings, journeys.Activity("complaint.opened", uuid.uuid4(), now)
            )
    async with sessions() as session, session.begin():
        await journeys.run_due(session, settings, now=now)
    sent = [r.variant_key for r in await ledger(sessions, campaign_id)]
    treated = [
        e for e in await enrollments(sessions, campaign_id) if e.variant_key is not None and e.current_step
    ]
    assert len(sent) == len(treated) > 40  # the holdout (10%) gets nothing
    assert sent.count("B") > sent.count("A") + sent.count("C")


async def test_campaign_list_pages_by_cursor(campaign_client: httpx.AsyncClient) -> None:
    body = {
        "kind": "journey",
        "definition": {"entry": {"type": "event", "event": "complaint.opened"}, "steps": [email_step()]},
    }
    ids = set()
    for i in range(3):
        created = await campaign_client.post(
            "/v1/campaigns", json={**body, "name": f"c{i}"}, headers=MARKETER
        )
        ids.add(created.json()["id"])
    first = (await campaign_client.get("/v1/campaigns?limit=2", headers=ANALYST)).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = (
        await campaign_client.get(f"/v1/campaigns?limit=2&after={first['next_cursor']}", headers=ANALYST)
    ).json()
    assert second["next_cursor"] is None
    assert {c["id"] for c in first["items"] + second["items"]} == ids
