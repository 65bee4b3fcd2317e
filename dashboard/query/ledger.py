"""Ledger queries: the aggregated ledger -> ageing, arrears by month, roll and cure,
cohorts, action effectiveness, the funnel and per-segment summaries. Each is a sum of
small dense tables over the selected segments (one matrix product).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.compute.partition import (
    ACTION_MEASURES,
    CLEAR_DAYS,
    CURE_AFTER,
    MOVEMENT_MEASURES,
    PAY_DAYS,
)
from dashboard.query.selection import month_indexes, month_range, month_span, segment_sums
from dashboard.vocab import ACTIONS, HELD_OUT


def segment_groups(
    cube, segments: np.ndarray, by: str | None
) -> tuple[np.ndarray, pd.Categorical | None]:
    """A (segments, groups) 0/1 matrix that sums selected segments into groups of ``by``.

    Parameters
    ----------
    cube : Cube
    segments : ndarray of bool
        Selected segments.
    by : str or None
        A customer dimension, or None for one group (the whole selection).

    Returns
    -------
    (ndarray, Categorical or None)
        The matrix and the group labels (None for one group).
    """
    if by is None:
        return segments[:, None].astype(np.int64), None
    values = cube.segments[by]
    size = len(values.cat.categories)
    matrix = np.zeros((len(segments), size), dtype=np.int64)
    matrix[np.arange(len(segments)), values.cat.codes.to_numpy()] = segments
    labels = pd.Categorical.from_codes(np.arange(size), dtype=values.dtype)
    return matrix, labels


AGEING_LEVELS = ("bill", "account")
"""Bill level: each unpaid bill's amount in the bucket of its own days past due (how
finance ages debt); account level: a customer's whole arrears in their oldest bucket (what
roll rates need)."""


def ageing(
    cube,
    segments: np.ndarray,
    start=None,
    end=None,
    by: str | None = None,
    level: str = "account",
) -> pd.DataFrame:
    """Customers on book and money per days-past-due bucket at each month-end.

    Parameters
    ----------
    cube : Cube
    segments : ndarray of bool
    start, end : Timestamp or None
        Month range (inclusive; None = open).
    by : str, optional
        A dimension to split by.
    level : {"account", "bill"}, optional
        :data:`AGEING_LEVELS`: at bill level the past-due buckets' ``arrears`` are the
        unpaid bills' amounts in their own buckets and ``customers`` those with an amount
        in the bucket (a customer can count in several); Current, ``credit`` and
        ``billed`` are the account level's.

    Returns
    -------
    DataFrame
        ``month``, ``by`` (when given), ``bucket`` (ordered categorical), ``customers``,
        ``arrears``, ``credit`` and ``billed`` (pounds due to date); one row per month x
        group x bucket.
    """
    if level not in AGEING_LEVELS:
        raise ValueError(f"ageing level {level!r}: one of {AGEING_LEVELS}")
    tables = cube.arrears
    months = month_indexes(cube, start, end)
    matrix, labels = segment_groups(cube, segments, by)
    sums = np.moveaxis(segment_sums(tables.sums["ageing"][month_span(months)], matrix), -1, 1)
    if level == "bill":  # past-due buckets: arrears and customers of the unpaid bills
        bills = np.moveaxis(
            segment_sums(tables.sums["bill_ageing"][month_span(months)], matrix), -1, 1
        )
        sums[:, :, 1:, 1] = bills[:, :, 1:, 0]
        sums[:, :, 1:, 0] = bills[:, :, 1:, 1]
    m, g, b = np.meshgrid(
        months, np.arange(matrix.shape[1]), np.arange(sums.shape[2]), indexing="ij"
    )
    frame = {"month": cube.months[m.ravel()]}
    if by is not None:
        frame[by] = labels[g.ravel()]
    frame["bucket"] = pd.Categorical.from_codes(
        b.ravel(), categories=list(tables.bucket_labels), ordered=True
    )
    flat = sums.reshape(-1, sums.shape[-1])
    frame["customers"] = flat[:, 0]
    frame["arrears"] = flat[:, 1] / 100
    frame["credit"] = flat[:, 2] / 100
    frame["billed"] = flat[:, 3] / 100
    return pd.DataFrame(frame)


MOVEMENT_COLUMNS = {
    "opening_arrears_pence": "opening_arrears",
    "opening_credit_pence": "opening_credit",
    "due_pence": "fell_due",
    "cash_pence": "cash",
    "written_off_pence": "written_off",
    "other_adjustments_pence": "other_adjustments",
    "arrears_pence": "closing_arrears",
    "credit_pence": "closing_credit",
}
"""Column of :func:`movement` for each of :data:`MOVEMENT_MEASURES`."""


def movement(cube, segments: np.ndarray, start=None, end=None) -> pd.DataFrame:
    """How arrears moved in each month: opening + fell due - cash - written off + other
    adjustments = closing (arrears net of credit on account).

    Parameters
    ----------
    cube : Cube
    segments : ndarray of bool
    start, end : Timestamp or None
        Month range (inclusive; None = open).

    Returns
    -------
    DataFrame
        ``month`` and, in pounds, ``opening_arrears``, ``opening_credit``, ``fell_due``
        (bills falling due), ``cash`` (payments received), ``written_off``,
        ``other_adjustments`` (credits, rebills and transfers: their effect on the
        balance), ``closing_arrears`` and ``closing_credit``.
    """
    return pd.DataFrame(movement_columns(cube, segments, month_indexes(cube, start, end)))


def movement_columns(cube, segments: np.ndarray, months: np.ndarray) -> dict[str, np.ndarray]:
    """The columns of :func:`movement` at consecutive month indexes (``months``)."""
    sums = segment_sums(cube.arrears.sums["movement"][month_span(months)], segments)
    columns = {"month": cube.months[months]}
    for index, name in enumerate(MOVEMENT_MEASURES):
        columns[MOVEMENT_COLUMNS[name]] = sums[:, index] / 100
    return columns


def arrears_summary(ageing_frame: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Per month (and group): customers on book, in arrears, share, arrears £, average.

    Parameters
    ----------
    ageing_frame : DataFrame
        From :func:`ageing`.
    by : str, optional
        The dimension the frame is split by.

    Returns
    -------
    DataFrame
        ``month``, ``by``, ``customers``, ``in_arrears``, ``share_in_arrears`` (NaN only
        with nobody on book: customers on book of whom none owes are 0%), ``arrears`` and
        ``billed`` (£ due to date) and
        ``average_arrears`` (£ per customer in arrears; NaN with nobody in arrears).
    """
    keys = ["month"] if by is None else ["month", by]
    owing = ageing_frame["bucket"].cat.codes.to_numpy() > 0
    frame = ageing_frame.assign(in_arrears=np.where(owing, ageing_frame["customers"], 0))
    total = frame.groupby(keys, observed=True, sort=True)[
        ["customers", "in_arrears", "arrears", "billed"]
    ].sum()
    total = total.reset_index()
    with np.errstate(divide="ignore", invalid="ignore"):
        total["share_in_arrears"] = np.where(
            total["customers"] > 0, total["in_arrears"] / total["customers"], np.nan
        )
        total["average_arrears"] = np.where(
            total["in_arrears"] > 0, total["arrears"] / total["in_arrears"], np.nan
        )
    return total


