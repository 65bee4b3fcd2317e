"""Out-of-time evaluation of the early-warning score: AUC, Brier score, top-decile capture
and a calibration table, for each model kind.

The test month-ends are the latest ones whose 3-month outcome is known by the as-of date;
the models train on the month-ends whose outcome was known on the first test month-end
(nothing of the test period leaks into training).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score

from dashboard.compute.engine import Engine
from dashboard.schema import Portfolio
from dashboard.score.book import feature_rows, month_end_grid
from dashboard.score.features import EARLY_WARNING, Target
from dashboard.score.model import (
    INPUTS,
    KINDS,
    SEED,
    as_of_or_default,
    day_number,
    fit,
    known_by,
    labelled_rows,
    training_columns,
)

TEST_MONTHS = 3
"""Month-ends in the out-of-time test."""
CALIBRATION_BINS = 10
"""Calibration bins: deciles of the score."""


@dataclass
class Evaluation:
    """What :func:`evaluation` measured.

    Attributes
    ----------
    metrics : DataFrame
        One row per model kind: ``auc``, ``brier``, ``top_decile_capture``,
        ``top_decile_rate``, ``base_rate``, ``test_rows``, ``train_rows``.
    calibration : DataFrame
        Per model and score decile: ``rows``, ``mean_score``, ``observed_rate``.
    train_month_ends, test_month_ends : DatetimeIndex
    as_of : Timestamp
    target : Target
    """

    metrics: pd.DataFrame
    calibration: pd.DataFrame
    train_month_ends: pd.DatetimeIndex
    test_month_ends: pd.DatetimeIndex
    as_of: pd.Timestamp
    scores: dict = field(default_factory=dict, repr=False)
    target: Target = EARLY_WARNING

    def table(self) -> str:
        """The evaluation as plain text (what ``score evaluate`` prints)."""
        lines = [
            f"as of {self.as_of:%Y-%m-%d}: trained on month-ends "
            f"{_span(self.train_month_ends)}, tested out of time on {_span(self.test_month_ends)}",
            f"target: {self.target.text}",
            "",
            self.metrics.to_string(float_format=lambda v: f"{v:.4f}"),
            "",
            "calibration (score deciles):",
            self.calibration.to_string(index=False, float_format=lambda v: f"{v:.4f}"),
        ]
        return "\n".join(lines)


def _span(months: pd.DatetimeIndex) -> str:
    if not len(months):
        return "(none)"
    return f"{months[0]:%Y-%m-%d} .. {months[-1]:%Y-%m-%d} ({len(months)})"


def top_decile_capture(labels: np.ndarray, scores: np.ndarray) -> float:
    """Share of all events among the 10% highest scores (ties broken by row order)."""
    labels = np.asarray(labels)
    events = labels.sum()
    if not events:
        return float("nan")
    top = np.argsort(-np.asarray(scores), kind="stable")[: int(np.ceil(len(scores) / 10))]
    return float(labels[top].sum() / events)


def calibration_table(
    labels: np.ndarray, scores: np.ndarray, bins: int = CALIBRATION_BINS
) -> pd.DataFrame:
    """Mean score and observed event rate per score quantile bin.

    Returns
    -------
    DataFrame
        ``bin`` (1 = lowest scores), ``rows``, ``mean_score``, ``observed_rate``.
    """
    order = np.argsort(np.asarray(scores), kind="stable")
    group = np.empty(len(order), dtype=np.int64)
    group[order] = np.arange(len(order)) * bins // max(len(order), 1)
    frame = pd.DataFrame({"bin": group + 1, "score": scores, "label": labels})
    table = frame.groupby("bin").agg(
        rows=("label", "size"), mean_score=("score", "mean"), observed_rate=("label", "mean")
    )
    return table.reset_index()


def metrics_of(labels: np.ndarray, scores: np.ndarray) -> dict:
    """AUC, Brier score, top-decile capture and rates of one set of scores."""
    labels = np.asarray(labels)
    both = len(np.unique(labels)) == 2
    top = np.argsort(-np.asarray(scores), kind="stable")[: int(np.ceil(len(scores) / 10))]
    return {
        "auc": roc_auc_score(labels, scores) if both else float("nan"),
        "brier": brier_score_loss(labels, scores) if len(labels) else float("nan"),
        "top_decile_capture": top_decile_capture(labels, scores),
        "top_decile_rate": float(labels[top].mean()) if len(top) else float("nan"),
        "base_rate": float(labels.mean()) if len(labels) else float("nan"),
        "test_rows": len(labels),
    }


def evaluation(
    portfolio: Portfolio,
    as_of: pd.Timestamp | None = None,
    kinds: tuple[str, ...] = KINDS,
    test_months: int = TEST_MONTHS,
    seed: int = SEED,
    engine: Engine | None = None,
    target: Target = EARLY_WARNING,
) -> Evaluation:
    """Train on past month-ends and test out of time on the latest labelled ones.

    Parameters
    ----------
    portfolio : Portfolio
    as_of : Timestamp, optional
        Date of knowledge (default: the latest payment date).
    kinds : tuple of str, optional
        Models to compare.
    test_months : int, optional
        Latest month-ends whose outcome is known by ``as_of`` held out for the test.
    seed : int, optional
        Fixes the training sample and the models: the same data give the same figures.
    engine : Engine, optional
    target : Target, optional
        Who is scored and what is predicted (default: the early-warning score).

    Returns
    -------
    Evaluation

    Raises
    ------
    ValueError
        When the data hold too few month-ends to train and test.
    """
    as_of = as_of_or_default(portfolio, as_of)
    portfolio = known_by(portfolio, as_of)
    snaps = month_end_grid(portfolio, as_of)
    labelled = training_columns(snaps, day_number(as_of))
    if len(labelled) < test_months + 1:
        raise ValueError("score evaluate: too few month-ends with a known 3-month outcome")
    test = labelled[-test_months:]
    train = training_columns(snaps, int(snaps[test[0]]))
    if not len(train):
        raise ValueError("score evaluate: no month-end's outcome was known before the test")
    train_rows = labelled_rows(portfolio, snaps, train, seed, engine, target)
    test_rows = feature_rows(portfolio, snaps, test, True, engine=engine, target=target)
    labels = test_rows["label"].to_numpy()
    metrics, calibration, scores = [], [], {}
    for kind in kinds:
        model = fit(train_rows, kind, seed)
        score = model.predict_proba(test_rows[list(INPUTS)])[:, 1]
        scores[kind] = score
        metrics.append({"model": kind, **metrics_of(labels, score), "train_rows": len(train_rows)})
        calibration.append(calibration_table(labels, score).assign(model=kind))
    months = pd.to_datetime(snaps, unit="D")
    return Evaluation(
        metrics=pd.DataFrame(metrics).set_index("model"),
        calibration=pd.concat(calibration, ignore_index=True)[
            ["model", "bin", "rows", "mean_score", "observed_rate"]
        ],
        train_month_ends=pd.DatetimeIndex(months[train]),
        test_month_ends=pd.DatetimeIndex(months[test]),
        as_of=as_of,
        scores={"labels": labels, **scores},
        target=target,
    )
