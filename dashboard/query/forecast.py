"""The arrears forecast: a Markov chain of ageing buckets on the built tables, its backtest
and a what-if.

From a month-end (the origin), customers in each past-due bucket move a month at a time by
the pooled transition matrix of the ``lookback`` months up to the origin (staying, rolling
to an older bucket, or curing: leaving the chain for Current), and each month the average
inflow of those months (customers moving from Current into a past-due bucket) joins. Arrears
£ per bucket are the projected customers times the bucket's average arrears per customer
at the origin. The interval is the spread (10th to 90th percentile) of the
projections made with each single month's matrix and inflow. The backtest makes the same
forecast at every past month-end with a full lookback and compares it with what happened.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.query.provision import selected_table, window_sums
from dashboard.query.selection import month_indexes

HORIZONS = 6
"""Months projected ahead."""

INTERVAL = (0.1, 0.9)
"""Quantiles of the single-month projections that bound the interval."""


def chain_inputs(cube, segments: np.ndarray, origins: np.ndarray, lookback: int) -> dict:
    """The pooled chain of each origin month-end: matrix, inflow, average arrears, state.

    Parameters
    ----------
    cube : Cube
    segments : ndarray of bool
    origins : ndarray of int
        Month-end indexes.
    lookback : int
        Months of moves pooled (those ending at ``origin - lookback + 1 .. origin``).

    Returns
    -------
    dict of str to ndarray
        ``matrix`` (origins, buckets, buckets): share of each bucket's customers in each
        bucket a month later (rows with nobody: staying put); ``inflow`` (origins,
        buckets): customers moving from Current into each bucket per month, averaged;
        ``average`` (origins, buckets): arrears pence per customer at the origin (over the
        lookback's month-ends for a bucket empty at the origin); ``customers`` and
        ``arrears`` (origins, buckets): the state at the origin. Bucket 0 (Current) is
        kept in the arrays; the chain runs over the past-due buckets.
    """
    moves = selected_table(cube, "transitions", segments)[..., 0]  # customers
    ageing = selected_table(cube, "ageing", segments)
    first = np.maximum(origins - lookback + 1, 1)
    pooled = window_sums(moves, first, origins)
    months = np.maximum(origins - first + 1, 1)[:, None]
    stock = window_sums(ageing[..., :2], np.maximum(origins - lookback + 1, 0), origins)
    inflow = pooled[:, 0, :] / months
    inflow[:, 0] = 0
    now = ageing[origins, :, :2]
    average = np.where(
        now[..., 0] > 0,
        _divide(now[..., 1], now[..., 0]),
        _divide(stock[..., 1], stock[..., 0]),
    )
    return {
        "matrix": row_shares(pooled),
        "inflow": inflow,
        "average": average,
        "customers": now[..., 0],
        "arrears": now[..., 1],
    }


def row_shares(counts: np.ndarray) -> np.ndarray:
    """Transition counts (..., from, to) -> shares of each row; a row with nobody stays put
    (the identity row), so a bucket no one left keeps whoever enters it."""
    total = counts.sum(axis=-1, keepdims=True).astype(np.float64)
    eye = np.broadcast_to(np.eye(counts.shape[-1]), counts.shape)
    return np.where(total > 0, counts / np.where(total > 0, total, 1), eye)


def what_if(
    matrix: np.ndarray, inflow: np.ndarray, cure_shift: float = 0.0, inflow_shift: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Move the cure rate by ``cure_shift`` points and the inflow by ``inflow_shift`` %.

    Parameters
    ----------
    matrix : ndarray (..., buckets, buckets)
        Row shares (Current first).
    inflow : ndarray (..., buckets)
    cure_shift : float, optional
        Points added to every past-due bucket's share moving to Current (clipped to 0-100%);
        the bucket's other moves shrink or grow in proportion, so each row still sums to 1.
    inflow_shift : float, optional
        % change of the new-arrears inflow.

    Returns
    -------
    (ndarray, ndarray)
        The changed matrix and inflow (new arrays).
    """
    matrix = np.array(matrix, dtype=np.float64)
    cure = matrix[..., 1:, 0]
    moved = np.clip(cure + cure_shift / 100, 0, 1)
    rest = 1 - cure
    scale = np.where(rest > 0, (1 - moved) / np.where(rest > 0, rest, 1), 0)
    matrix[..., 1:, 1:] *= scale[..., None]
    matrix[..., 1:, 0] = np.where(rest > 0, moved, cure)
    return matrix, np.asarray(inflow, dtype=np.float64) * (1 + inflow_shift / 100)


def project(state: np.ndarray, matrix: np.ndarray, inflow: np.ndarray, steps: int) -> np.ndarray:
    """Customers per past-due bucket ``1 .. steps`` months after the origin.

    ``x[k + 1] = x[k] @ Q + u``: ``Q`` is the matrix among the past-due buckets (those
    who cure leave), ``u`` the monthly inflow from Current.

    Parameters
    ----------
    state : ndarray (..., buckets)
        Customers per bucket at the origin (Current first; Current is not projected).
    matrix : ndarray (..., buckets, buckets)
    inflow : ndarray (..., buckets)
    steps : int

    Returns
    -------
    ndarray (..., steps, buckets)
        Current's column is 0.
    """
    q = matrix[..., 1:, 1:]
    x = np.asarray(state, dtype=np.float64)[..., 1:]
    batch = np.broadcast_shapes(x.shape, inflow[..., 1:].shape, q.shape[:-1])[:-1]
    out = np.zeros((*batch, steps, matrix.shape[-1]))
    for step in range(steps):  # a loop over the horizons (a handful)
        x = np.einsum("...i,...ij->...j", x, q) + inflow[..., 1:]
        out[..., step, 1:] = x
    return out


def forecast(
    cube,
    segments: np.ndarray,
    start=None,
    end=None,
    lookback: int = 12,
    cure_shift: float = 0.0,
    inflow_shift: float = 0.0,
    steps: int = HORIZONS,
    history: int = 12,
) -> pd.DataFrame:
    """Arrears £ and customers per past-due bucket, the last ``history`` month-ends and the
    ``steps`` months after the range's last month-end.

    Parameters
    ----------
    cube : Cube
    segments : ndarray of bool
    start, end : Timestamp or None
        Month range: the origin is its last month-end.
    lookback : int, optional
        Months of transitions pooled.
    cure_shift, inflow_shift : float, optional
        What-if (:func:`what_if`): points of cure rate, % of inflow.
    steps : int, optional
    history : int, optional
        Month-ends of actual figures before and at the origin.

    Returns
    -------
    DataFrame
        ``month``, ``horizon`` (0 for actuals, 1.. for the forecast), ``kind`` ("actual",
        "forecast"), ``bucket``, ``customers``, ``arrears`` (£), the baseline forecast
        without the what-if ``baseline_customers``, ``baseline_arrears``, and the interval
        ``customers_low`` .. ``arrears_high`` (NaN for actuals).
    """
    months = month_indexes(cube, start, end)
    labels = list(cube.arrears.bucket_labels)
    if not len(months):
        empty = pd.DataFrame(columns=_FORECAST_COLUMNS)
        empty.attrs.update(lookback=lookback, cure_shift=cure_shift, inflow_shift=inflow_shift)
        return empty
    origin = months[-1:]
    inputs = chain_inputs(cube, segments, origin, lookback)
    matrix, inflow = what_if(inputs["matrix"], inputs["inflow"], cure_shift, inflow_shift)
    baseline = project(inputs["customers"], inputs["matrix"], inputs["inflow"], steps)[0]
    changed = project(inputs["customers"], matrix, inflow, steps)[0]
    low, high = _single_month_spread(cube, segments, origin[0], lookback, steps, inputs)
    if low is None:  # no month of moves yet: no spread
        low, high = baseline, baseline
    low, high = _shifted(low, baseline, changed), _shifted(high, baseline, changed)
    average = inputs["average"][0] / 100
    seen = months[-history:]
    ageing = selected_table(cube, "ageing", segments)[seen]
    future = pd.date_range(cube.months[origin[0]], periods=steps + 1, freq="MS")[1:]
    nan = np.full((len(seen), len(labels)), np.nan)
    customers = np.concatenate([ageing[..., 0], changed])
    arrears = np.concatenate([ageing[..., 1] / 100, changed * average])
    baseline_customers = np.concatenate([ageing[..., 0], baseline])
    baseline_arrears = np.concatenate([ageing[..., 1] / 100, baseline * average])
    rows = len(seen) + steps
    frame = pd.DataFrame(
        {
            "month": np.repeat(np.concatenate([cube.months[seen], future]), len(labels) - 1),
            "horizon": np.repeat(
                np.r_[np.zeros(len(seen), int), np.arange(1, steps + 1)], len(labels) - 1
            ),
            "kind": pd.Categorical.from_codes(
                np.repeat(np.r_[np.zeros(len(seen), int), np.ones(steps, int)], len(labels) - 1),
                categories=["actual", "forecast"],
            ),
            "bucket": pd.Categorical.from_codes(
                np.tile(np.arange(1, len(labels)), rows), categories=labels, ordered=True
            ),
            "customers": _past_due(customers),
            "arrears": _past_due(arrears),
            "baseline_customers": _past_due(baseline_customers),
            "baseline_arrears": _past_due(baseline_arrears),
            "customers_low": _past_due(np.concatenate([nan, low])),
            "customers_high": _past_due(np.concatenate([nan, high])),
            "arrears_low": _past_due(np.concatenate([nan, low * average])),
            "arrears_high": _past_due(np.concatenate([nan, high * average])),
        }
    )
    frame.attrs.update(lookback=lookback, cure_shift=cure_shift, inflow_shift=inflow_shift)
    return frame


_FORECAST_COLUMNS = [
    "month",
    "horizon",
    "kind",
    "bucket",
    "customers",
    "arrears",
    "baseline_customers",
    "baseline_arrears",
    "customers_low",
    "customers_high",
    "arrears_low",
    "arrears_high",
]


def backtest(
    cube, segments: np.ndarray, start=None, end=None, lookback: int = 12, steps: int = HORIZONS
) -> pd.DataFrame:
    """The forecast made at every past month-end of the range with a full lookback, against
    what happened: one row per origin and horizon.

    Returns
    -------
    DataFrame
        ``origin``, ``month`` (forecast month-end), ``horizon``, ``customers`` and
        ``arrears`` (£; past-due buckets summed), ``actual_customers``,
        ``actual_arrears``, the absolute percentage errors ``customers_ape``,
        ``arrears_ape`` (NaN when the actual is 0), and whether the actual fell within the
        10-90% band of the total (the single-month projections' percentiles of the sum
        over past-due buckets) ``customers_in_band``, ``arrears_in_band``.
    """
    months = month_indexes(cube, start, end)
    origins = months[(months >= lookback) & (months < months[-1])] if len(months) else months
    columns = ["origin", "month", "horizon", "customers", "arrears"]
    columns += ["actual_customers", "actual_arrears", "customers_ape", "arrears_ape"]
    columns += ["customers_in_band", "arrears_in_band"]
    if not len(origins):
        return pd.DataFrame(columns=columns)
    inputs = chain_inputs(cube, segments, origins, lookback)
    customers = project(inputs["customers"], inputs["matrix"], inputs["inflow"], steps)
    arrears = customers * inputs["average"][:, None, :]
    target = origins[:, None] + np.arange(1, steps + 1)[None, :]
    seen = target <= months[-1]
    ageing = selected_table(cube, "ageing", segments)
    actual = ageing[np.minimum(target, len(ageing) - 1)][..., 1:, :2].sum(axis=-2)
    o, h = np.nonzero(seen)
    predicted_customers = customers[o, h, 1:].sum(axis=-1)
    predicted_arrears = arrears[o, h, 1:].sum(axis=-1)
    frame = pd.DataFrame(
        {
            "origin": cube.months[origins[o]],
            "month": cube.months[target[o, h]],
            "horizon": h + 1,
            "customers": predicted_customers,
            "arrears": predicted_arrears / 100,
            "actual_customers": actual[o, h, 0],
            "actual_arrears": actual[o, h, 1] / 100,
        }
    )
    frame["customers_ape"] = _ape(frame["customers"], frame["actual_customers"])
    frame["arrears_ape"] = _ape(frame["arrears"], frame["actual_arrears"])
    low, high = _total_bands(cube, segments, origins, lookback, steps, inputs)
    for index, name in enumerate(("customers", "arrears")):
        seen_value = actual[o, h, index]  # customers, pence: exact integers
        inside = (low[index][o, h] <= seen_value) & (seen_value <= high[index][o, h])
        frame[f"{name}_in_band"] = inside
    return frame[columns]


def _total_bands(cube, segments, origins, lookback: int, steps: int, inputs):
    """Per origin and step, the 10th and 90th percentiles of the total customers and
    arrears pence (past-due buckets summed) over the projections made with each single
    month's matrix of the origin's lookback: ``(low, high)``, each a pair of
    (origins, steps) arrays (customers, pence)."""
    moves = selected_table(cube, "transitions", segments)[..., 0]
    window = origins[:, None] - np.arange(lookback)[None, :]  # every month >= 1 here
    single = moves[window]  # (origins, lookback, buckets, buckets)
    inflow = single[:, :, 0, :].astype(np.float64)
    inflow[..., 0] = 0
    state = inputs["customers"][:, None, :]
    paths = project(state, row_shares(single), inflow, steps)  # (origins, L, steps, buckets)
    customers = paths[..., 1:].sum(axis=-1)
    pence = (paths * inputs["average"][:, None, None, :])[..., 1:].sum(axis=-1)
    low = [np.quantile(v, INTERVAL[0], axis=1) for v in (customers, pence)]
    high = [np.quantile(v, INTERVAL[1], axis=1) for v in (customers, pence)]
    return low, high


def backtest_summary(backtest_frame: pd.DataFrame, steps: int = HORIZONS) -> pd.DataFrame:
    """Mean absolute percentage error per horizon.

    Parameters
    ----------
    backtest_frame : DataFrame
        From :func:`backtest`.

    Returns
    -------
    DataFrame
        ``horizon`` (1 .. steps), ``origins`` (forecasts compared), ``customers_mape`` and
        ``arrears_mape`` (NaN with none), and ``customers_in_band``, ``arrears_in_band``:
        the share of actuals within the forecast's 10-90% band (about 80% when the band is
        right).
    """
    horizon = backtest_frame["horizon"].to_numpy(np.int64) - 1
    size = steps  # horizons 1 .. steps as bins 0 .. steps - 1
    origins = np.bincount(horizon, minlength=size)[:size]
    frame = {"horizon": np.arange(1, steps + 1), "origins": origins}
    columns = ("customers_ape", "arrears_ape", "customers_in_band", "arrears_in_band")
    names = ("customers_mape", "arrears_mape", "customers_in_band", "arrears_in_band")
    for column, name in zip(columns, names, strict=True):
        values = backtest_frame[column].to_numpy(np.float64)
        known = ~np.isnan(values)
        total = np.bincount(horizon[known], weights=values[known], minlength=size)[:size]
        count = np.bincount(horizon[known], minlength=size)[:size]
        with np.errstate(divide="ignore", invalid="ignore"):
            frame[name] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return pd.DataFrame(frame)


def _single_month_spread(cube, segments, origin: int, lookback: int, steps: int, inputs):
    """Low and high quantiles of the projections with each single month's matrix
    ((None, None) with no month of moves up to the origin)."""
    moves = selected_table(cube, "transitions", segments)[..., 0]
    window = np.arange(max(origin - lookback + 1, 1), origin + 1)
    if not len(window):
        return None, None
    single = moves[window]
    inflow = single[:, 0, :].astype(np.float64)
    inflow[:, 0] = 0
    paths = project(inputs["customers"][0][None, :], row_shares(single), inflow, steps)
    return np.quantile(paths, INTERVAL[0], axis=0), np.quantile(paths, INTERVAL[1], axis=0)


def _shifted(bound: np.ndarray, baseline: np.ndarray, changed: np.ndarray) -> np.ndarray:
    """An interval bound moved with the what-if (by the change of the point forecast)."""
    return np.maximum(bound + changed - baseline, 0)


def _past_due(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)[:, 1:].ravel()


def _divide(numerator, denominator) -> np.ndarray:
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), 0.0)


def _ape(predicted: pd.Series, actual: pd.Series) -> np.ndarray:
    actual = actual.to_numpy(np.float64)
    error = np.abs(predicted.to_numpy(np.float64) - actual)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(actual > 0, error / np.where(actual > 0, actual, 1), np.nan)
