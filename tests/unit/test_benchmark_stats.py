"""The arithmetic behind ``make bench``: percentiles, spreads, paired ratios and targets; and
the silent metrics that show what recording costs."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from benchmarks.report import Row
from benchmarks.silent_metrics import SilentMetrics
from benchmarks.stats import Bound, Spread, Target, paired_ratios, percentile, ratio
from messaging.metrics import Metrics


def test_a_percentile_is_one_of_the_measured_values_by_nearest_rank() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 5.0
    assert percentile(values, 99) == 5.0
    assert percentile(values, 20) == 1.0
    assert percentile(values, 21) == 2.0


def test_the_p99_of_a_hundred_values_is_the_ninety_ninth() -> None:
    values = [float(value) for value in range(1, 101)]
    assert percentile(values, 99) == 99.0
    assert percentile(values, 50) == 50.0


def test_a_percentile_needs_values_and_a_share_within_0_and_100() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match=r"within 0\.\.100"):
        percentile([1.0], 101)


def test_a_spread_is_the_median_with_the_lowest_and_highest_run() -> None:
    assert Spread.of([3.0, 1.0, 2.0]) == Spread(2.0, 1.0, 3.0)
    assert Spread.of([4.0, 1.0, 2.0, 3.0]) == Spread(2.5, 1.0, 4.0)
    assert Spread.of([3810.0, 3925.5, 3702.1]).text() == "3,810 (3,702-3,926)"
    with pytest.raises(ValueError, match="no runs"):
        Spread.of([])


def test_a_ratio_is_interplay_over_plain_and_needs_a_positive_plain_figure() -> None:
    assert ratio(3400.0, 4000.0) == pytest.approx(0.85)
    with pytest.raises(ValueError, match="positive"):
        ratio(1.0, 0.0)


def test_ratios_pair_each_interplay_run_with_the_plain_run_beside_it() -> None:
    # Run 2 happened while the machine was busy: both sides slowed, the ratio did not.
    assert paired_ratios([900.0, 450.0, 880.0], [1000.0, 500.0, 1100.0]) == pytest.approx(
        [0.9, 0.9, 0.8]
    )
    with pytest.raises(ValueError, match="cannot pair"):
        paired_ratios([1.0, 2.0], [1.0])


def test_a_lower_bound_is_met_at_or_above_it_and_an_upper_bound_at_or_below() -> None:
    at_least = Target(Bound.AT_LEAST, 0.85)
    assert at_least.met(0.85) and at_least.met(1.2)
    assert not at_least.met(0.849)
    at_most = Target(Bound.AT_MOST, 50, " ms")
    assert at_most.met(50) and at_most.met(12.5)
    assert not at_most.met(50.1)
    assert str(at_least) == "≥ 0.85x"
    assert str(at_most) == "≤ 50 ms"


def test_a_comparing_row_judges_the_median_paired_ratio_against_its_target() -> None:
    row = Row(
        "event hop",
        "messages/s",
        interplay=[3300.0, 3400.0, 1700.0],
        plain=[3900.0, 3950.0, 2000.0],
        target=Target(Bound.AT_LEAST, 0.85),
    )
    assert row.judged.median == pytest.approx(0.85)
    assert row.met is True


def test_a_latency_row_judges_interplays_own_figure_in_the_unit_shown() -> None:
    row = Row(
        "flow",
        "p99 ms",
        interplay=[0.040, 0.055, 0.048],
        plain=[0.010, 0.011, 0.012],
        target=Target(Bound.AT_MOST, 50, " ms"),
        scale=1000,
        bounds_ratio=False,
    )
    assert row.judged.median == pytest.approx(48.0)
    assert row.met is True
    assert Row("rpc", "p99", interplay=[1.0]).met is None


def test_silent_metrics_stand_in_for_every_family_of_the_real_ones() -> None:
    real = vars(Metrics(CollectorRegistry()))
    silent = SilentMetrics()
    assert set(vars(silent)) == set(real)
    silent.hop_latency.labels("rabbitmq", "queue").observe(0.001)
    silent.flows_in_flight.labels("orders", "accept_order", "orchestration").dec()
    assert list(silent.registry.collect()) == []
