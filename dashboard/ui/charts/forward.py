"""Views of the forward-looking figures: expected credit loss (the provision matrix) and the
arrears forecast with its backtest.

Pure functions like :mod:`dashboard.ui.charts.ledger`: a model DataFrame in, a HoloViews
object, a Panel pane or a readable DataFrame out; they never compute a metric.
"""

from __future__ import annotations

import holoviews as hv
import hvplot.pandas  # noqa: F401  (registers .hvplot on DataFrames)
import numpy as np
import pandas as pd
from bokeh.models import NumeralTickFormatter

from dashboard.ui.charts.ledger import bucket_colors, pounds_axis
from dashboard.ui.style import (
    PALETTE,
    SIZE,
    legend_below,
    monthly_line,
    no_data,
    segment_labels,
    wrap_title,
)
from dashboard.vocab import DIMENSION_LABELS

PROVISION_NOTE = (
    "**Expected credit loss — the provision matrix** (IFRS 9 simplified approach). Each "
    "bucket's loss rate is the share of the arrears it held at past month-ends that was "
    "written off within the write-off horizon after them (the customer's write-offs, capped "
    "at what they owed then), pooled over the lookback; where fewer than 30 write-offs back a "
    "bucket, it is the roll-rate chain (the product of the monthly roll rates to the oldest "
    "bucket, taken as lost). ECL = arrears × loss rate × (1 + overlay). Each month-end uses "
    "only what was known at it."
)

FORECAST_NOTE = (
    "**Arrears forecast** — a Markov chain of the past-due buckets: each month customers "
    "stay, roll or cure by the transition matrix pooled over the lookback, and the average "
    "monthly inflow from Current joins; £ = customers × the bucket's average arrears at the "
    "last month-end. The band is the 10th–90th percentile of the forecasts made with each "
    "single month's matrix (for the totals drawn here, the buckets' percentiles added up: "
    "wider than the total's own). The what-if moves the cure rate and the inflow; the dashed line "
    "is the forecast without it. The backtest table made the same forecast at every past "
    "month-end."
)


def provision_table(matrix: pd.DataFrame) -> pd.DataFrame:
    """The provision matrix with readable columns (rates in %, money in £)."""
    return pd.DataFrame(
        {
            "Bucket": matrix["bucket"].astype(str).to_numpy(),
            "Customers": matrix["customers"].to_numpy(),
            "Arrears £": matrix["balance"].round(2).to_numpy(),
            "Loss rate %": (matrix["loss_rate"] * 100).round(1).to_numpy(),
            "With overlay %": (matrix["adjusted_rate"] * 100).round(1).to_numpy(),
            "ECL £": matrix["ecl"].round(2).to_numpy(),
            "Method": matrix["method"].astype(str).to_numpy(),
            "History arrears £": matrix["history_balance"].round(2).to_numpy(),
            "Written off £": matrix["history_written_off"].round(2).to_numpy(),
            "Write-offs": matrix["write_offs"].to_numpy(),
            "Month-ends pooled": matrix["cohorts"].to_numpy(),
            "Monthly roll rate %": (matrix["roll_rate"] * 100).round(1).to_numpy(),
        }
    )


def provision_title(matrix: pd.DataFrame, selection: str) -> str:
    """One line above the matrix: as-at month, totals and parameters."""
    if matrix.empty:
        return "**Provision matrix** — no month-end in this selection."
    month = pd.Timestamp(matrix["month"].iloc[0])
    balance, ecl = matrix["balance"].sum(), matrix["ecl"].sum()
    coverage = f"{ecl / balance:.1%}" if balance > 0 else "–"
    attrs = matrix.attrs
    return (
        f"**Provision at the end of {month:%b %Y}: ECL £{ecl:,.2f} on arrears £{balance:,.2f} "
        f"(coverage {coverage})** · write-off horizon {attrs.get('horizon', 12)} months, "
        f"lookback {attrs.get('lookback', 24)} month-ends, overlay {attrs.get('overlay', 0):+g}% "
        f"· {selection}"
    )


