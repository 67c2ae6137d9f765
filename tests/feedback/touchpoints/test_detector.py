import math
from datetime import UTC, datetime, timedelta

import pytest

from feedback.touchpoints.detector import SpikeRule, find_spikes, poisson_tail, window_floor

HOUR = timedelta(hours=1)
RULE = SpikeRule(window=HOUR, baseline_windows=24, min_count=5, max_p_value=0.001, min_baseline_rate=0.5)
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def _history(counts: list[int], current: int) -> dict[datetime, int]:
    """Hourly counts: ``counts`` for the hours before NOW (oldest first), ``current`` for NOW's hour."""
    by_window = {NOW - HOUR * (len(counts) - i): c for i, c in enumerate(counts)}
    by_window[NOW] = current
    return by_window


@pytest.mark.parametrize(
    ("k", "rate", "expected"),
    [
        (0, 2.0, 1.0),
        (1, 1.0, 1 - math.exp(-1)),
        (3, 2.0, 1 - math.exp(-2) * (1 + 2 + 2)),
        (8, 1.0, 1 - math.exp(-1) * sum(1 / math.factorial(i) for i in range(8))),
    ],
)
def test_poisson_tail_matches_the_closed_form(k: int, rate: float, expected: float) -> None:
    assert poisson_tail(k, rate) == pytest.approx(expected, rel=1e-9)


def test_poisson_tail_of_a_huge_count_underflows_to_nothing_instead_of_failing() -> None:
    assert 0.0 <= poisson_tail(5000, 3.0) < 1e-300


def test_window_floor_matches_date_bin_on_round_hours() -> None:
    origin = datetime(2000, 1, 3, tzinfo=UTC)

    assert window_floor(datetime(2026, 11, 20, 15, 59, 59, tzinfo=UTC), HOUR, origin) == datetime(
        2026, 11, 20, 15, tzinfo=UTC
    )


def test_a_spike_far_above_the_touchpoints_baseline_is_found() -> None:
    negatives = {"call_center": _history([1] * 24, current=9)}

    (spike,) = find_spikes(negatives, judged=[NOW], rule=RULE)

    assert (spike.touchpoint, spike.window_start, spike.window_end, spike.negatives) == (
        "call_center",
        NOW,
        NOW + HOUR,
        9,
    )
    assert spike.baseline_rate == 1.0
    assert spike.p_value < 1e-5


def test_ordinary_noise_around_the_baseline_is_not_a_spike() -> None:
    noisy = [3, 1, 4, 2, 5, 3, 2, 6, 3, 2, 4, 3, 1, 3, 5, 2, 4, 3, 2, 3, 4, 2, 3, 5]

    assert find_spikes({"web_checkout": _history(noisy, current=7)}, judged=[NOW], rule=RULE) == []


def test_a_busy_touchpoint_needs_more_to_spike_than_a_quiet_one() -> None:
    negatives = {"busy": _history([8] * 24, current=12), "quiet": _history([0] * 24, current=12)}

    assert [s.touchpoint for s in find_spikes(negatives, judged=[NOW], rule=RULE)] == ["quiet"]


def test_fewer_negatives_than_the_minimum_never_alarm() -> None:
    negatives = {"store_checkout": _history([0] * 24, current=4)}

    assert find_spikes(negatives, judged=[NOW], rule=RULE) == []


def test_the_baseline_floor_keeps_a_silent_touchpoint_from_alarming_on_a_handful() -> None:
    lenient = SpikeRule(
        window=HOUR, baseline_windows=24, min_count=1, max_p_value=0.001, min_baseline_rate=0.5
    )

    assert find_spikes({"sms": _history([0] * 24, current=3)}, judged=[NOW], rule=lenient) == []


def test_missing_windows_count_as_none() -> None:
    negatives = {"call_center": {NOW: 6}}

    (spike,) = find_spikes(negatives, judged=[NOW], rule=RULE)

    assert spike.baseline_rate == RULE.min_baseline_rate