def transition_matrix(cube, segments: np.ndarray, start=None, end=None) -> pd.DataFrame:
    """Month-on-month moves between buckets over the months ending in ``[start, end]``.

    Returns
    -------
    DataFrame
        ``from_bucket``, ``to_bucket``, ``customers``, ``arrears`` (£ past due the month
        before), ``owed`` (£ owed the month before including bills issued and not yet due:
        the £ roll rates' weight, so Current -> 1–30 exists in £), and ``customer_share`` /
        ``arrears_share`` / ``owed_share``: each row's share of its ``from_bucket`` (rows
        sum to 1; NaN for a bucket nobody was in).
    """
    tables = cube.arrears
    months = month_indexes(cube, start, end)
    months = months[months >= 1]
    sums = segment_sums(tables.month_total("transitions", months), segments)
    n = sums.shape[0]
    labels = list(tables.bucket_labels)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    customers, arrears, owed = sums[..., 0], sums[..., 1], sums[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        customer_share = customers / customers.sum(axis=1, keepdims=True)
        arrears_share = arrears / arrears.sum(axis=1, keepdims=True)
        owed_share = owed / owed.sum(axis=1, keepdims=True)
    return pd.DataFrame(
        {
            "from_bucket": pd.Categorical.from_codes(i.ravel(), categories=labels, ordered=True),
            "to_bucket": pd.Categorical.from_codes(j.ravel(), categories=labels, ordered=True),
            "customers": customers.ravel(),
            "arrears": arrears.ravel() / 100,
            "owed": owed.ravel() / 100,
            "customer_share": customer_share.ravel(),
            "arrears_share": arrears_share.ravel(),
            "owed_share": owed_share.ravel(),
        }
    )


def roll_rates(cube, segments: np.ndarray, start=None, end=None) -> pd.DataFrame:
    """Monthly cure rate and forward roll rates.

    Returns
    -------
    DataFrame
        ``month``; ``cure_rate`` = customers in arrears last month-end who are Current
        now / customers in arrears last month-end; ``roll_current`` = Current -> first
        bucket / Current; ``roll_first`` = first -> second bucket / first bucket; with
        their denominators ``in_arrears_before``, ``current_before``, ``first_before``;
        the counts ``cured`` (past due -> Current) and ``new_in_arrears`` (Current -> any
        past-due bucket). NaN where a denominator is 0.
    """
    months = month_indexes(cube, start, end)
    return pd.DataFrame(roll_columns(cube, segments, months[months >= 1]))


def roll_columns(cube, segments: np.ndarray, months: np.ndarray) -> dict[str, np.ndarray]:
    """The columns of :func:`roll_rates` at consecutive month indexes (``months``, none of
    them the cube's first: it has no month-end before)."""
    counts = segment_sums(cube.arrears.sums["transitions"][month_span(months), :, :, 0], segments)
    in_arrears = counts[:, 1:, :].sum(axis=(1, 2))
    cured = counts[:, 1:, 0].sum(axis=1)
    current = counts[:, 0, :].sum(axis=1)
    first = counts[:, 1, :].sum(axis=1)
    second = counts[:, 1, 2] if counts.shape[1] > 2 else np.zeros(len(months), np.int64)
    return {
        "month": cube.months[months],
        "cure_rate": ratio(cured, in_arrears),
        "roll_current": ratio(counts[:, 0, 1], current),
        "roll_first": ratio(second, first),
        "in_arrears_before": in_arrears,
        "current_before": current,
        "first_before": first,
        "cured": cured,
        "new_in_arrears": counts[:, 0, 1:].sum(axis=1),
    }


def ratio(numerator, denominator) -> np.ndarray:
    """``numerator / denominator`` as float64, NaN where the denominator is not positive
    (counts or pounds alike).

    Parameters
    ----------
    numerator, denominator : array-like

    Returns
    -------
    ndarray of float64
    """
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    positive = denominator > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(positive, numerator / np.where(positive, denominator, 1), np.nan)


BACK_BOOK = "Back book"
"""The vintage row of customers already on book when the data begins (first bill in its
first month): their months on book count from then, not from when they joined."""


def vintage(cube, segments: np.ndarray) -> pd.DataFrame:
    """Vintage curves: the back book, then new customers by quarter of first bill, by
    months on book.

    Returns
    -------
    DataFrame
        ``cohort`` (:data:`BACK_BOOK`, then e.g. ``"2022 Q1"``: customers first billed in
        that quarter after the data's first month), ``months_on_book``, ``customers``,
        ``default_rate`` (share with a mature default so far; NaN where the cohort's
        bills of that age may still be immature) and ``arrears_share`` (share in arrears
        at that month-end). Only cells with customers.
    """
    tables = cube.arrears
    sums = segment_sums(tables.sums["vintage"], segments)
    cohort, mob = np.nonzero(sums[..., 0])
    first = cube.months[0]
    first_month = first.year * 12 + first.month - 1
    quarter_start = first_month // 3 * 3
    start_month = np.where(cohort == 0, first_month, quarter_start + (cohort - 1) * 3)
    labels = [
        BACK_BOOK if c == 0 else f"{m // 12} Q{m % 12 // 3 + 1}"
        for c, m in zip(cohort, start_month, strict=True)
    ]
    latest_start = np.where(cohort == 0, start_month, start_month + 2)  # its latest joiner
    latest_month = latest_start + mob - first_month
    mature = latest_month <= _last_mature_month(cube)
    values = sums[cohort, mob]
    return pd.DataFrame(
        {
            "cohort": labels,
            "months_on_book": mob,
            "customers": values[:, 0],
            "default_rate": np.where(mature, ratio(values[:, 1], values[:, 0]), np.nan),
            "arrears_share": ratio(values[:, 2], values[:, 0]),
        }
    )


def _last_mature_month(cube) -> int:
    """Index of the last cube month whose bills are all mature (-1 when none)."""
    bills = cube.bills.groupby("month")[["bills", "mature_bills"]].sum()
    mature = (bills["bills"] == bills["mature_bills"]).to_numpy()
    if not mature.any():
        return -1
    last = bills.index[np.flatnonzero(mature)[-1]]
    return (last.year - cube.months[0].year) * 12 + last.month - cube.months[0].month


def entry_cohorts(cube, segments: np.ndarray, start=None, end=None) -> pd.DataFrame:
    """Customers first reaching serious arrears per month, and their cure rates.

    Returns
    -------
    DataFrame
        ``month`` of entry, ``entered``, and for h in :data:`CURE_AFTER`
        ``cured_after_h`` (share Current h month-ends later, among those observed that
        long; NaN when none is), ``observed_h`` and ``cured_h`` (the counts it divides).
    """
    tables = cube.arrears
    months = month_indexes(cube, start, end)
    sums = segment_sums(tables.sums["entries"][month_span(months)], segments)
    frame = {"month": cube.months[months], "entered": sums[:, 0]}
    for position, h in enumerate(CURE_AFTER):
        frame[f"observed_{h}"] = sums[:, 1 + position]
        frame[f"cured_{h}"] = sums[:, 1 + len(CURE_AFTER) + position]
    return _with_cure_rates(pd.DataFrame(frame))


def _with_cure_rates(counts: pd.DataFrame) -> pd.DataFrame:
    """``counts`` with ``cured_after_h`` = ``cured_h / observed_h`` for each h."""
    rates = {
        f"cured_after_{h}": ratio(counts[f"cured_{h}"], counts[f"observed_{h}"]) for h in CURE_AFTER
    }
    return counts.assign(**rates)


ENTRY_PERIODS = {"month": "M", "quarter": "Q", "year": "Y"}
"""The periods arrears-entry cohorts can be pooled by, finest first (pandas' codes)."""


def pooled_entry_cohorts(entries: pd.DataFrame, period: str) -> pd.DataFrame:
    """Arrears-entry cohorts pooled by ``period`` of entry: counts summed, rates anew.

    Parameters
    ----------
    entries : DataFrame
        :func:`entry_cohorts` (one row per month of entry).
    period : {"month", "quarter", "year"}

    Returns
    -------
    DataFrame
        ``month`` (the period's first month), ``entered``, ``observed_h``, ``cured_h`` and
        ``cured_after_h`` (the pooled counts' ratio, not an average of monthly rates).
    """
    counts = ["entered", *(f"{kind}_{h}" for h in CURE_AFTER for kind in ("observed", "cured"))]
    start = entries["month"].dt.to_period(ENTRY_PERIODS[period]).dt.start_time
    pooled = entries[counts].groupby(start.rename("month"), sort=True).sum().reset_index()
    return _with_cure_rates(pooled)


def entry_period(entries: pd.DataFrame, min_sample: int) -> str:
    """The finest period of entry whose cohorts are mostly large enough to read.

    A period is chosen when at least half of its cohorts with anyone entering have
    ``min_sample`` customers or more; a year when none is.

    Parameters
    ----------
    entries : DataFrame
        :func:`entry_cohorts`.
    min_sample : int
        The sample size under which a cell is greyed.

    Returns
    -------
    str
        ``"month"``, ``"quarter"`` or ``"year"``.
    """
    return readable_entry_cohorts(entries, min_sample)[0]


def readable_entry_cohorts(entries: pd.DataFrame, min_sample: int) -> tuple[str, pd.DataFrame]:
    """The cohorts of :func:`entry_period`'s period, pooled once: ``(period, pooled)``.

    Parameters
    ----------
    entries : DataFrame
        :func:`entry_cohorts`.
    min_sample : int
        The sample size under which a cell is greyed.

    Returns
    -------
    tuple of (str, DataFrame)
        The period and :func:`pooled_entry_cohorts` of it.
    """
    for period in ("month", "quarter"):
        pooled = pooled_entry_cohorts(entries, period)
        entered = pooled["entered"][pooled["entered"] > 0]
        if len(entered) and (entered >= min_sample).mean() >= 0.5:
            return period, pooled
    return "year", pooled_entry_cohorts(entries, "year")


def action_effectiveness(
    cube, segments: np.ndarray, start=None, end=None, by: str | None = None
) -> pd.DataFrame:
    """Per action type (and group): how often customers paid or cleared afterwards.

    Returns
    -------
    DataFrame
        ``action``, ``by`` (when given), ``actions``, ``in_arrears`` and the rates
        ``paid_14_rate``, ``paid_30_rate``, ``cleared_60_rate`` (each over the in-arrears
        actions whose horizon is over by the as-of date; NaN when none is), with their
        denominators ``decided_14`` ...
    """
    tables = cube.arrears
    months = month_indexes(cube, start, end, tables.actions.shape[0])
    matrix, labels = segment_groups(cube, segments, by)
    sums = np.moveaxis(segment_sums(tables.month_total("actions", months), matrix), -1, 1)
    a, g = np.meshgrid(np.arange(sums.shape[0]), np.arange(sums.shape[1]), indexing="ij")
    flat = sums.reshape(-1, sums.shape[-1])
    types = _action_type_labels(cube)
    frame = {"action": pd.Categorical.from_codes(a.ravel(), categories=types)}
    if by is not None:
        frame[by] = labels[g.ravel()]
    measures = dict(zip(ACTION_MEASURES, flat.T, strict=True))
    frame["actions"] = measures["actions"]
    frame["in_arrears"] = measures["in_arrears"]
    for days in PAY_DAYS:
        frame[f"paid_{days}_rate"] = ratio(measures[f"paid_{days}"], measures[f"decided_{days}"])
        frame[f"decided_{days}"] = measures[f"decided_{days}"]
    frame[f"cleared_{CLEAR_DAYS}_rate"] = ratio(
        measures[f"cleared_{CLEAR_DAYS}"], measures[f"decided_{CLEAR_DAYS}"]
    )
    frame[f"decided_{CLEAR_DAYS}"] = measures[f"decided_{CLEAR_DAYS}"]
    return pd.DataFrame(frame)


Z_95 = 1.959963984540054
"""The normal quantile of a two-sided 95% interval."""

HOLDOUT_OF = {HELD_OUT: ACTIONS[0]}
"""Which action type each holdout type stands in for (a held-out reminder: Reminder Sent)."""


def action_uplift(cube, segments: np.ndarray, start=None, end=None) -> pd.DataFrame:
    """What each action type *does*: its customers' outcome beside a fair comparison group.

    Where the data records a randomised holdout (``Reminder Held Out`` actions: customers a
    reminder was due to and deliberately not sent) the type is compared with it: paid at
    least min(£10, arrears) within 30 days of the action day, for customers in arrears on
    it whose 30 days are over. Other types get a **matched comparison**
    (:mod:`dashboard.compute.matched`): customers in arrears at a month-end who got the
    action in the next month beside customers in the same bucket and arrears band at the
    same month-end who got no action that month; outcome, for both, paid at least
    min(£10, arrears) by 30 days after that month. The difference is standardised over the
    acted-on customers' strata (each stratum weighted by its acted-on customers; strata
    without a no-action customer are left out and counted in ``unmatched``). When neither
    group exists the frame says there is no fair comparison.

    Parameters
    ----------
    cube : Cube
    segments : ndarray of bool
    start, end : Timestamp or None
        Range of action months (inclusive; None = open).

    Returns
    -------
    DataFrame
        Per action type (holdout types left out): ``action``, ``comparison``
        (``"randomised holdout"``, ``"matched"`` or ``"none"``), ``customers`` (acted on
        and compared), ``paid_30_rate``, ``comparison_customers``, ``comparison_rate``
        (standardised to the acted-on strata when matched), ``uplift`` and its 95% interval
        ``uplift_low``, ``uplift_high`` (normal approximation), ``unmatched`` (acted-on
        customer-months with no comparison in their stratum); NaN where a group is empty.
    """
    effect = action_effectiveness(cube, segments, start, end).set_index("action")
    decided = effect["decided_30"].astype(np.int64)
    paid = np.rint(effect["paid_30_rate"].fillna(0) * decided).astype(np.int64)
    control_of = {  # a holdout with actions in the period
        acted: holdout
        for holdout, acted in HOLDOUT_OF.items()
        if holdout in effect.index and effect.loc[holdout, "actions"] > 0
    }
    matched = _matched_strata(cube, segments, start, end)  # (strata, groups, measures)
    types = list(_action_type_labels(cube))
    rows = []
    for action in effect.index:
        if action in HOLDOUT_OF:
            continue
        holdout = control_of.get(action)
        if holdout:
            n1, k1 = int(decided[action]), int(paid[action])
            n0, k0 = int(decided[holdout]), int(paid[holdout])
            figures = {
                "comparison": "randomised holdout",
                "customers": n1,
                "paid_30_rate": k1 / n1 if n1 else np.nan,
                "comparison_customers": n0,
                **_difference_interval(k1, n1, k0, n0),
                "unmatched": 0,
            }
        else:
            group = types.index(action) if action in types else None
            figures = _matched_uplift(matched, group)
        rows.append({"action": str(action), **figures})
    columns = ["action", "customers", "paid_30_rate", "comparison", "comparison_customers"]
    columns += ["comparison_rate", "uplift", "uplift_low", "uplift_high", "unmatched"]
    return pd.DataFrame(rows, columns=columns)


def _matched_strata(cube, segments: np.ndarray, start=None, end=None) -> np.ndarray:
    """The matched-comparison counts of the selection and action months, summed over
    months: (strata, groups, measures)."""
    tables = cube.arrears  # matched: (months, strata, groups, measures, segments)
    months = month_indexes(cube, start, end, tables.sums["matched"].shape[0])
    return segment_sums(tables.month_total("matched", months), segments)


def _matched_uplift(matched: np.ndarray, group: int | None) -> dict:
    """Acted-on (``group``) against no action (the last group), standardised over the
    acted-on customers' strata."""
    none = {
        "comparison": "none",
        "customers": 0,
        "paid_30_rate": np.nan,
        "comparison_customers": 0,
        "comparison_rate": np.nan,
        "uplift": np.nan,
        "uplift_low": np.nan,
        "uplift_high": np.nan,
        "unmatched": 0,
    }
    if group is None:
        return none
    n1, k1 = matched[:, group, 0], matched[:, group, 1]
    n0, k0 = matched[:, -1, 0], matched[:, -1, 1]
    both = (n1 > 0) & (n0 > 0)
    if not both.any():
        return none | {"unmatched": int(n1.sum())}
    n1, k1, n0, k0 = n1[both], k1[both], n0[both], k0[both]
    weight = n1 / n1.sum()
    p1, p0 = k1 / n1, k0 / n0
    half = Z_95 * np.sqrt(np.sum(weight**2 * (p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)))
    rate, comparison = float(weight @ p1), float(weight @ p0)
    return {
        "comparison": "matched",
        "customers": int(n1.sum()),
        "paid_30_rate": rate,
        "comparison_customers": int(n0.sum()),
        "comparison_rate": comparison,
        "uplift": rate - comparison,
        "uplift_low": rate - comparison - half,
        "uplift_high": rate - comparison + half,
        "unmatched": int(matched[:, group, 0].sum() - n1.sum()),
    }


def _difference_interval(k1: int, n1: int, k0: int, n0: int) -> dict[str, float]:
    """Comparison rate, difference of proportions k1/n1 - k0/n0 and its 95% interval."""
    if not (n1 and n0):
        rate = k0 / n0 if n0 else np.nan
        return {
            "comparison_rate": rate,
            "uplift": np.nan,
            "uplift_low": np.nan,
            "uplift_high": np.nan,
        }
    p1, p0 = k1 / n1, k0 / n0
    half = Z_95 * np.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    return {
        "comparison_rate": p0,
        "uplift": p1 - p0,
        "uplift_low": p1 - p0 - half,
        "uplift_high": p1 - p0 + half,
    }


def _action_type_labels(cube) -> list[str]:
    present = list(cube.actions["action"].cat.categories)  # the ledger's action types
    return [a for a in ACTIONS if a in present] + [a for a in present if a not in ACTIONS]


def funnel(cube, segments: np.ndarray, start=None, end=None) -> pd.DataFrame:
    """Customers of the selection reaching each collections stage in the period, in order.

    The stages are the collections actions in their order (:data:`dashboard.vocab.ACTIONS`:
    reminder, second reminder, arrangement agreed, arrangement broken; a holdout is not a
    stage). A customer reaches a stage when they got its action in the period in a month no
    earlier than the month they reached the stage before (the first time), so each stage
    counts only customers who came through the ones before it.

    Returns
    -------
    DataFrame
        ``stage``, ``customers``, ``share_of_previous`` and ``share_of_first`` (NaN when the
        stage before has nobody).
    """
    labels = _action_type_labels(cube)
    # every stage in order; a stage whose action the data never holds stops the sequence
    present = [position for position, action in enumerate(ACTIONS) if action in labels]
    first, last = month_range(cube, start, end)
    counts = np.array(
        [int(table.per_segment(first, last)[segments].sum()) for table in cube.arrears.funnel],
        dtype=np.int64,
    )
    stages, counts = [ACTIONS[p] for p in present], counts[present]
    previous = np.r_[counts[:1], counts[:-1]] if len(counts) else counts
    return pd.DataFrame(
        {
            "stage": stages,
            "customers": counts,
            "share_of_previous": ratio(counts, previous),
            "share_of_first": ratio(counts, np.full(len(counts), counts[0] if len(counts) else 0)),
        }
    )


def segment_summary(
    cube, segments: np.ndarray, start=None, end=None, by: str = "tariff"
) -> pd.DataFrame:
    """One row per value of ``by`` (the tariff view): arrears, ageing, roll, actions.

    Returns
    -------
    DataFrame
        ``by``; at the last month-end of the range: ``customers`` on book,
        ``share_in_arrears``, ``arrears`` (£), ``average_arrears`` (£), ``share_serious``
        (share past the first bucket edge; ``frame.attrs["serious_label"]`` says which,
        e.g. "31+ days"); over the range: ``cure_rate`` and
        ``roll_current`` (pooled over months), ``reminder_paid_30_rate`` (Reminder Sent
        followed by a payment within 30 days). Values with no customer are left out.
    """
    tables = cube.arrears
    months = month_indexes(cube, start, end)
    matrix, labels = segment_groups(cube, segments, by)
    last = tables.sums["ageing"][months[-1] if len(months) else 0] * (len(months) > 0)
    at_end = np.moveaxis(segment_sums(last, matrix), -1, 0)
    customers = at_end[:, :, 0].sum(axis=1)
    in_arrears = at_end[:, 1:, 0].sum(axis=1)
    serious = at_end[:, tables.buckets.entry :, 0].sum(axis=1)
    arrears = at_end[:, :, 1].sum(axis=1) / 100
    moving = months[months >= 1]
    moved = segment_sums(tables.month_total("transitions", moving)[:, :, 0], matrix)
    counts = np.moveaxis(moved, -1, 0)
    effect = action_effectiveness(cube, segments, start, end, by)
    reminders = effect.loc[effect["action"] == ACTIONS[0]].set_index(by)
    frame = pd.DataFrame(
        {
            by: labels,
            "customers": customers,
            "share_in_arrears": ratio(in_arrears, customers),
            "arrears": arrears,
            "average_arrears": ratio(arrears, in_arrears),
            "share_serious": ratio(serious, customers),
            "cure_rate": ratio(counts[:, 1:, 0].sum(axis=1), counts[:, 1:, :].sum(axis=(1, 2))),
            "roll_current": ratio(counts[:, 0, 1], counts[:, 0, :].sum(axis=1)),
            "reminder_paid_30_rate": reminders["paid_30_rate"].reindex(labels).to_numpy()
            if len(reminders)
            else np.nan,
        }
    )
    frame = frame.loc[frame["customers"] > 0].reset_index(drop=True)
    frame.attrs["serious_label"] = f"{tables.buckets.edges[0] + 1}+ days"
    frame.attrs["first_bucket"] = tables.bucket_labels[1]
    return frame