def provision_month_chart(monthly: pd.DataFrame, selection: str):
    """ECL £ beside arrears £ at each month-end.

    Returns
    -------
    holoviews.Overlay or panel.pane.Alert
    """
    if monthly.empty or not (monthly["ecl"] > 0).any():
        return no_data("No expected loss for this selection")
    tooltips = [("Month-end", "@month{%b %Y}"), ("Arrears", "@balance{£0,0}")]
    tooltips += [("ECL", "@ecl{£0,0}"), ("Coverage", "@coverage{0.0%}"), ("Method", "@method")]
    vdims = ["balance", "ecl", "coverage", "method"]
    arrears = hv.Curve(monthly, "month", vdims, label="Arrears £").opts(color=PALETTE[0])
    ecl = hv.Curve(monthly, "month", ["ecl", "balance", "coverage", "method"], label="ECL £")
    return (arrears * ecl.opts(color=PALETTE[3])).opts(
        hv.opts.Curve(
            line_width=2,
            tools=["hover"],
            hover_tooltips=tooltips,
            hover_formatters={"@month": "datetime"},
        ),
        hv.opts.Overlay(
            title=wrap_title(
                f"Expected credit loss £ and arrears £ at each month-end · {selection}"
            ),
            yformatter=pounds_axis(),
            ylabel="£",
            xlabel="month-end (loss rates as known then)",
            ylim=(0, None),
            **legend_below(2),
            responsive=True,
            height=SIZE["height"],
            shared_axes=False,
        ),
    )


def provision_coverage_chart(monthly: pd.DataFrame, selection: str):
    """The coverage (ECL / arrears) at each month-end.

    Returns
    -------
    holoviews.Curve or panel.pane.Alert
    """
    if monthly.empty or not (monthly["ecl"] > 0).any():
        return no_data("No expected loss for this selection")
    return monthly_line(
        monthly,
        "coverage",
        color=PALETTE[3],
        title=f"Coverage: ECL / arrears at each month-end · {selection}",
        yformatter=NumeralTickFormatter(format="0%"),
        ylabel="ECL / arrears",
        tooltips=[
            ("Month-end", "@month{%b %Y}"),
            ("Coverage", "@coverage{0.0%}"),
            ("Method", "@method"),
        ],
        hover_cols=("method",),
    )


def provision_segment_chart(by_segment: pd.DataFrame, dim: str, categories, selection: str):
    """ECL £ per value of ``dim`` at the period's last month-end, coverage in the labels.

    Returns
    -------
    holoviews.Bars or panel.pane.Alert
    """
    if by_segment.empty or by_segment["ecl"].sum() == 0:
        return no_data("No expected loss for this selection")
    label = DIMENSION_LABELS[dim]
    names = dict(zip(categories, segment_labels(dim, categories), strict=True))
    frame = by_segment.assign(
        **{label: by_segment[dim].map(names).astype(str)},
        coverage_text=by_segment["coverage"].map(lambda c: "–" if np.isnan(c) else f"{c:.0%}"),
    )
    bars = frame.hvplot.bar(
        **SIZE,
        x=label,
        y="ecl",
        color=PALETTE[3],
        hover_cols=["balance", "coverage", "customers"],
    )
    return bars.opts(
        title=wrap_title(
            f"Expected credit loss £ by {label.lower()} at the last month-end · {selection}"
        ),
        yformatter=pounds_axis(),
        ylabel="ECL £",
        xlabel=f"{label} (the selection's loss rates on each one's ageing)",
        shared_axes=False,
        hover_tooltips=[
            (label, f"@{{{label}}}"),
            ("ECL", "@ecl{£0,0}"),
            ("Arrears", "@balance{£0,0}"),
            ("Coverage", "@coverage{0.0%}"),
            ("Customers in arrears", "@customers{0,0}"),
        ],
    )


FORECAST_MEASURES = {"arrears": "Arrears £", "customers": "Customers in arrears"}
"""What a forecast chart draws: total arrears £ or customers in arrears."""


def forecast_chart(forecast: pd.DataFrame, selection: str, measure: str = "arrears"):
    """Total arrears £ (or customers in arrears, ``measure``): recent month-ends, the
    forecast with its band, and the forecast without the what-if (dashed).

    Returns
    -------
    holoviews.Overlay or panel.pane.Alert
    """
    if forecast.empty or forecast["customers"].sum() == 0:
        return no_data("Nobody in arrears in this selection")
    totals = forecast.groupby(["month", "kind"], sort=True, observed=True)[
        ["customers", "arrears", "baseline_customers", "baseline_arrears"]
        + [f"{m}_{b}" for m in ("customers", "arrears") for b in ("low", "high")]
    ].sum(min_count=1)
    totals = totals.reset_index()
    return _forecast_measure(totals, measure, FORECAST_MEASURES[measure], selection)


