"""``python -m campaign.worker``: the campaign outbox relay, its event consumers and background jobs.

Delivery also scales out on its own: ``python -m campaign.delivery.worker`` runs only the delivery job,
as many processes (or machines) as the send rate needs.
"""

import campaign.models  # noqa: F401  (every table on the metadata)
from campaign.audience import consumers as audience_consumers
from campaign.audience import jobs as audience_jobs
from campaign.campaigns import consumers as campaigns_consumers
from campaign.campaigns import jobs as campaigns_jobs
from campaign.channels import consumers as channels_consumers
from campaign.database import metadata
from campaign.delivery import consumers as delivery_consumers
from campaign.delivery import jobs as delivery_jobs
from campaign.segments import jobs as segments_jobs
from campaign.settings import CampaignSettings
from crm_common.events.consumer import EventConsumer
from crm_common.worker import BackgroundJob, run_worker

CONSUMERS: list[EventConsumer] = [
    *audience_consumers.CONSUMERS,
    *campaigns_consumers.CONSUMERS,
    *delivery_consumers.CONSUMERS,
    *channels_consumers.CONSUMERS,
]


def jobs(settings: CampaignSettings) -> list[BackgroundJob]:
    return [
        *audience_jobs.jobs(settings),
        *segments_jobs.jobs(settings),
        *campaigns_jobs.jobs(settings),
        *delivery_jobs.jobs(settings),
    ]


def main() -> None:
    settings = CampaignSettings()
    run_worker(settings, metadata, CONSUMERS, jobs(settings))


if __name__ == "__main__":
    main()
