"""The early-warning models: a scaled logistic regression (the baseline) and histogram
gradient boosting, both scikit-learn, trained on past month-ends.

:func:`train` fits one on the month-ends whose 3-month outcome is known by the as-of date;
:func:`scores_at` scores every customer of the target's population (Current, for the
early-warning score) on the as-of date.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from dashboard.compute.engine import Engine
from dashboard.compute.outcomes import latest_payment_date
from dashboard.schema import Portfolio
from dashboard.score.book import DIMENSIONS, FLAGS, feature_rows, first_date, month_end_grid
from dashboard.score.features import (
    EARLY_WARNING,
    FEATURES,
    HISTORY_MONTHS,
    MONTHS_AHEAD,
    Target,
    snapshot_grid,
)

KINDS = ("logistic", "boosting")
"""``logistic``: standard-scaled features and one-hot dimensions into a logistic
regression; ``boosting``: ``HistGradientBoostingClassifier`` with native categoricals."""
DEFAULT_KIND = EARLY_WARNING.model
"""The model ``scores_at`` fits for the early-warning score (see README: boosting did not
earn its place there; it did for the roll risk, :data:`ROLL_RISK`'s ``model``)."""
SEED = 17
"""The fixed seed of every sample and model: the same data give the same scores."""
TRAIN_CUSTOMERS = 200_000
"""Training samples at most this many customers (seeded) ..."""
TRAIN_ROWS = 600_000
"""... and keeps about this many (customer, month-end) rows: training time and memory
stay flat as the book grows."""
INPUTS = (*FEATURES, *FLAGS, *DIMENSIONS)
"""The model's input columns."""


class CategoryCodes(TransformerMixin, BaseEstimator):
    """Pandas categorical columns as their integer codes among the categories seen in
    fitting (-1 for a value not seen then).

    One-hot encoding these integers gives the columns and the unknown-value handling of
    encoding the categoricals themselves, without the object arrays scikit-learn makes of
    them (on 330,000 rows: 70% of a prediction's time).
    """

    def fit(self, frame: pd.DataFrame, y=None) -> CategoryCodes:
        """Remember each column's categories."""
        self.categories_ = [frame[name].cat.categories for name in frame.columns]
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The codes, one column per input column."""
        codes = [
            _codes_among(frame[name], categories)
            for name, categories in zip(frame.columns, self.categories_, strict=True)
        ]
        return np.column_stack(codes) if codes else np.zeros((len(frame), 0), dtype=np.int8)


def _codes_among(column: pd.Series, categories: pd.Index) -> np.ndarray:
    """Each value's position in ``categories`` (-1: not there, or missing); a categorical
    column is mapped category by category, not value by value."""
    if not isinstance(column.dtype, pd.CategoricalDtype):
        return pd.Index(categories).get_indexer(column)
    mapping = pd.Index(categories).get_indexer(column.cat.categories)
    codes = column.cat.codes.to_numpy()
    if not len(mapping):
        return np.full(len(codes), -1, dtype=np.int64)
    return np.where(codes >= 0, mapping.take(np.maximum(codes, 0)), -1)


def make_model(kind: str = DEFAULT_KIND, seed: int = SEED):
    """An unfitted scikit-learn classifier of the given kind (:data:`KINDS`).

    Parameters
    ----------
    kind : str
    seed : int

    Returns
    -------
    sklearn estimator
        Takes a frame of :data:`INPUTS` (dimensions as pandas categoricals).
    """
    if kind == "logistic":
        one_hot = Pipeline(
            [("codes", CategoryCodes()), ("one_hot", OneHotEncoder(handle_unknown="ignore"))]
        )
        prepare = ColumnTransformer(
            [
                ("numbers", StandardScaler(), [*FEATURES, *FLAGS]),
                ("dimensions", one_hot, list(DIMENSIONS)),
            ]
        )
        return Pipeline([("prepare", prepare), ("model", LogisticRegression(C=1.0, max_iter=2000))])
    if kind == "boosting":
        return HistGradientBoostingClassifier(
            learning_rate=0.1,
            max_iter=150,
            max_leaf_nodes=31,
            min_samples_leaf=100,
            l2_regularization=1.0,
            early_stopping=True,
            validation_fraction=0.1,
            n_iter_no_change=20,
            categorical_features="from_dtype",
            random_state=seed,
        )
    raise ValueError(f"unknown model {kind!r}: choose one of {', '.join(KINDS)}")


def training_columns(snaps: np.ndarray, through: int) -> np.ndarray:
    """Month-end columns whose label window ends on or before day ``through``."""
    return np.flatnonzero(snaps[MONTHS_AHEAD:] <= through)


def training_sample(
    n_customers: int, n_columns: int, seed: int = SEED, row_share: float = 1.0
) -> tuple[np.ndarray | None, float]:
    """The seeded customer sample (None: everyone) and row share for training, for a
    population of about ``row_share`` of the (customer, month-end) rows (:class:`Target`)."""
    keep = None
    if n_customers > TRAIN_CUSTOMERS:
        rng = np.random.default_rng(seed)
        keep = np.zeros(n_customers, dtype=bool)
        keep[rng.choice(n_customers, TRAIN_CUSTOMERS, replace=False)] = True
    sampled = min(n_customers, TRAIN_CUSTOMERS) * max(n_columns, 1) * row_share
    return keep, min(1.0, TRAIN_ROWS / max(sampled, 1))


def labelled_rows(
    portfolio: Portfolio,
    snaps: np.ndarray,
    columns: np.ndarray,
    seed: int = SEED,
    engine: Engine | None = None,
    target: Target = EARLY_WARNING,
) -> pd.DataFrame:
    """Labelled feature rows of ``columns``, on the seeded training sample."""
    keep, share = training_sample(len(portfolio.customers), len(columns), seed, target.row_share)
    return feature_rows(portfolio, snaps, columns, True, keep, share, seed, engine, target)


@dataclass
class Scorer:
    """A fitted early-warning model and what it was trained on.

    Attributes
    ----------
    model : sklearn estimator
    kind : str
    trained_through : Timestamp
        The as-of date: every training label was known on it.
    training_rows : int
    base_rate : float
        Share of training rows in which the event happened.
    target : Target
        Who is scored and what is predicted.
    """

    model: object
    kind: str
    trained_through: pd.Timestamp
    training_rows: int
    base_rate: float
    target: Target = EARLY_WARNING

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        """Probabilities of the event for feature rows."""
        if not len(rows):
            return np.zeros(0)
        return self.model.predict_proba(rows[list(INPUTS)])[:, 1]


def fit(rows: pd.DataFrame, kind: str = DEFAULT_KIND, seed: int = SEED):
    """Fit a model of ``kind`` on labelled feature rows.

    Raises
    ------
    ValueError
        When the rows hold one class only (nothing to learn).
    """
    labels = rows["label"].to_numpy()
    if len(np.unique(labels)) < 2:
        raise ValueError("score: the training months hold one outcome only; nothing to learn")
    return make_model(kind, seed).fit(rows[list(INPUTS)], labels)


def train(
    portfolio: Portfolio,
    as_of: pd.Timestamp | None = None,
    kind: str | None = None,
    seed: int = SEED,
    engine: Engine | None = None,
    target: Target = EARLY_WARNING,
) -> Scorer:
    """Fit a model of ``target`` on the month-ends whose outcome is known by ``as_of``.

    Parameters
    ----------
    portfolio : Portfolio
    as_of : Timestamp, optional
        Date of knowledge (default: the latest payment date); rows after it are dropped.
    kind : str, optional
        :data:`KINDS` (default: the target's ``model``).
    seed : int, optional
    engine : Engine, optional
    target : Target, optional
        Default: the early-warning score's.

    Returns
    -------
    Scorer
    """
    as_of = as_of_or_default(portfolio, as_of)
    portfolio = known_by(portfolio, as_of)
    snaps = month_end_grid(portfolio, as_of)
    columns = training_columns(snaps, day_number(as_of))
    if not len(columns):
        raise ValueError(
            f"score: no month-end before {as_of:%Y-%m-%d} has a known 3-month outcome to train on"
        )
    rows = labelled_rows(portfolio, snaps, columns, seed, engine, target)
    kind = kind or target.model
    model = fit(rows, kind, seed)
    return Scorer(model, kind, as_of, len(rows), float(rows["label"].mean()), target)


def features_at(
    portfolio: Portfolio,
    day: pd.Timestamp,
    engine: Engine | None = None,
    target: Target = EARLY_WARNING,
) -> pd.DataFrame:
    """Feature rows of every customer of ``target``'s population (default: Current) on
    ``day`` (rows after it never count).

    Returns
    -------
    DataFrame
        ``customer_id``, ``customer`` (code), the features and the dimensions.
    """
    day = pd.Timestamp(day).normalize()
    portfolio = known_by(portfolio, day)
    # the last 13 snapshots hold every window a feature reads (cumulative amounts are
    # totals to date whatever the grid's start)
    snaps = snapshot_grid(day, first_date(portfolio))[-(HISTORY_MONTHS + 1) :]
    last = np.array([len(snaps) - 1])
    rows = feature_rows(portfolio, snaps, last, False, engine=engine, target=target)
    ids = portfolio.customers["customer_id"].to_numpy()
    rows.insert(0, "customer_id", ids[rows["customer"].to_numpy(np.int64)])
    return rows


def scores_at(
    portfolio: Portfolio,
    as_of: pd.Timestamp | None = None,
    scorer: Scorer | None = None,
    kind: str | None = None,
    seed: int = SEED,
    engine: Engine | None = None,
    target: Target = EARLY_WARNING,
) -> pd.Series:
    """The score of every customer of the target's population on ``as_of`` (by default
    the early-warning score of every customer Current on it).

    Parameters
    ----------
    portfolio : Portfolio
    as_of : Timestamp, optional
        Scoring day (default: the latest payment date).
    scorer : Scorer, optional
        A fitted model (default: :func:`train` on the month-ends before ``as_of``).
    kind, seed, engine, target : optional
        Passed to :func:`train` (``target`` when no scorer is given: a scorer brings its own).

    Returns
    -------
    Series
        Probability of the target's event (31+ days past due on some day within the next
        three month-ends, for the early-warning score), indexed by ``customer_id`` (name
        ``score``), in customer order.
    """
    as_of = as_of_or_default(portfolio, as_of)
    if scorer is None:
        scorer = train(portfolio, as_of, kind, seed, engine, target)
    rows = features_at(portfolio, as_of, engine, scorer.target)
    return pd.Series(
        scorer.predict(rows), index=pd.Index(rows["customer_id"], name="customer_id"), name="score"
    )


def as_of_or_default(portfolio: Portfolio, as_of) -> pd.Timestamp:
    """``as_of`` as a day, or the latest payment date when None."""
    if as_of is None:
        as_of = latest_payment_date(portfolio.payments)
    return pd.Timestamp(as_of).normalize()


def day_number(when: pd.Timestamp) -> int:
    """Days since 1970-01-01 of a date."""
    return int((pd.Timestamp(when) - pd.Timestamp("1970-01-01")).days)


def known_by(portfolio: Portfolio, as_of: pd.Timestamp) -> Portfolio:
    """The portfolio as known on ``as_of`` (:func:`dashboard.cube.pipeline.known_on`)."""
    from dashboard.cube.pipeline import known_on  # the build's own as-of cut

    return known_on(portfolio, as_of)
