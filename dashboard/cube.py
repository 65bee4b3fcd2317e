"""Aggregate bill outcomes and actions into small tables, and query them.

:func:`build_cube` runs once per source and window: it reduces tens of millions of bills
to one row per (month, segment), where a *segment* is one combination of the customer
dimensions present in the data (at most 8 x 4 x 4 x 4 x 2 x 2 x 2 = 8,192). Filters then
select segments and months in these tables only, so a filter change costs the same at
1,500 and at 1,000,000 customers. Distinct-customer counts over any month range come
from per-customer month bitmasks (32 months per ``uint32`` word).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from . import metrics
from .arrears import CHUNK_CUSTOMERS, ArrearsTables, build_arrears
from .engine import Engine, customer_ranges
from .memory import reuses_freed_memory
from .schema import Portfolio
from .vocab import DIMENSIONS

BILL_MEASURES = (
    "bills",
    "mature_bills",
    "defaults",
    "mature_defaults",
    "billed_pence",
    "paid_pence",
    "mature_billed_pence",
    "mature_paid_pence",
    "covered_pence",
    "mature_covered_pence",
)
"""Additive measures of :attr:`Cube.bills`."""

BITS_PER_WORD = 32


@dataclass
class Cube:
    """Pre-aggregated tables of one portfolio under one window and as-of date.

    Attributes
    ----------
    months : DatetimeIndex
        Every bill month (month start) from the first to the last bill.
    segments : DataFrame
        One row per segment (index = segment id), a categorical column per dimension.
    bills : DataFrame
        ``month``, ``segment`` and :data:`BILL_MEASURES` (counts and integer pence).
    actions : DataFrame
        ``month`` (of the action date), ``segment``, ``action``, ``count``.
    arrangements : DataFrame
        ``month`` (agreed), ``segment``, ``agreed``, ``decided``, ``kept``.
    customer_segment : ndarray of int
        Segment id of every customer (customer-table order).
    customer_bits : dict of str to ndarray
        ``(customers, words)`` uint32 month bitmasks: ``billed``, ``mature``,
        ``defaulted``, ``mature_defaulted``.
    as_of : Timestamp
        Date of knowledge.
    window : metrics.Window
        Window and tolerance used for outcomes.
    arrears : ArrearsTables
        The aggregated ledger (:mod:`dashboard.arrears`): ageing, roll and cure,
        cohorts, action outcomes, worklist.
    """

    months: pd.DatetimeIndex
    segments: pd.DataFrame
    bills: pd.DataFrame
    actions: pd.DataFrame
    arrangements: pd.DataFrame
    customer_segment: np.ndarray
    customer_bits: dict[str, np.ndarray]
    as_of: pd.Timestamp
    window: metrics.Window
    arrears: ArrearsTables
    arrays: dict[str, TableArrays] = field(default_factory=dict)

    def __post_init__(self) -> None:
        first = self.months[0]
        self.arrays = {
            "bills": TableArrays.of(self.bills, first, BILL_MEASURES),
            "actions": TableArrays.of(self.actions, first, ("count",), code="action"),
            "arrangements": TableArrays.of(self.arrangements, first, ARRANGEMENT_MEASURES),
        }


@dataclass
class TableArrays:
    """A cube table as NumPy arrays, what the queries below run on.

    Attributes
    ----------
    month : ndarray of int64
        Month index relative to the cube's first bill month.
    segment : ndarray of int64
        Segment id.
    values : ndarray of int64, shape (rows, measures)
        The additive measures.
    code : ndarray of int64 or None
        Category codes of an extra key column (the action type).
    """

    month: np.ndarray
    segment: np.ndarray
    values: np.ndarray
    code: np.ndarray | None = None

    @classmethod
    def of(
        cls, table: pd.DataFrame, first: pd.Timestamp, measures: Sequence[str], code: str = ""
    ) -> TableArrays:
        """Arrays of a cube table (month, segment, measures and an optional coded column)."""
        month = metrics.months_since(table["month"], first) if len(table) else np.zeros(0, np.int64)
        return cls(
            month=np.asarray(month, dtype=np.int64),
            segment=table["segment"].to_numpy(np.int64),
            values=table[list(measures)].to_numpy(np.int64).reshape(len(table), len(measures)),
            code=table[code].cat.codes.to_numpy(np.int64) if code else None,
        )

    @cached_property
    def weights(self) -> np.ndarray:
        """``values`` as float64, one contiguous row per measure: what ``np.bincount``
        weighs with (a strided int64 column costs it a conversion per query; sums of
        integers stay exact below 2**53)."""
        return np.ascontiguousarray(self.values.T, dtype=np.float64)


ARRANGEMENT_MEASURES = ("agreed", "decided", "kept")


def month_start(dates: pd.Series) -> pd.Series:
    """The first day of each date's month (vectorised), as ``datetime64[us]``."""
    months = np.asarray(dates, dtype="datetime64[M]").astype("datetime64[us]")
    return pd.Series(months, index=dates.index, name=dates.name)


