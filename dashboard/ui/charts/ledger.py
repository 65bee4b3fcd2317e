"""Views of the ledger analytics: aged arrears, roll and cure, cohorts, actions, worklist.

Pure functions like :mod:`dashboard.ui.charts.bills`: a model DataFrame in, a HoloViews object or a
Panel pane out; they never compute metrics. Buckets always use the same colours, from
green (Current) to dark red (oldest), so a chart reads the same under any filter.
"""

from __future__ import annotations

import holoviews as hv
import hvplot.pandas  # noqa: F401  (registers .hvplot on DataFrames)
import numpy as np
import pandas as pd
from bokeh.models import NumeralTickFormatter

from dashboard.compute.partition import CURE_AFTER
from dashboard.query.ledger import readable_entry_cohorts
from dashboard.query.worklist import PRIORITY_FORMULA, QUEUE_RULE
from dashboard.ui.style import (
    ACTION_COLORS,
    MIN_SAMPLE,
    PALETTE,
    SIZE,
    SMALL_SAMPLE_COLOR,
    SMALL_SAMPLE_TEXT,
    blank_missing,
    legend_below,
    monthly_line,
    no_data,
    pounds_formatter,
    segment_colors,
    segment_labels,
    wrap_title,
)
from dashboard.vocab import DIMENSION_LABELS

BUCKET_COLORS = ("#9ccc65", "#ffd54f", "#ffa726", "#f4511e", "#b71c1c", "#6d0f0f", "#3e0606")
"""Current first, then ever older buckets."""

AGEING_MEASURES = {"Arrears £": "arrears", "Customers": "customers"}


def pounds_axis():
    """A new £ tick formatter (£950, £12k, £1.2m). New per chart: a Bokeh model belongs to
    one document (session)."""
    return pounds_formatter()


def bucket_colors(buckets) -> list[str]:
    """One colour per bucket label, green for Current to dark red for the oldest."""
    return [BUCKET_COLORS[min(i, len(BUCKET_COLORS) - 1)] for i in range(len(buckets))]


AGEING_LEVEL_WORDS = {
    "bill": "each unpaid bill in its own bucket",
    "account": "each customer's whole arrears in their oldest bucket",
}


def ageing_chart(
    ageing: pd.DataFrame, measure: str, as_of: pd.Timestamp, selection: str, level="account"
):
    """Arrears £ (or customers) by days-past-due bucket at each month-end, stacked.

    Parameters
    ----------
    ageing : DataFrame
        ``CollectionsModel.ageing``.
    measure : str
        ``"arrears"`` or ``"customers"``.
    as_of : Timestamp
        Date of knowledge (the last month-end is seen on this date).
    selection : str
        The filters in words.
    level : {"account", "bill"}, optional
        How ``ageing`` was aged (said in the title).

    Returns
    -------
    holoviews.Overlay or panel.pane.Alert
    """
    buckets = list(ageing["bucket"].cat.categories)
    shown = buckets[1:] if measure == "arrears" else buckets
    if ageing.empty or ageing.loc[ageing["bucket"].isin(shown), measure].sum() == 0:
        return no_data("No arrears for this selection")
    wide = ageing.pivot_table(
        index="month", columns="bucket", values=measure, aggfunc="sum", observed=False
    )[shown].reset_index()
    colors = bucket_colors(buckets)[len(buckets) - len(shown) :]
    money = measure == "arrears"
    areas = wide.hvplot.area(
        **SIZE,
        x="month",
        y=shown,
        stacked=True,
        color=colors,
        alpha=0.85,
        hover="vline",
    ).opts(**legend_below(4))
    what = "Arrears £" if money else "Customers"
    return areas.opts(
        title=wrap_title(
            f"{what} by days past due at each month-end ({AGEING_LEVEL_WORDS[level]}) · {selection}"
        ),
        xlabel=f"month-end (the last one seen as of {as_of:%d %b %Y})",
        ylabel="arrears £" if money else "customers on book",
        yformatter=pounds_axis() if money else NumeralTickFormatter(format="0,0"),
        shared_axes=False,
    )


