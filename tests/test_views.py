"""Views carry the model's data, format it, and say so when there is none."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import pytest
from bokeh.models import ColumnDataSource, HoverTool

from dashboard.model import CollectionsModel
from dashboard.ui import style
from dashboard.ui.app import Dashboard
from dashboard.ui.charts import bills as bill_views
from dashboard.ui.charts import gauges

hv.extension("bokeh")


@pytest.fixture
def model():
    return CollectionsModel()


def sources(obj) -> list[dict]:
    """The data of every column data source of a rendered HoloViews object."""
    return [dict(s.data) for s in hv.render(obj).select(ColumnDataSource)]


def test_monthly_trend_draws_the_model_figures_and_keeps_immature_months_apart(model):
    plot = bill_views.monthly_trend(model.monthly, "default_rate", model.as_of_date, "all")
    data = sources(plot)
    mature = model.monthly.loc[model.monthly["mature"]]
    drawn = next(d for d in data if len(d.get("default_rate", [])) == len(mature))
    np.testing.assert_allclose(drawn["default_rate"], mature["default_rate"])
    # immature months are not drawn as points of the solid line, and the as-of date is stated
    assert all(len(d.get("default_rate", [])) <= len(mature) for d in data)
    rendered = hv.render(plot)
    assert f"as of {model.as_of_date:%d %b %Y}" in rendered.xaxis[0].axis_label
    assert "window still open" in rendered.xaxis[0].axis_label


def test_including_immature_months_draws_them_dashed(model):
    model.include_immature = True
    plot = bill_views.monthly_trend(model.monthly, "default_rate", model.as_of_date, "all")
    glyphs = [getattr(r, "glyph", None) for r in hv.render(plot).renderers]
    dashed = [g for g in glyphs if getattr(g, "line_dash", None) == [6]]
    assert dashed, "immature months must be drawn distinctly"


def test_segment_bars_carry_counts_in_the_hover(model):
    model.segment_by = "region"
    categories = model.cube.segments["region"].cat.categories
    bars = bill_views.segment_bars(model.by_segment, "default_rate", "region", categories, "all")
    data = next(d for d in sources(bars) if "customers" in d)
    expected = model.by_segment.set_index("region")
    for segment, rate, customers in zip(
        data["segment"], data["default_rate"], data["customers"], strict=True
    ):
        assert rate == pytest.approx(expected.loc[segment, "default_rate"])
        assert customers == expected.loc[segment, "customers"]
    tooltips = [t for h in hv.render(bars).select(HoverTool) for t in h.tooltips]
    assert ("Customers", "@{customers}{0,0}") in tooltips
    assert any("{0.0%}" in t[1] for t in tooltips)


def test_segment_colours_do_not_depend_on_the_filters(model):
    categories = model.cube.segments["income_band"].cat.categories
    everyone = style.segment_colors("income_band", categories)
    model.income_band = [categories[-1]]
    filtered = bill_views.segment_trend(
        model.monthly_by_segment, "default_rate", "income_band", categories, "x"
    )
    line_colors = {
        r.glyph.line_color
        for r in hv.render(filtered).renderers
        if type(getattr(r, "glyph", None)).__name__ == "Line"  # not the shaded months
    }
    assert line_colors == {everyone[categories[-1]]}


@pytest.mark.parametrize("dim", ["region", "income_band", "tariff", "is_vulnerable"])
def test_each_segment_line_is_drawn_in_its_value_colour_over_its_value_figures(model, dim):
    """Also when there are more values than lines (eight regions: the five largest and
    "Other"): each legend entry's line in the fixed colour of its value, over its figures."""
    model.segment_by = dim
    categories = model.cube.segments[dim].cat.categories
    colors = style.segment_colors(dim, categories)
    plot = bill_views.segment_trend(model.monthly_by_segment, "default_rate", dim, categories, "x")
    drawn = bill_views.top_segments(model.monthly_by_segment, dim).dropna(subset=["default_rate"])
    drawn = drawn.loc[drawn["mature"] | drawn["counted_bills"].gt(0)]
    (legend,) = hv.render(plot).legend
    labels = [item.label.value for item in legend.items]
    assert labels == [str(value) for value in drawn["segment"].unique().sort_values()]
    assert (dim == "region") == (labels[-1] == style.OTHER_LABEL)
    for item in legend.items:
        (line,) = item.renderers
        assert line.glyph.line_color == colors[item.label.value], item.label.value
        figures = drawn.loc[drawn["segment"].astype(str) == item.label.value]
        np.testing.assert_allclose(line.data_source.data["default_rate"], figures["default_rate"])


