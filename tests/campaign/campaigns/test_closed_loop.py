"""The closed loop through the real delivery worker and in-app channel: a broadcast's A/B sends go out,
clicks are recorded, the allocation moves toward the clicked variant, results show it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign.campaigns import allocation
from campaign.campaigns import service as campaigns
from campaign.campaigns.jobs import runner_tick
from campaign.channels.senders import ChannelSenders
from campaign.delivery import service as delivery_service
from campaign.delivery.worker import DeliveryWorker
from campaign.settings import CampaignSettings
from tests.campaign.campaigns.conftest import AddMember, ledger
from tests.campaign.campaigns.test_router import ANALYST, MARKETER, cohort_segment


async def test_clicks_move_the_allocation_and_show_in_the_results(
    campaign_client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    settings: CampaignSettings,
    add_member: AddMember,
) -> None:
    cohort = uuid.uuid4().hex[:8]
    for _ in range(40):
        await add_member(traits={"cohort": cohort}, consents={"in_app:marketing": True})
    segment_id = await cohort_segment(campaign_client, cohort)
    definition = {
        "entry": {"type": "segment", "segment_id": segment_id},
        "optimize": {"metric": "clicked", "exploration_floor": 0.1},
        "steps": [
            {
                "id": "promo",
                "type": "send",
                "channel": "in_app",
                "variants": [
                    {"key": "A", "subject": "Sale", "body": "Hi {{ customer.first_name }}, a sale"},
                    {"key": "B", "subject": "Gift", "body": "Hi {{ customer.first_name }}, a gift"},
                ],
            }
        ],
    }
    created = await campaign_client.post(
        "/v1/campaigns",
        json={"name": "Loop", "kind": "broadcast", "definition": definition},
        headers=MARKETER,
    )
    campaign_id = uuid.UUID(created.json()["id"])
    assert (
        await campaign_client.post(f"/v1/campaigns/{campaign_id}/launch", headers=MARKETER)
    ).status_code == 200
    await runner_tick(sessions, settings, datetime.now(UTC))
    assert len(await ledger(sessions, campaign_id)) == 40

    worker_settings = settings.model_copy(
        update={
            "delivery_quiet_hours_start": "00:00",
            "delivery_quiet_hours_end": "00:00",
            "delivery_rate_limits": {},
        }
    )
    senders = ChannelSenders(worker_settings, sessions)
    await senders.start()
    try:
        worker = DeliveryWorker(worker_settings, sessions, senders)
        while await worker.run_once():
            pass
    finally:
        await senders.close()

    async with sessions() as session:
        stats = {s.variant_key: s for s in await delivery_service.variant_stats(session, campaign_id)}
    assert stats["A"].sent + stats["B"].sent == 40 and stats["A"].sent and stats["B"].sent
    # Every B message is clicked, no A message is.
    rows = await ledger(sessions, campaign_id)
    async with sessions() as session, session.begin():
        for row in rows:
            if row.variant_key != "B":
                continue
            page = await delivery_service.message_history(session, row.customer_id, after=None, limit=5)
            for message in page.items:
                await delivery_service.record_response(
                    session,
                    message.id,
                    "clicked",
                    occurred_at=datetime.now(UTC),
                    url="https://shop.example/gift",
                )
    async with sessions() as session, session.begin():
        campaign = await campaigns.get_campaign(session, campaign_id)
        moved = await allocation.recompute_campaign(
            session, settings, campaign, now=datetime.now(UTC), seed=3
        )
    assert moved is not None
    assert moved.trials == {"A": stats["A"].sent, "B": stats["B"].sent}
    assert moved.successes == {"A": 0, "B": stats["B"].sent}
    assert moved.weights["B"] > 0.9 and moved.weights["A"] >= 0.05 - 1e-9

    report = (await campaign_client.get(f"/v1/campaigns/{campaign_id}/results", headers=ANALYST)).json()
    variants = {v["variant_key"]: v for v in report["variants"]}
    assert variants["B"]["clicked"] == variants["B"]["sent"] == stats["B"].sent
    assert variants["A"]["clicked"] == 0 and variants["A"]["enrolled"] == stats["A"].sent