ARREARS_HOVER = ("customers", "in_arrears", "arrears")


def arrears_share_chart(monthly: pd.DataFrame, selection: str):
    """Share of customers on book who are in arrears, per month.

    Returns
    -------
    holoviews.Curve or panel.pane.Alert
    """
    if monthly.empty or monthly["customers"].sum() == 0:
        return no_data()
    return monthly_line(
        monthly,
        "share_in_arrears",
        color=PALETTE[3],
        title=f"Share of customers on book who are in arrears · {selection}",
        yformatter=NumeralTickFormatter(format="0.0%"),
        ylabel="in arrears / on book",
        tooltips=[
            ("Month", "@month{%b %Y}"),
            ("In arrears", "@share_in_arrears{0.0%}"),
            ("Customers in arrears", "@in_arrears{0,0}"),
            ("Customers on book", "@customers{0,0}"),
        ],
        hover_cols=ARREARS_HOVER,
    )


def average_arrears_chart(monthly: pd.DataFrame, selection: str):
    """Average arrears per customer in arrears, per month.

    Returns
    -------
    holoviews.Curve or panel.pane.Alert
    """
    if monthly.empty or monthly["customers"].sum() == 0:
        return no_data()
    return monthly_line(
        monthly,
        "average_arrears",
        color=PALETTE[4],
        title=f"Average arrears per customer in arrears · {selection}",
        yformatter=pounds_axis(),
        ylabel="£ per customer in arrears",
        tooltips=[
            ("Month", "@month{%b %Y}"),
            ("Average", "@average_arrears{£0,0.00}"),
            ("Arrears", "@arrears{£0,0}"),
            ("Customers in arrears", "@in_arrears{0,0}"),
        ],
        hover_cols=ARREARS_HOVER,
    )


def arrears_by_segment_chart(by_segment: pd.DataFrame, dim: str, categories, selection: str):
    """Arrears £ per month-end, one line per segment value.

    Returns
    -------
    holoviews.Overlay or panel.pane.Alert
    """
    frame = by_segment.loc[by_segment["customers"] > 0]
    if frame.empty or frame["arrears"].sum() == 0:
        return no_data("No arrears for this selection")
    label = DIMENSION_LABELS[dim]
    names = dict(zip(categories, segment_labels(dim, categories), strict=True))
    frame = frame.assign(**{label: frame[dim].map(names).astype(str)})
    colors = segment_colors(dim, categories)
    present = [c for c in colors if c in set(frame[label])]
    plot = frame.hvplot.line(
        **SIZE,
        x="month",
        y="arrears",
        by=label,
        color=[colors[c] for c in present],
        hover_cols=["share_in_arrears", "in_arrears"],
        line_width=2,
    )
    tooltips = [
        (label, f"@{{{label}}}"),
        ("Month", "@month{%b %Y}"),
        ("Arrears", "@arrears{£0,0}"),
        ("In arrears", "@share_in_arrears{0.0%}"),
    ]
    plot = plot.opts(
        hv.opts.Curve(hover_tooltips=tooltips, hover_formatters={"@month": "datetime"})
    )
    return plot.opts(
        title=wrap_title(f"Arrears £ by {label.lower()} · {selection}"),
        yformatter=pounds_axis(),
        ylabel="arrears £",
        xlabel="month-end",
        shared_axes=False,
        **legend_below(3),
    )


