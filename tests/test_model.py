"""CollectionsModel: set a parameter, compare its frames with a direct computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard import compute, loader
from dashboard.model import CollectionsModel
from dashboard.sources import DEFAULT_SOURCE
from dashboard.vocab import DIMENSIONS


@pytest.fixture(scope="module")
def portfolio():
    return loader.load_portfolio(DEFAULT_SOURCE)


@pytest.fixture
def model():
    return CollectionsModel()


def direct_bills(portfolio, window=compute.Window(), as_of=None) -> pd.DataFrame:
    """Every bill known on the as-of date (its period ended by then) with its outcome and
    its customer's dimensions, computed directly."""
    as_of = compute.latest_payment_date(portfolio.payments) if as_of is None else as_of
    outcomes = compute.bill_outcomes(portfolio.bills, portfolio.payments, window, as_of)
    bills = portfolio.bills.join(outcomes).loc[lambda f: f["bill_period_end"] <= as_of]
    bills = bills.assign(as_of=as_of).assign(
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
    # every month from the first bill's to the as-of month, with or without bills
    months = pd.date_range(
        bills["month"].min(), bills["as_of"].iloc[0].to_period("M").start_time, freq="MS"
    )
    billed = bills.groupby("month")["bill_pence"].sum().reindex(months, fill_value=0) / 100
    frame = frame.reindex(months, fill_value=0).rename_axis("month")
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
    expected = direct_monthly(direct_bills(portfolio, compute.Window(3, 30, 500)))
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
    agreed = compute.arrangement_outcomes(portfolio.actions, model.as_of_date)
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


# --- ledger outputs: aged arrears, roll and cure, cohorts, effectiveness, worklist ---------


def direct_ledger(portfolio, as_of: pd.Timestamp, months: pd.DatetimeIndex) -> compute.Ledger:
    """Every customer's ledger at the complete month-ends, computed directly on the whole
    portfolio (bills due and payments after the month-ends never count in them)."""
    ends = months + pd.offsets.MonthEnd(0)
    ends = compute.day_numbers(ends[ends <= as_of])
    bills, payments, adjustments = portfolio.bills, portfolio.payments, portfolio.adjustments
    return compute.month_end_ledger(
        bills["customer_id"].cat.codes.to_numpy(),
        compute.day_numbers(bills["due_date"]),
        bills["bill_pence"].to_numpy(),
        payments["customer_id"].cat.codes.to_numpy(),
        compute.day_numbers(payments["payment_date"]),
        payments["amount_pence"].to_numpy(),
        len(portfolio.customers),
        ends,
        compute.Adjustments(
            adjustments["customer_id"].cat.codes.to_numpy(np.int64),
            compute.day_numbers(adjustments["adjustment_date"]),
            adjustments["balance_pence"].to_numpy(np.int64),
            (adjustments["kind"] == "write_off").to_numpy(),
        ),
    )


def test_filtered_ageing_matches_a_direct_ledger(model, portfolio):
    model.region = ["Reading"]
    ledger = direct_ledger(portfolio, model.as_of_date, model.cube.months)
    reading = (portfolio.customers["region"] == "Reading").to_numpy()
    buckets = compute.Buckets().of(ledger.days_past_due)
    owed = ledger.arrears_pence[reading]
    got = model.ageing.pivot_table(
        index="month", columns="bucket", values="arrears", aggfunc="sum", observed=False
    )
    for bucket in range(1, 5):  # every customer in arrears is on book
        expected = np.where(buckets[reading] == bucket, owed, 0).sum(axis=0) / 100
        np.testing.assert_allclose(got.iloc[:, bucket].to_numpy(), expected)
    in_arrears = (owed > 0).sum(axis=0)
    np.testing.assert_array_equal(model.arrears_monthly["in_arrears"].to_numpy(), in_arrears)
    assert "Region: Reading" in model.describe_selection()


def test_worklist_follows_filters_and_routes_vulnerable_to_support(model):
    everyone = model.worklist
    assert (everyone["arrears"] > 0).all()
    assert everyone["priority"].is_monotonic_decreasing
    on_hold = everyone["arrangement"] == "Active"
    assert (everyone.loc[on_hold, "queue"] == "Arrangement").all()  # never escalated
    assert (everyone.loc[~on_hold, "queue"] != "Arrangement").all()
    vulnerable = everyone.loc[everyone["vulnerable"] & ~on_hold]
    assert len(vulnerable) and (vulnerable["queue"] == "Support").all()
    assert (everyone.loc[~everyone["vulnerable"], "queue"] != "Support").all()
    model.region = ["Reading"]
    assert 0 < len(model.worklist) < len(everyone)
    assert (model.worklist["region"] == "Reading").all()
    model.queue = "Escalation"
    escalated = model.worklist
    assert len(escalated) and (escalated["queue"] == "Escalation").all()
    assert not escalated["vulnerable"].any()
    assert ((escalated["days_past_due"] > 90) | (escalated["arrangement"] == "Broken")).all()
    assert (escalated["arrangement"] != "Active").all()


def test_priority_score_follows_its_documented_formula(model):
    rows = model.worklist
    score = 60 * np.minimum(rows["arrears"] / 2000, 1) + 40 * np.minimum(
        rows["days_past_due"] / 365, 1
    )
    score += np.where(rows["arrangement"] == "Broken", 10, 0)
    score -= np.where(rows["arrangement"] == "Active", 20, 0)
    np.testing.assert_array_equal(rows["priority"], np.clip(np.rint(score), 0, 100))


def test_bucket_edges_rebuild_the_ledger_tables(model):
    old = model.ageing.groupby("month")["customers"].sum()
    model.bucket_edges = "14,28"
    assert list(model.ageing["bucket"].cat.categories) == ["Current", "1–14", "15–28", "29+"]
    new = model.ageing.groupby("month")["customers"].sum()
    pd.testing.assert_series_equal(old, new)  # the same customers, bucketed differently
    assert list(model.transitions["from_bucket"].cat.categories)[-1] == "29+"
    with pytest.raises(ValueError):
        model.bucket_edges = "30,twenty"


def test_transition_rows_sum_to_one_and_rates_are_shares(model):
    matrix = model.transitions
    for share in ("customer_share", "arrears_share", "owed_share"):
        sums = matrix.groupby("from_bucket", observed=True)[share].sum(min_count=1).dropna()
        np.testing.assert_allclose(sums.to_numpy(), 1.0)
    rates = model.roll[["cure_rate", "roll_current", "roll_first"]].stack().dropna()
    assert len(rates) > 100
    assert ((rates >= 0) & (rates <= 1)).all()


def test_ledger_outputs_recompute_only_when_their_inputs_change(model):
    updated: list[str] = []
    outputs = [
        "ageing",
        "ageing_by_segment",
        "transitions",
        "vintage",
        "effectiveness",
        "effectiveness_by_segment",
        "worklist",
        "tariffs",
    ]
    model.param.watch(lambda e: updated.append(e.name), outputs)
    model.ageing_measure = "customers"
    model.transition_measure = "owed"
    assert updated == []
    model.queue = "Support"
    assert updated == ["worklist"]
    updated.clear()
    model.segment_by = "region"
    assert sorted(updated) == ["ageing_by_segment", "effectiveness_by_segment"]
    updated.clear()
    last = model.cube.months[-1].to_pydatetime()
    model.period = (last, last)
    assert "vintage" not in updated and "worklist" not in updated and "ageing" in updated


def test_effectiveness_splits_vulnerable_customers(model):
    effect = model.effectiveness
    assert set(effect["is_vulnerable"]) == {0, 1}
    total = model.actions_by_type.set_index("action")["count"]
    by_action = effect.groupby("action", observed=True)["actions"].sum()
    pd.testing.assert_series_equal(
        by_action.astype(int), total.loc[by_action.index].astype(int), check_names=False
    )
    funnel = model.funnel.set_index("stage")["customers"]
    assert funnel.iloc[0] >= funnel.iloc[1] > 0  # a second reminder follows a first


def test_an_empty_selection_gives_empty_ledger_outputs(model):
    model.region = [model.param.region.objects[0]]
    model.is_vulnerable = [1]
    model.tariff = [model.param.tariff.objects[0]]
    model.income_band = [model.param.income_band.objects[-1]]
    model.tenure_band = [model.param.tenure_band.objects[0]]
    model.has_meter = [0]
    if len(model.worklist) or model.ageing["customers"].sum():
        model.prefers_direct_debit = [0]
    assert model.ageing["customers"].sum() == 0
    assert model.worklist.empty and model.tariffs.empty
    assert model.arrears_monthly["share_in_arrears"].isna().all()