@reuses_freed_memory
def build_cube(
    portfolio: Portfolio,
    window: metrics.Window = metrics.Window(),
    as_of: pd.Timestamp | None = None,
    buckets: metrics.Buckets = metrics.Buckets(),
    engine: Engine | None = None,
) -> Cube:
    """Compute bill outcomes and the ledger, and aggregate everything the dashboard shows.

    Parameters
    ----------
    portfolio : Portfolio
        Validated tables.
    window : metrics.Window, optional
        Payment window and tolerance.
    as_of : Timestamp, optional
        Date of knowledge; defaults to the latest payment date.
    buckets : metrics.Buckets, optional
        Days-past-due bucket edges of the ageing tables.
    engine : Engine, optional
        Where the per-customer-partition work runs (outcomes, ledger); the result does not
        depend on it. Default: :meth:`Engine.from_env` (``pandas`` unless configured).

    Returns
    -------
    Cube
    """
    engine = Engine.from_env() if engine is None else engine
    as_of = metrics.latest_payment_date(portfolio.payments) if as_of is None else as_of
    as_of = pd.Timestamp(as_of).normalize()
    segments, customer_segment = _segments(portfolio.customers)
    bills = portfolio.bills
    outcomes = partitioned_outcomes(
        bills, portfolio.payments, window, as_of, engine, engine.customers_per_partition
    )
    period_end = bills["bill_period_end"]
    first, last = month_start(pd.Series([period_end.min(), period_end.max()]))
    months = pd.date_range(first, last, freq="MS")
    bill_month = metrics.months_since(bills["bill_period_end"], first)
    bill_segment = customer_segment[bills["customer_id"].cat.codes.to_numpy()]
    bill_table = _bill_table(bills, outcomes, bill_month, bill_segment, months, len(segments))
    del bill_segment  # 8 bytes a bill: freed before the ledger's peak
    return Cube(
        months=months,
        segments=segments,
        bills=bill_table,
        actions=_action_table(portfolio.actions, customer_segment),
        arrangements=_arrangement_table(portfolio.actions, customer_segment, as_of),
        customer_segment=customer_segment,
        customer_bits=_customer_bits(bills, outcomes, bill_month, len(portfolio.customers)),
        as_of=as_of,
        window=window,
        arrears=build_arrears(
            portfolio,
            outcomes,
            bill_month,
            customer_segment,
            len(segments),
            months,
            as_of,
            buckets,
            chunk=engine.customers_per_partition,
            engine=engine,
        ),
    )


