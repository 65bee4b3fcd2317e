"""The catalogue of figures: every metric and headline figure declared once.

A :class:`Metric` is a column of the bill tables the trend and segment charts can draw; a
:class:`KPI` is a headline figure of the selection with its green/amber/red thresholds. The
model builds its ``metric`` choices and its ``*_thresholds`` parameters from here, the views
their labels, number formats and colours, the static export its metric control and its PNG
figures. A new metric is one entry here plus its computation in :mod:`dashboard.query`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Unit = Literal["rate", "pounds"]
Better = Literal["higher", "lower"]


@dataclass(frozen=True)
class Metric:
    """A figure of the bill tables, per month or segment.

    Attributes
    ----------
    name : str
        Its column in the frames of :mod:`dashboard.query.bills`.
    label : str
        What the page calls it.
    unit : {"rate", "pounds"}
        A share (formatted 0.0%) or an amount (£0,0).
    better : {"higher", "lower"} or None
        Which way is good (None: neither, e.g. an amount billed).
    numerator, denominator : str
        For a rate, its count columns (every rate carries its denominator; the collection
        rate's numerator is money, ``min(paid in window, bill)`` summed in pence).
    figure : str or None
        File name (without ``.png``) of its monthly PNG figure, if it has one.
    help : str
        What it means, in a sentence (the selector's and README's definition).
    """

    name: str
    label: str
    unit: Unit
    better: Better | None = None
    numerator: str = ""
    denominator: str = ""
    figure: str | None = None
    help: str = ""

    @property
    def is_rate(self) -> bool:
        """Whether the metric is a share (drawn as a percentage)."""
        return self.unit == "rate"


@dataclass(frozen=True)
class KPI:
    """A headline figure of the selection, drawn as a gauge with coloured bands.

    Attributes
    ----------
    name : str
        Its key in the model's ``kpis`` output.
    label : str
    better : {"higher", "lower"}
    thresholds : (float, float)
        Default band edges: good beyond the first (in the ``better`` direction), bad beyond
        the second.
    dial : (float, float)
        The gauge's range, in percent.
    """

    name: str
    label: str
    better: Better
    thresholds: tuple[float, float]
    dial: tuple[float, float] = (0, 100)

    @property
    def threshold_param(self) -> str:
        """The model parameter holding this KPI's thresholds."""
        return f"{self.name}_thresholds"

    def threshold_doc(self) -> str:
        """The ``doc=`` of the threshold parameter."""
        low, high = ("red", "green") if self.better == "higher" else ("green", "red")
        return f"{self.label}: {low} below, {high} above (amber between)."


METRICS: tuple[Metric, ...] = (
    Metric(
        "default_rate",
        "Default rate",
        "rate",
        better="lower",
        numerator="counted_defaults",
        denominator="counted_bills",
        figure="monthly_default_rate",
        help=(
            "Default rate (original definition): the share of bills whose payments from 3 "
            "days before to 60 days after the due date fall short by more than the "
            "tolerance — a missed payment within 60 days, not a credit default."
        ),
    ),
    Metric(
        "collection_rate",
        "Collection rate",
        "rate",
        better="higher",
        denominator="counted_bills",
        figure="collection_rate_monthly",
    ),
    Metric("billed", "Billed £", "pounds", figure="billed_monthly"),
    Metric(
        "cash_received",
        "Cash received £",
        "pounds",
        better="higher",
        help="Payments received in the month, by payment date (each pound counted once).",
    ),
)
"""The metrics of the trend and segment charts, in the order offered."""

KPIS: tuple[KPI, ...] = (
    KPI("default_rate", "Default rate", "lower", (0.06, 0.10), dial=(0, 30)),
    KPI("collection_rate", "Collection rate", "higher", (0.90, 0.95)),
    KPI("customer_default_share", "Customers with a default", "lower", (0.25, 0.40)),
    KPI("arrangement_kept_rate", "Arrangements kept", "higher", (0.60, 0.75)),
)
"""The headline gauges, in the order shown."""

METRIC = {metric.name: metric for metric in METRICS}
"""Metric by column name."""

KPI_BY_NAME = {kpi.name: kpi for kpi in KPIS}
"""KPI by name."""


def metric_choices() -> dict[str, str]:
    """Label -> column of every metric, the choices of a metric selector.

    Returns
    -------
    dict of str to str
    """
    return {metric.label: metric.name for metric in METRICS}


Judged = Literal["value", "change"]


@dataclass(frozen=True)
class Headline:
    """A headline tile of the first screen: a figure at the period's last month-end.

    Attributes
    ----------
    name : str
        Its column in the model's ``headline["trend"]`` frame.
    label : str
    unit : {"rate", "pounds", "count"}
        How the value is written (0.0%, £0,0 or 0,0).
    better : {"higher", "lower"}
    status : str
        The column its colour is judged on (the value itself, or a related rate).
    judged : {"value", "change"}
        Whether the thresholds apply to ``status`` or to its relative change since the
        month-end before (for amounts, whose size depends on the book).
    thresholds : (float, float)
        Default band edges, as fractions: good beyond the first (in the ``better``
        direction), bad beyond the second.
    help : str
        Its definition, shown in the tile's help.
    """

    name: str
    label: str
    unit: Literal["rate", "pounds", "count"]
    better: Better
    status: str
    judged: Judged
    thresholds: tuple[float, float]
    help: str

    @property
    def threshold_param(self) -> str:
        """The parameter holding this tile's thresholds."""
        return f"{self.name}_tile_thresholds"

    def threshold_doc(self) -> str:
        """The ``doc=`` of the threshold parameter."""
        what = "month-on-month change" if self.judged == "change" else "value"
        low, high = ("red", "green") if self.better == "higher" else ("green", "red")
        return f"{self.label} tile, on its {what}: {low} below, {high} above (amber between)."


HEADLINES: tuple[Headline, ...] = (
    Headline(
        "arrears",
        "Total arrears",
        "pounds",
        "lower",
        "arrears",
        "change",
        (0.0, 0.02),
        "Money past due at the month-end, every bucket after Current. Green when it fell "
        "since the month-end before, red when it grew by more than the upper threshold.",
    ),
    Headline(
        "in_arrears",
        "Customers in arrears",
        "count",
        "lower",
        "share_in_arrears",
        "value",
        (0.05, 0.10),
        "Customers on book past due at the month-end; coloured by their share of the "
        "customers on book (shown under the count).",
    ),
    Headline(
        "oldest_share",
        "Oldest debt share",
        "rate",
        "lower",
        "oldest_share",
        "value",
        (0.30, 0.50),
        "Share of the arrears £ in the last days-past-due bucket (91+ days with the "
        "default bucket edges): the debt least likely to be collected.",
    ),
    Headline(
        "cash_to_billed",
        "Cash vs billed",
        "rate",
        "higher",
        "cash_to_billed",
        "value",
        (0.95, 1.0),
        "Payments received in the month / bills falling due in the month. Below 100% "
        "the book takes in less than it bills.",
    ),
    Headline(
        "cei",
        "Collection effectiveness",
        "rate",
        "higher",
        "cei",
        "value",
        (0.60, 0.80),
        "CEI = (opening receivables + billed − closing receivables) / (opening "
        "receivables + billed − closing current receivables), over the month. Receivables "
        "are the arrears (money due and unpaid), billed the money falling due in the month, "
        "current receivables the arrears 0 days past due (nil here: a bill is past due the "
        "day after its due date).",
    ),
    Headline(
        "cure_rate",
        "Cure rate",
        "rate",
        "higher",
        "cure_rate",
        "value",
        (0.10, 0.20),
        "Customers past due at the month-end before who are Current at this one / "
        "customers past due at the month-end before.",
    ),
    Headline(
        "new_in_arrears",
        "New arrears",
        "count",
        "lower",
        "new_arrears_rate",
        "value",
        (0.01, 0.03),
        "Customers Current at the month-end before and past due at this one; coloured by "
        "their share of the Current customers. The £ shown is the arrears now in the first "
        "past-due bucket.",
    ),
)
"""The headline tiles of the first screen, in the order shown."""

HEADLINE = {headline.name: headline for headline in HEADLINES}
"""Headline tile by name."""
