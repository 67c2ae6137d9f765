import asyncio

from crm_common.events.bus import connect_nats_with_retry
from crm_platform.engines import free_port


async def test_waiting_for_an_absent_broker_ends_when_asked_to_stop() -> None:
    # Found by a worker that ignored SIGTERM while NATS was down: nats-py retries the first
    # connection forever, so the wait must be cancellable.
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.3, stop.set)
    connection = await asyncio.wait_for(
        connect_nats_with_retry(f"nats://127.0.0.1:{free_port()}", "test", stop), timeout=5
    )
    assert connection is None
