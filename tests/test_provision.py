"""Expected credit loss: the write-off linkage per customer, the loss rates (write-off
history, roll-rate chain), the ECL and coverage arithmetic, each against a brute-force
reference (:mod:`oracles.forward`); and the provision in the model and ``summary --json``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from oracles.forward import brute_ecl, brute_loss_rates, expected_write_offs
from oracles.ledger import Rows, brute_as_of, brute_book, cases, customer_segments, minimal_frames

from dashboard.compute.partition import WRITE_OFF_HORIZONS, WRITE_OFF_MEASURES
from dashboard.cube.pipeline import build_cube
from dashboard.loader import load_portfolio
from dashboard.query import provision
from dashboard.schema import tables_from_frames, validate
from dashboard.sources import DEFAULT_SOURCE

CUBE_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


@pytest.fixture(scope="module")
def demo_cube():
    return build_cube(load_portfolio(DEFAULT_SOURCE))


def _everyone(cube) -> np.ndarray:
    return np.ones(len(cube.segments), dtype=bool)


# --- the write-off linkage, per customer ---------------------------------------------------


@CUBE_SETTINGS
@given(cases())
def test_write_offs_match_the_per_customer_loop(case):
    cube = case.cube()
    as_of = brute_as_of(case.portfolio, case.as_of)
    rows = Rows.of(case.portfolio, as_of)
    book = brute_book(rows, as_of, case.buckets.edges)
    n_seg, n_b = len(cube.segments), len(case.buckets.labels)
    expected = expected_write_offs(
        rows, book, customer_segments(case.portfolio), n_seg, n_b, WRITE_OFF_HORIZONS
    )
    np.testing.assert_array_equal(cube.arrears.write_offs, expected)


def test_write_offs_on_demo_data_match_the_per_customer_loop(demo_cube):
    portfolio = load_portfolio(DEFAULT_SOURCE)
    rows = Rows.of(portfolio, demo_cube.as_of)
    book = brute_book(rows, demo_cube.as_of, demo_cube.arrears.buckets.edges)
    n_seg, n_b = len(demo_cube.segments), len(demo_cube.arrears.bucket_labels)
    expected = expected_write_offs(
        rows, book, customer_segments(portfolio), n_seg, n_b, WRITE_OFF_HORIZONS
    )
    np.testing.assert_array_equal(demo_cube.arrears.write_offs, expected)
    assert expected[..., 0].sum() > 0  # the demo book writes off


def _one_customer_with_a_write_off(written: float):
    """C100000 owes £100 from January 2023 (a December bill due 2023-01-14), never pays;
    ``written`` is written off on 2023-08-20; bills of £0 keep them on book to March 2024."""
    ends = pd.date_range("2023-01-31", "2024-03-31", freq="ME")
    bills = [("C100000", "2022-12-31", 100.0, "2023-01-14")]
    bills += [("C100000", e.date().isoformat(), 0.0, e.date().isoformat()) for e in ends]
    frames = minimal_frames(bills, [("C100000", "2024-04-02", 0.5)])
    frames["adjustments"] = pd.DataFrame(
        {
            "customer_id": ["C100000"],
            "adjustment_date": ["2023-08-20"],
            "amount": [written],
            "kind": ["write_off"],
        }
    )
    return build_cube(validate(tables_from_frames(frames)))


def test_write_off_links_to_every_month_end_within_the_horizon():
    """A write-off on 20 Aug 2023 counts for the month-ends whose horizon holds it and is over
    by as-of (6 months: Feb..Jul 2023), capped at what was owed then (£100 of £150)."""
    cube = _one_customer_with_a_write_off(150.0)
    table = cube.arrears.write_offs.sum(axis=(1, 2))  # (months, measures)
    months = [m.strftime("%Y-%m") for m in cube.months[: len(table)]]
    column = dict(zip(WRITE_OFF_MEASURES, table.T, strict=True))
    linked_6 = {m: int(v) for m, v in zip(months, column["written_off_6_pence"], strict=True) if v}
    # £100 owed at the month-ends Jan..Jul; 20 Aug is within 6 month-ends of Feb..Jul's
    # (Jan's sixth month-end, 31 Jul, comes before it)
    assert linked_6 == {f"2023-{n:02d}": 10_000 for n in range(2, 8)}
    linked_12 = {m for m, v in zip(months, column["written_off_12_pence"], strict=True) if v}
    # 12 months: Jan..Mar 2023 only, the later month-ends' 12th is after March 2024
    assert linked_12 == {"2023-01", "2023-02", "2023-03"}
    assert column["written_off_12_customers"].max() == 1
    assert not column["written_off_24_pence"].any()  # 24 months are not over by March 2024


# --- loss rates, ECL and coverage ------------------------------------------------------------


def check_rates(cube, mask, t, lookback, horizon, min_write_offs):
    rates = provision.loss_rates(cube, mask, np.array([t]), lookback, horizon, min_write_offs)
    expected = brute_loss_rates(cube, mask, t, lookback, horizon, min_write_offs)
    for b, (rate, method) in enumerate(expected):
        assert rates["method"][0, b] == method, (t, b)
        if math.isnan(rate):
            assert math.isnan(rates["rate"][0, b])
        else:
            assert rates["rate"][0, b] == pytest.approx(rate, rel=1e-12), (t, b)


@CUBE_SETTINGS
@given(cases())
def test_loss_rates_match_brute_force_on_random_books(case):
    cube = case.cube()
    mask = _everyone(cube)
    for t in range(len(cube.arrears.snapshot_days)):
        for lookback, minimum in ((1, 1), (3, 0), (24, 1)):
            check_rates(cube, mask, t, lookback, 6, minimum)


@pytest.mark.parametrize(("lookback", "horizon"), [(24, 12), (12, 6), (36, 24), (6, 12)])
def test_loss_rates_match_brute_force_on_demo_data(demo_cube, lookback, horizon):
    mask = _everyone(demo_cube)
    k = len(demo_cube.arrears.snapshot_days)
    for t in (1, 5, horizon + 2, k // 2, k - 1):
        check_rates(demo_cube, mask, t, lookback, horizon, provision.MIN_WRITE_OFFS)
    reading = demo_cube.segments["region"].eq("Reading").to_numpy()
    check_rates(demo_cube, reading, k - 1, lookback, horizon, provision.MIN_WRITE_OFFS)


@pytest.mark.parametrize("overlay", [0, 10, -20, 500])
def test_provision_matrix_arithmetic(demo_cube, overlay):
    mask = demo_cube.segments["tariff"].ne("Metered").to_numpy()
    matrix = provision.provision_matrix(demo_cube, mask, overlay=overlay, horizon=12)
    k = len(demo_cube.arrears.snapshot_days)
    expected = brute_loss_rates(demo_cube, mask, k - 1, 24, 12, provision.MIN_WRITE_OFFS)
    ageing = demo_cube.arrears.ageing[k - 1][mask].sum(axis=0)  # (buckets, measures)
    balances = [int(v) for v in ageing[:, 1]]
    ecl = brute_ecl(balances, [rate for rate, _ in expected], overlay)
    assert matrix["balance"].tolist() == pytest.approx([b / 100 for b in balances])
    assert matrix["customers"].tolist() == [int(v) for v in ageing[:, 0]]
    assert np.rint(matrix["ecl"].to_numpy() * 100).astype(int).tolist() == ecl
    assert matrix["method"].tolist() == [method for _, method in expected]
    if overlay >= 0:
        assert (matrix["adjusted_rate"] <= 1).all()
    coverage = sum(ecl) / sum(balances)
    assert matrix["ecl"].sum() / matrix["balance"].sum() == pytest.approx(coverage)
    by_month = provision.provision_by_month(demo_cube, mask, overlay=overlay)
    assert by_month["ecl"].iloc[-1] == pytest.approx(sum(ecl) / 100)
    assert by_month["coverage"].iloc[-1] == pytest.approx(coverage)


def test_provision_by_month_uses_the_rates_known_then(demo_cube):
    mask = _everyone(demo_cube)
    frame = provision.provision_by_month(demo_cube, mask, lookback=12, horizon=6)
    ageing = demo_cube.arrears.ageing.sum(axis=1)
    for t in (3, 10, 30, len(frame) - 1):
        rates = [r for r, _ in brute_loss_rates(demo_cube, mask, t, 12, 6, 30)]
        balances = [int(v) for v in ageing[t, :, 1]]
        if any(b > 0 and math.isnan(r) for b, r in zip(balances, rates, strict=True)):
            assert math.isnan(frame["ecl"].iloc[t])
            continue
        assert frame["ecl"].iloc[t] == pytest.approx(sum(brute_ecl(balances, rates, 0)) / 100)
        assert frame["balance"].iloc[t] == pytest.approx(sum(balances) / 100)


def test_provision_by_segment_adds_up_to_the_matrix(demo_cube):
    mask = _everyone(demo_cube)
    matrix = provision.provision_matrix(demo_cube, mask)
    for dim in ("income_band", "region", "is_vulnerable"):
        split = provision.provision_by_segment(demo_cube, mask, by=dim)
        assert split["balance"].sum() == pytest.approx(matrix["balance"].sum())
        assert split["ecl"].sum() == pytest.approx(matrix["ecl"].sum(), abs=0.01 * len(split))


def test_roll_chain_by_hand():
    """Three buckets; £ moves from bucket 0 are nil, so its roll rate counts customers."""
    moved = np.array([[[0, 0, 0], [10, 60, 30], [0, 50, 150]]], dtype=np.int64)
    counts = np.array([[[90, 10, 0], [1, 1, 1], [0, 1, 3]]], dtype=np.int64)
    roll, chain = provision.roll_chain(moved, counts)
    assert roll[0, :2].tolist() == pytest.approx([0.1, 0.3])
    assert math.isnan(roll[0, 2])
    assert chain[0].tolist() == pytest.approx([0.1 * 0.3, 0.3, 1.0])


def test_ecl_rounds_to_the_penny_and_overlay_caps_at_one():
    rate = provision.adjusted(np.array([0.5, 0.95, np.nan]), 10)
    assert rate[:2].tolist() == pytest.approx([0.55, 1.0])
    assert provision.ecl_pence(np.array([333, 1000, 500]), rate).tolist() == [183, 1000, 0]


def test_unknown_horizon_is_refused(demo_cube):
    with pytest.raises(ValueError, match="write-off horizon 9"):
        provision.provision_matrix(demo_cube, _everyone(demo_cube), horizon=9)


def test_model_provision_follows_its_parameters():
    from dashboard.model import CollectionsModel

    model = CollectionsModel(source=str(DEFAULT_SOURCE))
    before = model.provision["ecl"].sum()
    model.provision_overlay = 10
    assert model.provision["ecl"].sum() > before
    assert model.provision_monthly["ecl"].iloc[-1] == pytest.approx(model.provision["ecl"].sum())
    model.region = ["Reading"]
    assert model.provision["balance"].sum() < model.provision_monthly["balance"].max() + 1e9
    assert set(model.provision["method"]) <= {"write-offs", "roll-rate chain", "no history"}
