"""``python -m feedback.worker``: publishes the feedback outbox and records identity's customers."""

from crm_common.events.consumer import EventConsumer
from crm_common.worker import run_worker
from feedback.database import metadata
from feedback.events.consumers import customers_consumer
from feedback.settings import FeedbackSettings

CONSUMERS: list[EventConsumer] = [customers_consumer]


def main() -> None:
    run_worker(FeedbackSettings(), metadata, CONSUMERS)


if __name__ == "__main__":
    main()
