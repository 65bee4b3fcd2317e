"""The early-warning score: the probability that a customer Current at a month-end is 31+
days past due on some day within the next three month-ends.

``features`` (per customer partition, known at the scoring day only), ``book`` (the
partitions of a whole book), ``model`` (scikit-learn models, :func:`scores_at`),
``evaluate`` (out-of-time AUC, Brier, top-decile capture, calibration), ``anchor`` (the
bill-level task of the original's sister project) and ``plot`` (the calibration plot).
"""

from __future__ import annotations

from dashboard.score.evaluate import Evaluation, calibration_table, evaluation, metrics_of
from dashboard.score.features import FEATURES, MONTHS_AHEAD, SERIOUS_DAYS
from dashboard.score.model import DEFAULT_KIND, KINDS, Scorer, features_at, scores_at, train
from dashboard.score.plot import calibration_plot, save_calibration_plot

TARGET = (
    f"{SERIOUS_DAYS}+ days past due (account level) on some day within the next "
    f"{MONTHS_AHEAD} month-ends, for customers Current (0 days past due) at the scoring day"
)
"""The score's target in words."""

__all__ = [
    "DEFAULT_KIND",
    "FEATURES",
    "KINDS",
    "TARGET",
    "Evaluation",
    "Scorer",
    "calibration_plot",
    "calibration_table",
    "evaluation",
    "features_at",
    "metrics_of",
    "save_calibration_plot",
    "scores_at",
    "train",
]
