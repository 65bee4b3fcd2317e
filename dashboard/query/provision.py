"""Expected credit loss: the IFRS 9 simplified-approach provision matrix, on the built tables.

A loss rate per account-level ageing bucket times the arrears in that bucket is the expected
credit loss (ECL). The loss rate of a bucket comes from the book's own history: of the
arrears in the bucket at past month-ends, the share written off within the write-off horizon
after them (the cube's ``write_offs`` table links every write-off to the customer's bucket at
each month-end before it). Where a bucket's history holds too few write-offs, the rate is the
roll-rate chain instead: the product of the monthly roll rates from the bucket to the oldest
bucket, whose own rate is taken as 100%. Every figure at a month-end uses only what was known
at it: the cohorts whose horizon was over and the transitions up to it.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

import numpy as np
import pandas as pd

from dashboard.compute.partition import WRITE_OFF_HORIZONS, WRITE_OFF_MEASURES
from dashboard.query.selection import month_indexes, segment_sums

MIN_WRITE_OFFS = 30
"""A bucket's write-off rate is used when at least this many customer write-offs (customer
and month-end pairs) back it; otherwise the roll-rate chain is."""

WRITE_OFFS, ROLL_CHAIN, NO_HISTORY = "write-offs", "roll-rate chain", "no history"
"""How a bucket's loss rate was found."""


_SELECTED: WeakKeyDictionary = WeakKeyDictionary()
"""Per ledger tables: the last few selections' sums (read-only), shared by the provision
and forecast outputs of one filter change."""


def selected_table(cube, name: str, segments: np.ndarray) -> np.ndarray:
    """:func:`~dashboard.query.selection.segment_sums` of the built table ``name``
    (``ageing``, ``transitions``, ``write_offs``), remembered per cube for the last few
    selections.

    Parameters
    ----------
    cube : Cube
    name : str
    segments : ndarray of bool

    Returns
    -------
    ndarray of int64
        Read-only: the same array is handed to every caller of the same selection.
    """
    memo = _SELECTED.setdefault(cube.arrears, {})  # per cube: no stale answers
    key = (name, np.asarray(segments, dtype=bool).tobytes())
    if key not in memo:
        table = segment_sums(cube.arrears.sums[name], segments)
        table.setflags(write=False)
        memo[key] = table
        while len(memo) > 12:
            memo.pop(next(iter(memo)))
    return memo[key]


