"""The early-warning score: the probability that a customer Current at a month-end is 31+
days past due on some day within the next three month-ends; and, on the same machinery
(a :class:`Target`), the worklist's roll risk: the probability that a customer 1–90 days
past due is 91+ days past due within the next three month-ends.

``features`` (per customer partition, known at the scoring day only), ``book`` (the
partitions of a whole book), ``model`` (scikit-learn models, :func:`scores_at`),
``evaluate`` (out-of-time AUC, Brier, top-decile capture, calibration), ``anchor`` (the
bill-level task of the original's sister project) and ``plot`` (the calibration plot).
"""

from __future__ import annotations

from dashboard.score.evaluate import Evaluation, calibration_table, evaluation, metrics_of
from dashboard.score.features import EARLY_WARNING, FEATURES, ROLL_RISK, TARGETS, Target
from dashboard.score.model import DEFAULT_KIND, KINDS, Scorer, features_at, scores_at, train
from dashboard.score.plot import calibration_plot, save_calibration_plot

TARGET = EARLY_WARNING.text
"""The early-warning score's target in words."""

__all__ = [
    "DEFAULT_KIND",
    "EARLY_WARNING",
    "FEATURES",
    "KINDS",
    "ROLL_RISK",
    "TARGET",
    "TARGETS",
    "Target",
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