def transition_heatmap(
    transitions: pd.DataFrame, measure: str, selection: str, min_sample: int = MIN_SAMPLE
):
    """The month-on-month bucket transition matrix; each row sums to 100%.

    Parameters
    ----------
    transitions : DataFrame
        ``CollectionsModel.transitions``.
    measure : str
        ``"customers"``, ``"owed"`` (£ owed the month before, bills not yet due included)
        or ``"arrears"`` (£ past due then).
    min_sample : int, optional
        A row of fewer customer-months than this is drawn faded, out of the colour scale.

    Returns
    -------
    holoviews.Overlay or panel.pane.Alert
    """
    share = f"{'customer' if measure == 'customers' else measure}_share"
    if transitions[measure].sum() == 0:
        return no_data("No month-on-month moves for this selection")
    frame = transitions.assign(
        from_bucket=transitions["from_bucket"].astype(str),
        to_bucket=transitions["to_bucket"].astype(str),
        percent=transitions[share].fillna(0) * 100,
    )
    frame["label"] = np.where(frame[measure] > 0, frame["percent"].map("{:.0f}%".format), "")
    frame["row_customers"] = frame.groupby("from_bucket")["customers"].transform("sum")
    small = frame["row_customers"] < min_sample
    frame["percent"] = frame["percent"].where(~small)  # out of the colour scale
    order = list(transitions["from_bucket"].cat.categories)
    heat = hv.HeatMap(
        frame, kdims=["to_bucket", "from_bucket"], vdims=["percent", measure, "row_customers"]
    ).redim.values(to_bucket=order, from_bucket=order[::-1])
    dark = frame["percent"] > 50  # white text on dark cells, black on light ones
    keys = ["to_bucket", "from_bucket"]
    labels = hv.Labels(frame.loc[~dark & ~small], kdims=keys, vdims=["label"]).opts(
        text_color="black"
    )
    faded = hv.Labels(frame.loc[small], kdims=keys, vdims=["label"]).opts(
        text_color=SMALL_SAMPLE_TEXT
    )
    light = hv.Labels(frame.loc[dark], kdims=keys, vdims=["label"])
    what = {"customers": "customers", "owed": "£ owed", "arrears": "£ past due"}[measure]
    money = "{0,0}" if measure == "customers" else "{£0,0}"
    return (heat * labels * faded * light.opts(text_color="white")).opts(
        hv.opts.HeatMap(
            cmap="Blues",
            clim=(0, 100),
            clipping_colors={"NaN": SMALL_SAMPLE_COLOR},
            colorbar=True,
            colorbar_position="bottom",  # on the right it left a phone's grid too narrow
            responsive=True,
            height=360,
            xlabel="bucket at month-end",
            ylabel="bucket at previous month-end",
            title=wrap_title(
                f"Roll and cure: where {what} move in a month (rows = 100%)"
                f"{_faded_note(small.any(), min_sample)} · {selection}"
            ),
            tools=["hover"],
            hover_tooltips=[
                ("From", "@from_bucket"),
                ("To", "@to_bucket"),
                ("Share of row", "@percent{0.0}%"),
                (what.capitalize(), f"@{measure}{money}"),
                ("Customer-months in the row", "@row_customers{0,0}"),
            ],
            shared_axes=False,
        ),
        hv.opts.Labels(text_font_size="11pt"),
    )


def _faded_note(any_small: bool, min_sample: int) -> str:
    """The title's note on faded cells, when there are any."""
    return f" · grey: n < {min_sample}" if any_small else ""


