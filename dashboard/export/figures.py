"""PNG figures of the dashboard's main charts, drawn with plain matplotlib (no browser).

:func:`figure_frames` returns the exact model outputs each figure is drawn from; neither it
nor :func:`draw_figure` computes a metric. The monthly figures are those of the catalogue's
metrics that name a ``figure`` (:data:`dashboard.catalog.METRICS`); the segment and action
figures, the expected credit loss and the arrears forecast follow, then the ledger figures of
the board pack (:data:`LEDGER_FIGURES`): aged debt, share in arrears, the debt movement, roll
and cure, and reaching 91+ days past due. Months without data (nobody on book, no
denominator) are gaps, never drawn as 0; a selection with no data at all draws a note saying
so instead of empty axes. A figure of another segmentation is drawn from a copy of the model
(:meth:`CollectionsModel.clone`): the model handed in never changes.

Text is drawn as typed: titles, tick labels, bar labels and legends hold data text (region
names, action names, the selection), so no text of a figure is read as mathtext (``$...$``)
or TeX (:func:`draw_literally`); a name like ``$\\frac{$`` neither changes a figure nor
stops an export.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from dashboard.catalog import METRIC, METRICS
from dashboard.compute.partition import SEVERE_DAYS
from dashboard.model import CollectionsModel
from dashboard.query import severe
from dashboard.ui.charts.headline import STEP_LABELS
from dashboard.ui.charts.ledger import AGEING_LEVEL_WORDS, bucket_colors
from dashboard.ui.style import FLOW_COLORS
from dashboard.vocab import ACTIONS, DIMENSION_LABELS, FLAG_DIMENSIONS

SEGMENT_FIGURES = {
    "default_by_income": ("income_band", "natural"),
    "default_by_region": ("region", "value"),
}
"""Segment figure -> (dimension, bar order: natural category order or by value)."""


LEDGER_FIGURES = {
    "aged_debt": "aged_arrears",
    "share_in_arrears": "arrears_monthly",
    "debt_movement": "headline",
    "roll_and_cure": "roll",
    "severe_arrears": "severe_monthly",
}
"""Board-pack ledger figure -> the model output it is drawn from (``debt_movement``: the
``bridge`` of ``model.headline``)."""

FIGURES = (
    *(metric.figure for metric in METRICS if metric.figure),
    *SEGMENT_FIGURES,
    "actions_distribution",
    "actions_monthly",
    "provision_monthly",
    "arrears_forecast",
    *LEDGER_FIGURES,
)
"""Names of the PNG files :func:`export_figures` writes (without ``.png``)."""

_BLUE, _GREY = "#1f77b4", "#9e9e9e"
_ACTION_COLORS = dict(zip(ACTIONS, ("#4c78a8", "#f58518", "#54a24b", "#e45756"), strict=True))


def figure_frames(model: CollectionsModel) -> dict[str, pd.DataFrame]:
    """The model output each figure is drawn from, unchanged.

    Parameters
    ----------
    model : CollectionsModel
        Never changed: the segment figures read copies of it split by ``income_band`` and
        ``region``.

    Returns
    -------
    dict of str to DataFrame
        Figure name (see :data:`FIGURES`) -> a copy of ``model.monthly``,
        ``model.by_segment``, ``model.actions_by_type``, ``model.actions_monthly``,
        ``model.provision_monthly``, ``model.forecast``, ``model.aged_arrears``,
        ``model.arrears_monthly``, ``model.headline["bridge"]``, ``model.roll`` or
        ``model.severe_monthly``.
    """
    frames = {metric.figure: model.monthly.copy() for metric in METRICS if metric.figure}
    for name, (dim, _order) in SEGMENT_FIGURES.items():
        if model.segment_by == dim:
            split = model
        else:  # a copy that computes this one output
            split = model.clone(segment_by=dim, live_outputs=["by_segment"])
        frames[name] = split.by_segment.copy()
    frames["actions_distribution"] = model.actions_by_type.copy()
    frames["actions_monthly"] = model.actions_monthly.copy()
    frames["provision_monthly"] = model.provision_monthly.copy()
    frames["arrears_forecast"] = model.forecast.copy()
    frames["aged_debt"] = model.aged_arrears.copy()
    frames["share_in_arrears"] = model.arrears_monthly.copy()
    frames["debt_movement"] = model.headline["bridge"].copy()
    frames["roll_and_cure"] = model.roll.copy()
    frames["severe_arrears"] = model.severe_monthly.copy()
    return {name: frames[name] for name in FIGURES}


def export_figures(source: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the dashboard's main charts as PNG files (matplotlib, no browser).

    Parameters
    ----------
    source : str or Path
        CSV folder, SQLite file or Parquet folder.
    out_dir : str or Path
        Folder for the PNG files (created if missing).

    Returns
    -------
    list of Path
        The files written, in the order of :data:`FIGURES`: ``monthly_default_rate.png``,
        ``collection_rate_monthly.png``, ``billed_monthly.png``, ``default_by_income.png``,
        ``default_by_region.png``, ``actions_distribution.png``, ``actions_monthly.png``,
        ``provision_monthly.png`` (expected credit loss), ``arrears_forecast.png``, and the
        ledger figures of the board pack: ``aged_debt.png`` (arrears £ per past-due bucket
        at each month-end, bill level), ``share_in_arrears.png`` (customers on book in
        arrears), ``debt_movement.png`` (the bridge from opening to closing balance over
        the period), ``roll_and_cure.png`` (monthly cure and forward roll rates) and
        ``severe_arrears.png`` (the monthly share reaching 91+ days past due).

    Notes
    -----
    Rates count mature bills only (the model's default) and every title says so with the
    as-of date; months whose payment window is still open are shaded and never drawn as
    a rate. The ledger figures end at the last complete month-end on or before the as-of
    date.
    """
    model = CollectionsModel(source=str(source))
    return write_figures(model, out_dir)


