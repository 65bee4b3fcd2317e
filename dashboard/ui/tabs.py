"""The catalogue of tabs: every chart and table of the dashboard declared once.

A :class:`Tab` is a name and its parts: :class:`Chart` (a view function of model outputs),
:class:`Table` (a frame of model outputs shown as a table, with an optional CSV download),
:class:`Control` (a model parameter switched in the tab) and :class:`Note` (text). The served
app (:class:`dashboard.ui.app.Dashboard`) builds its tabs from :data:`TABS`, and learns from
each part which model outputs a tab shows; the static export
(:mod:`dashboard.export.html`) draws every chart and table of :data:`TABS` too. A new chart
or tab is one entry here plus its view function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from dashboard.model import CollectionsModel
from dashboard.ui.charts import bills as bill_views
from dashboard.ui.charts import customer as customer_views
from dashboard.ui.charts import forward as forward_views
from dashboard.ui.charts import headline as headline_views
from dashboard.ui.charts import ledger as ledger_views
from dashboard.ui.charts import severe as severe_views
from dashboard.ui.charts import warning as warning_views
from dashboard.ui.style import NO_DATA, markdown_text


@dataclass(frozen=True)
class Chart:
    """A chart drawn by a view function from model outputs.

    Attributes
    ----------
    name : str
        Unique name (export sections, tests).
    outputs : tuple of str
        Model outputs it draws: it is redrawn when one changes.
    draw : callable
        ``draw(model)`` -> a HoloViews object or a Panel pane.
    watches : tuple of str
        Model inputs that change the drawing without changing an output (the metric).
    choice : str
        A model parameter that chooses what the chart draws (one of several measures of
        the same shape), switched by a :class:`Control` in its tab and watched like
        ``watches``: one figure with a choice instead of one figure per measure, so that
        opening the tab draws fewer figures. A static export, which has no such control,
        draws the chart once per value. "" for none.
    """

    name: str
    outputs: tuple[str, ...]
    draw: Callable[[CollectionsModel], object]
    watches: tuple[str, ...] = ()
    choice: str = ""

    @property
    def inputs(self) -> tuple[str, ...]:
        """Every model parameter the chart is drawn from: redrawn when one changes."""
        return (*self.outputs, *self.watches, *((self.choice,) if self.choice else ()))


@dataclass(frozen=True)
class Table:
    """A table of model outputs, refreshed while its tab is open.

    Attributes
    ----------
    name : str
    outputs : tuple of str
        Model outputs it shows.
    frame : callable
        ``frame(model)`` -> the DataFrame shown (readable columns; £ and % formatted by name).
    title : str
        Markdown shown above it ("" for none).
    download : str or None
        File name of its CSV download (None: no download button).
    download_label : str
        The download button's text.
    customer_level : bool
        Whether rows are customers (personal data: a static export leaves it out unless
        asked).
    options : dict
        Further Tabulator options (pagination, height).
    hidden : callable or None
        ``hidden(model)`` -> the columns to hide (a column chooser); None: all shown.
    hidden_inputs : tuple of str
        Model inputs ``hidden`` reads (the table's columns change when they do).
    opens : tuple of (str, str, str) or None
        ``(column, param, tab)``: clicking a row sets the model parameter ``param`` to the
        row's ``column`` and opens the tab ``tab`` (a worklist row opens the customer).
    """

    name: str
    outputs: tuple[str, ...]
    frame: Callable[[CollectionsModel], pd.DataFrame]
    title: str = ""
    download: str | None = None
    download_label: str = "Download CSV"
    customer_level: bool = False
    options: dict = field(default_factory=dict)
    hidden: Callable[[CollectionsModel], list[str]] | None = None
    hidden_inputs: tuple[str, ...] = ()
    opens: tuple[str, str, str] | None = None


@dataclass(frozen=True)
class Control:
    """A model parameter switched from inside a tab.

    Attributes
    ----------
    param : str
        The model parameter.
    label : str
    widget : {"radio", "select", "choice", "text"}
        Radio buttons, a drop-down, a multiple choice or a text entry.
    counts : str
        A dict output giving a count per option, shown on the buttons ("Early (41)");
        "" for none.
    """

    param: str
    label: str = ""
    widget: str = "radio"
    counts: str = ""

    @property
    def outputs(self) -> tuple[str, ...]:
        """The model output its buttons show (their counts), if any: kept live while its
        tab is open."""
        return (self.counts,) if self.counts else ()


@dataclass(frozen=True)
class Note:
    """Text shown in a tab: fixed, or ``text(model)`` redrawn when ``outputs`` change."""

    text: str | Callable[[CollectionsModel], str]
    outputs: tuple[str, ...] = ()


Part = Chart | Table | Control | Note


@dataclass(frozen=True)
class Tab:
    """A tab of the dashboard: a name and its parts, top to bottom.

    Attributes
    ----------
    name : str
    parts : tuple of Part
    served_only : bool
        Whether the tab needs a live session (the customer view reads one customer's rows
        on demand): a static export leaves it out.
    """

    name: str
    parts: tuple[Part, ...]
    served_only: bool = False

    @property
    def outputs(self) -> set[str]:
        """The model outputs its charts, tables and notes show."""
        return {name for part in self.parts for name in getattr(part, "outputs", ())}

    def charts(self) -> list[Chart]:
        """Its charts, in order."""
        return [part for part in self.parts if isinstance(part, Chart)]

    def tables(self) -> list[Table]:
        """Its tables, in order."""
        return [part for part in self.parts if isinstance(part, Table)]


# --- how each chart reads the model ---------------------------------------------------------


def _categories(model: CollectionsModel):
    return model.cube.segments[model.segment_by].cat.categories


def _trend(model: CollectionsModel):
    return bill_views.monthly_trend(
        model.monthly, model.metric, model.as_of_date, model.describe_selection()
    )


def _segment_trend(model: CollectionsModel):
    return bill_views.segment_trend(
        model.monthly_by_segment,
        model.metric,
        model.segment_by,
        _categories(model),
        model.describe_selection(),
        include_immature=model.include_immature,
    )


def _bridge(months: str):
    """The debt-movement bridge of the period's last month (``months="last"``) or of the
    whole period (``"period"``): one chart each, so that a filter change updates each
    figure in place instead of drawing a new layout of two."""
    key = "month_bridge" if months == "last" else "bridge"

    def draw(model: CollectionsModel):
        movement, filters = model.headline["movement"], model.describe_filters()
        if movement.empty:
            return headline_views.bridge_chart(movement.iloc[:0], "", filters)
        first, last = movement["month"].iloc[0], movement["month"].iloc[-1]
        covered = f"{last:%b %Y}" if months == "last" else f"{first:%b %Y} – {last:%b %Y}"
        return headline_views.bridge_chart(model.headline[key], covered, filters)

    return draw


def _movement_by_month(model: CollectionsModel):
    return headline_views.movement_by_month_chart(
        model.headline["movement"], model.describe_selection()
    )


def _aged_debt_title(model: CollectionsModel) -> str:
    trend = model.headline.get("trend")
    if trend is None or trend.empty:
        return "**Aged debt** — no month-end in this selection."
    month = trend["month"].iloc[-1]
    return (
        f"**Aged debt at the end of {month:%b %Y}** (the period's last month-end) and the "
        f"change since the month-end before · {markdown_text(model.describe_filters())}"
    )


def _segment_bars(model: CollectionsModel):
    return bill_views.segment_bars(
        model.by_segment, model.metric, model.segment_by, _categories(model),
        model.describe_selection(),
    )  # fmt: skip


def _ageing(model: CollectionsModel):
    money = model.ageing_measure == "arrears"  # customers: each once, at account level
    return ledger_views.ageing_chart(
        model.aged_arrears if money else model.ageing,
        model.ageing_measure,
        model.as_of_date,
        model.describe_selection(),
        level=model.ageing_level if money else "account",
    )


def _arrears_by_segment(model: CollectionsModel):
    return ledger_views.arrears_by_segment_chart(
        model.ageing_by_segment, model.segment_by, _categories(model), model.describe_selection()
    )


def _arrears_trend(model: CollectionsModel):
    """The chosen arrears trend (``arrears_trend_measure``): share in arrears or average £."""
    if model.arrears_trend_measure == "average":
        return ledger_views.average_arrears_chart(model.arrears_monthly, model.describe_selection())
    return ledger_views.arrears_share_chart(model.arrears_monthly, model.describe_selection())


def _provision_trend(model: CollectionsModel):
    """The chosen provision trend (``provision_measure``): expected loss £ or coverage."""
    if model.provision_measure == "coverage":
        return forward_views.provision_coverage_chart(
            model.provision_monthly, model.describe_selection()
        )
    return forward_views.provision_month_chart(model.provision_monthly, model.describe_selection())


def _roll(model: CollectionsModel):
    labels = model.cube.arrears.bucket_labels
    return ledger_views.roll_rate_chart(
        model.roll, labels, model.describe_selection(), model.min_sample
    )


def _vintage(model: CollectionsModel):
    """The vintage heatmap of the chosen measure (``vintage_measure``)."""
    selection = f"all months · {model.describe_filters()}"
    return ledger_views.vintage_chart(
        model.vintage, model.vintage_measure, selection, model.min_sample
    )


def _severe(model: CollectionsModel):
    """The chosen 90+ days rate (``severe_measure``): reached each month, or ever."""
    if model.severe_measure == "ever":
        return severe_views.severe_ever_chart(
            model.severe_monthly, model.describe_selection(), model.min_sample
        )
    return severe_views.severe_rate_chart(
        model.severe_monthly,
        model.describe_selection(),
        model.min_sample,
        first_day=model.cube.months[0],
    )


def _effectiveness(model: CollectionsModel):
    """The effectiveness chart of the chosen outcome (``effect_outcome``), by vulnerability."""
    vulnerable = model.cube.segments["is_vulnerable"].cat.categories
    return ledger_views.effectiveness_chart(
        model.effectiveness,
        "is_vulnerable",
        vulnerable,
        model.describe_selection(),
        model.effect_outcome,
    )


def _worklist_summary(model: CollectionsModel) -> str:
    worklist, as_of = model.worklist, model.as_of_date
    if worklist is None or worklist.empty:
        return f"**{NO_DATA}:** nobody in arrears on {as_of:%d %b %Y}."
    vulnerable = int(worklist["vulnerable"].sum())
    return (
        f"**{len(worklist):,} customers** in arrears on {as_of:%d %b %Y}, "
        f"£{worklist['arrears'].sum():,.2f} owed; {vulnerable:,} vulnerable (Support queue). "
        f"Selection: {markdown_text(model.describe_filters())} (the period does not "
        f"apply: this is who owes now)."
    )


TARIFF_NOTE = (
    "**Per tariff** — customers on book and arrears at the last month-end of the period; cure "
    "and roll rates pooled over the period; reminders followed by a payment of at least "
    "min(£10, arrears) within 30 days."
)

TABS: tuple[Tab, ...] = (
    Tab(
        "Debt",
        (
            Chart("month_bridge", ("headline",), _bridge("last")),
            Chart("bridge", ("headline",), _bridge("period")),
            Note(_aged_debt_title, outputs=("headline",)),
            Table(
                "aged_debt",
                ("headline",),
                lambda model: headline_views.aged_debt_table(model.headline["aged"]),
                download="aged_debt.csv",
                download_label="Download aged debt CSV",
                options={"layout": "fit_data_stretch"},
            ),
            Chart("movement_by_month", ("headline",), _movement_by_month),
        ),
    ),
    Tab(
        "Worklist",
        (
            Note(ledger_views.worklist_note()),
            Control("queue", label="Queue", counts="queue_counts"),
            Control("worklist_sort", label="Order", widget="select"),
            Control("worklist_columns", label="Columns shown", widget="choice"),
            Note(_worklist_summary, outputs=("worklist",)),
            Note(
                lambda model: warning_views.roll_risk_note(model.roll_risk),
                outputs=("roll_risk",),
            ),
            Table(
                "worklist",
                ("worklist",),
                lambda model: ledger_views.worklist_table(model.worklist),
                download="collections_worklist.csv",
                download_label="Download worklist CSV",
                customer_level=True,
                options={
                    "pagination": "remote",
                    "page_size": 25,
                    "height": 720,
                    "frozen_columns": ["Customer"],
                },
                hidden=lambda model: ledger_views.hidden_worklist_columns(
                    model.worklist_columns, model.worklist_sort
                ),
                hidden_inputs=("worklist_columns", "worklist_sort"),
                opens=("Customer", "customer", "Customer"),
            ),
        ),
    ),
    Tab(
        "Customer",
        (
            Control("customer", label="Customer id", widget="text"),
            Note(
                lambda model: customer_views.customer_summary(model.customer_view),
                outputs=("customer_view",),
            ),
            Chart(
                "customer_balance",
                ("customer_view",),
                lambda model: customer_views.balance_chart(model.customer_view),
            ),
            Chart(
                "customer_days",
                ("customer_view",),
                lambda model: customer_views.days_past_due_chart(model.customer_view),
            ),
            Table(
                "customer_events",
                ("customer_view",),
                lambda model: customer_views.events_table(model.customer_view),
                title="**Every bill, payment, adjustment and action**, newest first",
                download="customer_events.csv",
                download_label="Download this customer's events CSV",
                customer_level=True,
                options={"pagination": "local", "page_size": 20},
            ),
        ),
        served_only=True,
    ),
    Tab(
        "Trends",
        (
            Chart("trend", ("monthly",), _trend, watches=("metric",)),
            Chart("segment_trend", ("monthly_by_segment",), _segment_trend, watches=("metric",)),
        ),
    ),
    Tab(
        "Arrears",
        (
            Control("ageing_measure"),
            Control("ageing_level", label="Ageing"),
            Chart(
                "ageing",
                ("ageing", "aged_arrears"),
                _ageing,
                watches=("ageing_level",),
                choice="ageing_measure",
            ),
            Control("arrears_trend_measure", label="Arrears trend of"),
            Chart(
                "arrears_trend",
                ("arrears_monthly",),
                _arrears_trend,
                choice="arrears_trend_measure",
            ),
            Chart("arrears_by_segment", ("ageing_by_segment",), _arrears_by_segment),
        ),
    ),
    Tab(
        "Roll & cure",
        (
            Control("transition_measure"),
            Chart(
                "transitions",
                ("transitions",),
                lambda model: ledger_views.transition_heatmap(
                    model.transitions,
                    model.transition_measure,
                    model.describe_selection(),
                    model.min_sample,
                ),
                watches=("min_sample",),
                choice="transition_measure",
            ),
            Chart("roll", ("roll",), _roll, watches=("min_sample",)),
            Note(severe_views.SEVERE_NOTE),
            Control("severe_measure", label="Reaching 90+ days"),
            Chart(
                "severe",
                ("severe_monthly",),
                _severe,
                watches=("min_sample",),
                choice="severe_measure",
            ),
            Table(
                "severe_by_segment",
                ("severe_by_segment",),
                lambda model: severe_views.severe_table(model.severe_by_segment, model.segment_by),
                title="**Reaching 90+ days past due by segment** over the period",
                download="reaching_90_days.csv",
                options={"layout": "fit_data_stretch"},
            ),
        ),
    ),
    Tab(
        "Forecast",
        (
            Note(forward_views.FORECAST_NOTE),
            Control("forecast_lookback", label="Lookback"),
            Control("forecast_cure_shift", label="What-if: cure rate"),
            Control("forecast_inflow_shift", label="What-if: new arrears inflow"),
            Control("forecast_measure", label="Forecast of"),
            Chart(
                "forecast",
                ("forecast",),
                lambda model: forward_views.forecast_chart(
                    model.forecast, model.describe_selection(), model.forecast_measure
                ),
                choice="forecast_measure",
            ),
            Table(
                "forecast_backtest",
                ("forecast_backtest",),
                lambda model: forward_views.backtest_table(model.forecast_backtest),
                title="**Backtest**: the forecast made at every past month-end with a full "
                "lookback against what happened — mean absolute percentage error per horizon",
                options={"layout": "fit_data_stretch"},
            ),
            Chart(
                "forecast_buckets",
                ("forecast",),
                lambda model: forward_views.forecast_bucket_chart(
                    model.forecast, model.describe_selection()
                ),
            ),
            Table(
                "forecast_table",
                ("forecast",),
                lambda model: forward_views.forecast_table(model.forecast),
                title="**Forecast by bucket** (the band: 10th–90th percentile)",
                download="arrears_forecast.csv",
                download_label="Download forecast CSV",
                options={"pagination": "local", "page_size": 12},
            ),
        ),
    ),
    Tab(
        "Early warning",
        (
            Note(
                lambda model: warning_views.evaluation_note(model.early_warning),
                outputs=("early_warning",),
            ),
            Chart(
                "score_calibration",
                ("early_warning",),
                lambda model: warning_views.calibration_chart(model.early_warning),
            ),
            Chart(
                "score_distribution",
                ("watchlist",),
                lambda model: warning_views.score_distribution_chart(
                    model.watchlist, model.early_warning
                ),
            ),
            Note(warning_views.WATCH_NOTE),
            Table(
                "watchlist",
                ("watchlist",),
                lambda model: warning_views.watchlist_table(model.watchlist),
                download="early_warning_watchlist.csv",
                download_label="Download watch list CSV",
                customer_level=True,
                options={
                    "pagination": "remote",
                    "page_size": 25,
                    "frozen_columns": ["Customer"],
                },
                opens=("Customer", "customer", "Customer"),
            ),
        ),
    ),
    Tab(
        "Provision",
        (
            Note(forward_views.PROVISION_NOTE),
            Control("write_off_horizon", label="Write-off horizon"),
            Control("provision_lookback", label="Lookback"),
            Control("provision_overlay", label="Forward-looking overlay"),
            Note(
                lambda model: forward_views.provision_title(
                    model.provision, markdown_text(model.describe_filters())
                ),
                outputs=("provision",),
            ),
            Table(
                "provision",
                ("provision",),
                lambda model: forward_views.provision_table(model.provision),
                download="provision_matrix.csv",
                download_label="Download provision matrix CSV",
                options={"layout": "fit_data_stretch"},
            ),
            Control("provision_measure", label="Provision trend of"),
            Chart(
                "provision_trend",
                ("provision_monthly",),
                _provision_trend,
                choice="provision_measure",
            ),
            Chart(
                "provision_by_segment",
                ("provision_by_segment",),
                lambda model: forward_views.provision_segment_chart(
                    model.provision_by_segment,
                    model.segment_by,
                    _categories(model),
                    model.describe_selection(),
                ),
            ),
        ),
    ),
    Tab(
        "Segments",
        (
            Chart("segment_bars", ("by_segment",), _segment_bars, watches=("metric",)),
            Table(
                "figures",
                ("by_segment",),
                lambda model: bill_views.figures_table(model.by_segment, model.segment_by),
                download="collections_figures.csv",
                options={"pagination": "local", "page_size": 20, "height": 330},
            ),
        ),
    ),
    Tab(
        "Cohorts",
        (
            Control("vintage_measure", label="Vintages by"),
            Chart(
                "vintage",
                ("vintage",),
                _vintage,
                watches=("min_sample",),
                choice="vintage_measure",
            ),
            Chart(
                "entries",
                ("entries",),
                lambda model: ledger_views.entry_cohort_heatmap(
                    model.entries, model.describe_selection(), model.min_sample
                ),
                watches=("min_sample",),
            ),
        ),
    ),
    Tab(
        "Actions",
        (
            Chart(
                "actions",
                ("actions_by_type",),
                lambda model: bill_views.actions_distribution(
                    model.actions_by_type, model.describe_selection()
                ),
            ),
            Chart(
                "actions_volume",
                ("actions_monthly",),
                lambda model: bill_views.actions_volume(
                    model.actions_monthly, model.describe_selection()
                ),
            ),
        ),
    ),
    Tab(
        "Effectiveness",
        (
            Note(ledger_views.EFFECTIVENESS_NOTE),
            Control("effect_outcome", label="Outcome"),
            Chart("effectiveness", ("effectiveness",), _effectiveness, choice="effect_outcome"),
            Chart(
                "funnel",
                ("funnel",),
                lambda model: ledger_views.funnel_chart(model.funnel, model.describe_selection()),
            ),
            Table(
                "uplift",
                ("uplift",),
                lambda model: ledger_views.uplift_table(model.uplift),
                title=(
                    "**What actions do: acted on vs a comparison group.** A *randomised "
                    "holdout* (a customer a reminder was due to and deliberately not sent) "
                    "is a fair comparison. Without one, customers in the same bucket and "
                    "arrears band at the month-end before who got no action that month "
                    "(*matched*, weighted to the acted-on customers): not randomised, so "
                    "indicative only — those not acted on can differ in ways bucket and band "
                    "do not capture, and an arrangement records the customer's own choice"
                ),
            ),
            Table(
                "effectiveness_by_segment",
                ("effectiveness_by_segment",),
                lambda model: ledger_views.effectiveness_table(
                    model.effectiveness_by_segment, model.segment_by
                ),
                title="**Outcomes by action and segment** (the *Segment by* choice)",
                options={"pagination": "local", "page_size": 16},
            ),
        ),
    ),
    Tab(
        "Tariffs",
        (
            Note(TARIFF_NOTE),
            Table(
                "tariffs",
                ("tariffs",),
                lambda model: ledger_views.tariff_table(model.tariffs),
            ),
        ),
    ),
)
"""The dashboard's tabs, in the order shown."""

ALWAYS_SHOWN = ("kpis", "headline")
"""Model outputs shown whatever the open tab (the header, the headline tiles and the KPI
gauges)."""

TAB = {tab.name: tab for tab in TABS}
"""Tab by name."""