def roll_rate_chart(roll: pd.DataFrame, labels, selection: str, min_sample: int = MIN_SAMPLE):
    """Trends of the cure rate and the forward roll rates.

    Parameters
    ----------
    roll : DataFrame
        ``CollectionsModel.roll``.
    labels : sequence of str
        Bucket labels (Current first), to name the roll rates.
    min_sample : int, optional
        A month's rate of fewer customers than this (its bucket a month before) is not
        joined into the line: it is a faded point.

    Returns
    -------
    holoviews.Overlay or panel.pane.Alert
    """
    if roll.empty or roll[["cure_rate", "roll_current", "roll_first"]].notna().sum().sum() == 0:
        return no_data()
    names = {
        "cure_rate": "Cure: in arrears → Current",
        "roll_current": f"Roll: {labels[0]} → {labels[1]}",
        "roll_first": f"Roll: {labels[1]} → {labels[2]}" if len(labels) > 2 else "Roll",
    }
    denominators = {
        "cure_rate": "in_arrears_before",
        "roll_current": "current_before",
        "roll_first": "first_before",
    }
    parts = [
        pd.DataFrame(
            {
                "month": roll["month"],
                "rate": label,
                "value": roll[key],
                "customers": roll[denominators[key]],
            }
        )
        for key, label in names.items()
    ]
    long = pd.concat(parts, ignore_index=True)
    small = long["customers"] < min_sample
    colors = dict(zip(names.values(), [PALETTE[2], PALETTE[1], PALETTE[3]], strict=True))
    hover = [
        ("Rate", "@rate"),
        ("Month", "@month{%b %Y}"),
        ("", "@value{0.0%}"),
        ("Of customers", "@customers{0,0}"),
    ]
    plot = long.assign(value=long["value"].where(~small)).hvplot.line(
        **SIZE,
        x="month",
        y="value",
        by="rate",
        color=list(colors.values()),
        line_width=2,
        hover_cols=["customers"],
    )
    plot = plot.opts(hv.opts.Curve(hover_tooltips=hover, hover_formatters={"@month": "datetime"}))
    few = long.loc[small & long["value"].notna()]
    for rate, points in few.groupby("rate", sort=False):
        plot = plot * points.hvplot.scatter(
            x="month",
            y="value",
            color=colors[rate],
            alpha=0.35,
            size=40,
            hover_cols=["rate", "customers"],
            label=f"{rate} (n < {min_sample})",
        ).opts(hover_tooltips=hover, hover_formatters={"@month": "datetime"})
    return plot.opts(
        title=wrap_title(f"Cure and forward roll rates by month · {selection}"),
        yformatter=NumeralTickFormatter(format="0%"),
        ylim=(0, None),
        ylabel="share of bucket",
        xlabel="month-end",
        shared_axes=False,
        **legend_below(1),  # long entries: two or three columns ran past a phone's edge
    )


def vintage_chart(
    vintage: pd.DataFrame, measure: str, selection: str, min_sample: int = MIN_SAMPLE
):
    """Vintage heatmap: the back book's row, then one per quarter of new customers' first
    bill; one column per month on book.

    Parameters
    ----------
    vintage : DataFrame
        ``CollectionsModel.vintage``.
    measure : str
        ``"default_rate"`` (cumulative) or ``"arrears_share"``.
    min_sample : int, optional
        A cohort of fewer customers than this is drawn grey, out of the colour scale.

    Returns
    -------
    holoviews.HeatMap or panel.pane.Alert
    """
    frame = vintage.dropna(subset=[measure])
    if frame.empty:
        return no_data()
    sizes = frame.groupby("cohort", sort=False)["customers"].max()  # back book first
    frame = frame.assign(
        percent=(frame[measure] * 100).where(frame["customers"] >= min_sample),
        share=frame[measure] * 100,
        row=frame["cohort"].map(lambda c: f"{c} ({sizes[c]:,})"),
    )
    title = (
        "Cumulative default rate by months on book"
        if measure == "default_rate"
        else "Share in arrears by months on book"
    )
    rows = [f"{c} ({sizes[c]:,})" for c in sizes.index]
    heat = hv.HeatMap(
        frame, kdims=["months_on_book", "row"], vdims=["percent", "customers", "share"]
    )
    small = bool((frame["customers"] < min_sample).any())
    return heat.redim.values(row=rows).opts(
        cmap="Reds",
        clipping_colors={"NaN": SMALL_SAMPLE_COLOR},
        colorbar=True,
        colorbar_position="bottom",  # on the right it left a phone's grid too narrow
        responsive=True,
        height=max(260, 40 + 22 * len(rows)),
        xlabel="months on book",
        ylabel="cohort (customers)",
        title=wrap_title(
            f"{title}: back book, then new customers by quarter of first bill"
            f"{_faded_note(small, min_sample)} · {selection}"
        ),
        tools=["hover"],
        hover_tooltips=[
            ("Cohort", "@row"),
            ("Months on book", "@months_on_book"),
            ("Share", "@share{0.0}%"),
            ("Customers", "@customers{0,0}"),
        ],
        invert_yaxis=True,
        shared_axes=False,
    )


def _entry_label(months: pd.Series, period: str) -> pd.Series:
    """How a cohort's period of entry is written: ``2024-07``, ``2024 Q3`` or ``2024``."""
    years = months.dt.year.astype(str)
    if period == "quarter":
        return years + " Q" + months.dt.quarter.astype(str)
    return years if period == "year" else months.dt.strftime("%Y-%m")