def window_sums(values: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Sums of ``values[first[t] .. last[t]]`` along axis 0 for every t (empty when
    ``last < first``; indexes clipped to the array), from one cumulative sum.

    Parameters
    ----------
    values : ndarray, shape (months, ...)
    first, last : ndarray of int, shape (t,)

    Returns
    -------
    ndarray, shape (t, ...)
    """
    n = len(values)
    running = np.concatenate([np.zeros((1, *values.shape[1:]), values.dtype), values.cumsum(0)])
    low = np.clip(first, 0, n)
    high = np.clip(last + 1, 0, n)
    return running[np.maximum(high, low)] - running[low]


def horizon_index(horizon: int) -> int:
    """Position of ``horizon`` in :data:`WRITE_OFF_HORIZONS` (ValueError when not built)."""
    if horizon not in WRITE_OFF_HORIZONS:
        choices = ", ".join(map(str, WRITE_OFF_HORIZONS))
        raise ValueError(f"write-off horizon {horizon}: choose one of {choices} months")
    return WRITE_OFF_HORIZONS.index(horizon)


def roll_chain(moved: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Roll rates to an older bucket and their chain to the oldest bucket.

    Parameters
    ----------
    moved : ndarray, shape (t, buckets, buckets)
        £ (pence) moving from bucket i at a month-end to bucket j at the next, pooled.
    counts : ndarray, shape (t, buckets, buckets)
        The same moves as customers (used for a bucket that held no £, such as Current).

    Returns
    -------
    (ndarray, ndarray), each (t, buckets)
        ``roll``: share of bucket i moving to an older bucket a month later (NaN for the
        oldest bucket or with nothing to divide); ``chain``: the product of the roll rates
        from the bucket to the oldest bucket, whose own loss rate is 1.
    """
    older = np.triu(np.ones(moved.shape[-2:], dtype=bool), k=1)
    weights = np.where((moved.sum(axis=-1) > 0)[..., None], moved, counts)
    total = weights.sum(axis=-1).astype(np.float64)
    rolled = (weights * older).sum(axis=-1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        roll = np.where(total > 0, rolled / np.where(total > 0, total, 1), np.nan)
    roll[..., -1] = np.nan
    chain = np.ones_like(roll)
    for bucket in range(roll.shape[-1] - 2, -1, -1):  # a loop over buckets (a handful)
        chain[..., bucket] = roll[..., bucket] * chain[..., bucket + 1]
    return roll, chain


def loss_rates(
    cube,
    segments: np.ndarray,
    months: np.ndarray,
    lookback: int = 24,
    horizon: int = 12,
    min_write_offs: int = MIN_WRITE_OFFS,
) -> dict[str, np.ndarray]:
    """Loss rate per bucket as known at each month-end ``months`` (selection pooled).

    Parameters
    ----------
    cube : Cube
    segments : ndarray of bool
    months : ndarray of int
        Month-end indexes the rates are wanted at.
    lookback : int, optional
        Month-end cohorts pooled: the ``lookback`` latest month-ends whose ``horizon`` is
        over at the month-end (write-off rates), and the moves of the ``lookback`` latest
        months up to it (roll rates).
    horizon : int, optional
        Months after a month-end within which a write-off counts (one of
        :data:`WRITE_OFF_HORIZONS`).
    min_write_offs : int, optional
        Fewer customer write-offs than this behind a bucket: the roll-rate chain is used.

    Returns
    -------
    dict of str to ndarray, each (len(months), buckets)
        ``rate`` (NaN with no history), ``method`` (:data:`WRITE_OFFS`, :data:`ROLL_CHAIN`
        or :data:`NO_HISTORY`), ``write_off_rate``, ``chain_rate``, ``roll_rate``, and the
        denominators ``history_pence`` (arrears of the pooled cohorts),
        ``written_off_pence``, ``write_offs`` (customer write-offs) and ``cohorts``
        (month-ends pooled, per row only).
    """
    horizon_index(horizon)
    pence = WRITE_OFF_MEASURES.index(f"written_off_{horizon}_pence")
    customers = WRITE_OFF_MEASURES.index(f"written_off_{horizon}_customers")
    ageing = selected_table(cube, "ageing", segments)
    linked = selected_table(cube, "write_offs", segments)
    first, last = months - horizon - lookback + 1, months - horizon
    history = window_sums(ageing[..., 1], first, last)
    written = window_sums(linked[..., pence], first, last)
    count = window_sums(linked[..., customers], first, last)
    moves = selected_table(cube, "transitions", segments)  # (months, from, to, 2)
    moved_first = np.maximum(months - lookback + 1, 1)
    pooled = window_sums(moves, moved_first, months)
    roll, chain = roll_chain(pooled[..., 1], pooled[..., 0])
    write_off_rate = np.where(history > 0, written / np.where(history > 0, history, 1), np.nan)
    enough = (count >= min_write_offs) & (history > 0)
    rate = np.where(enough, write_off_rate, chain)
    method = np.where(enough, WRITE_OFFS, np.where(np.isnan(chain), NO_HISTORY, ROLL_CHAIN))
    cohorts = np.clip(last + 1, 0, None) - np.clip(first, 0, None)
    return {
        "rate": rate,
        "method": method,
        "write_off_rate": write_off_rate,
        "chain_rate": chain,
        "roll_rate": roll,
        "history_pence": history,
        "written_off_pence": written,
        "write_offs": count,
        "cohorts": np.maximum(cohorts, 0),
    }


def adjusted(rate: np.ndarray, overlay: float) -> np.ndarray:
    """A loss rate with the forward-looking overlay: ``min(rate x (1 + overlay / 100), 1)``
    (``overlay`` in %, e.g. 10 raises every rate by a tenth); NaN stays NaN."""
    return np.minimum(rate * (1 + overlay / 100), 1.0)


def ecl_pence(balance_pence: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Expected credit loss in whole pence: ``round(balance x rate)``, 0 where the rate is
    unknown (NaN) or the balance nil."""
    return np.rint(np.nan_to_num(balance_pence * rate, nan=0.0)).astype(np.int64)


def provision_matrix(
    cube,
    segments: np.ndarray,
    start=None,
    end=None,
    lookback: int = 24,
    overlay: float = 0.0,
    horizon: int = 12,
) -> pd.DataFrame:
    """The provision matrix at the last month-end of ``[start, end]``.

    Parameters
    ----------
    cube : Cube
    segments : ndarray of bool
    start, end : Timestamp or None
        Month range (inclusive; None = open): the matrix is that of its last month-end.
    lookback : int, optional
        Cohorts pooled (:func:`loss_rates`).
    overlay : float, optional
        Forward-looking overlay in % of the historical rates.
    horizon : int, optional
        Write-off horizon in months.

    Returns
    -------
    DataFrame
        One row per bucket: ``month``, ``bucket``, ``customers`` (on book), ``balance``
        (arrears £), ``loss_rate`` (historical), ``adjusted_rate`` (with the overlay),
        ``ecl`` (£), ``coverage`` (ECL / balance), ``method``, ``roll_rate`` and the
        denominators ``history_balance`` (£ of the pooled cohorts), ``history_written_off``
        (£), ``write_offs`` (customer write-offs) and ``cohorts``. Empty when the range
        holds no month-end.
    """
    months = month_indexes(cube, start, end)[-1:]
    labels = list(cube.arrears.bucket_labels)
    columns = ["month", "bucket", "customers", "balance", "loss_rate", "adjusted_rate", "ecl"]
    columns += ["coverage", "method", "roll_rate", "history_balance", "history_written_off"]
    columns += ["write_offs", "cohorts"]
    if not len(months):
        empty = pd.DataFrame(columns=columns)
        empty.attrs.update(lookback=lookback, overlay=overlay, horizon=horizon)
        return empty
    rates = loss_rates(cube, segments, months, lookback, horizon)
    ageing = selected_table(cube, "ageing", segments)[months[-1]]
    balance = ageing[:, 1]
    rate = adjusted(rates["rate"][0], overlay)
    ecl = ecl_pence(balance, rate)
    frame = pd.DataFrame(
        {
            "month": cube.months[months[-1]],
            "bucket": pd.Categorical(labels, categories=labels, ordered=True),
            "customers": ageing[:, 0],
            "balance": balance / 100,
            "loss_rate": rates["rate"][0],
            "adjusted_rate": rate,
            "ecl": ecl / 100,
            "coverage": _ratio(ecl, balance),
            "method": rates["method"][0],
            "roll_rate": rates["roll_rate"][0],
            "history_balance": rates["history_pence"][0] / 100,
            "history_written_off": rates["written_off_pence"][0] / 100,
            "write_offs": rates["write_offs"][0],
            "cohorts": int(rates["cohorts"][0]),
        }
    )
    frame.attrs.update(lookback=lookback, overlay=overlay, horizon=horizon)
    return frame[columns]


def provision_by_month(
    cube,
    segments: np.ndarray,
    start=None,
    end=None,
    lookback: int = 24,
    overlay: float = 0.0,
    horizon: int = 12,
) -> pd.DataFrame:
    """ECL £ and coverage at every month-end of the range, each with the rates known then.

    Returns
    -------
    DataFrame
        ``month``, ``balance`` (arrears £), ``ecl`` (£; NaN when a bucket holding arrears
        has no history to give it a rate), ``coverage`` (ECL / arrears; NaN with no arrears)
        and ``method``: the method behind most of the month's arrears.
    """
    months = month_indexes(cube, start, end)
    if not len(months):
        return pd.DataFrame(columns=["month", "balance", "ecl", "coverage", "method"])
    rates = loss_rates(cube, segments, months, lookback, horizon)
    balance = selected_table(cube, "ageing", segments)[months][..., 1]
    ecl = ecl_pence(balance, adjusted(rates["rate"], overlay))
    share = {m: np.where(rates["method"] == m, balance, 0).sum(axis=1) for m in _METHODS}
    main = np.array(_METHODS)[np.argmax(np.stack(list(share.values()), axis=1), axis=1)]
    unknown = ((balance > 0) & np.isnan(rates["rate"])).any(axis=1)  # no rate for owed £
    totals = balance.sum(axis=1)
    losses = np.where(unknown, np.nan, ecl.sum(axis=1))
    return pd.DataFrame(
        {
            "month": cube.months[months],
            "balance": totals / 100,
            "ecl": losses / 100,
            "coverage": _ratio(losses, totals),
            "method": np.where(totals > 0, main, NO_HISTORY),
        }
    )


def provision_by_segment(
    cube,
    segments: np.ndarray,
    start=None,
    end=None,
    by: str = "income_band",
    lookback: int = 24,
    overlay: float = 0.0,
    horizon: int = 12,
) -> pd.DataFrame:
    """ECL £ and coverage per value of ``by`` at the range's last month-end.

    Every group's bucket balances are multiplied by the selection's loss rates (pooled: a
    segment's own write-offs are too few for rates of its own), so the coverage of a group
    differs from another's through its ageing mix.

    Returns
    -------
    DataFrame
        ``by``, ``customers`` in arrears, ``balance`` (arrears £), ``ecl`` (£) and
        ``coverage``; values with no customer on book are left out.
    """
    months = month_indexes(cube, start, end)[-1:]
    values = cube.segments[by]
    if not len(months):
        return pd.DataFrame(columns=[by, "customers", "balance", "ecl", "coverage"])
    rate = adjusted(loss_rates(cube, segments, months, lookback, horizon)["rate"][0], overlay)
    groups = np.zeros((len(segments), len(values.cat.categories)))
    groups[np.arange(len(segments)), values.cat.codes.to_numpy()] = segments
    ageing = np.rint(cube.arrears.sums["ageing"][months[-1]] @ groups).astype(np.int64)
    balance = ageing[:, 1, :]  # (buckets, groups)
    ecl = ecl_pence(balance, rate[:, None]).sum(axis=0)
    total = balance.sum(axis=0)
    frame = pd.DataFrame(
        {
            by: pd.Categorical.from_codes(np.arange(groups.shape[1]), dtype=values.dtype),
            "customers": ageing[1:, 0, :].sum(axis=0),
            "on_book": ageing[:, 0, :].sum(axis=0),
            "balance": total / 100,
            "ecl": ecl / 100,
            "coverage": _ratio(ecl, total),
        }
    )
    keep = frame["on_book"] > 0
    return frame.loc[keep].drop(columns="on_book").reset_index(drop=True)


_METHODS = (WRITE_OFFS, ROLL_CHAIN, NO_HISTORY)


def _ratio(numerator, denominator) -> np.ndarray:
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan
        )
