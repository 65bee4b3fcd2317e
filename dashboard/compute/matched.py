"""A matched comparison for collections actions that have no randomised holdout.

Customers who get an action differ from those who do not in who they are; comparing them
with customers *like them* who got none says more about what the action did. The unit is a
customer in arrears at a month-end (the *start* of the next month), in a *stratum*: their
account bucket and arrears band then. In that month they are **acted on** (one row per
action type they received) or get **no action** (no action of any type; a recorded holdout
is no action). The outcome, the same window for both: paid at least min(£10, their arrears
at the start) from the start to :data:`MATCH_PAY_DAYS` days after the month's end, counted
once that day is on or before as-of. :func:`matched_counts` gives the additive counts per
(month, segment, stratum, group); :mod:`dashboard.query.ledger` turns them into an uplift
standardised over the acted-on customers' strata.
"""

from __future__ import annotations

import numpy as np

from dashboard.compute.arrays import EventIndex, SparseSums

MATCH_PAY_DAYS = 30
"""The outcome window ends this many days after the month in which the action came."""

ARREARS_BANDS_PENCE = (10_000, 50_000)
"""Arrears bands of the strata: under £100, £100 to £499.99, £500 or more."""

ARREARS_BAND_LABELS = ("under £100", "£100–£500", "£500+")

MATCHED_MEASURES = ("customers", "paid")
"""Per (month, segment, stratum, group): customer-months decided, and those who paid."""


def matched_counts(
    arrears: np.ndarray,
    bucket: np.ndarray,
    segment: np.ndarray,
    snaps: np.ndarray,
    as_of_day: int,
    payments: tuple[np.ndarray, np.ndarray, np.ndarray],
    actions: tuple[np.ndarray, np.ndarray, np.ndarray],
    shape: tuple[int, int, int, int],
    min_payment_pence: int,
) -> np.ndarray:
    """Acted-on and no-action customer-months per stratum, and those who paid.

    Parameters
    ----------
    arrears, bucket : ndarray, shape (customers, months)
        Arrears pence and account bucket at each month-end.
    segment : ndarray of int
        Each customer's segment.
    snaps : ndarray of int
        The month-end day numbers.
    as_of_day : int
    payments : (ndarray, ndarray, ndarray)
        Customer numbers, days and pence of the partition's payments.
    actions : (ndarray, ndarray, ndarray)
        Customer numbers, month index (of :data:`snaps`) and type (0 .. types - 1, or -1
        for a holdout or a type left out) of the partition's actions.
    shape : (months, segments, buckets, types)
        The table's months, segments, buckets (Current included) and action types.
    min_payment_pence : int
        The outcome: paid at least min(this, arrears at the start).

    Returns
    -------
    SparseSums
        Of the table (months, segments, strata, types + 1, 2), mostly empty. Stratum
        ``(bucket - 1) * bands + band``; group ``t`` = acted on with type ``t``, the last
        group = no action; :data:`MATCHED_MEASURES`. Month ``m`` holds the customers
        in arrears at month-end ``m - 1`` (month 0 is empty).
    """
    k, n_segments, n_buckets, n_types = shape
    n_bands = len(ARREARS_BANDS_PENCE) + 1
    strata, groups = (n_buckets - 1) * n_bands, n_types + 1
    if k < 2:
        return SparseSums.of(np.zeros(0, dtype=np.int64), [None, np.zeros(0)])
    n = len(segment)
    decided = snaps[1:] + MATCH_PAY_DAYS <= as_of_day  # month m = 1 .. k - 1
    owing = arrears[:, :-1]
    customer, column = np.nonzero((owing > 0) & decided[None, :])
    month = column + 1
    owed = owing[customer, column]
    band = np.searchsorted(np.asarray(ARREARS_BANDS_PENCE), owed, side="right")
    stratum = (np.maximum(bucket[customer, column], 1) - 1) * n_bands + band
    start, end = snaps[column], snaps[column + 1] + MATCH_PAY_DAYS
    index = EventIndex.covering(*payments, start, end)
    paid = index.sums(customer, start, end) >= np.minimum(min_payment_pence, owed)
    # the action types each customer received in each month (holdouts are no action)
    act_customer, act_month, act_type = actions
    kept = (act_type >= 0) & (act_month >= 1) & (act_month < k)
    acted = np.zeros((n * k, max(n_types, 1)), dtype=bool)
    acted[act_customer[kept] * k + act_month[kept], act_type[kept]] = True
    got = acted[customer * k + month][:, :n_types]
    row, kind = np.nonzero(got)
    none = np.flatnonzero(~got.any(axis=1))
    rows = np.concatenate([row, none])
    group = np.concatenate([kind, np.full(len(none), n_types)])
    key = ((month[rows] * n_segments + segment[customer[rows]]) * strata + stratum[rows]) * groups
    key += group
    return SparseSums.of(key, [None, paid[rows].astype(np.float64)])
