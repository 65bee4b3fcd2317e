"""Bill views: a model DataFrame in, a HoloViews object or Panel table out.

Views never compute metrics: they draw what :class:`~dashboard.model.CollectionsModel`
produced, with the labels and formats of :mod:`dashboard.catalog`. Conventions: ``%`` and
``£`` on axes and hovers, a title that says what is shown under which filters.
"""

from __future__ import annotations

import holoviews as hv
import hvplot.pandas  # noqa: F401  (registers .hvplot on DataFrames)
import numpy as np
import pandas as pd
import panel as pn
from bokeh.models import NumeralTickFormatter

from dashboard.catalog import METRIC
from dashboard.cube.tables import BILL_MEASURES
from dashboard.query.bills import bill_rates
from dashboard.ui.style import (
    ACTION_COLORS,
    IMMATURE_COLOR,
    OTHER_LABEL,
    PALETTE,
    SIZE,
    chart_options,
    legend_below,
    no_data,
    pounds_formatter,
    rate_formatter,
    segment_colors,
    shaded_months,
    with_labels,
    wrap_title,
)
from dashboard.vocab import ACTIONS, DIMENSION_LABELS


def is_rate(metric: str) -> bool:
    """Whether a metric is a fraction shown in % (else money in £)."""
    return METRIC[metric].is_rate


def value_format(metric: str) -> str:
    """A Bokeh numeral format for a metric's values (tables, static pages)."""
    return "0.0%" if is_rate(metric) else "0,0"


def value_formatter(metric: str):
    """The tick formatter of a metric's axis: 0.0% for a rate, £12k for money."""
    return rate_formatter() if is_rate(metric) else pounds_formatter()


def hover_format(metric: str) -> str:
    """A Bokeh hover field format for a metric."""
    return "{0.0%}" if is_rate(metric) else "{£0,0.00}"


def _opts(metric: str, title: str, **extra) -> dict:
    """Title, a £ or % axis from 0 (a rate's axis cut short exaggerates noise), no toolbar."""
    return chart_options(
        title=title,
        yformatter=value_formatter(metric),
        ylabel=METRIC[metric].label,
        ylim=(0, None),
        **extra,
    )


SERIES_LABEL = "by month"
"""The legend entry of a monthly trend's line (beside "same month a year before")."""

TOP_SEGMENTS = 5
"""A chart by segment draws this many values (the largest by bills) and "Other"."""


def immature_span(frame: pd.DataFrame) -> tuple:
    """The shading of months whose payment window is still open.

    Parameters
    ----------
    frame : DataFrame
        Per month (and segment): ``month`` and ``mature``.

    Returns
    -------
    (holoviews.VSpans, Timestamp or None)
        The span and its first month; when every month is mature, no span and None (a
        chart keeps its layers whatever the period, and so its figure).
    """
    open_months = frame.loc[~frame["mature"].astype(bool), "month"]
    if open_months.empty:
        return shaded_months(None, None), None
    first = open_months.min()
    return shaded_months(first, frame["month"].max()), first