def write_figures(model: CollectionsModel, out_dir: str | Path) -> list[Path]:
    """Draw :func:`figure_frames` of a model into PNG files.

    Parameters
    ----------
    model : CollectionsModel
    out_dir : str or Path

    Returns
    -------
    list of Path
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in figure_frames(model).items():
        path = out_dir / f"{name}.png"
        draw_figure(name, frame, model).savefig(
            path, dpi=120, bbox_inches="tight", facecolor="white"
        )
        paths.append(path)
    return paths


def draw_figure(name: str, frame: pd.DataFrame, model: CollectionsModel):
    """Draw one figure from its frame (see :func:`figure_frames`).

    Parameters
    ----------
    name : str
        One of :data:`FIGURES`.
    frame : DataFrame
        The model output the figure shows.
    model : CollectionsModel
        For the as-of date, counting rule, window and selection stated in the titles.

    Returns
    -------
    matplotlib.figure.Figure
        Made without pyplot (no global state, no display needed).
    """
    if name not in _DRAW:
        raise ValueError(f"unknown figure {name!r}; choose one of {', '.join(FIGURES)}")
    return draw_literally(_DRAW[name](frame, _FigureContext(model)))


def draw_literally(figure):
    """Make every text of a figure draw as typed: no mathtext, no TeX.

    Matplotlib reads text between two ``$`` as mathtext (and all text as TeX when the
    ``text.usetex`` setting is on): a region named ``$\\alpha$`` would be drawn as a Greek
    letter, and an invalid one such as ``$\\frac{$`` raises when the figure is saved.
    ``Text.set_parse_math(False)`` and ``set_usetex(False)`` on every text object turn both
    off, so ``get_text()`` is exactly what is drawn.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
        A finished figure: every text it will draw exists (titles, axis labels, bar labels,
        legends). Tick labels are made here, before the setting, for every tick the axes'
        locators give; ticks of category axes (the data's names) never change after that,
        and ticks a later layout may add to a number or date axis carry numbers only.

    Returns
    -------
    matplotlib.figure.Figure
        ``figure``, changed in place.
    """
    from matplotlib.text import Text

    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            axis.get_ticklabels(which="both")  # creates the tick label objects
    for text in figure.findobj(Text):
        text.set_usetex(False)
        text.set_parse_math(False)
    return figure


class _FigureContext:
    """What every figure states: as-of date, counting rule, window, selection."""

    def __init__(self, model: CollectionsModel):
        self.as_of = f"as of {model.as_of_date:%d %b %Y}"
        self.counted = "all bills" if model.include_immature else "mature bills only"
        self.selection = model.describe_selection()
        self.window = (
            f"payment window {model.before} days before to {model.after} days after due, "
            f"tolerance £{model.tolerance:.2f}"
        )
        self.ageing_level = model.ageing_level
        self.min_sample = model.min_sample
        self.bucket_labels = list(model.cube.arrears.bucket_labels)
        self.first_day = model.cube.months[0]
        months = model.headline["movement"]["month"] if model.headline else pd.Series()
        self.movement_span = (
            f"opening balance at the start of {months.min():%b %Y}, closing at the end of "
            f"{months.max():%b %Y} (complete months)"
            if len(months)
            else "no complete month in the period"
        )

    def rate_title(self, title: str) -> str:
        return f"{title} — {self.counted}, {self.as_of}"


def _new_figure(width: float = 10, height: float = 5.0):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.add_subplot()


def _titles(figure, ax, title: str, subtitle: str) -> None:
    figure.suptitle(title, x=0.01, ha="left", fontsize=13, fontweight="bold")
    ax.set_title(subtitle, loc="left", fontsize=9, color="#444444")
    ax.spines[["top", "right"]].set_visible(False)


def _month_axis(ax) -> None:
    import matplotlib.dates as mdates

    ax.xaxis.set_major_locator(mdates.MonthLocator(bymonth=(1, 4, 7, 10)))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %Y"))
    ax.xaxis.set_minor_locator(mdates.MonthLocator())
    ax.tick_params(axis="x", labelrotation=45)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
        label.set_rotation_mode("anchor")
    ax.grid(axis="y", alpha=0.3)


def _month_bars(months: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Left edges and widths (in days) of bars that fill each month."""
    starts = pd.to_datetime(months)
    widths = (starts + pd.offsets.MonthBegin(1) - starts).dt.days.to_numpy() * 0.8
    return starts + pd.Timedelta(days=2), widths


def _percent_axis(axis) -> None:
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    axis.set_major_locator(MaxNLocator(nbins=8, steps=[1, 2, 5, 10]))
    axis.set_major_formatter(PercentFormatter(xmax=1, decimals=None))


def _pounds_axis(axis) -> None:
    from matplotlib.ticker import FuncFormatter

    def pounds(value, _pos):
        if abs(value) >= 1e6:
            return f"£{value / 1e6:,.1f}m"
        if abs(value) >= 1e3:
            return f"£{value / 1e3:,.0f}k"
        return f"£{value:,.0f}"

    axis.set_major_formatter(FuncFormatter(pounds))


def _thousands():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _pos: f"{value:,.0f}")


def _legend_below(figure, ax, ncols: int = 4) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="outside lower center", ncols=ncols, frameon=False)


