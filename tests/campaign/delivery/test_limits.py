"""The per-process rate limit (token bucket) and the retry backoff."""

import asyncio
from datetime import timedelta

import pytest

from campaign.delivery.service import Backoff
from campaign.delivery.worker import TokenBucket


async def test_the_token_bucket_lets_a_burst_through_then_holds_to_the_rate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = {"now": 0.0}
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        clock["now"] += seconds

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    bucket = TokenBucket(100.0, clock=lambda: clock["now"])
    await bucket.take(100)  # the full bucket: no wait
    assert waits == []
    await bucket.take(50)  # 50 more at 100/s: half a second
    assert waits == [pytest.approx(0.5)]
    clock["now"] += 10  # idle time refills only up to the bucket size
    await bucket.take(150)
    assert waits[-1] == pytest.approx(0.5)


def test_backoff_doubles_per_attempt_with_jitter_and_respects_retry_after() -> None:
    backoff = Backoff(base_seconds=10, max_seconds=100, max_attempts=5)
    for attempts, base in [(1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (9, 100)]:
        delays = [backoff.delay(attempts) for _ in range(200)]
        assert all(timedelta(seconds=base * 0.5) <= d <= timedelta(seconds=base * 1.5) for d in delays)
        assert len(set(delays)) > 100  # jittered, not lockstep
    assert backoff.delay(1, retry_after=600) == timedelta(seconds=600)
