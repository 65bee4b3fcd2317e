"""Edge cases: every bill immature, a single customer, a segment without customers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import panel as pn

from dashboard.cli.summary import format_summary, portfolio_summary
from dashboard.cube.pipeline import build_cube
from dashboard.model import CollectionsModel
from dashboard.schema import tables_from_frames, validate
from dashboard.ui.charts import bills as bill_views


def test_every_bill_immature_gives_no_rate_not_nan_percent(small_tables):
    portfolio = validate(tables_from_frames(small_tables))
    model = CollectionsModel.from_portfolio(portfolio, as_of=pd.Timestamp("2024-03-01").date())
    assert not model.monthly["mature"].any()
    assert model.kpis["bills"] == 0 and math.isnan(model.kpis["default_rate"])
    trend = bill_views.monthly_trend(model.monthly, "default_rate", model.as_of_date, "all")
    assert isinstance(trend, pn.pane.Alert)
    # billed £ is known for immature bills: drawn, all months shaded as not final
    billed = bill_views.monthly_trend(model.monthly, "billed", model.as_of_date, "all")
    assert not isinstance(billed, pn.pane.Alert)
    summary = portfolio_summary(model.cube)
    assert summary["overall"]["default_rate"] is None
    assert "nan" not in format_summary(summary).lower()


def test_a_single_customer_portfolio(small_tables):
    one = small_tables["customers"]["customer_id"].iloc[0]
    frames = {name: frame.loc[frame["customer_id"] == one] for name, frame in small_tables.items()}
    portfolio = validate(tables_from_frames(frames))
    cube = build_cube(portfolio)
    summary = portfolio_summary(cube)
    as_of = pd.Timestamp(frames["payments"]["payment_date"].max())
    assert summary["as_of"] == f"{as_of:%Y-%m-%d}"
    mature = pd.to_datetime(frames["bills"]["due_date"]) + pd.Timedelta(days=60) <= as_of
    assert summary["overall"]["bills"] == int(mature.sum())
    model = CollectionsModel.from_portfolio(portfolio)
    assert model.kpis["customers"] in (0, 1)
    assert set(model.by_segment["customers"]) <= {0, 1}


def test_a_segment_without_customers_shows_no_data(small_tables):
    model = CollectionsModel.from_portfolio(validate(tables_from_frames(small_tables)))
    model.region = ["Reading"]
    model.tariff = ["Unmetered"]  # no customer in Reading is unmetered
    assert model.kpis["bills"] == 0
    assert np.isnan(model.kpis["collection_rate"])
    bars = bill_views.segment_bars(
        model.by_segment, "default_rate", "income_band", model.param.income_band.objects, "x"
    )
    assert isinstance(bars, pn.pane.Alert)
    assert "No data for this selection" in bars.object