def _shade_immature(ax, monthly: pd.DataFrame) -> None:
    """Shade the bill months whose payment window is still open."""
    immature = monthly.loc[~monthly["mature"], "month"]
    if immature.empty:
        return
    start = immature.min()
    end = monthly["month"].max() + pd.offsets.MonthBegin(1)
    ax.axvspan(
        start, end, color=_GREY, alpha=0.2, lw=0, label="payment window still open: not final"
    )


def _draw_monthly_rate(monthly: pd.DataFrame, context: _FigureContext, metric: str):
    figure, ax = _new_figure()
    counted = monthly.loc[monthly["counted_bills"].gt(0)]
    mature = counted.loc[counted["mature"]]
    middle = pd.Timedelta(days=14)  # a bill month's point sits mid-month
    ax.plot(
        mature["month"] + middle,
        mature[metric],
        color=_BLUE,
        marker="o",
        ms=3.5,
        lw=1.8,
        label=f"{METRIC[metric].label} (mature bills)",
    )
    immature = counted.loc[~counted["mature"]]
    if len(immature):  # only when immature bills are counted: hollow, dashed, grey
        ax.plot(
            immature["month"] + middle,
            immature[metric],
            color=_GREY,
            marker="o",
            mfc="white",
            ls="--",
            label="not final (window still open)",
        )
    _shade_immature(ax, monthly)
    _month_axis(ax)
    _percent_axis(ax.yaxis)
    values = counted[metric].dropna()
    if len(values):
        low, high = float(values.min()), float(values.max())
        pad = max((high - low) * 0.15, 0.005)
        ax.set_ylim(0 if metric == "default_rate" else low - pad, high + pad)
    ax.set_ylabel(METRIC[metric].label)
    ax.set_xlabel("bill month (month of the bill period end)")
    _legend_below(figure, ax)
    title = context.rate_title(f"{METRIC[metric].label} by bill month")
    _titles(figure, ax, title, f"{context.selection} · {context.window}")
    return figure


