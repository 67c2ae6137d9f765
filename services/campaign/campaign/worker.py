"""``python -m campaign.worker``: publishes the campaign outbox and projects identity's customers."""

from campaign.database import metadata
from campaign.events.consumers import audience_consumer
from campaign.settings import CampaignSettings
from crm_common.events.consumer import EventConsumer
from crm_common.worker import run_worker

CONSUMERS: list[EventConsumer] = [audience_consumer]


def main() -> None:
    run_worker(CampaignSettings(), metadata, CONSUMERS)


if __name__ == "__main__":
    main()