def comparisons(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Month-on-month and year-on-year changes of a monthly metric.

    Parameters
    ----------
    frame : DataFrame
        ``month`` and ``metric``, one row per month.
    metric : str

    Returns
    -------
    DataFrame
        ``frame`` with ``previous_month`` and ``year_before`` (the metric then; NaN where
        there is none), ``mom`` and ``yoy`` (the changes: points of % for a rate, £ else).
    """
    values = frame.set_index("month")[metric]
    shifted = {
        "previous_month": values.rename(index=lambda m: m + pd.DateOffset(months=1)),
        "year_before": values.rename(index=lambda m: m + pd.DateOffset(years=1)),
    }
    out = frame.copy()
    for name, series in shifted.items():
        out[name] = series.reindex(out["month"]).to_numpy()
    out["mom"] = out[metric] - out["previous_month"]
    out["yoy"] = out[metric] - out["year_before"]
    return out


def comparison_note(frame: pd.DataFrame, metric: str) -> str:
    """The latest shown month against the month before and the same month a year before.

    Returns
    -------
    str
        e.g. ``"Nov 2025: 5.1%, −0.3 pts on the month, +0.8 pts on the year"`` ("" when the
        metric has no value).
    """
    shown = frame.dropna(subset=[metric])
    if shown.empty:
        return ""
    last = shown.iloc[-1]

    def change(value: float) -> str:
        if pd.isna(value):
            return "–"
        if is_rate(metric):
            return f"{'+' if value >= 0 else '−'}{abs(value) * 100:.1f} pts"
        return f"{'+' if value >= 0 else '−'}£{abs(value):,.0f}"

    value = f"{last[metric]:.1%}" if is_rate(metric) else f"£{last[metric]:,.0f}"
    return (
        f"{last['month']:%b %Y}: {value}, {change(last['mom'])} on the month, "
        f"{change(last['yoy'])} on the year"
    )


def monthly_trend(monthly: pd.DataFrame, metric: str, as_of: pd.Timestamp, selection: str):
    """Monthly trend of a metric; months whose bills are not all mature drawn apart.

    Parameters
    ----------
    monthly : DataFrame
        ``CollectionsModel.monthly``.
    metric : str
        A metric of :data:`dashboard.catalog.METRICS`.
    as_of : Timestamp
        The date of knowledge, stated in the chart.
    selection : str
        The filters in words, for the title.

    Returns
    -------
    holoviews.Overlay or panel.pane.Alert
    """
    frame = monthly.loc[:, ["month", metric, "mature", "counted_bills", "bills"]].copy()
    if frame[metric].notna().sum() == 0 or frame["bills"].sum() == 0:
        return no_data()
    frame["status"] = np.where(frame["mature"], "mature", "window still open")
    frame = comparisons(frame, metric)
    hover = ["counted_bills", "status", "mom", "yoy"]
    change = "{+0.0%}" if is_rate(metric) else "{+£0,0}"
    tooltips = [
        ("Month", "@month{%b %Y}"),
        (METRIC[metric].label, f"@{metric}{hover_format(metric)}"),
        ("vs month before", f"@mom{change}"),
        ("vs a year before", f"@yoy{change}"),
        ("Bills counted", "@counted_bills{0,0}"),
        ("Status", "@status"),
    ]
    style = dict(hover_tooltips=tooltips, hover_formatters={"@month": "datetime"})
    mature = frame.loc[frame["mature"]]
    immature = frame.loc[~frame["mature"]]
    shown = immature.dropna(subset=[metric])
    # the same layers whatever the metric and the period (some of them empty), so that a
    # change updates the figure in place: its line and points, the same month a year
    # before, and the months whose payment window is still open. HoloViews elements, not
    # hvplot: its converter was two thirds of this view's time on every change.
    values = [metric, *hover]
    year_before = frame.dropna(subset=["year_before"])  # within the period shown
    bridge = pd.concat([mature.tail(1), shown]) if len(shown) else shown
    span, first_open = immature_span(frame)
    plot = (
        _curve(mature, values, color=PALETTE[0], line_width=2, label=SERIES_LABEL, **style)
        * _points(mature, values, color=PALETTE[0], **style)
        * _curve(
            year_before,
            ["year_before"],
            color="#6e7781",
            line_dash="dotted",
            line_width=1.5,
            label="same month a year before",
        )
        * span
        * _curve(bridge, [metric], color=IMMATURE_COLOR, line_dash="dashed", line_width=2)
        * _points(shown, values, color=IMMATURE_COLOR, **style)
    )
    note = f"as of {as_of:%d %b %Y}"
    compared = comparison_note(mature if len(mature) else frame, metric)
    if compared:
        note = f"{compared} · {note}"
    if first_open is not None:
        note += f"; shaded from {first_open:%b %Y}: payment window still open, outcome not final"
    pad = pd.Timedelta(days=20)
    xlim = (frame["month"].min() - pad, frame["month"].max() + pad)
    title = f"{METRIC[metric].label} by month · {selection}"
    # the legend under the plot: inside it, it covered the first months' points
    return plot.opts(**_opts(metric, title, **legend_below(1)), xlabel=note, xlim=xlim)


def _curve(frame: pd.DataFrame, values: list[str], label: str = "", **options) -> hv.Curve:
    """A line by month of ``values[0]`` (the others ride along for the hover)."""
    return hv.Curve(frame[["month", *values]], "month", values, label=label).opts(**SIZE, **options)


def _points(frame: pd.DataFrame, values: list[str], **options) -> hv.Scatter:
    """The monthly points of a trend (what its hover reads)."""
    return hv.Scatter(frame[["month", *values]], "month", values).opts(
        **SIZE, size=POINT_SIZE, **options
    )


POINT_SIZE = 5
"""Marker size of a trend's monthly points."""


def segment_trend(
    monthly_by_segment: pd.DataFrame,
    metric: str,
    dim: str,
    categories,
    selection: str,
    include_immature: bool = False,
):
    """The monthly trend split by segment, one fixed colour per segment value.

    With more than :data:`TOP_SEGMENTS` + 1 values (regions), the largest by bills are drawn
    and the rest summed into "Other". Months whose payment window is still open are shaded,
    as on the monthly trend; the legend lists only the values drawn.

    Parameters
    ----------
    monthly_by_segment : DataFrame
        ``CollectionsModel.monthly_by_segment``.
    metric, dim : str
        Metric column and segment dimension.
    categories : sequence
        All values of ``dim`` (for stable colours).
    selection : str
        The filters in words.
    include_immature : bool
        Whether the rates count immature bills (for the "Other" rates).

    Returns
    -------
    holoviews.Overlay or panel.pane.Alert
    """
    frame = top_segments(monthly_by_segment, dim, include_immature)
    frame = frame.dropna(subset=[metric])
    frame = frame.loc[frame["mature"] | frame["counted_bills"].gt(0)]
    if frame.empty:
        return no_data()
    colors = segment_colors(dim, categories)
    legend_title = DIMENSION_LABELS[dim]
    title = f"{METRIC[metric].label} by month and {DIMENSION_LABELS[dim].lower()} · {selection}"
    tooltips = [
        (legend_title, f"@{{{legend_title}}}"),
        ("Month", "@month{%b %Y}"),
        (METRIC[metric].label, f"@{metric}{hover_format(metric)}"),
        ("Bills counted", "@counted_bills{0,0}"),
    ]
    style = dict(line_width=2, hover_tooltips=tooltips, hover_formatters={"@month": "datetime"})
    columns = ["month", metric, "counted_bills"]
    # one line per value, in the order of the values ("Other" last), each in the fixed colour
    # of its value; HoloViews elements, not hvplot: its converter was half this view's time
    # and coloured its lines in its own order (a region in another's colour)
    lines = {
        str(value): hv.Curve(part[columns], "month", columns[1:]).opts(
            color=colors[value], **SIZE, **style
        )
        for value, part in frame.groupby("segment", observed=True, sort=True)
    }
    plot = hv.NdOverlay(lines, kdims=[legend_title], sort=False)
    xlabel = "bill month"
    span, first_open = immature_span(monthly_by_segment)
    plot = plot * span
    if first_open is not None:
        xlabel += f" (shaded from {first_open:%b %Y}: payment window still open)"
    return plot.opts(**_opts(metric, title, xlabel=xlabel, **legend_below(3)))


def top_segments(
    monthly_by_segment: pd.DataFrame, dim: str, include_immature: bool = False
) -> pd.DataFrame:
    """The values of ``dim`` with the most bills, the rest summed into "Other".

    Parameters
    ----------
    monthly_by_segment : DataFrame
        Bill measures per month and value of ``dim``.
    dim : str
    include_immature : bool
        For the rates of "Other" (recomputed from its summed measures).

    Returns
    -------
    DataFrame
        The frame with a ``segment`` label column (categorical, in category order, "Other"
        last); unchanged but for the labels when there are few values.
    """
    frame = with_labels(monthly_by_segment, dim)
    sizes = frame.groupby("segment", observed=True)["bills"].sum().sort_values(ascending=False)
    if len(sizes) <= TOP_SEGMENTS + 1:
        return frame
    keep = set(sizes.index[:TOP_SEGMENTS])
    kept = frame.loc[frame["segment"].isin(keep)]
    rest = frame.loc[~frame["segment"].isin(keep)]
    summed = rest.groupby("month", as_index=False)[list(BILL_MEASURES)].sum()
    other = bill_rates(summed, include_immature).assign(segment=OTHER_LABEL)
    order = [c for c in frame["segment"].cat.categories if c in keep] + [OTHER_LABEL]
    both = pd.concat([kept.assign(segment=kept["segment"].astype(str)), other])
    return both.assign(segment=pd.Categorical(both["segment"], categories=order, ordered=True))


def segment_bars(by_segment: pd.DataFrame, metric: str, dim: str, categories, selection: str):
    """The metric per segment value as bars, with bill and customer counts in the hover.

    Returns
    -------
    holoviews.Bars or panel.pane.Alert
    """
    frame = by_segment.dropna(subset=[metric])
    if frame.empty or frame["bills"].sum() == 0:
        return no_data()
    frame = with_labels(frame, dim)
    frame["segment"] = frame["segment"].astype(str)
    colors = segment_colors(dim, categories)
    tooltips = [
        (DIMENSION_LABELS[dim], "@segment"),
        (METRIC[metric].label, f"@{metric}{hover_format(metric)}"),
        ("Bills counted", "@counted_bills{0,0}"),
        ("Defaults", "@counted_defaults{0,0}"),
        ("Customers", "@customers{0,0}"),
    ]
    title = f"{METRIC[metric].label} by {DIMENSION_LABELS[dim].lower()} · {selection}"
    bars = frame.hvplot.bar(
        **SIZE,
        x="segment",
        y=metric,
        color="segment",
        cmap=colors,
        hover_cols=["counted_bills", "counted_defaults", "customers"],
        legend=False,
    )
    return bars.opts(hover_tooltips=tooltips, xlabel=DIMENSION_LABELS[dim], **_opts(metric, title))


def actions_distribution(actions_by_type: pd.DataFrame, selection: str):
    """Collections actions by type (horizontal bars with counts and shares).

    Returns
    -------
    holoviews.Bars or panel.pane.Alert
    """
    frame = actions_by_type.assign(action=actions_by_type["action"].astype(str))
    total = frame["count"].sum()
    if total == 0:
        return no_data("No collections actions for this selection")
    frame["share"] = frame["count"] / total
    # funnel order top to bottom (a horizontal bar chart draws its first category lowest)
    rank = {action: i for i, action in enumerate(ACTIONS)}
    frame = frame.sort_values(
        "action", key=lambda a: a.map(rank).fillna(len(rank)), ascending=False
    )
    colors = {a: ACTION_COLORS.get(a, PALETTE[7]) for a in frame["action"]}
    bars = frame.hvplot.barh(
        **SIZE,
        x="action",
        y="count",
        color="action",
        cmap=colors,
        hover_cols=["share"],
        legend=False,
    )
    return bars.opts(
        title=wrap_title(f"Collections actions by type · {selection}"),
        xlabel="",
        ylabel="actions",
        xformatter=NumeralTickFormatter(format="0,0"),
        hover_tooltips=[
            ("Action", "@action"),
            ("Actions", "@count{0,0}"),
            ("Share", "@share{0.0%}"),
        ],
        shared_axes=False,
    )


def actions_volume(actions_monthly: pd.DataFrame, selection: str):
    """Monthly volume of collections actions by type (stacked areas on a month axis).

    Returns
    -------
    holoviews.Overlay or panel.pane.Alert
    """
    if actions_monthly["count"].sum() == 0:
        return no_data("No collections actions for this selection")
    frame = actions_monthly.assign(action=actions_monthly["action"].astype(str))
    wide = frame.pivot_table(index="month", columns="action", values="count", aggfunc="sum")
    order = [a for a in ACTIONS if a in wide.columns] + sorted(set(wide.columns) - set(ACTIONS))
    wide = wide[order].fillna(0).reset_index()
    areas = wide.hvplot.area(
        **SIZE,
        x="month",
        y=order,
        stacked=True,
        color=[ACTION_COLORS.get(a, PALETTE[7]) for a in order],
        alpha=0.8,
        hover="vline",
    ).opts(**legend_below(4))
    return areas.opts(
        title=wrap_title(f"Collections actions per month · {selection}"),
        xlabel="month of action",
        ylabel="actions",
        yformatter=NumeralTickFormatter(format="0,0"),
        shared_axes=False,
    )


def figures_table(by_segment: pd.DataFrame, dim: str) -> pd.DataFrame:
    """The aggregated figures per segment value, ready for a table or CSV download.

    Parameters
    ----------
    by_segment : DataFrame
        ``CollectionsModel.by_segment``.
    dim : str
        Its segment dimension.

    Returns
    -------
    DataFrame
        Readable column names; rates in %, money in pounds. Text stays raw: the
        Tabulator widget shows it as text (escaping here would show ``&lt;`` to users).
    """
    frame = with_labels(by_segment, dim)
    return pd.DataFrame(
        {
            DIMENSION_LABELS[dim]: [str(s) for s in frame["segment"]],
            "Customers": frame["customers"].fillna(0).astype(int).to_numpy(),
            "Customers with a default": frame["customers_with_default"]
            .fillna(0)
            .astype(int)
            .to_numpy(),
            "Bills counted": frame["counted_bills"].to_numpy(),
            "Defaults": frame["counted_defaults"].to_numpy(),
            "Default rate %": (frame["default_rate"] * 100).round(2).to_numpy(),
            "Billed £": frame["billed"].round(2).to_numpy(),
            "Cash received £": frame["cash_received"].round(2).to_numpy(),
            "Collection rate %": (frame["collection_rate"] * 100).round(2).to_numpy(),
        }
    )


def figures_tabulator(value: pd.DataFrame, **params) -> pn.widgets.Tabulator:
    """A read-only, paginated table of :func:`figures_table` output (£ and % formatted).

    Parameters
    ----------
    value : DataFrame
        From :func:`figures_table`.
    **params
        Further Tabulator parameters (height, visible, ...).

    Returns
    -------
    panel.widgets.Tabulator
    """
    return pn.widgets.Tabulator(
        value,
        pagination="local",
        page_size=20,
        disabled=True,
        show_index=False,
        formatters=TABLE_FORMATTERS,
        sizing_mode="stretch_width",
        **params,
    )


TABLE_FORMATTERS = {
    "Default rate %": {"type": "money", "symbol": "%", "symbolAfter": True, "precision": 1},
    "Collection rate %": {"type": "money", "symbol": "%", "symbolAfter": True, "precision": 1},
    "Billed £": {"type": "money", "symbol": "£", "thousand": ",", "precision": 2},
    "Cash received £": {"type": "money", "symbol": "£", "thousand": ",", "precision": 2},
}