def _draw_monthly_amount(monthly: pd.DataFrame, context: _FigureContext, metric: str):
    label = METRIC[metric].label
    figure, ax = _new_figure()
    left, widths = _month_bars(monthly["month"])
    ax.bar(left, monthly[metric], width=widths, align="edge", color=_BLUE, label=label)
    _month_axis(ax)
    _pounds_axis(ax.yaxis)
    ax.set_ylabel(f"{label.removesuffix(' £').lower()} per bill month")
    ax.set_xlabel("bill month (month of the bill period end)")
    title = f"{label} by bill month — every bill, {context.as_of}"
    _titles(figure, ax, title, context.selection)
    return figure


def _segment_labels(dim: str, values) -> list[str]:
    if dim in FLAG_DIMENSIONS:
        return ["Yes" if int(v) == 1 else "No" for v in values]
    return [str(v) for v in values]


def _draw_segment_rate(by_segment: pd.DataFrame, context: _FigureContext, dim: str, order: str):
    frame = by_segment.dropna(subset=["default_rate"]).copy()
    frame["label"] = _segment_labels(dim, frame[dim])
    if order == "value":
        frame = frame.sort_values("default_rate")
    figure, ax = _new_figure(10, 1.6 + 0.5 * max(len(frame), 1))
    bars = ax.barh(frame["label"], frame["default_rate"], color=_BLUE)
    if order != "value":
        ax.invert_yaxis()  # natural order (low to high income) from the top
    labels = [
        f"{rate:.1%}  ({defaults:,} of {bills:,} bills)"
        for rate, defaults, bills in zip(
            frame["default_rate"], frame["counted_defaults"], frame["counted_bills"], strict=True
        )
    ]
    ax.bar_label(bars, labels=labels, padding=4, fontsize=8.5)
    _percent_axis(ax.xaxis)
    ax.set_xlim(0, float(frame["default_rate"].max() if len(frame) else 0.1) * 1.45)
    ax.set_xlabel("default rate")
    ax.set_ylabel(DIMENSION_LABELS[dim])
    ax.grid(axis="x", alpha=0.3)
    title = context.rate_title(f"Default rate by {DIMENSION_LABELS[dim].lower()}")
    _titles(figure, ax, title, f"{context.selection} · {context.window}")
    return figure


def _draw_actions(actions: pd.DataFrame, context: _FigureContext):
    frame = actions.assign(action=actions["action"].astype(str))
    order = [a for a in ACTIONS if a in set(frame["action"])]
    order += sorted(set(frame["action"]) - set(order))
    frame = frame.set_index("action").loc[order].reset_index()
    total = int(frame["count"].sum())
    figure, ax = _new_figure(10, 3.6)
    colors = [_ACTION_COLORS.get(a, _GREY) for a in order]
    bars = ax.barh(frame["action"], frame["count"], color=colors)
    shares = frame["count"] / total if total else frame["count"] * np.nan
    ax.bar_label(
        bars,
        labels=[f"{c:,} ({s:.0%})" for c, s in zip(frame["count"], shares, strict=True)],
        padding=4,
        fontsize=9,
    )
    ax.invert_yaxis()
    ax.set_xlim(0, max(float(frame["count"].max()), 1) * 1.25)
    ax.xaxis.set_major_formatter(_thousands())
    ax.set_xlabel("collections actions")
    ax.grid(axis="x", alpha=0.3)
    title = f"Collections actions by type — {context.as_of}"
    _titles(figure, ax, title, f"{context.selection} · {total:,} actions")
    return figure