def entry_cohort_heatmap(entries: pd.DataFrame, selection: str, min_sample: int = MIN_SAMPLE):
    """Cure rates of arrears-entry cohorts: period of entry x months after entry; a cell of
    fewer customers observed than ``min_sample`` is grey, out of the colour scale.

    The cohorts are months of entry where most months have ``min_sample`` customers
    entering, else quarters, else years (:func:`dashboard.query.ledger.readable_entry_cohorts`): a
    small book's monthly cohorts would leave the whole grid grey.

    Returns
    -------
    holoviews.Overlay or panel.pane.Alert
    """
    period, pooled = readable_entry_cohorts(entries, min_sample)
    frame = pooled.loc[pooled["entered"] > 0]
    if frame.empty:
        return no_data("Nobody entered serious arrears in this selection")
    rows = []
    for h in CURE_AFTER:
        part = frame[["month", "entered", f"cured_after_{h}", f"observed_{h}"]].copy()
        part.columns = ["month", "entered", "cured", "observed"]
        part["after"] = f"{h} month" + ("s" if h > 1 else "")
        rows.append(part)
    long = pd.concat(rows, ignore_index=True).dropna(subset=["cured"])
    if long.empty:
        return no_data("Entry cohorts too recent to see cures")
    long["share"] = long["cured"] * 100
    small = long["observed"] < min_sample
    long["percent"] = long["share"].where(~small)
    long["entry"] = _entry_label(long["month"], period)
    order = [f"{h} month" + ("s" if h > 1 else "") for h in CURE_AFTER]
    heat = hv.HeatMap(
        long, kdims=["after", "entry"], vdims=["percent", "entered", "observed", "share"]
    )
    return heat.redim.values(after=order).opts(
        cmap="Greens",
        clim=(0, 100),
        clipping_colors={"NaN": SMALL_SAMPLE_COLOR},
        colorbar=True,
        colorbar_position="bottom",  # on the right it left a phone's grid too narrow
        responsive=True,
        height=max(360, 14 * long["entry"].nunique()),
        xlabel="time after first reaching serious arrears",
        ylabel=f"{period} of entry",
        title=wrap_title(
            f"Arrears-entry cohorts by {period} of entry: share Current again"
            f"{_faded_note(small.any(), min_sample)} · {selection}"
        ),
        tools=["hover"],
        hover_tooltips=[
            ("Entered", "@entry"),
            ("After", "@after"),
            ("Cured", "@share{0.0}%"),
            ("Customers entering", "@entered{0,0}"),
            ("Observed that long", "@observed{0,0}"),
        ],
        invert_yaxis=True,
        shared_axes=False,
    )


EFFECT_RATES = {
    "paid_14_rate": "Paid ≥ min(£10, arrears) in 14 days",
    "paid_30_rate": "Paid ≥ min(£10, arrears) in 30 days",
    "cleared_60_rate": "Cleared arrears in 60 days",
}


EFFECTIVENESS_NOTE = (
    "**What happened after each action**, by vulnerability: actions on customers in arrears "
    "that day, whose 14, 30 and 60 days are over."
)


def effectiveness_chart(
    effect: pd.DataFrame, dim: str, categories, selection: str, rate: str = "paid_14_rate"
):
    """One outcome rate (``rate``, a key of :data:`EFFECT_RATES`) per action type, one bar
    per value of ``dim`` (e.g. vulnerable).

    Returns
    -------
    holoviews.Bars or panel.pane.Alert
    """
    if effect["in_arrears"].sum() == 0:
        return no_data("No actions on customers in arrears for this selection")
    label = DIMENSION_LABELS[dim]
    names = dict(zip(categories, segment_labels(dim, categories), strict=True))
    frame = effect.assign(
        action=effect["action"].astype(str), **{label: effect[dim].map(names).astype(str)}
    )
    frame = frame.loc[frame["in_arrears"] > 0]
    colors = segment_colors(dim, categories)
    present = [c for c in colors if c in set(frame[label])]
    bars = frame.hvplot.bar(
        x="action",
        y=rate,
        by=label,
        color=[colors[c] for c in present],
        responsive=True,
        height=260,
        hover_cols=["in_arrears"],
    )
    return bars.opts(
        title=wrap_title(f"{EFFECT_RATES[rate]} · {selection}"),
        yformatter=NumeralTickFormatter(format="0%"),
        ylabel="share of actions",
        xlabel=f"action · {label.lower()}",
        shared_axes=False,
        **legend_below(len(present)),
    )


