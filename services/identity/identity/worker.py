"""``python -m identity.worker``: publishes the identity outbox and processes partner webhooks."""

from crm_common.events.consumer import EventConsumer
from crm_common.worker import run_worker
from identity.database import metadata
from identity.settings import IdentitySettings
from identity.webhooks.jobs import webhook_job

CONSUMERS: list[EventConsumer] = []  # identity consumes no events yet


def main() -> None:
    settings = IdentitySettings()
    run_worker(settings, metadata, CONSUMERS, jobs=[webhook_job(settings)])


if __name__ == "__main__":
    main()
