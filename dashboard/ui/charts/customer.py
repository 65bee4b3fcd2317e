"""Views of one customer (the customer view): who they are, their balance and days past due
day by day with their payments and actions marked, and every event in a table.

Pure functions like the other chart modules: a :class:`dashboard.cube.timeline.Timeline`
in, a HoloViews object, a Markdown text or a DataFrame out.
"""

from __future__ import annotations

import holoviews as hv
import hvplot.pandas  # noqa: F401  (registers .hvplot on DataFrames)
import pandas as pd
import panel as pn

from dashboard.cube.timeline import Timeline
from dashboard.ui.charts.ledger import bucket_colors, pounds_axis
from dashboard.ui.style import (
    ACTION_COLORS,
    blank_missing,
    legend_below,
    markdown_text,
    wrap_title,
)
from dashboard.vocab import DIMENSION_LABELS

PAYMENT_COLOR = "#2166ac"
"""Payments: the cool colour of money coming in."""
BALANCE_COLOR = "#444444"
WIDTH = {"responsive": True}


def customer_summary(view: dict) -> str:
    """The customer's details and position today, as Markdown (or why there is none).

    Parameters
    ----------
    view : dict
        ``CollectionsModel.customer_view``.

    Returns
    -------
    str
    """
    timeline: Timeline | None = (view or {}).get("timeline")
    if timeline is None:
        return markdown_text((view or {}).get("message", ""))
    today = timeline.today
    details = " · ".join(
        f"{DIMENSION_LABELS.get(k, k)}: {_flag(v) if k in FLAGS else markdown_text(str(v))}"
        for k, v in timeline.details.items()
    )
    owed = (
        f"owes **£{today['arrears']:,.2f}**, {int(today['days_past_due']):,} days past due "
        f"(bucket {today['bucket']})"
        if today["arrears"] > 0
        else (
            f"in credit **£{-today['balance']:,.2f}**" if today["balance"] < 0 else "owes nothing"
        )
    )
    arrangements = timeline.arrangements
    latest = (
        f"; last arrangement agreed {arrangements['agreed'].iloc[-1]:%d %b %Y}: "
        f"**{arrangements['state'].iloc[-1]}**"
        if len(arrangements)
        else ""
    )
    return (
        f"**Customer {markdown_text(timeline.customer_id)}** on "
        f"{timeline.as_of:%d %b %Y}: {owed}{latest}.  \n{details}"
    )


FLAGS = ("has_meter", "is_vulnerable", "prefers_direct_debit")


def _flag(value) -> str:
    return "yes" if int(value) == 1 else "no"


def balance_chart(view: dict):
    """The balance (£) by day with payments and actions marked.

    Parameters
    ----------
    view : dict
        ``CollectionsModel.customer_view``.

    Returns
    -------
    holoviews.Overlay or panel.pane.Markdown
        An empty note when no customer is shown (the summary above says why).
    """
    timeline: Timeline | None = (view or {}).get("timeline")
    if timeline is None:  # the note above says why
        return pn.pane.Markdown("", sizing_mode="stretch_width")
    daily, events = timeline.daily, timeline.events
    title = f"Customer {timeline.customer_id}: balance owed by day (£; below 0 = in credit)"
    balance = daily.hvplot.step(
        x="date",
        y="balance",
        where="post",
        color=BALANCE_COLOR,
        height=290,
        xlabel="",
        ylabel="Balance £",
        title=wrap_title(title),
        hover_cols=["arrears", "days_past_due"],
        **WIDTH,
    ).opts(yformatter=pounds_axis(), show_grid=True)
    layers = [balance, hv.HLine(0).opts(color="#999999", line_width=1)]
    payments = events.loc[events["event"] == "Payment"]
    if len(payments):
        layers.append(
            payments.assign(paid=-payments["amount"]).hvplot.scatter(
                x="date",
                y="balance_after",
                color=PAYMENT_COLOR,
                marker="triangle",
                size=60,
                hover_cols=["paid", "detail"],
                label="Payment",
                **WIDTH,
            )
        )
    actions = events.loc[events["event"] == "Action"]
    for action, rows in actions.groupby("detail", sort=False):
        layers.append(
            rows.hvplot.scatter(
                x="date",
                y="balance_after",
                color=ACTION_COLORS.get(action, "#7b5ea7"),
                marker="diamond",
                size=70,
                hover_cols=["detail"],
                label=str(action),
                **WIDTH,
            )
        )
    return hv.Overlay(layers).opts(**legend_below(4), responsive=True, height=290)


def days_past_due_chart(view: dict):
    """The days past due by day, one colour per bucket (under the balance, same dates).

    Parameters
    ----------
    view : dict
        ``CollectionsModel.customer_view``.

    Returns
    -------
    holoviews.NdOverlay or panel.pane.Markdown
        An empty note when no customer is shown.
    """
    timeline: Timeline | None = (view or {}).get("timeline")
    if timeline is None:
        return pn.pane.Markdown("", sizing_mode="stretch_width")
    daily = timeline.daily
    labels = list(daily["bucket"].cat.categories)
    colors = dict(zip(labels, bucket_colors(labels), strict=True))
    frame = daily.assign(bucket=daily["bucket"].astype(str))
    return frame.hvplot.scatter(
        x="date",
        y="days_past_due",
        by="bucket",
        color=[colors[b] for b in labels if b in set(frame["bucket"])],
        size=4,
        height=220,
        xlabel="",
        ylabel="Days past due",
        title=wrap_title(
            f"Customer {timeline.customer_id}: days past due by day (the oldest unpaid "
            "bill's age), by bucket"
        ),
        **WIDTH,
    ).opts(show_grid=True, ylim=(0, _days_axis_top(daily)), **legend_below(6))


def _days_axis_top(daily: pd.DataFrame) -> int:
    """The days axis's top: the customer's most days past due and a tenth, at least 30
    (a customer never behind showed an axis of 0 to 1 in steps of 0.2 days)."""
    most = int(daily["days_past_due"].max()) if len(daily) else 0
    return max(30, most + most // 10 + 1)


EVENT_COLUMNS = {
    "date": "Date",
    "event": "Event",
    "detail": "Detail",
    "amount": "Amount £",
    "balance_after": "Balance after £",
}


def events_table(view: dict) -> pd.DataFrame:
    """Every event of the customer, newest first, for the table under the chart.

    Parameters
    ----------
    view : dict
        ``CollectionsModel.customer_view``.

    Returns
    -------
    DataFrame
        Date (text), event, detail, amount £ (+ adds to the balance), balance after £.
    """
    timeline: Timeline | None = (view or {}).get("timeline")
    if timeline is None:
        return pd.DataFrame(columns=list(EVENT_COLUMNS.values()))
    frame = timeline.events[list(EVENT_COLUMNS)].iloc[::-1].rename(columns=EVENT_COLUMNS)
    frame["Date"] = frame["Date"].dt.strftime("%Y-%m-%d")
    frame["Amount £"] = blank_missing(frame["Amount £"])  # an action moves no money
    return frame.reset_index(drop=True)