def effectiveness_table(effect: pd.DataFrame, dim: str) -> pd.DataFrame:
    """Readable outcome table: one row per action type and value of ``dim``."""
    names = dict(
        zip(
            effect[dim].cat.categories,
            segment_labels(dim, effect[dim].cat.categories),
            strict=True,
        )
    )
    return pd.DataFrame(
        {
            "Action": effect["action"].astype(str).to_numpy(),
            DIMENSION_LABELS[dim]: effect[dim].map(names).astype(str).to_numpy(),
            "Actions": effect["actions"].to_numpy(),
            "In arrears": effect["in_arrears"].to_numpy(),
            **{
                f"{title} %": (effect[rate] * 100).round(1).to_numpy()
                for rate, title in EFFECT_RATES.items()
            },
        }
    )


COMPARISONS = {
    "randomised holdout": "randomised holdout",
    "matched": "matched: same bucket and arrears band, no action that month",
    "none": "none",
}
"""How the uplift table names each comparison group."""

OUTCOMES = {
    "randomised holdout": "paid within 30 days of the action",
    "matched": "paid by 30 days after the action's month",
    "none": "",
}
"""The outcome each comparison measures (paid at least min(£10, arrears))."""


def uplift_table(uplift: pd.DataFrame) -> pd.DataFrame:
    """Readable uplift table: each action type's payment rate beside its comparison group
    (randomised holdout, or matched), the difference in points and its 95% interval ("no
    fair comparison" when the data holds none)."""

    def points(column: str) -> np.ndarray:
        return (uplift[column] * 100).round(1).to_numpy()

    fair = uplift["comparison"] != "none"
    interval = [
        f"{low:+.1f} to {high:+.1f}" if ok and pd.notna(low) else "no fair comparison"
        for ok, low, high in zip(fair, points("uplift_low"), points("uplift_high"), strict=True)
    ]
    return pd.DataFrame(
        {
            "Action": uplift["action"].astype(str).to_numpy(),
            "Comparison group": uplift["comparison"].map(COMPARISONS).to_numpy(),
            "Outcome": uplift["comparison"].map(OUTCOMES).to_numpy(),
            "Customers": uplift["customers"].to_numpy(),
            "Paid %": points("paid_30_rate"),
            "Comparison customers": uplift["comparison_customers"].to_numpy(),
            "Comparison paid %": points("comparison_rate"),
            "Uplift (points)": points("uplift"),
            "95% interval (points)": interval,
        }
    )


def funnel_chart(funnel: pd.DataFrame, selection: str):
    """Customers reaching each collections stage, with conversion from the stage before.

    Returns
    -------
    holoviews.Bars or panel.pane.Alert
    """
    if funnel.empty or funnel["customers"].sum() == 0:
        return no_data("No collections actions for this selection")
    conversion = funnel["share_of_previous"].map(lambda s: "–" if np.isnan(s) else f"{s:.0%}")
    frame = funnel.assign(
        step=[
            f"{stage} · {count:,}" + ("" if i == 0 else f" ({share} of previous)")
            for i, (stage, count, share) in enumerate(
                zip(funnel["stage"], funnel["customers"], conversion, strict=True)
            )
        ]
    ).iloc[::-1]  # a horizontal bar chart draws its first category lowest
    colors = {
        step: ACTION_COLORS.get(stage, PALETTE[7])
        for step, stage in zip(frame["step"], frame["stage"], strict=True)
    }
    bars = frame.hvplot.barh(
        **SIZE,
        x="step",
        y="customers",
        color="step",
        cmap=colors,
        legend=False,
        hover_cols=["stage", "share_of_previous", "share_of_first"],
    )
    return bars.opts(
        title=wrap_title(
            f"Collections funnel: customers reaching each stage in the period · {selection}"
        ),
        xlabel="",
        ylabel="customers",
        xformatter=NumeralTickFormatter(format="0,0"),
        hover_tooltips=[
            ("Stage", "@stage"),
            ("Customers", "@customers{0,0}"),
            ("Of previous stage", "@share_of_previous{0.0%}"),
            ("Of first stage", "@share_of_first{0.0%}"),
        ],
        shared_axes=False,
    )


