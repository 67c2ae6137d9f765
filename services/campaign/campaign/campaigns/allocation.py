"""Recomputes the Thompson-sampling weights of every optimized campaign from observed responses.

Trials and successes per variant of the optimized step (the first send step with several variants):
``opened`` / ``clicked`` count messages sent and those opened/clicked (``delivery.service.variant_stats``);
``converted`` counts treatment enrollments that got the variant and those that converted. Each
recomputation is a ``campaign_allocation`` row, so the report shows how the allocation moved.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from campaign.campaigns import repository
from campaign.campaigns import service as campaigns
from campaign.campaigns.models import Campaign, CampaignAllocation
from campaign.campaigns.optimization import thompson_weights
from campaign.delivery import service as delivery_service
from campaign.settings import CampaignSettings


async def observed(
    session: AsyncSession, campaign: Campaign, step_id: str, metric: str, keys: list[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """(successes, trials) per variant key of the step on the metric."""
    successes = dict.fromkeys(keys, 0)
    trials = dict.fromkeys(keys, 0)
    if metric == "converted":
        for key, (converted, enrolled) in (
            await repository.converted_by_variant(session, campaign.id)
        ).items():
            if key in trials:
                successes[key], trials[key] = converted, enrolled
        return successes, trials
    for stats in await delivery_service.variant_stats(session, campaign.id):
        if stats.step_id != step_id or stats.variant_key not in trials:
            continue
        trials[stats.variant_key] += int(stats.sent)
        successes[stats.variant_key] += int(getattr(stats, metric))
    return successes, trials


async def recompute_campaign(
    session: AsyncSession,
    settings: CampaignSettings,
    campaign: Campaign,
    *,
    now: datetime,
    seed: int | None = None,
) -> CampaignAllocation | None:
    definition = campaigns.parse_definition(campaign)
    step = definition.optimized_step()
    if definition.optimize is None or step is None:
        return None
    keys = [v.key for v in step.variants]
    successes, trials = await observed(session, campaign, step.id, definition.optimize.metric, keys)
    weights = await asyncio.to_thread(
        thompson_weights,
        successes,
        trials,
        floor=definition.optimize.exploration_floor,
        draws=settings.campaign_thompson_draws,
        seed=seed,
    )
    allocation = CampaignAllocation(
        campaign_id=campaign.id,
        step_id=step.id,
        metric=definition.optimize.metric,
        computed_at=now,
        weights=weights,
        successes=successes,
        trials=trials,
    )
    await repository.add_allocation(session, allocation)
    return allocation


async def recompute_all(session: AsyncSession, settings: CampaignSettings, *, now: datetime) -> int:
    done = 0
    for campaign in await repository.running_campaigns(session):
        if await recompute_campaign(session, settings, campaign, now=now) is not None:
            done += 1
    return done