def _forecast_measure(totals: pd.DataFrame, measure: str, what: str, selection: str):
    actual = totals.loc[totals["kind"] == "actual"]
    ahead = totals.loc[totals["kind"] == "forecast"]
    joined = pd.concat([actual.tail(1), ahead])  # the forecast line starts at the origin
    for bound in ("low", "high"):
        joined[f"{measure}_{bound}"] = joined[f"{measure}_{bound}"].fillna(joined[measure])
    money = measure == "arrears"
    value = "{£0,0}" if money else "{0,0}"
    band = hv.Area(
        joined, kdims=["month"], vdims=[f"{measure}_low", f"{measure}_high"], label="10–90% band"
    ).opts(color=PALETTE[0], alpha=0.2, line_alpha=0)
    seen = hv.Curve(actual, "month", measure, label="actual").opts(color="#333333", line_width=2)
    point = hv.Curve(joined, "month", measure, label="forecast").opts(
        color=PALETTE[0], line_width=2.5
    )
    baseline = hv.Curve(
        joined.assign(**{measure: joined[f"baseline_{measure}"]}),
        "month",
        measure,
        label="without the what-if",
    ).opts(color=PALETTE[7], line_dash="dashed", line_width=1.5)
    tooltips = [("Month-end", "@month{%b %Y}"), (what, f"@{measure}{value}")]
    overlay = band * seen * baseline * point
    return overlay.opts(
        hv.opts.Curve(
            tools=["hover"], hover_tooltips=tooltips, hover_formatters={"@month": "datetime"}
        ),
        hv.opts.Overlay(
            title=wrap_title(f"{what}: the last 12 month-ends and the next 6 · {selection}"),
            ylabel=what.lower(),
            xlabel="month-end",
            yformatter=pounds_axis() if money else NumeralTickFormatter(format="0,0"),
            **legend_below(2),
            responsive=True,
            height=SIZE["height"],
            ylim=(0, None),
            shared_axes=False,
        ),
    )


def forecast_bucket_chart(forecast: pd.DataFrame, selection: str):
    """Arrears £ per past-due bucket, actual then forecast, stacked.

    Returns
    -------
    holoviews.Overlay or panel.pane.Alert
    """
    if forecast.empty or forecast["arrears"].sum() == 0:
        return no_data("Nobody in arrears in this selection")
    labels = list(forecast["bucket"].cat.categories)
    wide = forecast.pivot_table(
        index="month", columns="bucket", values="arrears", aggfunc="sum", observed=False
    )[labels[1:]].reset_index()
    origin = forecast.loc[forecast["kind"] == "actual", "month"].max()
    areas = wide.hvplot.area(
        **SIZE,
        x="month",
        y=labels[1:],
        stacked=True,
        color=bucket_colors(labels)[1:],
        alpha=0.85,
        hover="vline",
    ).opts(**legend_below(4))
    marker = hv.VLine(origin).opts(color="#333333", line_dash="dotted", line_width=1.5)
    return (areas * marker).opts(
        title=wrap_title(
            f"Arrears £ by days past due: actual, then forecast after "
            f"{pd.Timestamp(origin):%b %Y} · {selection}"
        ),
        xlabel="month-end (dotted: the last one seen)",
        ylabel="arrears £",
        yformatter=pounds_axis(),
        shared_axes=False,
    )


def backtest_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The backtest per horizon: forecasts compared, mean absolute % errors and how often
    the actual fell within the band (about 80% when the band is right)."""
    return pd.DataFrame(
        {
            "Months ahead": summary["horizon"].to_numpy(),
            "Forecasts compared": summary["origins"].to_numpy(),
            "MAPE arrears %": (summary["arrears_mape"] * 100).round(1).to_numpy(),
            "MAPE customers %": (summary["customers_mape"] * 100).round(1).to_numpy(),
            "Arrears in the 10–90% band %": (summary["arrears_in_band"] * 100).round(0).to_numpy(),
            "Customers in the band %": (summary["customers_in_band"] * 100).round(0).to_numpy(),
        }
    )


def forecast_table(forecast: pd.DataFrame) -> pd.DataFrame:
    """The forecast months per bucket, with the band and the forecast without the what-if."""
    ahead = forecast.loc[forecast["kind"] == "forecast"]
    return pd.DataFrame(
        {
            "Month-end": pd.to_datetime(ahead["month"]).dt.strftime("%b %Y").to_numpy(),
            "Bucket": ahead["bucket"].astype(str).to_numpy(),
            "Customers": ahead["customers"].round(1).to_numpy(),
            "Arrears £": ahead["arrears"].round(2).to_numpy(),
            "Low £": ahead["arrears_low"].round(2).to_numpy(),
            "High £": ahead["arrears_high"].round(2).to_numpy(),
            "Without what-if £": ahead["baseline_arrears"].round(2).to_numpy(),
        }
    )
