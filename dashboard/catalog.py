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
