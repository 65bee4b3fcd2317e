"""``CollectionsModel``: the dashboard's state, with no Panel import.

Filters, metric, segmentation, window and thresholds are parameters. The output frames are
parameters too, each declared once in :data:`OUTPUTS` (name, what it holds, what it is
recomputed from, how): the model makes its parameter and its watcher from that declaration.
The cube is rebuilt when ``before``, ``after``, ``tolerance``, ``as_of`` or ``bucket_edges``
change; every other output is a query of the cube (:mod:`dashboard.query`).

Outputs are lazy: only those listed in ``live_outputs`` (all by default), and the outputs
they are computed from, are recomputed when their inputs change; the others are marked stale
and recomputed as soon as they are listed again. A dashboard lists the outputs of its open
tab, so a filter change computes what is on screen and nothing else.

``metric``, the charts' measures (``ageing_measure``, ``transition_measure``,
``arrears_trend_measure``, ``forecast_measure``, ``provision_measure``, ``vintage_measure``,
``severe_measure``, ``effect_outcome``) and the
thresholds change no frame: views read them. The cube comes from :mod:`dashboard.loader`,
shared by every model of the process, so a second browser session neither reloads nor
recomputes outcomes; filters only re-aggregate the cube.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import param

from dashboard import loader
from dashboard.catalog import KPIS, metric_choices
from dashboard.compute.arrays import to_pence
from dashboard.compute.ledger import MAX_BUCKET_DAYS, MAX_BUCKET_EDGES, Buckets
from dashboard.compute.outcomes import MAX_AFTER_DAYS, MAX_BEFORE_DAYS, MAX_TOLERANCE_PENCE, Window
from dashboard.query import (
    bills,
    forecast,
    headline,
    ledger,
    provision,
    selection,
    severe,
    worklist,
)
from dashboard.schema import Portfolio
from dashboard.sources import DEFAULT_SOURCE, Source
from dashboard.vocab import DIMENSION_LABELS, DIMENSIONS, FLAG_DIMENSIONS

FILTER_PARAMS = DIMENSIONS
"""One multi-select filter parameter per customer dimension, named like the dimension."""

BUILD_SETTINGS = ("before", "after", "tolerance", "as_of", "bucket_edges")
"""The inputs that change the cube: each new combination is a build."""

SELECTION = ("cube", *FILTER_PARAMS, "period")
"""What almost every output is recomputed from: the cube, the filters and the period."""


class BucketEdges(param.String):
    """Bucket edges as text (``"30,60,90"``), refused unless :class:`Buckets` accepts them."""

    def _validate_value(self, value, allow_None):
        super()._validate_value(value, allow_None)
        if value is not None:
            Buckets.parse(value)


@dataclass(frozen=True)
class Output:
    """One output of the model, declared once.

    Attributes
    ----------
    name : str
        The model parameter that holds it.
    doc : str
        What it holds (the parameter's ``doc``).
    inputs : tuple of str
        Model parameters (inputs or other outputs) it is recomputed from.
    compute : callable
        ``compute(model)`` -> the new value.
    kind : {"frame", "dict"}
        A DataFrame or a dict.
    """

    name: str
    doc: str
    inputs: tuple[str, ...]
    compute: Callable[[CollectionsModel], object]
    kind: str = "frame"


def _kpis(model: CollectionsModel) -> dict:
    mask, (start, end) = model.segment_mask, model.month_range
    total = bills.aggregate_bills(model.cube, mask, start, end, (), model.include_immature)
    with_bill, with_default = bills.customers_with_default(
        model.cube, mask, start, end, model.include_immature
    )
    arrangements = bills.arrangement_summary(model.cube, mask, start, end)
    row = total.iloc[0]
    return {
        "default_rate": float(row["default_rate"]),
        "collection_rate": float(row["collection_rate"]),
        "customer_default_share": with_default / with_bill if with_bill else float("nan"),
        "arrangement_kept_rate": arrangements["kept_rate"],
        "bills": int(row["counted_bills"]),
        "defaults": int(row["counted_defaults"]),
        "billed": float(row["billed"]),
        "customers": with_bill,
        "customers_with_default": with_default,
        "arrangements_decided": arrangements["decided"],
        "arrangements_kept": arrangements["kept"],
    }


def _by_segment(model: CollectionsModel) -> pd.DataFrame:
    dim, (start, end), mask = model.segment_by, model.month_range, model.segment_mask
    by_value = bills.aggregate_bills(model.cube, mask, start, end, [dim], model.include_immature)
    customers = bills.customers_by(model.cube, mask, start, end, dim, model.include_immature)
    position = by_value[dim].cat.codes.to_numpy()  # customers_by lists every category
    return by_value.assign(
        customers=customers["customers"].to_numpy()[position],
        customers_with_default=customers["customers_with_default"].to_numpy()[position],
    )


def _bill_figures(*keys: str, by_segment: bool = False):
    def compute(model: CollectionsModel) -> pd.DataFrame:
        group = [*keys, model.segment_by] if by_segment else list(keys)
        return bills.aggregate_bills(
            model.cube, model.segment_mask, *model.month_range, group, model.include_immature
        )

    return compute


def _actions(*keys: str):
    def compute(model: CollectionsModel) -> pd.DataFrame:
        return bills.count_actions(model.cube, model.segment_mask, *model.month_range, list(keys))

    return compute


def _over_period(query, **options):
    """``query(cube, segments, start, end, **options)`` over the selection and period."""

    def compute(model: CollectionsModel):
        return query(model.cube, model.segment_mask, *model.month_range, **options)

    return compute


def _by_segment_by(query):
    """``query(cube, segments, start, end, by=segment_by)``."""

    def compute(model: CollectionsModel):
        return query(model.cube, model.segment_mask, *model.month_range, by=model.segment_by)

    return compute


def _worklist(model: CollectionsModel) -> pd.DataFrame:
    rows = worklist.worklist(model.cube, model.segment_mask)
    if model.queue != "All":
        rows = rows.loc[rows["queue"] == model.queue].reset_index(drop=True)
    rows = worklist.with_roll_risk(rows, model.roll_risk.get("scores"))
    return worklist.sorted_by(rows, model.worklist_sort)


def _data(model: CollectionsModel):
    """The loaded tables when the model has them, else its source."""
    return model._portfolio if model._portfolio is not None else model.source


def _scores(model: CollectionsModel, target: str) -> dict:
    """A score (``target``: a key of :data:`dashboard.score.TARGETS`) and its evaluation,
    or (``message``) why it is not computed here: it holds the whole book in memory, so
    books above :data:`loader.SCORE_MAX_CUSTOMERS` are left to a machine sized for them."""
    customers = model.cube.n_customers
    if model._portfolio is None and customers > loader.SCORE_MAX_CUSTOMERS:
        return {
            "message": f"The {target.replace('-', ' ')} score holds the whole book in memory: at "
            f"{customers:,} customers it is not computed in the dashboard (limit "
            f"{loader.SCORE_MAX_CUSTOMERS:,}, ${loader.SCORE_MAX_ENV}); run "
            f"`collections-dashboard score --target {target}` on a machine sized for the book."
        }
    data, as_of = _data(model), model.cube.as_of
    failed = model._score_errors.get(target)
    if failed is not None:
        return {"message": f"The {target.replace('-', ' ')} score could not be computed: {failed}"}
    if (
        model.scores_in_background
        and customers >= loader.SCORE_BACKGROUND_FROM
        and not loader.early_warning_ready(data, as_of, target)
    ):
        return {
            "pending": target,
            "message": f"The {target.replace('-', ' ')} score is being computed for "
            f"{customers:,} customers (the whole book is read, a model trained and every "
            "customer scored: about a minute at a million customers); it appears here by "
            "itself when it is ready.",
        }
    return loader.early_warning(data, as_of, target)


def _early_warning(model: CollectionsModel) -> dict:
    return _scores(model, "early-warning")


def _roll_risk(model: CollectionsModel) -> dict:
    """The roll risk when the worklist is ranked by it or shows it; else empty (nothing is
    trained unasked)."""
    asked = model.worklist_sort == "roll_risk" or "roll_risk" in model.worklist_columns
    return _scores(model, "roll-risk") if asked else {}


def _watchlist(model: CollectionsModel) -> pd.DataFrame:
    if "scores" not in model.early_warning:
        return pd.DataFrame(columns=["customer_id", "score", *model.cube.segments.columns])
    scores = model.early_warning["scores"]
    segment = scores["segment"].to_numpy()
    chosen = model.segment_mask[segment]
    dims = model.cube.segments.iloc[segment[chosen]].reset_index(drop=True)
    return pd.concat(
        [scores.loc[chosen, ["customer_id", "score"]].reset_index(drop=True), dims], axis=1
    )


def _customer_view(model: CollectionsModel) -> dict:
    """The chosen customer's timeline (``timeline``) or why there is none (``message``)."""
    if not model.customer.strip():
        return {"message": "Type a customer id, or click a row of the worklist."}
    try:
        found = loader.customer_timeline(
            _data(model), model.customer, model.cube.as_of, model.buckets
        )
    except ValueError as error:
        return {"message": str(error)}
    return {"timeline": found}


PROVISION_INPUTS = (*SELECTION, "provision_lookback", "provision_overlay", "write_off_horizon")
"""What the expected credit loss is recomputed from."""

FORECAST_INPUTS = (*SELECTION, "forecast_lookback")
"""What the arrears forecast and its backtest are recomputed from."""


def _provision(query, **options):
    """``query(cube, segments, start, end, lookback, overlay, horizon, **options)``."""

    def compute(model: CollectionsModel) -> pd.DataFrame:
        return query(
            model.cube,
            model.segment_mask,
            *model.month_range,
            lookback=model.provision_lookback,
            overlay=model.provision_overlay,
            horizon=model.write_off_horizon,
            **{name: getattr(model, value) for name, value in options.items()},
        )

    return compute


def _forecast(model: CollectionsModel) -> pd.DataFrame:
    return forecast.forecast(
        model.cube,
        model.segment_mask,
        *model.month_range,
        lookback=model.forecast_lookback,
        cure_shift=model.forecast_cure_shift,
        inflow_shift=model.forecast_inflow_shift,
    )


def _backtest(model: CollectionsModel) -> pd.DataFrame:
    tested = forecast.backtest(
        model.cube, model.segment_mask, *model.month_range, lookback=model.forecast_lookback
    )
    return forecast.backtest_summary(tested)


OUTPUTS: tuple[Output, ...] = (
    Output(
        "monthly",
        "Bill figures per month of the selection.",
        (*SELECTION, "include_immature"),
        _bill_figures("month"),
    ),
    Output(
        "monthly_by_segment",
        "Bill figures per month and segment value.",
        (*SELECTION, "include_immature", "segment_by"),
        _bill_figures("month", by_segment=True),
    ),
    Output(
        "by_segment",
        "Bill figures and customer counts per segment value.",
        (*SELECTION, "include_immature", "segment_by"),
        _by_segment,
    ),
    Output("actions_by_type", "Actions per type in the selection.", SELECTION, _actions("action")),
    Output(
        "actions_monthly",
        "Actions per month and type in the selection.",
        SELECTION,
        _actions("month", "action"),
    ),
    Output(
        "kpis",
        "Headline figures of the selection.",
        (*SELECTION, "include_immature"),
        _kpis,
        "dict",
    ),
    Output(
        "ageing",
        "Customers and arrears £ per bucket at each month-end.",
        SELECTION,
        _over_period(ledger.ageing),
    ),
    Output(
        "aged_arrears",
        "Arrears £ per bucket at each month-end, aged at the chosen level (bill or account).",
        (*SELECTION, "ageing_level"),
        lambda model: ledger.ageing(
            model.cube, model.segment_mask, *model.month_range, level=model.ageing_level
        ),
    ),
    Output(
        "arrears_monthly",
        "Per month-end: customers on book, in arrears, share, arrears £, average.",
        ("ageing",),
        lambda model: ledger.arrears_summary(model.ageing),
    ),
    Output(
        "ageing_by_segment",
        "Arrears per month-end and segment value.",
        (*SELECTION, "segment_by"),
        lambda model: ledger.arrears_summary(
            _by_segment_by(ledger.ageing)(model), by=model.segment_by
        ),
    ),
    Output(
        "transitions",
        "Month-on-month bucket transition matrix over the period.",
        SELECTION,
        _over_period(ledger.transition_matrix),
    ),
    Output(
        "roll", "Monthly cure and forward roll rates.", SELECTION, _over_period(ledger.roll_rates)
    ),
    Output(
        "severe_monthly",
        "Per month-end: customers reaching 91+ days past due in the month (of those at "
        "risk a month before) and ever (of those on book).",
        SELECTION,
        _over_period(severe.severe_monthly),
    ),
    Output(
        "severe_by_segment",
        "Per segment value over the period: reaching 91+ days past due (of those at risk "
        "at its start) and ever (of those on book at its end).",
        (*SELECTION, "segment_by"),
        _by_segment_by(severe.severe_period),
    ),
    Output(
        "vintage",
        "Default and arrears share by first-bill quarter and age (every month).",
        ("cube", *FILTER_PARAMS),
        lambda model: ledger.vintage(model.cube, model.segment_mask),
    ),
    Output(
        "entries",
        "Arrears-entry cohorts and their cure rates.",
        SELECTION,
        _over_period(ledger.entry_cohorts),
    ),
    Output(
        "effectiveness",
        "Outcomes per action type, vulnerable customers apart.",
        SELECTION,
        _over_period(ledger.action_effectiveness, by="is_vulnerable"),
    ),
    Output(
        "uplift",
        "Per action type: paid within 30 days beside a randomised holdout, with the "
        "difference and its 95% interval (or no fair comparison).",
        SELECTION,
        _over_period(ledger.action_uplift),
    ),
    Output(
        "effectiveness_by_segment",
        "Outcomes per action type and segment value.",
        (*SELECTION, "segment_by"),
        _by_segment_by(ledger.action_effectiveness),
    ),
    Output(
        "funnel",
        "Customers reaching each collections stage in the period.",
        SELECTION,
        _over_period(ledger.funnel),
    ),
    Output(
        "roll_risk",
        "The roll risk of every customer 1–90 days past due on the as-of date (the "
        "probability of being 91+ days past due within three month-ends) and its out-of-time "
        "evaluation: computed once per source and as-of date when the worklist is ranked by "
        "it or shows it, else empty.",
        ("cube", "worklist_sort", "worklist_columns"),
        _roll_risk,
        "dict",
    ),
    Output(
        "worklist",
        "Customers in arrears now, in the chosen order (the period does not apply), with "
        "their roll risk when it is computed.",
        ("cube", *FILTER_PARAMS, "queue", "worklist_sort", "roll_risk"),
        _worklist,
    ),
    Output(
        "queue_counts",
        "Customers of the selection in each worklist queue (and All), for its buttons.",
        ("cube", *FILTER_PARAMS),
        lambda model: worklist.queue_counts(model.cube, model.segment_mask),
        "dict",
    ),
    Output(
        "customer_view",
        "The chosen customer's timeline (bills, payments, actions, balance and days past "
        "due by day), or a message saying why there is none.",
        ("cube", "customer"),
        _customer_view,
        "dict",
    ),
    Output(
        "tariffs",
        "Arrears and roll figures per tariff.",
        SELECTION,
        _over_period(ledger.segment_summary, by="tariff"),
    ),
    Output(
        "headline",
        "First screen: headline figures per month-end, aged debt and the debt movement.",
        (*SELECTION, "ageing_level"),
        lambda model: headline.headline(
            model.cube, model.segment_mask, *model.month_range, level=model.ageing_level
        ),
        "dict",
    ),
    Output(
        "provision",
        "Provision matrix (IFRS 9 simplified approach) at the period's last month-end: "
        "per bucket the arrears, loss rate, its method and denominators, and ECL £.",
        PROVISION_INPUTS,
        _provision(provision.provision_matrix),
    ),
    Output(
        "provision_monthly",
        "ECL £ and coverage at each month-end, with the loss rates known then.",
        PROVISION_INPUTS,
        _provision(provision.provision_by_month),
    ),
    Output(
        "provision_by_segment",
        "ECL £ and coverage per segment value at the period's last month-end.",
        (*PROVISION_INPUTS, "segment_by"),
        _provision(provision.provision_by_segment, by="segment_by"),
    ),
    Output(
        "forecast",
        "Arrears £ and customers per past-due bucket: recent month-ends and the 6 months "
        "after the period's last one (Markov chain, what-if and interval).",
        (*FORECAST_INPUTS, "forecast_cure_shift", "forecast_inflow_shift"),
        _forecast,
    ),
    Output(
        "forecast_backtest",
        "Mean absolute percentage error per horizon of the forecast made at each month-end.",
        FORECAST_INPUTS,
        _backtest,
    ),
    Output(
        "early_warning",
        "The early-warning score of every customer Current on the as-of date, highest "
        "first, and its out-of-time evaluation (computed once per source and as-of date).",
        ("cube",),
        lambda model: _early_warning(model),
        "dict",
    ),
    Output(
        "watchlist",
        "Customers of the selection Current on the as-of date, most likely to fall 31+ "
        "days behind within three month-ends first, with their score and dimensions.",
        ("early_warning", *FILTER_PARAMS),
        lambda model: _watchlist(model),
    ),
)
"""Every output a filter change can recompute, in the order they are computed (an output
computed from another comes after it)."""

OUTPUT_NAMES = tuple(output.name for output in OUTPUTS)
ON_DEMAND = ("early_warning", "watchlist")
"""Outputs not live by default (a model for a notebook or a test does not train a model at
a million customers unasked): listed in ``live_outputs`` (a dashboard's open tab) they are
computed."""
OUTPUT = {output.name: output for output in OUTPUTS}
"""Output declaration by name."""


class CollectionsModel(param.Parameterized):
    """Filters, metric and window of the dashboard, and the DataFrames they produce.

    Build it from a source path (``CollectionsModel(source="data/")``) or from loaded
    tables (``CollectionsModel.from_portfolio(portfolio)``).
    """

    source = param.ClassSelector(
        default=str(DEFAULT_SOURCE),
        class_=(str, Source),
        constant=True,
        instantiate=False,
        doc="Where the data comes from: a spec (a CSV folder, SQLite file or Parquet folder, "
        "see dashboard.sources.open_source) or a Source.",
    )
    period = param.DateRange(
        default=None,
        doc="First and last bill month shown (bills by the month of their period end).",
    )
    metric = param.Selector(
        default="default_rate",
        objects=metric_choices(),
        doc="Figure drawn in the trend and segment charts (dashboard.catalog.METRICS).",
    )
    segment_by = param.Selector(
        default="income_band",
        objects={DIMENSION_LABELS[d]: d for d in DIMENSIONS},
        doc="Customer dimension that splits the portfolio into segments.",
    )
    income_band = param.ListSelector(default=[], objects=[], doc="Income bands kept (empty: all).")
    region = param.ListSelector(default=[], objects=[], doc="Regions kept (empty: all).")
    tariff = param.ListSelector(default=[], objects=[], doc="Tariffs kept (empty: all).")
    is_vulnerable = param.ListSelector(
        default=[], objects=[], doc="Vulnerability flags kept, 0 or 1 (empty: both)."
    )
    tenure_band = param.ListSelector(default=[], objects=[], doc="Tenure bands kept (empty: all).")
    has_meter = param.ListSelector(
        default=[], objects=[], doc="Meter flags kept, 0 or 1 (empty: both)."
    )
    prefers_direct_debit = param.ListSelector(
        default=[], objects=[], doc="Direct-debit preference kept, 0 or 1 (empty: both)."
    )
    before = param.Integer(
        default=3,
        bounds=(0, MAX_BEFORE_DAYS),
        doc="Window: payments more than this many days before due don't count.",
    )
    after = param.Integer(
        default=60,
        bounds=(0, MAX_AFTER_DAYS),
        doc="Window: payments up to this many days after due count.",
    )
    tolerance = param.Number(
        default=1.0,
        bounds=(0, MAX_TOLERANCE_PENCE / 100),
        step=0.5,
        doc="A bill defaults when short by more than this (£).",
    )
    include_immature = param.Boolean(
        default=False,
        doc="Count bills whose window is still open in default and collection rates.",
    )
    bucket_edges = BucketEdges(
        default="30,60,90",
        doc="Days-past-due bucket edges, comma-separated: 30,60,90 gives Current, 1–30, "
        f"31–60, 61–90 and 91+ (at most {MAX_BUCKET_EDGES} edges of at most "
        f"{MAX_BUCKET_DAYS} days).",
    )
    ageing_measure = param.Selector(
        default="arrears",
        objects={"Arrears £": "arrears", "Customers": "customers"},
        doc="What the aged-arrears chart stacks by bucket (changes no frame).",
    )
    transition_measure = param.Selector(
        default="customers",
        objects={"Customers": "customers", "£ owed": "owed"},
        doc="Whether the roll/cure matrix shows shares of customers or of £ owed (including "
        "bills issued and not yet due, so Current -> 1–30 exists in £).",
    )
    forecast_measure = param.Selector(
        default="arrears",
        objects={"Arrears £": "arrears", "Customers in arrears": "customers"},
        doc="What the forecast chart draws: total arrears £ or customers in arrears (changes "
        "no frame).",
    )
    vintage_measure = param.Selector(
        default="default_rate",
        objects={"Default rate": "default_rate", "Share in arrears": "arrears_share"},
        doc="What the vintage heatmap shows: the cumulative default rate or the share past "
        "due, by months on book (changes no frame).",
    )
    severe_measure = param.Selector(
        default="monthly",
        objects={"Monthly": "monthly", "Ever": "ever"},
        doc="What the 90+ days chart shows: the share of customers under 91 days at a "
        "month-end who reached 91+ within the month, or the share of those on book ever 91+ "
        "(changes no frame).",
    )
    effect_outcome = param.Selector(
        default="paid_14_rate",
        objects={
            "Paid in 14 days": "paid_14_rate",
            "Paid in 30 days": "paid_30_rate",
            "Cleared in 60 days": "cleared_60_rate",
        },
        doc="The outcome the effectiveness chart shows per action type: a payment of at least "
        "min(£10, arrears) within 14 or 30 days, or the arrears cleared within 60 (changes "
        "no frame).",
    )
    arrears_trend_measure = param.Selector(
        default="share",
        objects={"Share in arrears": "share", "Average arrears £": "average"},
        doc="What the arrears trend draws each month: the share of customers on book who are "
        "in arrears, or the average arrears £ per customer in arrears (changes no frame).",
    )
    provision_measure = param.Selector(
        default="ecl",
        objects={"Expected loss £": "ecl", "Coverage": "coverage"},
        doc="What the provision trend draws each month-end: the expected credit loss £ by "
        "age band, or the loss as a share of the arrears it covers (changes no frame).",
    )
    ageing_level = param.Selector(
        default="bill",
        objects={"Bill level": "bill", "Account level": "account"},
        doc="How arrears £ are aged in the aged-debt chart, table and 91+ tile: each unpaid "
        "bill in the bucket of its own days past due (finance's view), or each customer's "
        "whole arrears in their oldest bucket (what roll rates use).",
    )
    queue = param.Selector(
        default="All",
        objects=["All", *worklist.QUEUES],
        doc="Worklist queue shown (vulnerable customers are always in Support).",
    )
    worklist_sort = param.Selector(
        default="priority",
        objects={label: key for key, label in worklist.SORTS.items()},
        doc="Order of the worklist rows (ties: priority, then arrears).",
    )
    worklist_columns = param.ListSelector(
        default=list(worklist.DEFAULT_COLUMNS),
        objects=list(worklist.OPTIONAL_COLUMNS),
        doc="Worklist columns shown besides the customer id (changes no frame; the CSV "
        "download has every column).",
    )
    min_sample = param.Integer(
        default=30,
        bounds=(1, 10_000),
        doc="Rates resting on fewer customers than this are drawn faded and kept out of "
        "colour scales (changes no frame).",
    )
    customer = param.String(
        default="",
        doc="Customer id shown in the customer view (empty: none).",
    )
    provision_lookback = param.Selector(
        default=24,
        objects={f"pool {n} month-ends": n for n in (12, 24, 36)},
        doc="Expected credit loss: month-end cohorts pooled for the loss rates (the latest "
        "whose write-off horizon is over) and months of moves for the roll-rate chain.",
    )
    provision_overlay = param.Selector(
        default=0,
        objects={"no overlay": 0, **{f"overlay +{n}%": n for n in (5, 10, 20, 30)}},
        doc="Expected credit loss: forward-looking overlay, % added to every historical "
        "loss rate (capped at 100%).",
    )
    write_off_horizon = param.Selector(
        default=12,
        objects={f"written off within {h} months": h for h in provision.WRITE_OFF_HORIZONS},
        doc="Expected credit loss: months after a month-end within which a write-off of "
        "its arrears counts as lost.",
    )
    forecast_lookback = param.Selector(
        default=12,
        objects={f"chain of the last {n} months": n for n in (3, 6, 12, 24)},
        doc="Arrears forecast: months of bucket transitions pooled into the chain.",
    )
    forecast_cure_shift = param.Selector(
        default=0,
        objects={
            "cure −5 pts": -5,
            "cure −2 pts": -2,
            "cure as seen": 0,
            "cure +2 pts": 2,
            "cure +5 pts": 5,
        },
        doc="Arrears forecast what-if: points added to the monthly cure rate of every "
        "past-due bucket (its other moves shrink in proportion).",
    )
    forecast_inflow_shift = param.Selector(
        default=0,
        objects={
            "inflow −20%": -20,
            "inflow −10%": -10,
            "inflow as seen": 0,
            "inflow +10%": 10,
            "inflow +20%": 20,
        },
        doc="Arrears forecast what-if: % change of the monthly inflow of new arrears.",
    )
    as_of = param.CalendarDate(
        default=None,
        allow_None=True,
        doc="Date of knowledge; empty means the latest payment date in the data.",
    )
    cube = param.Parameter(
        default=None, doc="Pre-aggregated tables for the current window (output)."
    )
    fixed_window = param.Boolean(
        default=False,
        constant=True,
        doc="Fix the build settings (before, after, tolerance, as_of, bucket_edges) at their "
        "values when the model is made: filters still work, but nothing can ask for a new "
        "build (`serve --fixed-window`).",
    )
    live_outputs = param.ListSelector(
        default=[name for name in OUTPUT_NAMES if name not in ON_DEMAND],
        objects=list(OUTPUT_NAMES),
        doc="Outputs kept up to date on every change. The others are recomputed when they "
        "are listed again: a dashboard lists those of its open tab, so that a filter change "
        "computes only what is on screen. By default every output but the early-warning "
        "score's (ON_DEMAND).",
    )

    scores_in_background = param.Boolean(
        default=False,
        doc="Leave a score that this process does not hold yet (from "
        "loader.SCORE_BACKGROUND_FROM customers) to be computed in the background: its output "
        "then says so, with ``pending`` (the score's target), until :meth:`recompute` is called "
        "once it is ready (a served page; a notebook or an export computes it at once).",
    )

    def __init__(self, portfolio: Portfolio | None = None, **params):
        self._portfolio = portfolio
        self._stale: set[str] = set()
        self._score_errors: dict[str, str] = {}
        super().__init__(**params)
        if self.fixed_window:
            for name in BUILD_SETTINGS:
                self.param[name].constant = True
        with param.parameterized.discard_events(self):
            self._update_cube()
            self._set_choices()
        for output in OUTPUTS:
            # precedence 1: between a page's watchers at 0 (a change begins) and at 2 and 3
            # (the busy note's end, the change's page updates sent)
            self.param.watch(partial(self._refresh, output), list(output.inputs), precedence=1)
            self._refresh(output)

    @classmethod
    def from_portfolio(cls, portfolio: Portfolio, **params) -> CollectionsModel:
        """Build a model on already loaded, validated tables.

        Parameters
        ----------
        portfolio : Portfolio
        **params
            Initial parameter values.

        Returns
        -------
        CollectionsModel
        """
        return cls(portfolio=portfolio, source=portfolio.source or "(in memory)", **params)

    def clone(self, **params) -> CollectionsModel:
        """A new model on the same data with the same inputs (outputs computed afresh).

        What a static export draws from, so that it never changes a model someone else
        holds. The cube is shared (it comes from the process-wide cache).

        Parameters
        ----------
        **params
            Inputs to set differently in the copy.

        Returns
        -------
        CollectionsModel
        """
        inputs = {
            name: value
            for name, value in self.param.values().items()
            if name not in (*OUTPUT_NAMES, "cube", "name", "source", "live_outputs", "fixed_window")
            and name != "scores_in_background"  # a copy (an export) computes what it draws
        }
        inputs.update(params)
        inputs.setdefault("fixed_window", self.fixed_window)
        if self._portfolio is not None:
            return type(self).from_portfolio(self._portfolio, **inputs)
        return type(self)(source=self.source, **inputs)

    # --- outputs ------------------------------------------------------------------------

    @param.depends(*BUILD_SETTINGS, watch=True)
    def _update_cube(self) -> None:
        window, buckets = self.window, self.buckets
        as_of = None if self.as_of is None else pd.Timestamp(self.as_of)
        if self._portfolio is not None:
            self.cube = loader.cube_for(self._portfolio, window, as_of, buckets)
        else:
            self.cube = loader.load_cube(self.source, window, as_of, buckets=buckets)

    def _set_choices(self) -> None:
        """Offer the values present in the data and a full period (once, at start)."""
        segments = self.cube.segments
        for dim in DIMENSIONS:
            self.param[dim].objects = list(segments[dim].cat.categories)
        months = self.cube.months
        bounds = (months[0].to_pydatetime(), months[-1].to_pydatetime())
        self.param.period.bounds = bounds
        if self.period is None:
            self.period = bounds

    def _refresh(self, output: Output, *_events) -> None:
        """Recompute ``output`` now if it is needed, else remember that it is stale."""
        if output.name not in self.needed_outputs:
            self._stale.add(output.name)
            return
        self._stale.discard(output.name)
        setattr(self, output.name, output.compute(self))

    def recompute(self, name: str) -> None:
        """Recompute the output ``name`` now if it is needed (else when it is next needed),
        and the outputs computed from it.

        Parameters
        ----------
        name : str
            An output (e.g. ``"early_warning"`` once its score is ready).
        """
        self._refresh(OUTPUT[name])

    def score_in_background(self, target: str, done: Callable[[], None]) -> None:
        """Compute a score of this model's data in the background
        (:func:`dashboard.loader.early_warning_in_background`), then call ``done`` (on the
        thread waiting for it): :meth:`recompute` its output then shows it, or why it could
        not be made.

        Parameters
        ----------
        target : str
            A key of :data:`dashboard.score.TARGETS` (an output's ``pending``).
        done : callable
            Called with no argument once the score is in memory or has failed.
        """

        def finished(error: Exception | None) -> None:
            if error is not None:
                self._score_errors[target] = str(error)
            done()

        loader.early_warning_in_background(_data(self), self.cube.as_of, target, finished)

    @param.depends("live_outputs", watch=True)
    def _catch_up(self) -> None:
        """Recompute the outputs that went stale while they were not needed."""
        for output in OUTPUTS:
            if output.name in self._stale:
                self._refresh(output)

    @property
    def needed_outputs(self) -> set[str]:
        """The live outputs and every output they are computed from."""
        needed, pending = set(), list(self.live_outputs)
        while pending:
            name = pending.pop()
            if name not in needed:
                needed.add(name)
                pending.extend(i for i in OUTPUT[name].inputs if i in OUTPUT)
        return needed

    # --- derived values ---------------------------------------------------------------

    @property
    def window(self) -> Window:
        """The payment window and tolerance as a :class:`~dashboard.compute.outcomes.Window`."""
        return Window(self.before, self.after, to_pence(self.tolerance))

    @property
    def buckets(self) -> Buckets:
        """The days-past-due buckets from :attr:`bucket_edges`."""
        return Buckets.parse(self.bucket_edges)

    @property
    def filters(self) -> dict[str, list]:
        """The active filters: dimension -> kept values (only non-empty ones)."""
        return {dim: list(getattr(self, dim)) for dim in FILTER_PARAMS if getattr(self, dim)}

    @property
    def segment_mask(self) -> np.ndarray:
        """Boolean mask over the cube's segments selected by the filters."""
        return selection.segment_selection(self.cube, self.filters)

    @property
    def month_range(self) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """The period as first and last month starts."""
        if self.period is None:
            return None, None
        start, end = (pd.Timestamp(d) for d in self.period)
        return start.to_period("M").start_time, end.to_period("M").start_time

    @property
    def as_of_date(self) -> pd.Timestamp:
        """The date of knowledge in use (given or the latest payment date)."""
        return self.cube.as_of

    def describe_selection(self) -> str:
        """One line saying which months and filters are shown (for titles).

        Returns
        -------
        str
            e.g. ``"Jan 2022 – Dec 2025 · Region: Reading, Oxford"``.
        """
        start, end = self.month_range
        parts = [f"{start:%b %Y} – {end:%b %Y}"] if start is not None else []
        return " · ".join([*parts, self.describe_filters()])

    def describe_filters(self) -> str:
        """The customer filters in words, without the period (for period-free views).

        Returns
        -------
        str
            e.g. ``"Region: Reading, Oxford"`` or ``"all customers"``.
        """
        parts = []
        for dim, values in self.filters.items():
            shown = [_value_label(dim, v) for v in values]
            parts.append(f"{DIMENSION_LABELS[dim]}: {', '.join(shown)}")
        return " · ".join(parts) if parts else "all customers"

    def month_presets(self) -> dict[str, tuple[dt.datetime, dt.datetime]]:
        """Named periods for a discrete selector: all months, last 12, each calendar year.

        Returns
        -------
        dict of str to (datetime, datetime)
        """
        months = self.cube.months
        first, last = months[0].to_pydatetime(), months[-1].to_pydatetime()
        presets = {"All months": (first, last)}
        if len(months) > 12:
            presets["Last 12 months"] = (months[-12].to_pydatetime(), last)
        for year in sorted(set(months.year)):
            in_year = months[months.year == year]
            presets[str(year)] = (in_year[0].to_pydatetime(), in_year[-1].to_pydatetime())
        return presets


def _value_label(dim: str, value: object) -> str:
    if dim in FLAG_DIMENSIONS:
        return "yes" if int(value) == 1 else "no"
    return str(value)


def _declare_outputs() -> None:
    """Add a parameter per declared output and per KPI threshold to the model class."""
    for output in OUTPUTS:
        kind = param.Dict(default={}) if output.kind == "dict" else param.DataFrame(default=None)
        kind.doc = f"{output.doc} (output)"
        CollectionsModel.param.add_parameter(output.name, kind)
    for kpi in KPIS:
        thresholds = param.Range(default=kpi.thresholds, bounds=(0, 1), doc=kpi.threshold_doc())
        CollectionsModel.param.add_parameter(kpi.threshold_param, thresholds)


_declare_outputs()