def _draw_actions_monthly(actions_monthly: pd.DataFrame, context: _FigureContext):
    frame = actions_monthly.assign(action=actions_monthly["action"].astype(str))
    wide = frame.pivot_table(index="month", columns="action", values="count", aggfunc="sum")
    order = [a for a in ACTIONS if a in wide.columns] + sorted(set(wide.columns) - set(ACTIONS))
    wide = wide[order].fillna(0)
    figure, ax = _new_figure()
    left, widths = _month_bars(pd.Series(wide.index))
    bottom = np.zeros(len(wide))
    for action in order:
        values = wide[action].to_numpy()
        ax.bar(
            left,
            values,
            width=widths,
            align="edge",
            bottom=bottom,
            color=_ACTION_COLORS.get(action, _GREY),
            label=action,
        )
        bottom += values
    _month_axis(ax)
    ax.yaxis.set_major_formatter(_thousands())
    ax.set_ylabel("actions per month")
    ax.set_xlabel("month of the action")
    _legend_below(figure, ax)
    title = f"Collections actions per month by type — {context.as_of}"
    _titles(figure, ax, title, context.selection)
    return figure


def _draw_provision(monthly: pd.DataFrame, context: _FigureContext):
    figure, ax = _new_figure()
    ax.plot(monthly["month"], monthly["balance"], color=_BLUE, lw=1.8, label="arrears £")
    ax.plot(monthly["month"], monthly["ecl"], color="#d62728", lw=1.8, label="ECL £")
    _month_axis(ax)
    _pounds_axis(ax.yaxis)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("£ at the month-end")
    ax.set_xlabel("month-end (loss rates as known then)")
    last = monthly.dropna(subset=["ecl"]).tail(1)
    note = ""
    if len(last):
        row = last.iloc[0]
        note = f" · {row['month']:%b %Y}: ECL £{row['ecl']:,.0f}, coverage {row['coverage']:.1%}"
    _legend_below(figure, ax)
    title = f"Expected credit loss (provision matrix) by month-end — {context.as_of}"
    _titles(figure, ax, title, f"{context.selection}{note}")
    return figure


def _draw_forecast(forecast: pd.DataFrame, context: _FigureContext):
    columns = ["arrears", "arrears_low", "arrears_high", "baseline_arrears"]
    totals = forecast.groupby(["month", "kind"], observed=True)[columns].sum(min_count=1)
    totals = totals.reset_index()
    actual = totals.loc[totals["kind"] == "actual"]
    ahead = pd.concat([actual.tail(1), totals.loc[totals["kind"] == "forecast"]])
    low = ahead["arrears_low"].fillna(ahead["arrears"])
    high = ahead["arrears_high"].fillna(ahead["arrears"])
    figure, ax = _new_figure()
    ax.fill_between(ahead["month"], low, high, color=_BLUE, alpha=0.2, lw=0, label="10–90% band")
    ax.plot(actual["month"], actual["arrears"], color="#333333", lw=1.8, label="actual")
    ax.plot(ahead["month"], ahead["arrears"], color=_BLUE, lw=2, marker="o", ms=3, label="forecast")
    _month_axis(ax)
    _pounds_axis(ax.yaxis)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("arrears £ (past due)")
    ax.set_xlabel("month-end")
    _legend_below(figure, ax)
    title = f"Arrears forecast: a Markov chain of the ageing buckets — {context.as_of}"
    _titles(figure, ax, title, context.selection)
    return figure


def _no_data(ax, message: str = "No data for this selection") -> None:
    """Say there is nothing to draw, in place of empty axes."""
    ax.text(
        0.5,
        0.5,
        f"{message}: widen the filters or the period.",
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=11,
        color="#444444",
    )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.spines[["left", "bottom"]].set_visible(False)