def partitioned_outcomes(
    bills: pd.DataFrame,
    payments: pd.DataFrame,
    window: metrics.Window,
    as_of: pd.Timestamp,
    engine: Engine,
    customers_per_partition: int = CHUNK_CUSTOMERS,
) -> pd.DataFrame:
    """:func:`metrics.bill_outcomes`, computed per partition of customers by ``engine``.

    Partitions hold whole customers (their bills and payments are contiguous, the tables
    being sorted by customer): the ``pandas`` engine computes them on one thread per core,
    the ``dask`` engine sends each partition's arrays to a worker. Tables not sorted by
    customer are computed in one partition by the ``pandas`` engine. Each bill gets the
    same answer either way, as only its own customer's payments count.

    Parameters
    ----------
    bills, payments : DataFrame
        Typed tables sorted by customer (as :func:`dashboard.schema.validate` returns them).
    window : metrics.Window
    as_of : Timestamp
    engine : Engine
    customers_per_partition : int, optional

    Returns
    -------
    DataFrame
        As :func:`metrics.bill_outcomes`.
    """
    as_of_day = int(metrics.day_numbers(pd.DatetimeIndex([as_of]))[0])
    inputs = metrics.outcome_inputs(bills, payments)
    n_customers = len(bills["customer_id"].cat.categories)
    sorted_by_customer = all(
        metrics.is_sorted(inputs[f"{table}_customer"]) for table in ("bill", "payment")
    )
    if sorted_by_customer and n_customers:
        # Partitions also for the pandas engine: each one's index and queries are small,
        # so the build's transient memory is a partition's, not the whole table's.
        ranges = customer_ranges(n_customers, customers_per_partition)
        parts = (_customers_slice(inputs, low, high) for low, high in ranges)
    elif engine.name == "pandas" or n_customers == 0:
        parts = [inputs]
    else:
        raise ValueError("bills or payments are not sorted by customer: cannot partition them")
    columns = engine.map(metrics.outcome_columns, parts, window, as_of_day)
    joined = {name: np.concatenate([c.pop(name) for c in columns]) for name in list(columns[0])}
    return pd.DataFrame(joined, index=bills.index, copy=False)


_OUTCOME_INPUTS = {
    "bill_customer": ("bill_customer", "due_day", "bill_pence"),
    "payment_customer": ("payment_customer", "payment_day", "payment_pence"),
}
"""The arrays of :func:`metrics.outcome_inputs`, by the customer codes they are sorted by."""


def _customers_slice(inputs: dict[str, np.ndarray], low: int, high: int) -> dict:
    """The rows of customers ``low .. high - 1`` in each array of ``inputs``."""
    part = {}
    for codes_name, names in _OUTCOME_INPUTS.items():
        first, last = np.searchsorted(inputs[codes_name], [low, high])
        part.update({name: inputs[name][first:last] for name in names})
    return part


