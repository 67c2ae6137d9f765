"""Holdout hashing, the local-time windows, lift with its interval, the SRM alarm and Thompson sampling."""

import math
import uuid
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from campaign.campaigns import assignment, measurement
from campaign.campaigns.optimization import thompson_weights
from campaign.campaigns.timing import next_window_start


def test_holdout_is_deterministic_and_close_to_the_percent() -> None:
    campaign_id = uuid.uuid4()
    customers = [uuid.UUID(int=i) for i in range(20_000)]
    groups = [
        assignment.group_for(
            campaign_id, c, holdout_percent=10, global_control_percent=0, global_control_salt="salt"
        )
        for c in customers
    ]
    again = [
        assignment.group_for(
            campaign_id, c, holdout_percent=10, global_control_percent=0, global_control_salt="salt"
        )
        for c in customers
    ]
    assert groups == again
    share = groups.count(assignment.CONTROL) / len(groups)
    assert 0.09 < share < 0.11
    other_campaign = [
        assignment.group_for(
            uuid.uuid4(), c, holdout_percent=10, global_control_percent=0, global_control_salt="salt"
        )
        for c in customers
    ]
    assert other_campaign != groups  # each campaign holds out different people


def test_global_control_excludes_the_same_people_from_every_campaign() -> None:
    customers = [uuid.UUID(int=i) for i in range(5_000)]
    first = {
        c
        for c in customers
        if assignment.group_for(
            uuid.uuid4(), c, holdout_percent=50, global_control_percent=5, global_control_salt="g"
        )
        == assignment.GLOBAL_CONTROL
    }
    second = {
        c
        for c in customers
        if assignment.group_for(
            uuid.uuid4(), c, holdout_percent=0, global_control_percent=5, global_control_salt="g"
        )
        == assignment.GLOBAL_CONTROL
    }
    assert first == second
    assert 0.035 < len(first) / len(customers) < 0.065


def test_window_start_keeps_the_wall_clock_across_the_dst_change() -> None:
    new_york = ZoneInfo("America/New_York")
    # DST ends in New York on 2026-11-01: 09:00 is 13:00 UTC the day before, 14:00 UTC that day.
    saturday_evening = datetime(2026, 10, 31, 20, 0, tzinfo=UTC)  # 16:00 EDT
    start = next_window_start(saturday_evening, time(9), time(11), new_york)
    assert start == datetime(2026, 11, 1, 14, 0, tzinfo=UTC)
    assert start.astimezone(new_york).hour == 9
    friday_evening = datetime(2026, 10, 30, 20, 0, tzinfo=UTC)
    assert next_window_start(friday_evening, time(9), time(11), new_york) == datetime(
        2026, 10, 31, 13, 0, tzinfo=UTC
    )


def test_window_start_is_now_inside_the_window_and_handles_midnight() -> None:
    seoul = ZoneInfo("Asia/Seoul")
    inside = datetime(2026, 12, 1, 1, 30, tzinfo=UTC)  # 10:30 KST
    assert next_window_start(inside, time(9), time(11), seoul) == inside
    late = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)  # 23:00 KST, inside 22:00-02:00
    assert next_window_start(late, time(22), time(2), seoul) == late
    afternoon = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)  # 15:00 KST
    assert next_window_start(afternoon, time(22), time(2), seoul) == datetime(2026, 12, 1, 13, 0, tzinfo=UTC)


def test_lift_and_its_confidence_interval_on_constructed_data() -> None:
    result = measurement.lift(120, 1000, 80, 1000)
    assert result is not None
    assert result.absolute == pytest.approx(0.04)
    se = math.sqrt(0.12 * 0.88 / 1000 + 0.08 * 0.92 / 1000)
    assert result.ci_low == pytest.approx(0.04 - 1.959963984540054 * se)
    assert result.ci_high == pytest.approx(0.04 + 1.959963984540054 * se)
    assert result.relative == pytest.approx(0.5)
    assert result.approximation_ok
    small = measurement.lift(1, 10, 0, 10)
    assert small is not None and not small.approximation_ok and small.relative is None
    assert measurement.lift(5, 10, 0, 0) is None


def test_sample_ratio_mismatch_alarm_fires_only_on_a_real_mismatch() -> None:
    expected = measurement.expected_group_shares(10, 0)
    fine = measurement.sample_ratio_check({"treatment": 9_020, "control": 980}, expected)
    assert fine.p_value is not None and fine.p_value > 0.01 and not fine.alarm
    broken = measurement.sample_ratio_check({"treatment": 9_400, "control": 600}, expected)
    assert broken.p_value is not None and broken.p_value < 0.001 and broken.alarm
    three = measurement.expected_group_shares(10, 5)
    assert three["global_control"] == pytest.approx(0.05)
    assert three["control"] == pytest.approx(0.095)
    stray = measurement.sample_ratio_check({"treatment": 100, "control": 0, "global_control": 3}, expected)
    assert stray.alarm  # global-control members where none are expected


def test_thompson_moves_toward_the_better_variant_and_respects_the_floor() -> None:
    even = thompson_weights({"A": 0, "B": 0}, {"A": 0, "B": 0}, floor=0.1, seed=1)
    assert even["A"] == pytest.approx(0.5, abs=0.02)
    better_b = thompson_weights({"A": 20, "B": 60}, {"A": 1000, "B": 1000}, floor=0.1, seed=1)
    assert better_b["B"] > 0.9
    assert better_b["A"] >= 0.1 / 2 - 1e-12  # each variant keeps floor / n
    assert sum(better_b.values()) == pytest.approx(1.0)
    three = thompson_weights({"A": 0, "B": 500, "C": 0}, {"A": 1000, "B": 1000, "C": 1000}, floor=0.3, seed=2)
    assert min(three["A"], three["C"]) >= 0.1 - 1e-12
    assert three["B"] == pytest.approx(1 - 0.2, abs=1e-9)


def test_weighted_pick_follows_the_weights() -> None:
    picks = [
        assignment.pick_variant(uuid.UUID(int=i), "welcome", {"A": 0.8, "B": 0.2}) for i in range(10_000)
    ]
    assert 0.77 < picks.count("A") / len(picks) < 0.83
    assert picks == [
        assignment.pick_variant(uuid.UUID(int=i), "welcome", {"A": 0.8, "B": 0.2}) for i in range(10_000)
    ]