def _rate_lines(ax, frame: pd.DataFrame, rates: dict, min_sample: int) -> None:
    """One line per rate column; a month resting on fewer than ``min_sample`` customers
    (its denominator column) is left out of the line and drawn as a faded point, as in the
    dashboard. Months without a rate (NaN) are gaps.

    ``rates`` maps a rate column to (label, denominator column, colour).
    """
    for column, (label, denominator, color) in rates.items():
        small = frame[denominator] < min_sample
        ax.plot(
            frame["month"],
            frame[column].where(~small),
            color=color,
            lw=1.8,
            marker="o",
            ms=2.5,
            label=label,
        )
        few = frame.loc[small & frame[column].notna()]
        if len(few):
            ax.scatter(
                few["month"],
                few[column],
                color=color,
                alpha=0.35,
                s=18,
                lw=0,
                label=f"{label} (faded: fewer than {min_sample} customers)",
            )


def _rate_axes(ax, months: pd.Series, rates: pd.Series, ylabel: str) -> None:
    """The axes of a monthly rate figure: months across (the data's range), a % axis from 0
    to a little above the highest of ``rates``, and the labels."""
    _month_axis(ax)
    _month_limits(ax, months)
    _percent_axis(ax.yaxis)
    _rate_limits(ax, rates)
    ax.set_ylabel(ylabel)
    ax.set_xlabel("month-end")


def _rate_limits(ax, values: pd.Series) -> None:
    """A % axis from 0 to a little above the highest rate drawn."""
    high = float(values.max()) if values.notna().any() else 0.0
    ax.set_ylim(0, max(high * 1.1, 0.01))