def test_every_value_of_every_segmentation_has_a_colour_of_its_own(model):
    """Eight regions, eight colours (a palette of seven gave two regions one blue)."""
    for dim in model.cube.segments.columns:
        categories = model.cube.segments[dim].cat.categories
        colors = style.segment_colors(dim, categories)
        assert len(set(colors.values())) == len(colors), dim


def test_flag_segments_read_yes_and_no():
    assert style.segment_labels("is_vulnerable", [0, 1]) == ["No", "Yes"]


def test_actions_views_count_what_the_model_counted(model):
    bars = bill_views.actions_distribution(model.actions_by_type, "all")
    data = next(d for d in sources(bars) if "count" in d)
    assert sum(data["count"]) == model.actions_by_type["count"].sum()
    volume = bill_views.actions_volume(model.actions_monthly, "all")
    stacked = {d["action"][0] if "action" in d else None for d in sources(volume)}
    assert len(stacked) >= 1
    assert isinstance(volume, hv.Overlay | hv.NdOverlay)


def test_empty_selection_says_no_data(model):
    model.period = (model.cube.months[-1].to_pydatetime(),) * 2
    model.region = [model.param.region.objects[0]]
    model.is_vulnerable = [1]
    model.tenure_band = [model.param.tenure_band.objects[0]]
    model.tariff = [model.param.tariff.objects[-1]]
    assert model.kpis["bills"] == 0
    trend = bill_views.monthly_trend(model.monthly, "default_rate", model.as_of_date, "x")
    assert isinstance(trend, pn.pane.Alert) and "No data for this selection" in trend.object
    empty_actions = model.actions_by_type.assign(count=0)
    assert isinstance(bill_views.actions_distribution(empty_actions, "x"), pn.pane.Alert)


@pytest.mark.parametrize(
    "kpi, value, expected",
    [
        ("default_rate", 0.05, "green"),
        ("default_rate", 0.08, "amber"),
        ("default_rate", 0.12, "red"),
        ("collection_rate", 0.97, "green"),
        ("collection_rate", 0.92, "amber"),
        ("collection_rate", 0.80, "red"),
        ("arrangement_kept_rate", float("nan"), "no data"),
    ],
)
def test_kpi_status_follows_the_thresholds(kpi, value, expected):
    thresholds = {
        "default_rate": (0.06, 0.10),
        "collection_rate": (0.90, 0.95),
        "arrangement_kept_rate": (0.6, 0.75),
    }[kpi]
    assert gauges.kpi_status(kpi, value, thresholds) == expected


def test_gauge_bands_follow_user_thresholds(model):
    dashboard = Dashboard(model=model)
    gauge = dashboard.gauges["default_rate"]
    model.default_rate_thresholds = (0.03, 0.15)
    # default-rate dial spans 0-30%: 3% and 15% are 0.1 and 0.5 of it
    assert gauge.colors == [(0.1, "#2e7d32"), (0.5, "#f9a825"), (1.0, "#c62828")]
    assert gauge.value == pytest.approx(round(model.kpis["default_rate"] * 100, 1))


def test_figures_table_keeps_text_raw_and_gives_percent_and_pounds(model):
    frame = model.by_segment.copy()
    frame["region"] = frame["income_band"].cat.rename_categories(
        lambda v: "<script>alert(1)</script>" if v == "<£15k" else v
    )
    table = bill_views.figures_table(frame, "region")
    # raw text: Tabulator shows it as text (escaping here would show "&lt;" to users)
    assert "<script>alert(1)</script>" in set(table["Region"])
    first = model.by_segment.iloc[0]
    assert table["Default rate %"].iloc[0] == pytest.approx(round(first["default_rate"] * 100, 2))
    assert table["Billed £"].iloc[0] == pytest.approx(round(first["billed"], 2))


def test_dashboard_table_download_is_the_shown_table(model):
    dashboard = Dashboard(model=model)
    csv = dashboard.table_csv("figures").getvalue()
    assert pd.read_csv(pd.io.common.StringIO(csv)).shape == dashboard.tables["figures"].value.shape
