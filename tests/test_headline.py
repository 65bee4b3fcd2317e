"""Headline figures (dashboard.query.headline) against brute-force sums of the cube's tables.

Each figure is recomputed here from the documented layout of the aggregated ledger
(``cube.arrears.ageing``, ``movement``, ``transitions``): a plain sum over the selected
segments, month by month and bucket by bucket. No demo number is written down: the demo book
may be regenerated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard.compute.partition import AGEING_MEASURES, MOVEMENT_MEASURES
from dashboard.model import CollectionsModel
from dashboard.query import headline


@pytest.fixture(scope="module")
def model():
    return CollectionsModel(live_outputs=["headline"])


@pytest.fixture(scope="module", params=["everyone", "one region"])
def selection(request, model):
    """(cube, segment mask) for the whole book and for one region."""
    cube = model.cube
    if request.param == "everyone":
        return cube, np.ones(len(cube.segments), dtype=bool)
    region = cube.segments["region"].cat.categories[0]
    return cube, (cube.segments["region"] == region).to_numpy()


def month_index(cube, month) -> int:
    return int(np.flatnonzero(cube.months == pd.Timestamp(month))[0])


def ageing_sum(cube, segments, month, buckets, measure, level="account") -> float:
    """Σ over selected segments and ``buckets`` of an ageing measure at a month-end (at bill
    level: the unpaid bills' arrears and the customers with an amount in the bucket)."""
    if level == "bill":
        table = cube.arrears.bill_ageing  # (months, segments, buckets, [pence, customers])
        column = 0 if measure == "arrears_pence" else 1
    else:
        table = cube.arrears.ageing  # (months, segments, buckets, measures)
        column = AGEING_MEASURES.index(measure)
    total = 0
    for bucket in buckets:
        total += table[month, segments, bucket, column].sum()
    return float(total)


def movement_sum(cube, segments, month, measure) -> float:
    table = cube.arrears.movement  # (months, segments, measures)
    return float(table[month, segments, MOVEMENT_MEASURES.index(measure)].sum())


def moved(cube, segments, month, source, target) -> int:
    """Customers in bucket ``source`` at month-end m-1 and ``target`` at m."""
    table = cube.arrears.transitions  # (months, segments, from, to, measures)
    return int(table[month, segments, source, target, 0].sum())


@pytest.mark.parametrize("level", ["bill", "account"])
def test_position_is_the_sum_of_the_ageing_table(selection, level):
    cube, segments = selection
    n_buckets = len(cube.arrears.bucket_labels)
    past_due = range(1, n_buckets)
    frame = headline.position(cube, segments, level=level)
    assert len(frame) == len(cube.arrears.snapshot_days)
    for row in frame.itertuples():
        m = month_index(cube, row.month)
        customers = ageing_sum(cube, segments, m, range(n_buckets), "customers")
        in_arrears = ageing_sum(cube, segments, m, past_due, "customers")
        arrears = ageing_sum(cube, segments, m, past_due, "arrears_pence") / 100
        oldest = ageing_sum(cube, segments, m, [n_buckets - 1], "arrears_pence", level) / 100
        assert row.customers == customers and row.in_arrears == in_arrears
        assert row.arrears == pytest.approx(arrears, abs=0.005)
        assert row.oldest_arrears == pytest.approx(oldest, abs=0.005)
        if customers:
            assert row.share_in_arrears == pytest.approx(in_arrears / customers)
        if arrears:
            assert row.oldest_share == pytest.approx(oldest / arrears)


def test_cash_against_billed_and_cei_follow_their_definitions(selection):
    cube, segments = selection
    frame = headline.flows(cube, segments)
    checked = 0
    for row in frame.itertuples():
        m = month_index(cube, row.month)
        opening = movement_sum(cube, segments, m, "opening_arrears_pence") / 100
        due = movement_sum(cube, segments, m, "due_pence") / 100
        cash = movement_sum(cube, segments, m, "cash_pence") / 100
        closing = movement_sum(cube, segments, m, "arrears_pence") / 100
        closing_current = ageing_sum(cube, segments, m, [0], "arrears_pence") / 100
        assert row.fell_due == pytest.approx(due, abs=0.005)
        assert row.cash == pytest.approx(cash, abs=0.005)
        if due > 0:
            assert row.cash_to_billed == pytest.approx(cash / due)
        collectable = opening + due - closing_current
        if collectable > 0:
            cei = (opening + due - closing) / collectable
            assert row.cei == pytest.approx(cei)
            assert row.cei <= 1 + 1e-12
            checked += 1
    assert checked > 0


def test_cure_rate_and_new_arrears_are_counts_of_moves(selection):
    cube, segments = selection
    n_buckets = len(cube.arrears.bucket_labels)
    frame = headline.cures(cube, segments)
    assert len(frame) == len(cube.arrears.snapshot_days) - 1  # no month before the first
    for row in frame.itertuples():
        m = month_index(cube, row.month)
        before = sum(
            moved(cube, segments, m, s, t) for s in range(1, n_buckets) for t in range(n_buckets)
        )
        cured = sum(moved(cube, segments, m, s, 0) for s in range(1, n_buckets))
        current = sum(moved(cube, segments, m, 0, t) for t in range(n_buckets))
        new = sum(moved(cube, segments, m, 0, t) for t in range(1, n_buckets))
        assert (row.in_arrears_before, row.cured) == (before, cured)
        assert (row.current_before, row.new_in_arrears) == (current, new)
        if before:
            assert row.cure_rate == pytest.approx(cured / before)


def test_headline_trend_is_twelve_month_ends_up_to_the_period_end(selection):
    cube, segments = selection
    end = cube.months[len(cube.arrears.snapshot_days) - 2]
    trend = headline.headline_trend(cube, segments, end)
    assert trend["month"].iloc[-1] == end
    assert len(trend) == min(headline.HISTORY_MONTHS + 1, month_index(cube, end) + 1)
    assert trend["month"].is_monotonic_increasing


@pytest.mark.parametrize("level", ["bill", "account"])
def test_aged_debt_per_bucket_and_change_since_last_month(selection, level):
    cube, segments = selection
    last = len(cube.arrears.snapshot_days) - 1
    table = headline.aged_debt(cube, segments, level=level)
    labels = list(cube.arrears.bucket_labels)
    assert list(table["bucket"]) == [*labels[1:], "Total"]
    for b, row in enumerate(table.iloc[:-1].itertuples(), start=1):
        now = ageing_sum(cube, segments, last, [b], "arrears_pence", level) / 100
        before = ageing_sum(cube, segments, last - 1, [b], "arrears_pence", level) / 100
        customers = ageing_sum(cube, segments, last, [b], "customers", level)
        assert row.arrears == pytest.approx(now, abs=0.005)
        assert row.customers == customers
        assert row.arrears_change == pytest.approx(now - before, abs=0.01)
    total = table.iloc[-1]
    past_due = range(1, len(labels))
    owing = ageing_sum(cube, segments, last, past_due, "customers")  # each customer once
    assert total["customers"] == owing
    assert total["arrears"] == pytest.approx(table["arrears"].iloc[:-1].sum())
    assert total["share"] == pytest.approx(1.0) or total["arrears"] == 0
    assert table["share"].iloc[:-1].sum() == pytest.approx(1.0) or total["arrears"] == 0


def test_bridge_adds_up_from_opening_to_closing(selection):
    cube, segments = selection
    first, last = 1, len(cube.arrears.snapshot_days) - 1
    movement = headline.flows(cube, segments, cube.months[first], cube.months[last])
    steps = headline.bridge(movement).set_index("step")
    opening = movement_sum(cube, segments, first, "opening_arrears_pence")
    opening -= movement_sum(cube, segments, first, "opening_credit_pence")
    closing = movement_sum(cube, segments, last, "arrears_pence")
    closing -= movement_sum(cube, segments, last, "credit_pence")
    cash = sum(movement_sum(cube, segments, m, "cash_pence") for m in range(first, last + 1))
    assert steps.loc["opening", "amount"] == pytest.approx(opening / 100, abs=0.005)
    assert steps.loc["closing", "amount"] == pytest.approx(closing / 100, abs=0.005)
    assert steps.loc["cash", "amount"] == pytest.approx(-cash / 100, abs=0.01)
    flows = steps["amount"].iloc[1:-1].sum()
    assert steps.loc["opening", "amount"] + flows == pytest.approx(closing / 100, abs=0.01)
    assert steps.loc["other_adjustments", "end"] == pytest.approx(closing / 100, abs=0.01)


def test_the_model_output_follows_filters_and_period(model):
    everyone = model.headline
    region = model.param.region.objects[0]
    end = model.cube.months[len(model.cube.arrears.snapshot_days) - 2]
    model.param.update(region=[region], period=(model.cube.months[0], end))
    try:
        mask = (model.cube.segments["region"] == region).to_numpy()
        expected = headline.headline(model.cube, mask, *model.month_range)
        for name, frame in expected.items():
            pd.testing.assert_frame_equal(model.headline[name], frame)
        assert model.headline["trend"]["month"].iloc[-1] == end
        assert model.headline["aged"]["arrears"].iloc[-1] < everyone["aged"]["arrears"].iloc[-1]
    finally:
        model.param.update(region=[], period=model.param.period.bounds)


def test_the_trend_from_the_cubes_first_month_has_no_moves_before_it(selection):
    cube, segments = selection
    trend = headline.headline_trend(cube, segments, cube.months[2])
    assert list(trend["month"]) == list(cube.months[:3])
    first, later = trend.iloc[0], trend.iloc[1:]
    for column in ("in_arrears_before", "cured", "cure_rate", "current_before", "new_in_arrears"):
        assert np.isnan(first[column])
    moves = headline.cures(cube, segments, cube.months[1], cube.months[2])
    for column in ("in_arrears_before", "cured", "current_before", "new_in_arrears"):
        assert list(later[column]) == list(moves[column])
    for row in trend.itertuples():  # every row's position is its own month-end's
        m = month_index(cube, row.month)
        assert row.customers == ageing_sum(
            cube, segments, m, range(len(cube.arrears.bucket_labels)), "customers"
        )


def test_aged_debt_at_the_first_month_end_has_no_change():
    model = CollectionsModel(live_outputs=["headline"])
    cube = model.cube
    segments = np.ones(len(cube.segments), dtype=bool)
    table = headline.aged_debt(cube, segments, cube.months[0])
    assert table["arrears_change"].isna().all() and table["customers_change"].isna().all()
    total = (
        ageing_sum(
            cube, segments, 0, range(1, len(cube.arrears.bucket_labels)), "arrears_pence", "bill"
        )
        / 100
    )
    assert table["arrears"].iloc[-1] == pytest.approx(total, abs=0.005)


@pytest.mark.parametrize("level", ["bill", "account"])
def test_an_empty_selection_owes_nothing_and_divides_by_nothing(model, level):
    cube = model.cube
    nobody = np.zeros(len(cube.segments), dtype=bool)
    result = headline.headline(cube, nobody, level=level)
    assert (result["trend"][["customers", "in_arrears", "arrears"]] == 0).all().all()
    assert result["trend"][["share_in_arrears", "oldest_share", "cure_rate"]].isna().all().all()
    assert (result["aged"]["arrears"] == 0).all() and result["aged"]["share"].isna().all()
    assert (result["bridge"]["amount"] == 0).all()


@pytest.mark.parametrize("level", ["bill", "account"])
def test_the_headline_is_its_parts(selection, level):
    """headline() computes its figures once for every part: each part equals the public
    function that computes it alone, for an open and a closed period."""
    cube, segments = selection
    known = len(cube.arrears.snapshot_days)
    for start, end in [(None, None), (cube.months[3], cube.months[known - 4])]:
        result = headline.headline(cube, segments, start, end, level=level)
        pd.testing.assert_frame_equal(
            result["trend"], headline.headline_trend(cube, segments, end, level=level)
        )
        pd.testing.assert_frame_equal(
            result["aged"], headline.aged_debt(cube, segments, end, level)
        )
        pd.testing.assert_frame_equal(
            result["movement"], headline.flows(cube, segments, start, end)
        )