def _draw_aged_debt(aged: pd.DataFrame, context: _FigureContext):
    figure, ax = _new_figure()
    level = context.ageing_level
    buckets = list(aged["bucket"].cat.categories)
    past_due = buckets[1:]  # the Current bucket is not arrears
    wide = aged.pivot_table(
        index="month", columns="bucket", values="arrears", aggfunc="sum", observed=False
    ).reindex(columns=buckets)
    on_book = aged.groupby("month", observed=True)["customers"].sum().reindex(wide.index)
    wide = wide[past_due].where(on_book.gt(0), axis=0)  # nobody on book: a gap, not £0
    if wide.empty or wide.isna().all().all():
        _no_data(ax)
    else:
        left, widths = _month_bars(pd.Series(wide.index))
        bottom = np.zeros(len(wide))
        colors = bucket_colors(buckets)[1:]
        for bucket, color in zip(past_due, colors, strict=True):
            values = wide[bucket].to_numpy(dtype=float)
            ax.bar(
                left,
                values,
                width=widths,
                align="edge",
                bottom=bottom,
                color=color,
                label=f"{bucket} days past due" if bucket[0].isdigit() else str(bucket),
            )
            bottom = bottom + values
        shaded = _shade_run_in(ax, pd.Series(wide.index), context).any()
        _month_axis(ax)
        _month_limits(ax, pd.Series(wide.index))
        _pounds_axis(ax.yaxis)
        ax.set_ylabel("arrears £ at the month-end")
        ax.set_xlabel("month-end")
        entries = len(past_due) + int(shaded)
        _legend_below(figure, ax, ncols=entries if entries <= 4 else -(-entries // 2))
    level_words = f"{level} level: {AGEING_LEVEL_WORDS[level]}"
    title = f"Aged debt: arrears £ by days past due at each month-end — {context.as_of}"
    _titles(figure, ax, title, f"{context.selection} · {level_words}")
    return figure


def _draw_share_in_arrears(monthly: pd.DataFrame, context: _FigureContext):
    figure, ax = _new_figure()
    if monthly.empty or monthly["share_in_arrears"].isna().all():
        _no_data(ax)
    else:
        rates = {"share_in_arrears": ("in arrears / on book", "customers", _BLUE)}
        _rate_lines(ax, monthly, rates, context.min_sample)
        _rate_axes(
            ax, monthly["month"], monthly["share_in_arrears"], "customers in arrears / on book"
        )
        _legend_below(figure, ax)
    last = monthly.dropna(subset=["share_in_arrears"]).tail(1)
    note = ""
    if len(last):
        row = last.iloc[0]
        note = (
            f" · {row['month']:%b %Y}: {row['share_in_arrears']:.1%} "
            f"({row['in_arrears']:,} of {row['customers']:,} customers)"
        )
    title = f"Share of customers on book in arrears at each month-end — {context.as_of}"
    _titles(figure, ax, title, f"{context.selection}{note}")
    return figure


def _signed_pounds(step: str, amount: float) -> str:
    if step in ("opening", "closing"):
        return f"£{amount:,.0f}" if amount >= 0 else f"−£{-amount:,.0f}"
    return f"+£{amount:,.0f}" if amount >= 0 else f"−£{-amount:,.0f}"


def _draw_debt_movement(bridge: pd.DataFrame, context: _FigureContext):
    figure, ax = _new_figure(10, 4.6)
    moved = bridge[["amount", "start", "end"]].to_numpy(dtype=float)
    if bridge.empty or not np.abs(moved).sum():
        _no_data(ax, "No debt movement for this selection")
    else:
        low = bridge[["start", "end"]].min(axis=1).to_numpy(dtype=float)
        high = bridge[["start", "end"]].max(axis=1).to_numpy(dtype=float)
        labels = [STEP_LABELS.get(step, str(step)) for step in bridge["step"]]
        bars = ax.barh(
            labels,
            high - low,
            left=low,
            color=[FLOW_COLORS.get(step, _GREY) for step in bridge["step"]],
            height=0.6,
        )
        span = max(float(high.max()), 0.0) - min(float(low.min()), 0.0) or 1.0
        for bar, step, amount, right in zip(
            bars, bridge["step"], bridge["amount"], high, strict=True
        ):
            ax.text(
                right + span * 0.01,
                bar.get_y() + bar.get_height() / 2,
                _signed_pounds(step, float(amount)),
                va="center",
                ha="left",
                fontsize=9,
            )
        for y in range(len(bridge) - 1):  # connectors: each step starts where the last ended
            level = float(bridge["end"].iloc[y])
            ax.plot([level, level], [y + 0.3, y + 0.7], color="#777777", lw=0.8)
        ax.invert_yaxis()  # opening at the top
        ax.set_xlim(
            min(float(low.min()), 0.0) - span * 0.02, max(float(high.max()), 0.0) + span * 0.22
        )
        ax.axvline(0, color="#333333", lw=0.8)
        _pounds_axis(ax.xaxis)
        ax.set_xlabel("£ (arrears net of credit on account)")
        ax.grid(axis="x", alpha=0.3)
    title = f"Debt movement over the period: opening to closing balance — {context.as_of}"
    subtitle = f"{context.selection} · {context.movement_span}"
    _titles(figure, ax, title, subtitle)
    return figure


def _draw_roll_and_cure(roll: pd.DataFrame, context: _FigureContext):
    figure, ax = _new_figure()
    labels = context.bucket_labels
    rates = {
        "cure_rate": ("Cure: in arrears → Current", "in_arrears_before", "#2ca02c"),
        "roll_current": (f"Roll: {labels[0]} → {labels[1]}", "current_before", "#ff7f0e"),
    }
    if len(labels) > 2:
        rates["roll_first"] = (f"Roll: {labels[1]} → {labels[2]}", "first_before", "#d62728")
    columns = list(rates)
    if roll.empty or roll[columns].isna().all().all():
        _no_data(ax)
    else:
        _rate_lines(ax, roll, rates, context.min_sample)
        _rate_axes(
            ax, roll["month"], roll[columns].max(axis=1), "share of the bucket a month before"
        )
        _legend_below(figure, ax, ncols=2)
    title = f"Cure and forward roll rates by month-end — {context.as_of}"
    subtitle = f"{context.selection} · account level: each customer in their oldest bucket"
    _titles(figure, ax, title, subtitle)
    return figure


def _draw_severe(monthly: pd.DataFrame, context: _FigureContext):
    figure, ax = _new_figure()
    if monthly.empty or monthly["reach_rate"].isna().all():
        _no_data(ax)
    else:
        rates = {"reach_rate": (f"reached {SEVERE_DAYS}+ days / at risk", "at_risk", "#d62728")}
        _rate_lines(ax, monthly, rates, context.min_sample)
        run_in = _shade_run_in(ax, monthly["month"], context)
        _rate_axes(ax, monthly["month"], monthly["reach_rate"], "reached / at risk")
        _off_scale_run_in(ax, monthly, "reach_rate", run_in)
        _legend_below(figure, ax, ncols=2)
    title = f"Customers reaching {SEVERE_DAYS}+ days past due in the month — {context.as_of}"
    subtitle = (
        f"{context.selection} · of those on book and under {SEVERE_DAYS} days past due at "
        "the previous month-end"
    )
    _titles(figure, ax, title, subtitle)
    return figure


def _shade_run_in(ax, months: pd.Series, context: _FigureContext) -> pd.Series:
    """Shade the data's first month-ends, up to the month in which its first day is
    :data:`SEVERE_DAYS` days old: no debt dated within the data can be that old before
    then, and balances carried in from before the data age together from its first day.

    Returns
    -------
    Series of bool
        Whether each of ``months`` is shaded.
    """
    run_in = severe.run_in(months, context.first_day)
    if run_in.any():
        ax.axvspan(
            months[run_in].min() - pd.Timedelta(days=14),
            months[run_in].max() + pd.Timedelta(days=31),
            color=_GREY,
            alpha=0.2,
            lw=0,
            zorder=0,
            label=f"first {SEVERE_DAYS} days of the data: carried-in debt still ageing",
        )
    return run_in


def _off_scale_run_in(ax, frame: pd.DataFrame, column: str, run_in: pd.Series) -> None:
    """Scale the axis to the months after the run-in when a run-in month would flatten
    them (over 1.5 times their highest), and write the value of each month off the scale
    at the top of the axis. The line keeps every value: only the view is cut."""
    after = frame.loc[~run_in, column]
    if after.isna().all():
        return
    top = float(after.max()) * 1.25 or 0.01
    above = frame.loc[run_in & frame[column].gt(top)]
    if above.empty or float(above[column].max()) <= 1.5 * float(after.max()):
        return
    ax.set_ylim(0, top)
    for month, value in zip(above["month"], above[column], strict=True):
        ax.annotate(
            f"{month:%b %Y}: {value:.1%} (off the scale)",
            xy=(month, top),
            xytext=(14, -10),
            textcoords="offset points",
            ha="left",
            va="center",
            fontsize=8.5,
            color="#444444",
            arrowprops={"arrowstyle": "-|>", "color": "#444444", "lw": 0.8},
        )


def _month_limits(ax, months: pd.Series) -> None:
    """The x axis spans the months drawn (each month-end sits at its month's start)."""
    ax.set_xlim(months.min() - pd.Timedelta(days=20), months.max() + pd.Timedelta(days=28))


def _metric_drawer(metric: str) -> Callable:
    if METRIC[metric].is_rate:
        return lambda frame, context: _draw_monthly_rate(frame, context, metric)
    return lambda frame, context: _draw_monthly_amount(frame, context, metric)


def _segment_drawer(dim: str, order: str) -> Callable:
    return lambda frame, context: _draw_segment_rate(frame, context, dim, order)


_DRAW: dict[str, Callable] = {
    **{metric.figure: _metric_drawer(metric.name) for metric in METRICS if metric.figure},
    **{name: _segment_drawer(dim, order) for name, (dim, order) in SEGMENT_FIGURES.items()},
    "actions_distribution": _draw_actions,
    "actions_monthly": _draw_actions_monthly,
    "provision_monthly": _draw_provision,
    "arrears_forecast": _draw_forecast,
    "aged_debt": _draw_aged_debt,
    "share_in_arrears": _draw_share_in_arrears,
    "debt_movement": _draw_debt_movement,
    "roll_and_cure": _draw_roll_and_cure,
    "severe_arrears": _draw_severe,
}
