"""``CollectionsModel``: the dashboard's state, with no Panel import.

Filters, metric, segmentation, window and thresholds are parameters; the output
DataFrames are parameters too, each recomputed by a watcher that depends on its own
inputs only:

=========================  =========================================================
output                     recomputed when these change
=========================  =========================================================
``cube``                   ``before``, ``after``, ``tolerance``, ``as_of`` (outcomes)
``monthly``                cube, filters, ``period``, ``include_immature``
``monthly_by_segment``     the same and ``segment_by``
``by_segment``             the same as ``monthly_by_segment``
``actions_by_type``        cube, filters, ``period``
``actions_monthly``        cube, filters, ``period``
``kpis``                   cube, filters, ``period``, ``include_immature``
``ageing``                 cube, filters, ``period``
``arrears_monthly``        cube, filters, ``period``
``ageing_by_segment``      the same and ``segment_by``
``transitions``            cube, filters, ``period``
``roll``                   cube, filters, ``period``
``vintage``                cube, filters
``entries``                cube, filters, ``period``
``effectiveness``          cube, filters, ``period`` (split by vulnerability)
``effectiveness_by_segment`` the same and ``segment_by``
``funnel``                 cube, filters, ``period``
``worklist``               cube, filters, ``queue``
``tariffs``                cube, filters, ``period``
=========================  =========================================================

The cube also depends on ``bucket_edges`` (days-past-due buckets of the ledger).

Outputs are lazy: only those listed in ``live_outputs`` (all by default) are recomputed
when their inputs change; the others are marked stale and recomputed as soon as they are
listed again. A dashboard lists the outputs of its open tab, so a filter change computes
what is on screen and nothing else.

``metric``, ``ageing_measure``, ``transition_measure`` and the thresholds change no
frame: views read them. The cube comes from
:mod:`dashboard.loader`, shared by every model of the process, so a second browser session
neither reloads nor recomputes outcomes; filters only re-aggregate the cube.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import numpy as np
import pandas as pd
import param

from . import arrears, loader, metrics
from . import cube as cubes
from .schema import Portfolio
from .vocab import DIMENSION_LABELS, DIMENSIONS, FLAG_DIMENSIONS

METRICS: dict[str, str] = {
    "Default rate": "default_rate",
    "Collection rate": "collection_rate",
    "Billed £": "billed",
    "Paid in window £": "paid_in_window",
}
"""Metric label -> column of the bill tables."""

METRIC_LABELS = {column: label for label, column in METRICS.items()}
RATE_METRICS = ("default_rate", "collection_rate")

KPIS = ("default_rate", "collection_rate", "customer_default_share", "arrangement_kept_rate")
KPI_LABELS = {
    "default_rate": "Default rate",
    "collection_rate": "Collection rate",
    "customer_default_share": "Customers with a default",
    "arrangement_kept_rate": "Arrangements kept",
}
HIGHER_IS_BETTER = {"collection_rate", "arrangement_kept_rate"}
"""KPIs that are good when high; the others are good when low."""

FILTER_PARAMS = DIMENSIONS
"""One multi-select filter parameter per customer dimension, named like the dimension."""

_FRAME_INPUTS = ["cube", *FILTER_PARAMS, "period"]

OUTPUTS = (
    "monthly",
    "monthly_by_segment",
    "by_segment",
    "actions_by_type",
    "actions_monthly",
    "kpis",
    "ageing",
    "arrears_monthly",
    "ageing_by_segment",
    "transitions",
    "roll",
    "vintage",
    "entries",
    "effectiveness",
    "effectiveness_by_segment",
    "funnel",
    "worklist",
    "tariffs",
)
"""The output frames a filter change can recompute (the cube is rebuilt by the window)."""


def _produces(*outputs: str):
    """Mark a method as the one that computes ``outputs``, and make it lazy.

    The method runs only if one of its outputs is in ``live_outputs``; otherwise it is
    remembered as stale and runs as soon as one of them is listed again.
    """

    def decorate(method):
        @functools.wraps(method)
        def update(self) -> None:
            if set(outputs).isdisjoint(self.live_outputs):
                self._stale_updates.add(method.__name__)
                return
            self._stale_updates.discard(method.__name__)
            method(self)

        update.outputs = outputs
        return update

    return decorate


class CollectionsModel(param.Parameterized):
    """Filters, metric and window of the dashboard, and the DataFrames they produce.

    Build it from a source path (``CollectionsModel(source="data/")``) or from loaded
    tables (``CollectionsModel.from_portfolio(portfolio)``).
    """

    source = param.String(
        default=str(loader.DEFAULT_SOURCE),
        constant=True,
        doc="CSV folder, SQLite file or Parquet folder the data comes from.",
    )
    period = param.DateRange(
        default=None,
        doc="First and last bill month shown (bills by the month of their period end).",
    )
    metric = param.Selector(
        default="default_rate",
        objects=METRICS,
        doc="Figure drawn in the trend and segment charts.",
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
        bounds=(0, 30),
        doc="Window: payments more than this many days before due don't count.",
    )
    after = param.Integer(
        default=60, bounds=(0, 180), doc="Window: payments up to this many days after due count."
    )
    tolerance = param.Number(
        default=1.0,
        bounds=(0, 50),
        step=0.5,
        doc="A bill defaults when short by more than this (£).",
    )
    include_immature = param.Boolean(
        default=False,
        doc="Count bills whose window is still open in default and collection rates.",
    )
    bucket_edges = param.String(
        default="30,60,90",
        regex=r"^\s*\d+(\s*,\s*\d+)*\s*$",
        doc="Days-past-due bucket edges, comma-separated: 30,60,90 gives Current, 1–30, "
        "31–60, 61–90 and 91+.",
    )
    ageing_measure = param.Selector(
        default="arrears",
        objects={"Arrears £": "arrears", "Customers": "customers"},
        doc="What the aged-arrears chart stacks by bucket (changes no frame).",
    )
    transition_measure = param.Selector(
        default="customers",
        objects={"Customers": "customers", "Arrears £": "arrears"},
        doc="Whether the roll/cure matrix shows shares of customers or of £ owed.",
    )
    queue = param.Selector(
        default="All",
        objects=["All", *arrears.QUEUES],
        doc="Worklist queue shown (vulnerable customers are always in Support).",
    )
    as_of = param.CalendarDate(
        default=None,
        allow_None=True,
        doc="Date of knowledge; empty means the latest payment date in the data.",
    )
    default_rate_thresholds = param.Range(
        default=(0.06, 0.10),
        bounds=(0, 1),
        doc="Default rate: green below, red above (amber between).",
    )
    collection_rate_thresholds = param.Range(
        default=(0.90, 0.95),
        bounds=(0, 1),
        doc="Collection rate: red below, green above (amber between).",
    )
    customer_default_share_thresholds = param.Range(
        default=(0.25, 0.40),
        bounds=(0, 1),
        doc="Share of customers with a default: green below, red above.",
    )
    arrangement_kept_rate_thresholds = param.Range(
        default=(0.60, 0.75), bounds=(0, 1), doc="Arrangements kept: red below, green above."
    )

    cube = param.Parameter(
        default=None, doc="Pre-aggregated tables for the current window (output)."
    )
    monthly = param.DataFrame(default=None, doc="Bill figures per month of the selection (output).")
    monthly_by_segment = param.DataFrame(
        default=None, doc="Bill figures per month and segment value (output)."
    )
    by_segment = param.DataFrame(
        default=None, doc="Bill figures and customer counts per segment value (output)."
    )
    actions_by_type = param.DataFrame(
        default=None, doc="Actions per type in the selection (output)."
    )
    actions_monthly = param.DataFrame(
        default=None, doc="Actions per month and type in the selection (output)."
    )
    kpis = param.Dict(default={}, doc="Headline figures of the selection (output).")
    ageing = param.DataFrame(
        default=None, doc="Customers and arrears £ per bucket at each month-end (output)."
    )
    arrears_monthly = param.DataFrame(
        default=None,
        doc="Per month-end: customers on book, in arrears, share, arrears £, average (output).",
    )
    ageing_by_segment = param.DataFrame(
        default=None, doc="Arrears per month-end and segment value (output)."
    )
    transitions = param.DataFrame(
        default=None, doc="Month-on-month bucket transition matrix over the period (output)."
    )
    roll = param.DataFrame(default=None, doc="Monthly cure and forward roll rates (output).")
    vintage = param.DataFrame(
        default=None, doc="Default and arrears share by first-bill quarter and age (output)."
    )
    entries = param.DataFrame(
        default=None, doc="Arrears-entry cohorts and their cure rates (output)."
    )
    effectiveness = param.DataFrame(
        default=None, doc="Outcomes per action type, vulnerable customers apart (output)."
    )
    effectiveness_by_segment = param.DataFrame(
        default=None, doc="Outcomes per action type and segment value (output)."
    )
    funnel = param.DataFrame(
        default=None, doc="Customers reaching each collections stage in the period (output)."
    )
    worklist = param.DataFrame(
        default=None, doc="Customers in arrears now, most urgent first (output)."
    )
    tariffs = param.DataFrame(default=None, doc="Arrears and roll figures per tariff (output).")
    live_outputs = param.ListSelector(
        default=list(OUTPUTS),
        objects=list(OUTPUTS),
        doc="Outputs kept up to date on every change. The others are recomputed when they "
        "are listed again: a dashboard lists those of its open tab, so that a filter change "
        "computes only what is on screen.",
    )

    def __init__(self, portfolio: Portfolio | None = None, **params):
        self._portfolio = portfolio
        self._stale_updates: set[str] = set()
        super().__init__(**params)
        with param.parameterized.discard_events(self):
            self._update_cube()
            self._set_choices()
        self._update_bills()
        self._update_segment_trend()
        self._update_segments()
        self._update_actions()
        self._update_kpis()
        self._update_ageing()
        self._update_tariffs()
        self._update_ageing_by_segment()
        self._update_roll()
        self._update_entries()
        self._update_funnel()
        self._update_vintage()
        self._update_effectiveness()
        self._update_effectiveness_by_segment()
        self._update_worklist()

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

    # --- outputs ------------------------------------------------------------------------

    @param.depends("before", "after", "tolerance", "as_of", "bucket_edges", watch=True)
    def _update_cube(self) -> None:
        window, buckets = self.window, self.buckets
        as_of = None if self.as_of is None else pd.Timestamp(self.as_of)
        if self._portfolio is not None:
            self.cube = loader.cube_for(self._portfolio, window, as_of, buckets)
        else:
            self.cube = loader.load_cube(Path(self.source), window, as_of, buckets=buckets)

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

    @param.depends(*_FRAME_INPUTS, "include_immature", watch=True)
    @_produces("monthly")
    def _update_bills(self) -> None:
        self.monthly = cubes.aggregate_bills(
            self.cube, self.segment_mask, *self.month_range, ["month"], self.include_immature
        )

    @param.depends(*_FRAME_INPUTS, "include_immature", "segment_by", watch=True)
    @_produces("monthly_by_segment")
    def _update_segment_trend(self) -> None:
        dim, (start, end) = self.segment_by, self.month_range
        self.monthly_by_segment = cubes.aggregate_bills(
            self.cube, self.segment_mask, start, end, ["month", dim], self.include_immature
        )

    @param.depends(*_FRAME_INPUTS, "include_immature", "segment_by", watch=True)
    @_produces("by_segment")
    def _update_segments(self) -> None:
        dim, (start, end) = self.segment_by, self.month_range
        mask = self.segment_mask
        by_value = cubes.aggregate_bills(self.cube, mask, start, end, [dim], self.include_immature)
        customers = cubes.customers_by(self.cube, mask, start, end, dim, self.include_immature)
        position = by_value[dim].cat.codes.to_numpy()  # customers_by lists every category
        self.by_segment = by_value.assign(
            customers=customers["customers"].to_numpy()[position],
            customers_with_default=customers["customers_with_default"].to_numpy()[position],
        )

    @param.depends(*_FRAME_INPUTS, watch=True)
    @_produces("actions_by_type", "actions_monthly")
    def _update_actions(self) -> None:
        mask, (start, end) = self.segment_mask, self.month_range
        self.actions_by_type = cubes.count_actions(self.cube, mask, start, end, ["action"])
        self.actions_monthly = cubes.count_actions(self.cube, mask, start, end, ["month", "action"])

    @param.depends(*_FRAME_INPUTS, "include_immature", watch=True)
    @_produces("kpis")
    def _update_kpis(self) -> None:
        mask, (start, end) = self.segment_mask, self.month_range
        total = cubes.aggregate_bills(self.cube, mask, start, end, (), self.include_immature)
        with_bill, with_default = cubes.customers_with_default(
            self.cube, mask, start, end, self.include_immature
        )
        arrangements = cubes.arrangement_summary(self.cube, mask, start, end)
        row = total.iloc[0]
        self.kpis = {
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

    @param.depends(*_FRAME_INPUTS, watch=True)
    @_produces("ageing", "arrears_monthly")
    def _update_ageing(self) -> None:
        mask, (start, end) = self.segment_mask, self.month_range
        self.ageing = arrears.ageing(self.cube, mask, start, end)
        self.arrears_monthly = arrears.arrears_summary(self.ageing)

    @param.depends(*_FRAME_INPUTS, watch=True)
    @_produces("tariffs")
    def _update_tariffs(self) -> None:
        mask, (start, end) = self.segment_mask, self.month_range
        self.tariffs = arrears.segment_summary(self.cube, mask, start, end, "tariff")

    @param.depends(*_FRAME_INPUTS, "segment_by", watch=True)
    @_produces("ageing_by_segment")
    def _update_ageing_by_segment(self) -> None:
        mask, (start, end), dim = self.segment_mask, self.month_range, self.segment_by
        by_value = arrears.ageing(self.cube, mask, start, end, by=dim)
        self.ageing_by_segment = arrears.arrears_summary(by_value, by=dim)

    @param.depends(*_FRAME_INPUTS, watch=True)
    @_produces("transitions", "roll")
    def _update_roll(self) -> None:
        mask, (start, end) = self.segment_mask, self.month_range
        self.transitions = arrears.transition_matrix(self.cube, mask, start, end)
        self.roll = arrears.roll_rates(self.cube, mask, start, end)

    @param.depends(*_FRAME_INPUTS, watch=True)
    @_produces("entries")
    def _update_entries(self) -> None:
        mask, (start, end) = self.segment_mask, self.month_range
        self.entries = arrears.entry_cohorts(self.cube, mask, start, end)

    @param.depends(*_FRAME_INPUTS, watch=True)
    @_produces("funnel")
    def _update_funnel(self) -> None:
        mask, (start, end) = self.segment_mask, self.month_range
        self.funnel = arrears.funnel(self.cube, mask, start, end)

    @param.depends("cube", *FILTER_PARAMS, watch=True)
    @_produces("vintage")
    def _update_vintage(self) -> None:
        self.vintage = arrears.vintage(self.cube, self.segment_mask)

    @param.depends(*_FRAME_INPUTS, watch=True)
    @_produces("effectiveness")
    def _update_effectiveness(self) -> None:
        mask, (start, end) = self.segment_mask, self.month_range
        self.effectiveness = arrears.action_effectiveness(
            self.cube, mask, start, end, by="is_vulnerable"
        )

    @param.depends(*_FRAME_INPUTS, "segment_by", watch=True)
    @_produces("effectiveness_by_segment")
    def _update_effectiveness_by_segment(self) -> None:
        mask, (start, end) = self.segment_mask, self.month_range
        self.effectiveness_by_segment = arrears.action_effectiveness(
            self.cube, mask, start, end, by=self.segment_by
        )

    @param.depends("cube", *FILTER_PARAMS, "queue", watch=True)
    @_produces("worklist")
    def _update_worklist(self) -> None:
        rows = arrears.worklist(self.cube, self.segment_mask)
        if self.queue != "All":
            rows = rows.loc[rows["queue"] == self.queue].reset_index(drop=True)
        self.worklist = rows

    @param.depends("live_outputs", watch=True)
    def _catch_up(self) -> None:
        """Recompute the outputs that went stale while they were not live."""
        for name in _UPDATE_ORDER:
            if name in self._stale_updates:
                getattr(self, name)()

    # --- derived values ---------------------------------------------------------------

    @property
    def window(self) -> metrics.Window:
        """The payment window and tolerance as a :class:`metrics.Window`."""
        return metrics.Window(self.before, self.after, metrics.to_pence(self.tolerance))

    @property
    def buckets(self) -> metrics.Buckets:
        """The days-past-due buckets from :attr:`bucket_edges`."""
        return metrics.Buckets.parse(self.bucket_edges)

    @property
    def filters(self) -> dict[str, list]:
        """The active filters: dimension -> kept values (only non-empty ones)."""
        return {dim: list(getattr(self, dim)) for dim in FILTER_PARAMS if getattr(self, dim)}

    @property
    def segment_mask(self) -> np.ndarray:
        """Boolean mask over the cube's segments selected by the filters."""
        return cubes.segment_selection(self.cube, self.filters)

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


_UPDATE_ORDER = [
    name
    for name, member in vars(CollectionsModel).items()
    if name.startswith("_update_") and hasattr(member, "outputs")
]
"""The lazy output methods, in the order they are defined."""
