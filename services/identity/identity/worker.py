"""``python -m identity.worker``: publishes the identity outbox, processes partner webhooks and
puts the campaign service's messages on customers' timelines."""

from crm_common.events.consumer import EventConsumer
from crm_common.worker import run_worker
from identity.database import metadata
from identity.events.consumers import campaign_timeline_consumer
from identity.settings import IdentitySettings
from identity.webhooks.jobs import webhook_job

CONSUMERS: list[EventConsumer] = [campaign_timeline_consumer]


def main() -> None:
    settings = IdentitySettings()
    run_worker(settings, metadata, CONSUMERS, jobs=[webhook_job(settings)])


if __name__ == "__main__":
    main()
