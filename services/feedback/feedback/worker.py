"""``python -m feedback.worker``: outbox relay, identity's customer events, notification fan-out."""

from datetime import timedelta

from crm_common.events.consumer import EventConsumer
from crm_common.idempotency import purge_job
from crm_common.ratelimit import rate_limit_purge_job
from crm_common.worker import BackgroundJob, run_worker
from feedback.advocates.consumers import advocates_consumer
from feedback.database import metadata
from feedback.events.consumers import customers_consumer
from feedback.notifications.service import fan_out_job
from feedback.settings import FeedbackSettings
from feedback.touchpoints.jobs import crisis_job

CONSUMERS: list[EventConsumer] = [customers_consumer, advocates_consumer]


def jobs(settings: FeedbackSettings) -> list[BackgroundJob]:
    return [
        fan_out_job(settings),
        purge_job(metadata, timedelta(hours=settings.idempotency_ttl_hours)),
        rate_limit_purge_job(metadata),
        crisis_job(settings),
    ]


def main() -> None:
    settings = FeedbackSettings()
    run_worker(settings, metadata, CONSUMERS, jobs(settings))


if __name__ == "__main__":
    main()