WORKLIST_COLUMNS = {
    "customer_id": "Customer",
    "priority": "Priority",
    "queue": "Queue",
    "roll_risk": "Roll risk %",
    "arrears": "Arrears £",
    "days_past_due": "Days past due",
    "bucket": "Bucket",
    "last_payment_date": "Last payment",
    "last_payment": "Last payment £",
    "last_action": "Last action",
    "last_action_date": "Last action date",
    "arrangement": "Arrangement",
    "vulnerable": "Vulnerable",
    "region": "Region",
    "tariff": "Tariff",
    "income_band": "Income band",
}


def worklist_table(worklist: pd.DataFrame) -> pd.DataFrame:
    """The worklist with readable columns (dates as text, flags as Yes/No)."""
    frame = worklist[list(WORKLIST_COLUMNS)].rename(columns=WORKLIST_COLUMNS)
    for column in ("Last payment", "Last action date"):
        frame[column] = pd.to_datetime(frame[column]).dt.strftime("%Y-%m-%d").fillna("")
    frame["Last payment"] = frame["Last payment"].replace("", "never")
    frame["Last payment £"] = blank_missing(frame["Last payment £"])  # never paid
    frame["Roll risk %"] = blank_missing((frame["Roll risk %"] * 100).round(1))  # not scored
    for column in ("Queue", "Bucket", "Last action", "Arrangement", "Region", "Tariff"):
        frame[column] = frame[column].astype(str).replace("nan", "")
    frame["Income band"] = frame["Income band"].astype(str)
    frame["Vulnerable"] = np.where(worklist["vulnerable"], "Yes", "No")
    return frame


def hidden_worklist_columns(shown: list[str], order: str = "priority") -> list[str]:
    """The worklist table's columns to hide when ``shown`` (keys of
    :data:`dashboard.query.worklist.OPTIONAL_COLUMNS`) are chosen; the customer id always
    shows, and so does the column of any order but the default (``order``: ranked by roll
    risk, the roll risk shows)."""
    kept = {"customer_id", *shown} | ({order} - {"priority"})
    return [label for key, label in WORKLIST_COLUMNS.items() if key not in kept]


def worklist_note() -> str:
    """The priority formula and queue rule, as shown above the worklist."""
    return f"**Priority:** {PRIORITY_FORMULA}.  \n**Queue:** {QUEUE_RULE}."


def tariff_table(tariffs: pd.DataFrame) -> pd.DataFrame:
    """Readable per-tariff figures (rates in %, money in £), labelled by the bucket edges
    in use (``tariffs.attrs``: :func:`dashboard.query.ledger.segment_summary`)."""
    serious = tariffs.attrs.get("serious_label", "31+ days")
    first = tariffs.attrs.get("first_bucket", "1–30")
    percent = {
        "share_in_arrears": "In arrears %",
        "share_serious": f"{serious} %",
        "cure_rate": "Cure rate %",
        "roll_current": f"Roll to {first} %",
        "reminder_paid_30_rate": "Paid ≤30 d after reminder %",
    }
    frame = pd.DataFrame(
        {
            "Tariff": tariffs["tariff"].astype(str).to_numpy(),
            "Customers": tariffs["customers"].to_numpy(),
            "Arrears £": tariffs["arrears"].round(2).to_numpy(),
            "Average arrears £": tariffs["average_arrears"].round(2).to_numpy(),
        }
    )
    for column, label in percent.items():
        frame[label] = (tariffs[column] * 100).round(1).to_numpy()
    return frame