def _segments(customers: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Number every combination of dimensions present; return it and each customer's id."""
    codes = np.zeros(len(customers), dtype=np.int64)
    columns = {}
    for dim in DIMENSIONS:
        values = customers[dim]
        categorical = (
            values
            if isinstance(values.dtype, pd.CategoricalDtype)
            else values.astype(pd.CategoricalDtype([0, 1]))
        )
        columns[dim] = categorical.cat
        codes = codes * len(categorical.cat.categories) + categorical.cat.codes.to_numpy()
    present, customer_segment = np.unique(codes, return_inverse=True)
    segments = {}
    for dim in reversed(DIMENSIONS):
        size = len(columns[dim].categories)
        segments[dim] = pd.Categorical.from_codes(
            present % size, dtype=pd.CategoricalDtype(columns[dim].categories, columns[dim].ordered)
        )
        present = present // size
    frame = pd.DataFrame({dim: segments[dim] for dim in DIMENSIONS})
    return frame, customer_segment.astype(np.int64)


def _bill_table(
    bills: pd.DataFrame,
    outcomes: pd.DataFrame,
    bill_month: np.ndarray,
    bill_segment: np.ndarray,
    months: pd.DatetimeIndex,
    n_segments: int,
) -> pd.DataFrame:
    size = len(months) * n_segments
    mature = outcomes["is_mature"].to_numpy()
    # Immature bills go to a second block of keys: one bincount gives a measure over the
    # mature bills (first block) and over all bills (both blocks), with no masked copies.
    key = bill_month * n_segments + bill_segment
    key[~mature] += size
    billed = bills["bill_pence"].to_numpy(np.int64)
    paid = outcomes["paid_in_window_pence"].to_numpy(np.int64)
    weights = {
        "bills": None,
        "defaults": outcomes["is_default"].to_numpy(),
        "billed_pence": billed,
        "paid_pence": paid,
        "covered_pence": np.minimum(paid, billed),
    }
    sums = {}
    for name, weight in weights.items():
        both = metrics.integer_sums(key, weight, 2 * size)
        sums[name] = both[:size] + both[size:]
        sums[f"mature_{name}"] = both[:size]
    sums = {name: sums[name] for name in BILL_MEASURES}
    present = np.flatnonzero(sums["bills"])
    table = pd.DataFrame(
        {
            "month": months[present // n_segments],
            "segment": present % n_segments,
            **{name: values[present] for name, values in sums.items()},
        }
    )
    return table


def _action_table(actions: pd.DataFrame, customer_segment: np.ndarray) -> pd.DataFrame:
    table = pd.DataFrame(
        {
            "month": month_start(actions["action_date"]),
            "segment": customer_segment[actions["customer_id"].cat.codes.to_numpy()],
            "action": actions["action"],
        }
    )
    counts = table.groupby(["month", "segment", "action"], observed=True).size()
    return counts.rename("count").reset_index()


def _arrangement_table(
    actions: pd.DataFrame, customer_segment: np.ndarray, as_of: pd.Timestamp
) -> pd.DataFrame:
    outcomes = metrics.arrangement_outcomes(actions, as_of)
    table = pd.DataFrame(
        {
            "month": month_start(outcomes["action_date"]),
            "segment": customer_segment[outcomes["customer_id"].cat.codes.to_numpy()],
            "agreed": 1,
            "decided": outcomes["is_decided"].astype(np.int64),
            "kept": outcomes["is_kept"].astype(np.int64),
        }
    )
    return table.groupby(["month", "segment"], as_index=False).sum()


def _customer_bits(
    bills: pd.DataFrame, outcomes: pd.DataFrame, bill_month: np.ndarray, n_customers: int
) -> dict[str, np.ndarray]:
    """Per-customer month bitmasks; bills are unique per (customer, month), so bits add."""
    words = int(bill_month.max()) // BITS_PER_WORD + 1
    slot = bills["customer_id"].cat.codes.to_numpy(np.int64) * words + bill_month // BITS_PER_WORD
    bit = np.left_shift(1, bill_month % BITS_PER_WORD).astype(np.float64)
    mature = outcomes["is_mature"].to_numpy()
    default = outcomes["is_default"].to_numpy()
    flags = {
        "billed": None,
        "mature": mature,
        "defaulted": default,
        "mature_defaulted": default & mature,
    }
    bits = {}
    for name, flag in flags.items():
        weights = bit if flag is None else np.where(flag, bit, 0.0)
        total = np.bincount(slot, weights=weights, minlength=n_customers * words)
        bits[name] = _as_uint64_words(total.astype(np.uint32).reshape(n_customers, words))
    return bits


def _as_uint64_words(words32: np.ndarray) -> np.ndarray:
    """(rows, words) uint32 -> (rows, ceil(words / 2)) uint64 with the same bits (month i is
    bit i % 64 of word i // 64): one 64-bit test per customer for up to 64 months."""
    rows, words = words32.shape
    padded = np.zeros((rows, words + words % 2), dtype=np.uint32)
    padded[:, :words] = words32
    return padded.view("<u8")


# --- queries on a cube: these are what interactive filters run -------------------------


def segment_selection(cube: Cube, filters: Mapping[str, Sequence] | None = None) -> np.ndarray:
    """Boolean mask over :attr:`Cube.segments` for the chosen dimension values.

    Parameters
    ----------
    cube : Cube
    filters : mapping of dimension to values, optional
        Values of one dimension are ORed, dimensions ANDed; an empty or missing entry
        selects everything.

    Returns
    -------
    ndarray of bool
    """
    selected = np.ones(len(cube.segments), dtype=bool)
    for dim, values in (filters or {}).items():
        if values:
            selected &= cube.segments[dim].isin(list(values)).to_numpy()
    return selected


def month_selection(
    months: pd.Series, start: pd.Timestamp | None, end: pd.Timestamp | None
) -> np.ndarray:
    """Boolean mask of ``months`` within ``[start, end]`` (month starts; None = open)."""
    selected = np.ones(len(months), dtype=bool)
    if start is not None:
        selected &= (months >= pd.Timestamp(start)).to_numpy()
    if end is not None:
        selected &= (months <= pd.Timestamp(end)).to_numpy()
    return selected


def month_bounds(
    cube: Cube, start: pd.Timestamp | None, end: pd.Timestamp | None
) -> tuple[int, int]:
    """Month indexes (relative to the first bill month) of an inclusive range; None = open."""
    first = cube.months[0]
    low = -(10**6) if start is None else _month_number(start) - _month_number(first)
    high = 10**6 if end is None else _month_number(end) - _month_number(first)
    return low, high


def _month_number(when: pd.Timestamp) -> int:
    when = pd.Timestamp(when)
    return when.year * 12 + when.month


def _selected(arrays: TableArrays, segments: np.ndarray, bounds: tuple[int, int]) -> np.ndarray:
    low, high = bounds
    return segments[arrays.segment] & (arrays.month >= low) & (arrays.month <= high)


def _group_sums(
    arrays: TableArrays, rows: np.ndarray, keys: list[tuple[np.ndarray, int]]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Sum ``arrays.values`` of ``rows`` by the combination of integer keys.

    Returns the sums, shape (groups, measures), and each key's code per group.
    """
    sizes = [size for _, size in keys]
    combined = np.zeros(int(rows.sum()), dtype=np.int64)
    for codes, size in keys:
        combined = combined * size + codes[rows]
    groups = int(np.prod(sizes)) if sizes else 1
    weights = np.compress(rows, arrays.weights, axis=1)
    columns = [metrics.integer_sums(combined, w, groups) for w in weights]
    sums = np.column_stack(columns).reshape(groups, len(weights))
    codes_per_group = []
    remainder = np.arange(groups)
    for size in reversed(sizes):
        codes_per_group.insert(0, remainder % size)
        remainder = remainder // size
    return sums, codes_per_group


def _key(cube: Cube, table: str, name: str, bounds: tuple[int, int]):
    """Integer codes per row, group count and group labels of one grouping column.

    Months span the selected range within the cube's bill months (for bills) or within the
    months the table holds (actions, arrangements), so months without rows show as zeros.
    """
    arrays = cube.arrays[table]
    if name == "month":
        if table == "bills":
            span = (0, len(cube.months) - 1)
        else:
            span = (int(arrays.month.min(initial=0)), int(arrays.month.max(initial=0)))
        low, high = max(bounds[0], span[0]), min(bounds[1], span[1])
        size = max(high - low + 1, 0)
        labels = pd.date_range(cube.months[0] + pd.DateOffset(months=low), periods=size, freq="MS")
        return arrays.month - low, size, labels
    if name == "action":
        categories = cube.actions["action"].cat.categories
        return arrays.code, len(categories), pd.Categorical(categories, categories=categories)
    values = cube.segments[name]
    codes = values.cat.codes.to_numpy(np.int64)[arrays.segment]
    size = len(values.cat.categories)
    return codes, size, pd.Categorical.from_codes(np.arange(size), dtype=values.dtype)


def _grouped(
    cube: Cube,
    table: str,
    segments: np.ndarray,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    by: Sequence[str],
    measures: Sequence[str],
) -> pd.DataFrame:
    """Sums of a cube table's measures over the selection, one row per group of ``by``."""
    arrays = cube.arrays[table]
    bounds = month_bounds(cube, start, end)
    rows = _selected(arrays, segments, bounds)
    keys, labels = [], []
    for name in by:
        codes, size, values = _key(cube, table, name, bounds)
        if name == "month":
            rows = rows & (codes >= 0) & (codes < size)
        keys.append((codes, size))
        labels.append(values)
    sums, group_codes = _group_sums(arrays, rows, keys)
    columns = {
        name: np.asarray(values)[codes] if name == "month" else values[codes]
        for name, values, codes in zip(by, labels, group_codes, strict=True)
    }
    columns.update({measure: sums[:, j] for j, measure in enumerate(measures)})
    return pd.DataFrame(columns)


def aggregate_bills(
    cube: Cube,
    segments: np.ndarray,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    by: Sequence[str] = (),
    include_immature: bool = False,
) -> pd.DataFrame:
    """Sum bill measures of the selection by ``month`` and/or dimensions, with rates.

    Parameters
    ----------
    cube : Cube
    segments : ndarray of bool
        From :func:`segment_selection`.
    start, end : Timestamp or None
        Month range (inclusive).
    by : sequence of str
        Grouping columns: ``"month"`` and/or dimension names; empty for one total row.
    include_immature : bool, optional
        Count immature bills in ``bills``, ``defaults``, ``default_rate`` and
        ``collection_rate``.

    Returns
    -------
    DataFrame
        The grouping columns, :data:`BILL_MEASURES` and the columns of :func:`bill_rates`.
        Grouping by ``month`` alone lists every selected month (zeros where none billed);
        other groupings list the groups with at least one bill.
    """
    by = list(by)
    frame = _grouped(cube, "bills", segments, start, end, by, BILL_MEASURES)
    if by and by != ["month"]:
        frame = frame.loc[frame["bills"] > 0].reset_index(drop=True)
    return bill_rates(frame, include_immature)


def customers_with_default(
    cube: Cube,
    segments: np.ndarray,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    include_immature: bool = False,
) -> tuple[int, int]:
    """Count selected customers with a counted bill, and those with a default, in a range.

    Parameters
    ----------
    cube : Cube
    segments : ndarray of bool
        From :func:`segment_selection`.
    start, end : Timestamp or None
        Month range (inclusive).
    include_immature : bool, optional
        Count immature bills too (otherwise mature ones only).

    Returns
    -------
    (int, int)
        Customers with at least one counted bill; of them, with at least one default.
    """
    with_bill, with_default = _customers_per_segment(cube, start, end, include_immature)
    return int(with_bill[segments].sum()), int(with_default[segments].sum())


def customers_by(
    cube: Cube,
    segments: np.ndarray,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    dim: str,
    include_immature: bool = False,
) -> pd.DataFrame:
    """:func:`customers_with_default` per value of one dimension, in one pass.

    Returns
    -------
    DataFrame
        ``dim``, ``customers`` and ``customers_with_default``, one row per value.
    """
    with_bill, with_default = _customers_per_segment(cube, start, end, include_immature)
    values = cube.segments[dim]
    codes = values.cat.codes.to_numpy()  # each segment's value of ``dim``
    size = len(values.cat.categories)
    return pd.DataFrame(
        {
            dim: pd.Categorical.from_codes(np.arange(size), dtype=values.dtype),
            "customers": metrics.integer_sums(codes, np.where(segments, with_bill, 0), size),
            "customers_with_default": metrics.integer_sums(
                codes, np.where(segments, with_default, 0), size
            ),
        }
    )


def _customers_per_segment(
    cube: Cube,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    include_immature: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Per segment: customers with a counted bill in the range, and those with a default.

    Each customer is in one segment, so the customers of any selection of segments are the
    sum of these counts: a filter change costs a sum over segments, and only a new month
    range scans the customers' month bitmasks. The last few ranges' answers are kept.
    """
    memo = cube.__dict__.setdefault("_flags_memo", {})  # per cube: no stale answers
    key = (str(start), str(end), include_immature)
    with _FLAGS_LOCK:
        if key in memo:
            return memo[key]
    mask = _month_bitmask(cube, start, end)
    counted = cube.customer_bits["billed" if include_immature else "mature"]
    defaulted = cube.customer_bits["defaulted" if include_immature else "mature_defaulted"]
    n = len(cube.segments)
    counts = (
        np.bincount(cube.customer_segment[_any_bit(counted, mask)], minlength=n),
        np.bincount(cube.customer_segment[_any_bit(defaulted, mask)], minlength=n),
    )
    with _FLAGS_LOCK:
        memo[key] = counts
        while len(memo) > 4:
            memo.pop(next(iter(memo)))
    return counts


_FLAGS_LOCK = threading.Lock()


def _any_bit(bits: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Whether each row of ``bits`` shares a set bit with ``mask`` (word by word)."""
    hit = (bits[:, 0] & mask[0]) != 0
    for word in range(1, bits.shape[1]):
        hit |= (bits[:, word] & mask[word]) != 0
    return hit


def _month_bitmask(cube: Cube, start: pd.Timestamp | None, end: pd.Timestamp | None) -> np.ndarray:
    selected = month_selection(pd.Series(cube.months), start, end)
    words = (len(selected) - 1) // BITS_PER_WORD + 1
    padded = np.zeros(words * BITS_PER_WORD, dtype=bool)
    padded[: len(selected)] = selected
    weights = np.left_shift(np.uint64(1), np.arange(BITS_PER_WORD, dtype=np.uint64))
    per_word = (padded.reshape(words, BITS_PER_WORD) @ weights).astype(np.uint32)
    return _as_uint64_words(per_word.reshape(1, words))[0]


def bill_rates(measures: pd.DataFrame, include_immature: bool = False) -> pd.DataFrame:
    """Add the counted bills, defaults, rates and pounds to summed bill measures.

    Parameters
    ----------
    measures : DataFrame
        Holding :data:`BILL_MEASURES`.
    include_immature : bool, optional
        Whether immature bills are counted in defaults and rates.

    Returns
    -------
    DataFrame
        With ``counted_bills``, ``counted_defaults``, ``default_rate`` (NaN with no
        counted bill), ``billed`` and ``paid_in_window`` (pounds, every bill),
        ``collection_rate`` and ``mature`` (every bill of the row is mature).

    Notes
    -----
    ``collection_rate`` = sum over counted bills of ``min(paid_in_window, bill)`` / their
    billed pence. Windows of consecutive monthly bills overlap (a 63-day window holds about
    two monthly payments), so the raw ratio paid in window / billed is about 200% and says
    nothing; capping each bill at its amount gives the share of billed money covered
    within the window (100% when every bill is paid in time).
    """
    prefix = "" if include_immature else "mature_"
    counted = measures[f"{prefix}bills"].to_numpy(np.int64)
    defaults = measures[f"{prefix}defaults"].to_numpy(np.int64)
    billed = measures[f"{prefix}billed_pence"].to_numpy(np.int64)
    covered = measures[f"{prefix}covered_pence"].to_numpy(np.int64)
    bills = measures["bills"].to_numpy(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        default_rate = np.where(counted > 0, defaults / counted, np.nan)
        collection_rate = np.where(billed > 0, covered / billed, np.nan)
    rates = pd.DataFrame(
        {
            "counted_bills": counted,
            "counted_defaults": defaults,
            "default_rate": default_rate,
            "billed": measures["billed_pence"].to_numpy() / 100,
            "paid_in_window": measures["paid_pence"].to_numpy() / 100,
            "collection_rate": collection_rate,
            "mature": (measures["mature_bills"].to_numpy() == bills) & (bills > 0),
        },
        index=measures.index,
    )
    return pd.concat([measures, rates], axis=1)


def count_actions(
    cube: Cube,
    segments: np.ndarray,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    by: Sequence[str] = ("action",),
) -> pd.DataFrame:
    """Count collections actions of the selection by ``action``, ``month`` or a dimension.

    Parameters
    ----------
    cube : Cube
    segments : ndarray of bool
    start, end : Timestamp or None
        Range of action months (inclusive); None = open.
    by : sequence of str
        Grouping columns.

    Returns
    -------
    DataFrame
        Grouping columns and ``count``; every action type appears (zero when none).
    """
    return _grouped(cube, "actions", segments, start, end, list(by), ("count",))


def arrangement_summary(
    cube: Cube,
    segments: np.ndarray,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> dict[str, float | int]:
    """Arrangements agreed in the selection, how many are decided and kept.

    Returns
    -------
    dict
        ``agreed``, ``decided``, ``kept`` and ``kept_rate`` (kept / decided; NaN when
        none is decided).
    """
    total = _grouped(cube, "arrangements", segments, start, end, [], ARRANGEMENT_MEASURES)
    agreed, decided, kept = (int(total[c].iloc[0]) for c in ARRANGEMENT_MEASURES)
    return {
        "agreed": agreed,
        "decided": decided,
        "kept": kept,
        "kept_rate": kept / decided if decided else float("nan"),
    }
