"""``python -m identity.worker``: publishes the identity outbox."""

from crm_common.events.consumer import EventConsumer
from crm_common.worker import run_worker
from identity.database import metadata
from identity.settings import IdentitySettings

CONSUMERS: list[EventConsumer] = []  # identity consumes no events yet


def main() -> None:
    run_worker(IdentitySettings(), metadata, CONSUMERS)


if __name__ == "__main__":
    main()
