"""CollectionsModel: set a parameter, compare its frames with a direct computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard import loader, metrics
from dashboard.model import CollectionsModel
from dashboard.vocab import DIMENSIONS


@pytest.fixture(scope="module")
def portfolio():
    return loader.load_portfolio(loader.DEFAULT_SOURCE)


@pytest.fixture
def model():
    return CollectionsModel()


def direct_bills(portfolio, window=metrics.Window(), as_of=None) -> pd.DataFrame:
    """Every bill with its outcome and its customer's dimensions, computed directly."""
    outcomes = metrics.bill_outcomes(portfolio.bills, portfolio.payments, window, as_of)
    bills = portfolio.bills.join(outcomes).assign(
        customer_id=lambda f: f["customer_id"].astype(str),
        month=lambda f: f["bill_period_end"].dt.to_period("M").dt.to_timestamp(),
    )
    return bills.merge(portfolio.customers, on="customer_id")


def direct_monthly(bills: pd.DataFrame, include_immature: bool = False) -> pd.DataFrame:
    counted = bills if include_immature else bills.loc[bills["is_mature"]]
    grouped = counted.groupby("month")
    frame = pd.DataFrame(
        {
            "counted_bills": grouped.size(),
            "counted_defaults": grouped["is_default"].sum(),
        }
    )
    billed = bills.groupby("month")["bill_pence"].sum() / 100
    frame = frame.reindex(billed.index, fill_value=0)
    frame["default_rate"] = frame["counted_defaults"] / frame["counted_bills"].replace(0, np.nan)
    return frame.assign(billed=billed).reset_index()


def test_default_frames_match_a_direct_computation(model, portfolio):
    expected = direct_monthly(direct_bills(portfolio))
    got = model.monthly.loc[:, expected.columns]
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), expected, check_dtype=False, check_index_type=False
    )
    # the last months are immature: not counted in default rates by default
    assert not model.monthly["mature"].iloc[-1]
    assert np.isnan(model.monthly["default_rate"].iloc[-1])


def test_a_filter_re_aggregates_without_recomputing_outcomes(model, portfolio):
    cube = model.cube
    model.region = ["Reading", "Oxford"]
    model.income_band = ["<£15k"]
    assert model.cube is cube  # outcomes not recomputed
    bills = direct_bills(portfolio)
    chosen = bills.loc[
        bills["region"].isin(["Reading", "Oxford"]) & (bills["income_band"] == "<£15k")
    ]
    expected = direct_monthly(chosen)
    got = model.monthly.loc[:, expected.columns]
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), expected, check_dtype=False, check_index_type=False
    )


def test_window_and_tolerance_recompute_outcomes(model, portfolio):
    cube = model.cube
    model.param.update(after=30, tolerance=5.0)
    assert model.cube is not cube
    expected = direct_monthly(direct_bills(portfolio, metrics.Window(3, 30, 500)))
    got = model.monthly.loc[:, expected.columns]
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), expected, check_dtype=False, check_index_type=False
    )


def test_include_immature_counts_every_bill(model, portfolio):
    model.include_immature = True
    bills = direct_bills(portfolio)
    assert model.kpis["bills"] == len(bills)
    assert model.kpis["default_rate"] == pytest.approx(bills["is_default"].mean())
    assert model.monthly["counted_bills"].sum() == len(bills)


def test_segment_by_and_customer_counts(model, portfolio):
    model.segment_by = "region"
    model.period = (
        pd.Timestamp("2024-01-01").to_pydatetime(),
        pd.Timestamp("2024-12-31").to_pydatetime(),
    )
    bills = direct_bills(portfolio)
    year = bills.loc[(bills["month"].dt.year == 2024) & bills["is_mature"]]
    expected = year.groupby("region", observed=True).agg(
        counted_bills=("is_default", "size"),
        counted_defaults=("is_default", "sum"),
        customers=("customer_id", "nunique"),
    )
    expected["customers_with_default"] = (
        year.loc[year["is_default"]].groupby("region", observed=True)["customer_id"].nunique()
    )
    got = model.by_segment.set_index("region").loc[expected.index, expected.columns]
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, check_names=False)
    assert set(model.monthly_by_segment["month"].dt.year) == {2024}


def test_kpis_match_direct_computation(model, portfolio):
    bills = direct_bills(portfolio)
    mature = bills.loc[bills["is_mature"]]
    kpis = model.kpis
    assert kpis["default_rate"] == pytest.approx(mature["is_default"].mean())
    covered = np.minimum(mature["paid_in_window_pence"], mature["bill_pence"]).sum()
    assert kpis["collection_rate"] == pytest.approx(covered / mature["bill_pence"].sum())
    share = mature.groupby("customer_id")["is_default"].any().mean()
    assert kpis["customer_default_share"] == pytest.approx(share)
    agreed = metrics.arrangement_outcomes(portfolio.actions, model.as_of_date)
    decided = agreed.loc[agreed["is_decided"]]
    assert kpis["arrangement_kept_rate"] == pytest.approx(decided["is_kept"].mean())
    assert 0 < kpis["arrangement_kept_rate"] < 1


def test_outputs_recompute_only_when_their_inputs_change(model):
    updated: list[str] = []
    outputs = ["monthly", "monthly_by_segment", "by_segment", "actions_by_type", "kpis"]
    model.param.watch(lambda e: updated.append(e.name), outputs)
    model.metric = "collection_rate"
    model.default_rate_thresholds = (0.05, 0.2)
    assert updated == []  # views read these: no frame recomputed
    model.segment_by = "tariff"
    assert sorted(updated) == ["by_segment", "monthly_by_segment"]
    updated.clear()
    model.include_immature = True
    assert "actions_by_type" not in updated and "monthly" in updated


def test_sessions_share_loaded_data_and_cube():
    first, second = CollectionsModel(), CollectionsModel()
    assert first.cube is second.cube
    second.tolerance = 2.0
    assert first.cube is not second.cube


def test_a_filter_that_selects_nothing_gives_no_data_not_errors(model):
    model.region = [model.param.region.objects[0]]
    model.tariff = [model.param.tariff.objects[0]]
    model.income_band = [model.param.income_band.objects[0]]
    model.is_vulnerable = [1]
    model.tenure_band = [model.param.tenure_band.objects[0]]
    model.has_meter = [0]
    model.prefers_direct_debit = [1]
    if model.kpis["bills"]:  # the demo set may hold such a customer: narrow the period too
        last = model.cube.months[-1].to_pydatetime()
        model.period = (last, last)
    assert model.kpis["bills"] == 0
    assert np.isnan(model.kpis["default_rate"])
    assert model.monthly["counted_bills"].sum() == 0


def test_every_dimension_is_a_filter_with_the_values_in_the_data(model, portfolio):
    for dim in DIMENSIONS:
        assert set(model.param[dim].objects) == set(portfolio.customers[dim].unique())
        assert model.param[dim].doc
