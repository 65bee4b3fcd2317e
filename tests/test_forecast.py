"""The arrears forecast: the Markov chain against a hand-computed example and a brute-force
chain on the cube's tables, the what-if, the interval and the backtest arithmetic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from oracles.forward import brute_backtest, brute_chain
from oracles.ledger import cases

from dashboard.cube.pipeline import build_cube
from dashboard.loader import load_portfolio
from dashboard.query import forecast
from dashboard.sources import DEFAULT_SOURCE

CUBE_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)

# Current, 1-30, 31+: from 1-30 half cure, 20% stay, 30% roll; from 31+ 10% cure, 90% stay
MATRIX = np.array([[0.9, 0.1, 0.0], [0.5, 0.2, 0.3], [0.1, 0.0, 0.9]])
INFLOW = np.array([0.0, 10.0, 0.0])
STATE = np.array([500.0, 20.0, 10.0])


@pytest.fixture(scope="module")
def demo_cube():
    return build_cube(load_portfolio(DEFAULT_SOURCE))


def test_chain_by_hand():
    """x1 = (20 x 0.2 + 10, 20 x 0.3 + 10 x 0.9) = (14, 15);
    x2 = (14 x 0.2 + 10, 14 x 0.3 + 15 x 0.9) = (12.8, 17.7)."""
    path = forecast.project(STATE, MATRIX, INFLOW, 2)
    np.testing.assert_allclose(path[:, 1:], [[14, 15], [12.8, 17.7]])
    assert path[:, 0].tolist() == [0, 0]  # Current is not projected


def test_what_if_by_hand():
    """+10 points of cure: 1-30 cures 60%, its other moves shrink by 0.4 / 0.5; 31+ cures 20%,
    stays 80%; the inflow +20% is 12 a month."""
    matrix, inflow = forecast.what_if(MATRIX, INFLOW, cure_shift=10, inflow_shift=20)
    assert matrix[1].tolist() == pytest.approx([0.6, 0.16, 0.24])
    assert matrix[2].tolist() == pytest.approx([0.2, 0.0, 0.8])
    assert matrix[0].tolist() == MATRIX[0].tolist()  # Current's row is not a cure
    assert inflow.tolist() == pytest.approx([0, 12, 0])
    assert np.allclose(matrix.sum(axis=1), 1)
    path = forecast.project(STATE, matrix, inflow, 1)
    assert path[0, 1:].tolist() == pytest.approx([20 * 0.16 + 12, 20 * 0.24 + 10 * 0.8])
    capped, _ = forecast.what_if(MATRIX, INFLOW, cure_shift=80)
    assert capped[1:, 0].tolist() == [1.0, 0.9] and np.allclose(capped.sum(axis=1), 1)


def test_row_shares_keep_an_empty_bucket_in_place():
    counts = np.array([[3, 1, 0], [0, 0, 0], [1, 1, 2]])
    shares = forecast.row_shares(counts)
    np.testing.assert_allclose(shares, [[0.75, 0.25, 0], [0, 1, 0], [0.25, 0.25, 0.5]])


def check_forecast(cube, mask, lookback, cure=0.0, inflow=0.0):
    frame = forecast.forecast(cube, mask, lookback=lookback, cure_shift=cure, inflow_shift=inflow)
    origin = len(cube.arrears.snapshot_days) - 1
    customers, arrears = brute_chain(cube, mask, origin, lookback, 6, cure, inflow)
    ahead = frame.loc[frame["kind"] == "forecast"]
    n = len(cube.arrears.bucket_labels)
    got = ahead["customers"].to_numpy().reshape(6, n - 1)
    assert got == pytest.approx(np.array(customers)[:, 1:], abs=1e-9)
    pounds = ahead["arrears"].to_numpy().reshape(6, n - 1)
    assert pounds == pytest.approx(np.array(arrears)[:, 1:] / 100, abs=1e-7)
    base, _ = brute_chain(cube, mask, origin, lookback, 6)
    baseline = ahead["baseline_customers"].to_numpy().reshape(6, n - 1)
    assert baseline == pytest.approx(np.array(base)[:, 1:], abs=1e-9)
    assert (ahead["customers_low"] <= ahead["customers_high"] + 1e-9).all()
    actual = frame.loc[frame["kind"] == "actual"]
    ageing = cube.arrears.ageing[origin][mask].sum(axis=0)
    last = actual.loc[actual["month"] == actual["month"].max()]
    assert last["customers"].tolist() == ageing[1:, 0].tolist()
    assert last["arrears"].tolist() == pytest.approx((ageing[1:, 1] / 100).tolist())


@pytest.mark.parametrize(
    ("lookback", "cure", "inflow"), [(12, 0, 0), (3, 5, -10), (24, -2, 20), (1, 0, 0)]
)
def test_forecast_matches_the_brute_force_chain_on_demo_data(demo_cube, lookback, cure, inflow):
    check_forecast(demo_cube, np.ones(len(demo_cube.segments), bool), lookback, cure, inflow)
    vulnerable = demo_cube.segments["is_vulnerable"].eq(1).to_numpy()
    check_forecast(demo_cube, vulnerable, lookback, cure, inflow)


@CUBE_SETTINGS
@given(cases())
def test_forecast_matches_the_brute_force_chain_on_random_books(case):
    cube = case.cube()
    mask = np.ones(len(cube.segments), dtype=bool)
    if len(cube.arrears.snapshot_days) == 0:
        assert forecast.forecast(cube, mask).empty
        return
    check_forecast(cube, mask, 2, cure=5, inflow=10)


def test_what_if_moves_the_forecast_the_right_way(demo_cube):
    mask = np.ones(len(demo_cube.segments), dtype=bool)

    def total(**shift) -> float:
        frame = forecast.forecast(demo_cube, mask, **shift)
        return frame.loc[frame["horizon"] == 6, "arrears"].sum()

    base = total()
    assert total(cure_shift=5) < base < total(cure_shift=-5)
    assert total(inflow_shift=-20) < base < total(inflow_shift=20)


@pytest.mark.parametrize("lookback", [3, 12])
def test_backtest_arithmetic(demo_cube, lookback):
    mask = demo_cube.segments["income_band"].isin(["<£15k", "£15k-£30k"]).to_numpy()
    frame = forecast.backtest(demo_cube, mask, lookback=lookback)
    months = np.arange(len(demo_cube.arrears.snapshot_days))
    expected = brute_backtest(demo_cube, mask, months, lookback, 6)
    index = {m: i for i, m in enumerate(demo_cube.months)}
    got = {
        (index[row.origin], row.horizon): (
            row.customers,
            row.arrears,
            row.actual_customers,
            row.actual_arrears,
            row.customers_in_band,
            row.arrears_in_band,
        )
        for row in frame.itertuples()
    }
    assert set(got) == set(expected)
    for key, values in expected.items():
        assert got[key] == pytest.approx(values, rel=1e-9), key
    summary = forecast.backtest_summary(frame)
    for h in range(1, 7):
        rows = [values for (_, horizon), values in expected.items() if horizon == h]
        errors = [abs(f - a) / a for _, f, _, a, _, _ in rows]
        row = summary.loc[summary["horizon"] == h].iloc[0]
        assert row["origins"] == len(errors)
        assert row["arrears_mape"] == pytest.approx(np.mean(errors))
        assert row["arrears_in_band"] == pytest.approx(np.mean([r[5] for r in rows]))
        assert row["customers_in_band"] == pytest.approx(np.mean([r[4] for r in rows]))


def test_backtest_never_reads_after_its_origin(demo_cube):
    """A forecast made at a month-end is the same whether later month-ends exist or not."""
    mask = np.ones(len(demo_cube.segments), dtype=bool)
    origin = pd.Timestamp(demo_cube.months[30])
    cut = forecast.forecast(demo_cube, mask, end=origin)
    made = forecast.backtest(demo_cube, mask)
    at = made.loc[made["origin"] == origin].set_index("horizon")
    ahead = cut.loc[cut["kind"] == "forecast"].groupby("horizon")
    assert ahead["customers"].sum().to_numpy() == pytest.approx(at["customers"].to_numpy())
    assert ahead["arrears"].sum().to_numpy() == pytest.approx(at["arrears"].to_numpy())


def test_model_forecast_and_backtest():
    from dashboard.model import CollectionsModel

    model = CollectionsModel(source=str(DEFAULT_SOURCE))
    assert model.forecast_backtest["horizon"].tolist() == [1, 2, 3, 4, 5, 6]
    assert model.forecast_backtest["origins"].min() > 0
    before = model.forecast.loc[model.forecast["horizon"] == 6, "arrears"].sum()
    model.forecast_cure_shift = 5
    after = model.forecast.loc[model.forecast["horizon"] == 6, "arrears"].sum()
    assert after < before
    baseline = model.forecast.loc[model.forecast["horizon"] == 6, "baseline_arrears"].sum()
    assert baseline == pytest.approx(before)
