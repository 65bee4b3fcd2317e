"""Sample sizes: every rate of the roll, vintage and entry charts carries its denominator,
and rates of fewer customers than ``min_sample`` are drawn faded, out of colour scales."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
import pytest

from dashboard.model import CollectionsModel
from dashboard.ui.charts import ledger as views


@pytest.fixture(scope="module")
def model():
    return CollectionsModel(source="data/", region=["Reading"])


def _elements(obj, kind):
    return [e for e in obj.traverse(lambda x: x, [kind])]


@pytest.mark.parametrize("min_sample", [1, 30, 500])
def test_transition_rows_of_few_customers_leave_the_colour_scale(model, min_sample):
    chart = views.transition_heatmap(model.transitions, "customers", "x", min_sample)
    heat = _elements(chart, hv.HeatMap)[0]
    frame = heat.dframe()
    row_total = model.transitions.groupby("from_bucket", observed=False)["customers"].sum()
    expected_small = frame["from_bucket"].map(row_total.to_dict()) < min_sample
    assert frame.loc[expected_small.to_numpy(), "percent"].isna().all()
    shown = frame.loc[~expected_small.to_numpy()]
    assert shown["percent"].notna().all()
    assert (frame["row_customers"] == frame["from_bucket"].map(row_total.to_dict())).all()
    assert ("grey: n <" in heat.opts.get().kwargs["title"]) == bool(expected_small.any())


@pytest.mark.parametrize("min_sample", [1, 30, 2000])
def test_roll_points_of_few_customers_are_faded_not_joined(model, min_sample):
    chart = views.roll_rate_chart(model.roll, ["Current", "1–30", "31–60"], "x", min_sample)
    curves = _elements(chart, hv.Curve)
    joined = pd.concat([c.dframe() for c in curves])
    assert (joined.dropna(subset=["value"])["customers"] >= min_sample).all()
    scatters = _elements(chart, hv.Scatter)
    roll = model.roll
    denominators = np.concatenate(
        [roll[c].to_numpy() for c in ("in_arrears_before", "current_before", "first_before")]
    )
    values = np.concatenate(
        [roll[c].to_numpy() for c in ("cure_rate", "roll_current", "roll_first")]
    )
    few = int(((denominators < min_sample) & ~np.isnan(values)).sum())
    faded = sum(len(s) for s in scatters)
    assert faded == few


def test_vintage_and_entry_cells_of_few_customers_are_grey(model):
    chart = views.vintage_chart(model.vintage, "default_rate", "x", 30)
    frame = _elements(chart, hv.HeatMap)[0].dframe()
    assert frame.loc[frame["customers"] < 30, "percent"].isna().all()
    assert frame.loc[frame["customers"] >= 30, "percent"].notna().all()
    expected = model.vintage.dropna(subset=["default_rate"])["default_rate"].to_numpy() * 100
    assert np.allclose(np.sort(frame["share"].to_numpy()), np.sort(expected))  # hover keeps it
    entries = views.entry_cohort_heatmap(model.entries, "x", 30)
    if isinstance(entries, hv.core.Dimensioned):
        cells = _elements(entries, hv.HeatMap)[0].dframe()
        assert cells.loc[cells["observed"] < 30, "percent"].isna().all()
        assert cells.loc[cells["observed"] >= 30, "percent"].notna().all()


def test_min_sample_is_bounded_and_changes_no_frame():
    model = CollectionsModel(source="data/")
    before = model.roll
    model.min_sample = 5
    assert model.roll is before
    with pytest.raises(ValueError):
        model.min_sample = 0
