"""Aggregate the ledger: aged arrears, roll and cure, cohorts, action outcomes, worklist.

:func:`build_arrears` runs once per cube. It walks the customers in chunks (the metric
functions are per customer partition), computes each chunk's month-end ledger with
:func:`dashboard.metrics.month_end_ledger`, and adds it into small dense tables keyed by
month x segment (x bucket), so memory stays bounded at 1,000,000 customers x 48 months.
The query functions below are what interactive filters run; they touch these tables only.

Definitions beyond :mod:`dashboard.metrics`:

* a customer is *on book* at a month-end from the month of their first bill to the month
  of their last, and at any month-end when they owe or are owed money (a payment made
  before the first bill is a credit on book; off book, a balance is always 0);
* *roll and cure*: each customer on book at two consecutive month-ends moves from the
  bucket of the first to the bucket of the second; the *cure rate* of a month is the
  share of customers in arrears (any bucket past Current) the month before who are
  Current now; the *forward roll rates* are Current -> first bucket and first -> second;
* *vintage*: customers grouped by the quarter of their first bill; at each month on
  book, the share who have defaulted on a mature bill so far, and the share in arrears;
* *arrears-entry cohort*: customers grouped by the month they first reach
  :attr:`Buckets.entry` (31+ days past due by default); the share Current again 1, 2, 3
  and 6 month-ends later (among those observed that long).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import metrics
from .engine import Engine, customer_ranges
from .schema import Portfolio
from .vocab import ACTIONS

CURE_AFTER = (1, 2, 3, 6)
"""Months after entering serious arrears at which cures are counted."""

PAY_DAYS = (14, 30)
CLEAR_DAYS = 60
MIN_PAYMENT_PENCE = 1000
"""Action effectiveness: pay at least min(£10, arrears) within 14/30 days, clear in 60."""

ARRANGEMENT_STATES = ("None", "Active", "Kept", "Broken")
"""Arrangement status of a worklist customer on the as-of date (90-day rule)."""

CHUNK_CUSTOMERS = 50_000
"""Customers per partition: a running partition's ledger holds about 15 arrays of
customers x months int64 (50,000 x 48 x 8 bytes = 19 MB each)."""

AGEING_MEASURES = ("customers", "arrears_pence", "credit_pence", "billed_pence", "paid_pence")
TRANSITION_MEASURES = ("customers", "arrears_pence")
VINTAGE_MEASURES = ("customers", "defaulted", "in_arrears")
ENTRY_MEASURES = (
    "entered",
    *(f"observed_{h}" for h in CURE_AFTER),
    *(f"cured_{h}" for h in CURE_AFTER),
)
ACTION_MEASURES = (
    "actions",
    "in_arrears",
    *(f"{kind}_{days}" for days in PAY_DAYS for kind in ("decided", "paid")),
    f"decided_{CLEAR_DAYS}",
    f"cleared_{CLEAR_DAYS}",
)


@dataclass
class ArrearsTables:
    """Pre-aggregated ledger tables of one cube (integer arrays, dense where small).

    Attributes
    ----------
    buckets : metrics.Buckets
    snapshot_days : ndarray of int64
        The month-end (or as-of day, for the last month) of each cube month up to as-of.
    ageing : ndarray, shape (months, segments, buckets, len(AGEING_MEASURES))
        Customers on book and their money per bucket at each month-end.
    transitions : ndarray, shape (months, segments, buckets, buckets, 2)
        Customers (and their arrears the month before) moving from bucket i at month m-1
        to bucket j at month m; month 0 is empty.
    vintage : ndarray, shape (cohorts, months on book, segments, len(VINTAGE_MEASURES))
        Cohort = quarter of the first bill (index from the first cube month's quarter).
    entries : ndarray, shape (months, segments, len(ENTRY_MEASURES))
        Customers first reaching serious arrears in a month, and their cures.
    actions : ndarray, shape (months, segments, action types, len(ACTION_MEASURES))
        Outcomes of the actions of each month (:func:`metrics.action_outcomes`).
    funnel_bits : ndarray of uint64, shape (action types, customers, words)
        Month bitmasks: which months each customer received each action type.
    worklist : DataFrame
        One row per customer in arrears on the as-of date.
    """

    buckets: metrics.Buckets
    snapshot_days: np.ndarray
    sums: dict[str, np.ndarray]
    funnel_bits: np.ndarray
    worklist: pd.DataFrame

    @classmethod
    def of(cls, tables: dict[str, np.ndarray], **fields) -> ArrearsTables:
        """Store integer tables (documented layout) as float64 with the segment axis last:
        a filter is then one matrix product over contiguous memory (exact: every sum stays
        far below 2**53)."""
        sums = {
            name: np.ascontiguousarray(np.moveaxis(table, _SEGMENT_AXIS[name], -1), np.float64)
            for name, table in tables.items()
        }
        return cls(sums=sums, **fields)

    def _documented(self, name: str) -> np.ndarray:
        return np.moveaxis(self.sums[name], -1, _SEGMENT_AXIS[name])

    ageing = property(lambda self: self._documented("ageing"))
    transitions = property(lambda self: self._documented("transitions"))
    vintage = property(lambda self: self._documented("vintage"))
    entries = property(lambda self: self._documented("entries"))
    actions = property(lambda self: self._documented("actions"))

    @property
    def bucket_labels(self) -> tuple[str, ...]:
        """Labels of the buckets, Current first."""
        return self.buckets.labels


_SEGMENT_AXIS = {"ageing": 1, "transitions": 1, "vintage": 2, "entries": 1, "actions": 1}
"""Where the segment axis sits in the documented layout of each table."""


def snapshot_days(months: pd.DatetimeIndex, as_of: pd.Timestamp) -> np.ndarray:
    """Month-end day numbers of the months that start on or before ``as_of``, the last
    one capped at ``as_of`` (a month not yet over is seen as of today)."""
    started = months[months <= as_of]
    ends = np.minimum(metrics.day_numbers(started + pd.offsets.MonthEnd(0)), _day(as_of))
    return ends.astype(np.int64)


def build_arrears(
    portfolio: Portfolio,
    outcomes: pd.DataFrame,
    bill_month: np.ndarray,
    customer_segment: np.ndarray,
    n_segments: int,
    months: pd.DatetimeIndex,
    as_of: pd.Timestamp,
    buckets: metrics.Buckets = metrics.Buckets(),
    chunk: int = CHUNK_CUSTOMERS,
    engine: Engine | None = None,
) -> ArrearsTables:
    """Compute the ledger chunk by chunk of customers and aggregate it.

    Parameters
    ----------
    portfolio : Portfolio
        Validated tables (sorted by customer, as :func:`dashboard.schema.validate` keeps them).
    outcomes : DataFrame
        :func:`metrics.bill_outcomes` of ``portfolio.bills``.
    bill_month : ndarray of int
        Month index of each bill relative to ``months[0]``.
    customer_segment : ndarray of int
        Segment id of each customer.
    n_segments : int
    months : DatetimeIndex
        The cube's bill months.
    as_of : Timestamp
    buckets : metrics.Buckets, optional
    chunk : int, optional
        Customers per chunk (bounds memory).
    engine : Engine, optional
        Where the chunks run (default: :meth:`Engine.from_env`).

    Returns
    -------
    ArrearsTables
    """
    snaps = snapshot_days(months, as_of)
    k, n_b = len(snaps), len(buckets.labels)
    quarter_offset = (months[0].month - 1) % 3  # months since the first month's quarter began
    shape = _Shapes(k, n_segments, n_b, cohorts=(len(months) - 1 + quarter_offset) // 3 + 1)
    ageing = np.zeros((k, n_segments, n_b, len(AGEING_MEASURES)), dtype=np.int64)
    transitions = np.zeros((k, n_segments, n_b, n_b, 2), dtype=np.int64)
    vintage = np.zeros((shape.cohorts, k, n_segments, len(VINTAGE_MEASURES)), dtype=np.int64)
    entries = np.zeros((k, n_segments, len(ENTRY_MEASURES)), dtype=np.int64)
    action_sums = np.zeros(_action_shape(portfolio.actions, len(months), n_segments), np.int64)
    tables = {  # the columns partitions carry, selected once
        name: getattr(portfolio, name)[list(columns)]
        for name, columns in _PARTITION_COLUMNS.items()
    }
    codes = {  # the categoricals' own int32 codes, not int64 copies (partitions widen them)
        name: table["customer_id"].cat.codes.to_numpy() for name, table in tables.items()
    }
    n_customers = len(portfolio.customers)
    defaulted_month = _first_default_month(codes["bills"], outcomes, bill_month, n_customers)
    chunks = (  # a generator: the pandas engine holds a few chunks at a time
        (
            _Partition.of(tables, codes, bill_month, low, high),
            customer_segment[low:high],
            defaulted_month[low:high],
        )
        for low, high in customer_ranges(n_customers, chunk)
    )
    settings = _LedgerSettings(snaps, buckets, shape, quarter_offset, _day(as_of), months, as_of)
    engine = Engine.from_env() if engine is None else engine
    worklists = []
    for sums, worklist in engine.imap(_chunk_tables, chunks, settings):  # summed as they come
        ageing += sums["ageing"]
        transitions += sums["transitions"]
        vintage += sums["vintage"]
        entries += sums["entries"]
        action_sums += sums["actions"]
        worklists.append(worklist)
    tables = {
        "ageing": ageing,
        "transitions": transitions,
        "vintage": vintage,
        "entries": entries,
        "actions": action_sums,
    }
    return ArrearsTables.of(
        tables,
        buckets=buckets,
        snapshot_days=snaps,
        funnel_bits=_funnel_bits(portfolio.actions, months, n_customers),
        worklist=_worklist_frame(worklists, portfolio, as_of),
    )


@dataclass(frozen=True)
class _LedgerSettings:
    """What every chunk of customers shares in :func:`_chunk_tables`."""

    snaps: np.ndarray
    buckets: metrics.Buckets
    shape: _Shapes
    quarter_offset: int
    as_of_day: int
    months: pd.DatetimeIndex
    as_of: pd.Timestamp


def _chunk_tables(chunk: tuple, settings: _LedgerSettings) -> tuple[dict, pd.DataFrame]:
    """The ledger tables of one chunk of customers (to be added up) and its worklist rows.

    Parameters
    ----------
    chunk : (_Partition, ndarray, ndarray)
        The chunk's bills and payments, each customer's segment and first default month.
    settings : _LedgerSettings

    Returns
    -------
    (dict of str to ndarray, DataFrame)
    """
    part, segment, defaulted = chunk
    shape = settings.shape
    ledger = part.ledger(settings.snaps)
    bucket = settings.buckets.of(ledger.days_past_due)
    on_book = part.on_book(ledger, shape.months)
    sums = {
        "ageing": _ageing(ledger, bucket, on_book, segment, shape),
        "transitions": _transitions(ledger, bucket, on_book, segment, shape),
        "vintage": _vintage(
            bucket, part.first_month(), defaulted, segment, settings.quarter_offset, shape
        ),
        "entries": _entries(bucket, segment, settings.buckets.entry, shape),
        "actions": _action_outcomes(part, segment, settings.months, settings.as_of, shape),
    }
    return sums, part.worklist(settings.as_of_day, settings.buckets)


@dataclass(frozen=True)
class _Shapes:
    months: int
    segments: int
    buckets: int
    cohorts: int


_PARTITION_COLUMNS = {
    "bills": ("customer_id", "due_date", "bill_pence"),
    "payments": ("customer_id", "payment_date", "amount_pence"),
    "actions": ("customer_id", "action_date", "action"),
}
"""The columns a partition carries (what a Dask worker is sent), no more."""


@dataclass
class _Partition:
    """The bills and payments of customers ``low .. high - 1`` as arrays (local codes)."""

    low: int
    size: int
    bill_customer: np.ndarray
    bill_due: np.ndarray
    bill_pence: np.ndarray
    bill_month: np.ndarray
    payment_customer: np.ndarray
    payment_day: np.ndarray
    payment_pence: np.ndarray
    bills: pd.DataFrame
    payments: pd.DataFrame
    actions: pd.DataFrame

    @classmethod
    def of(cls, tables: dict, codes: dict, bill_month, low: int, high: int) -> _Partition:
        """Customers ``low .. high - 1`` of ``tables`` (bills, payments, actions sorted by
        customer, with :data:`_PARTITION_COLUMNS`); ``codes`` holds their customer codes."""
        b0, b1 = np.searchsorted(codes["bills"], [low, high])
        p0, p1 = np.searchsorted(codes["payments"], [low, high])
        a0, a1 = np.searchsorted(codes["actions"], [low, high])
        bills, payments = tables["bills"].iloc[b0:b1], tables["payments"].iloc[p0:p1]
        return cls(
            low=low,
            size=high - low,
            bill_customer=codes["bills"][b0:b1].astype(np.int64) - low,
            bill_due=metrics.day_numbers(bills["due_date"]),
            bill_pence=bills["bill_pence"].to_numpy(np.int64),
            bill_month=bill_month[b0:b1],
            payment_customer=codes["payments"][p0:p1].astype(np.int64) - low,
            payment_day=metrics.day_numbers(payments["payment_date"]),
            payment_pence=payments["amount_pence"].to_numpy(np.int64),
            bills=bills,
            payments=payments,
            actions=tables["actions"].iloc[a0:a1],
        )

    def ledger(self, snaps: np.ndarray) -> metrics.Ledger:
        return metrics.month_end_ledger(
            self.bill_customer,
            self.bill_due,
            self.bill_pence,
            self.payment_customer,
            self.payment_day,
            self.payment_pence,
            self.size,
            snaps,
        )

    def first_month(self) -> np.ndarray:
        """Month index of each customer's first bill (a large number when none)."""
        return _first_per_customer(self.bill_customer, self.bill_month, self.size, NEVER)

    def last_month(self) -> np.ndarray:
        """Month index of each customer's last bill (-1 when none)."""
        return -_first_per_customer(self.bill_customer, -self.bill_month, self.size, 1)

    def on_book(self, ledger: metrics.Ledger, k: int) -> np.ndarray:
        """Billed in this month's range of their bills, or owing or owed money."""
        month = np.arange(k)[None, :]
        billed = (month >= self.first_month()[:, None]) & (month <= self.last_month()[:, None])
        return billed | (ledger.billed_pence != ledger.paid_pence)

    def worklist(self, as_of_day: int, buckets: metrics.Buckets) -> pd.DataFrame:
        """Customers in arrears on the as-of day: balance, age, last payment."""
        ledger = self.ledger(np.array([as_of_day]))
        arrears = ledger.arrears_pence[:, 0]
        owing = np.flatnonzero(arrears > 0)
        last_day, last_pence = _last_payment(
            self.payment_customer, self.payment_day, self.payment_pence, self.size, as_of_day
        )
        return pd.DataFrame(
            {
                "customer": owing + self.low,
                "arrears_pence": arrears[owing],
                "days_past_due": ledger.days_past_due[owing, 0],
                "last_payment_day": last_day[owing],
                "last_payment_pence": last_pence[owing],
            }
        )


def _day(when: pd.Timestamp) -> int:
    return int(metrics.day_numbers(pd.DatetimeIndex([pd.Timestamp(when)]))[0])


NEVER = np.iinfo(np.int32).max


def _first_per_customer(customer: np.ndarray, value: np.ndarray, n: int, none: int) -> np.ndarray:
    """Smallest ``value`` per customer ``0 .. n - 1`` (``none`` when they have no row)."""
    smallest = np.full(n, none, dtype=np.int64)
    if len(customer):
        order = metrics.sort_order(customer * (1 << 32) + (value - value.min()))
        sorted_customer = customer[order]
        starts = np.flatnonzero(np.r_[True, sorted_customer[1:] != sorted_customer[:-1]])
        smallest[sorted_customer[starts]] = value[order][starts]
    return smallest


def _first_default_month(
    bill_codes: np.ndarray, outcomes: pd.DataFrame, bill_month: np.ndarray, n: int
) -> np.ndarray:
    """Per customer, the month of their first mature defaulted bill (``NEVER`` when none)."""
    counted = (outcomes["is_default"] & outcomes["is_mature"]).to_numpy()
    customer = bill_codes[counted].astype(np.int64)
    return _first_per_customer(customer, bill_month[counted], n, NEVER)


def _last_payment(
    customer: np.ndarray, day: np.ndarray, pence: np.ndarray, n: int, through: int
) -> tuple[np.ndarray, np.ndarray]:
    """Day (-1 when none) and amount of each customer's latest payment up to ``through``."""
    keep = np.flatnonzero(day <= through)
    last = _last_of(customer[keep], day[keep], n)
    row = keep[np.maximum(last, 0)] if len(keep) else np.zeros(n, dtype=np.int64)
    has = last >= 0
    last_day = np.where(has, day[row] if len(keep) else 0, -1)
    return last_day, np.where(has, pence[row] if len(keep) else 0, 0)


def _ageing(ledger, bucket, on_book, segment, shape: _Shapes) -> np.ndarray:
    month = np.broadcast_to(np.arange(shape.months)[None, :], bucket.shape)[on_book]
    seg = np.broadcast_to(segment[:, None], bucket.shape)[on_book]
    key = (month * shape.segments + seg) * shape.buckets + bucket[on_book]
    size = shape.months * shape.segments * shape.buckets
    values = (
        None,
        ledger.arrears_pence[on_book],
        ledger.credit_pence[on_book],
        ledger.billed_pence[on_book],
        ledger.paid_pence[on_book],
    )
    sums = np.stack([metrics.integer_sums(key, w, size) for w in values], axis=-1)
    return sums.reshape(shape.months, shape.segments, shape.buckets, len(AGEING_MEASURES))


def _transitions(ledger, bucket, on_book, segment, shape: _Shapes) -> np.ndarray:
    size = shape.months * shape.segments * shape.buckets * shape.buckets
    out = np.zeros((shape.months, shape.segments, shape.buckets, shape.buckets, 2), np.int64)
    if shape.months < 2:
        return out
    both = on_book[:, 1:] & on_book[:, :-1]
    month = np.broadcast_to(np.arange(1, shape.months)[None, :], both.shape)[both]
    seg = np.broadcast_to(segment[:, None], both.shape)[both]
    key = ((month * shape.segments + seg) * shape.buckets + bucket[:, :-1][both]) * shape.buckets
    key += bucket[:, 1:][both]
    arrears = ledger.arrears_pence[:, :-1][both]
    counts = metrics.integer_sums(key, None, size)
    sums = np.stack([counts, metrics.integer_sums(key, arrears, size)], axis=-1)
    return sums.reshape(out.shape)


def _vintage(bucket, first_month, defaulted_month, segment, quarter_offset, shape) -> np.ndarray:
    """Per (cohort quarter, months on book, segment): customers, defaulted so far, in arrears."""
    k = shape.months
    month = np.arange(k)[None, :]
    started = (first_month < k)[:, None] & (month >= first_month[:, None])
    cohort = (first_month[:, None] + quarter_offset) // 3
    on_book_months = month - first_month[:, None]
    cohort = np.broadcast_to(cohort, bucket.shape)[started]
    mob = np.broadcast_to(on_book_months, bucket.shape)[started]
    seg = np.broadcast_to(segment[:, None], bucket.shape)[started]
    key = (cohort * k + mob) * shape.segments + seg
    defaulted = np.broadcast_to(month >= defaulted_month[:, None], bucket.shape)[started]
    size = shape.cohorts * k * shape.segments
    sums = np.stack(
        [
            metrics.integer_sums(key, None, size),
            metrics.integer_sums(key, defaulted.astype(np.float64), size),
            metrics.integer_sums(key, (bucket[started] > 0).astype(np.float64), size),
        ],
        axis=-1,
    )
    return sums.reshape(shape.cohorts, k, shape.segments, len(VINTAGE_MEASURES))


def _entries(bucket, segment, entry_bucket: int, shape: _Shapes) -> np.ndarray:
    """Per (entry month, segment): customers entering serious arrears, observed and cured."""
    k = shape.months
    if k == 0:
        return np.zeros((0, shape.segments, len(ENTRY_MEASURES)), dtype=np.int64)
    serious = bucket >= entry_bucket
    entered = serious.any(axis=1)
    entry = np.argmax(serious, axis=1)[entered]
    rows = np.flatnonzero(entered)
    key = entry * shape.segments + segment[rows]
    size = k * shape.segments
    columns = [metrics.integer_sums(key, None, size)]
    observed, cured = [], []
    for h in CURE_AFTER:
        later = entry + h
        seen = later < k
        current = np.zeros(len(rows), dtype=bool)
        current[seen] = bucket[rows[seen], later[seen]] == 0
        observed.append(metrics.integer_sums(key, seen.astype(np.float64), size))
        cured.append(metrics.integer_sums(key, current.astype(np.float64), size))
    columns += observed + cured
    return np.stack(columns, axis=-1).reshape(k, shape.segments, len(ENTRY_MEASURES))


def _action_types(actions: pd.DataFrame) -> pd.Index:
    present = list(actions["action"].cat.categories)
    return pd.Index([a for a in ACTIONS if a in present] + [a for a in present if a not in ACTIONS])


def _action_kinds(actions: pd.DataFrame, types: pd.Index) -> np.ndarray:
    """Position in ``types`` of each action's type (by its categorical code, no strings)."""
    action = actions["action"].array
    return types.get_indexer(action.categories).take(action.codes)


def _action_shape(actions: pd.DataFrame, n_months: int, n_segments: int) -> tuple[int, ...]:
    return (n_months, n_segments, len(_action_types(actions)), len(ACTION_MEASURES))


def _action_outcomes(
    part: _Partition, segment: np.ndarray, months: pd.DatetimeIndex, as_of, shape: _Shapes
) -> np.ndarray:
    """Action outcome sums of one partition's customers by (month, segment, type, measure)."""
    actions = part.actions
    out_shape = _action_shape(actions, len(months), shape.segments)
    if actions.empty:
        return np.zeros(out_shape, dtype=np.int64)
    outcome = metrics.action_outcomes(
        actions, part.bills, part.payments, as_of, PAY_DAYS, CLEAR_DAYS, MIN_PAYMENT_PENCE
    )
    month = metrics.months_since(actions["action_date"], months[0])
    inside = (month >= 0) & (month < len(months))
    seg = segment[actions["customer_id"].cat.codes.to_numpy(np.int64) - part.low]
    kind = _action_kinds(actions, _action_types(actions))
    key = ((month * shape.segments + seg) * out_shape[2] + kind)[inside]
    size = int(np.prod(out_shape[:3]))
    columns = [metrics.integer_sums(key, None, size)]
    for name in ACTION_MEASURES[1:]:
        weights = outcome[name].to_numpy()[inside].astype(np.float64)
        columns.append(metrics.integer_sums(key, weights, size))
    return np.stack(columns, axis=-1).reshape(out_shape)


def _funnel_bits(actions: pd.DataFrame, months: pd.DatetimeIndex, n: int) -> np.ndarray:
    """(types, customers, words) uint64 month bitmasks of who received each action type."""
    types = _action_types(actions)
    words = (len(months) - 1) // 64 + 1
    bits = np.zeros((len(types), n, words), dtype=np.uint64)
    month = metrics.months_since(actions["action_date"], months[0])
    inside = (month >= 0) & (month < len(months))
    kind = _action_kinds(actions, types)[inside]
    customer = actions["customer_id"].cat.codes.to_numpy(np.int64)[inside]
    month = month[inside]
    flat = bits.reshape(-1)
    slot = (kind * n + customer) * words + month // 64
    np.bitwise_or.at(flat, slot, np.left_shift(np.uint64(1), (month % 64).astype(np.uint64)))
    return bits


def _worklist_frame(parts: list[pd.DataFrame], portfolio: Portfolio, as_of) -> pd.DataFrame:
    """Customers in arrears with their last action and arrangement status on ``as_of``."""
    owing = pd.concat(parts, ignore_index=True)
    who = owing["customer"].to_numpy(np.int64)
    n = len(portfolio.customers)
    actions = portfolio.actions
    as_of_day = _day(as_of)
    types = _action_types(actions)
    days = metrics.day_numbers(actions["action_date"])
    known = np.flatnonzero(days <= as_of_day)
    codes = actions["customer_id"].cat.codes.to_numpy(np.int64)
    last = _last_of(codes[known], days[known], n)[who]
    row = known[np.maximum(last, 0)] if len(known) else np.zeros(len(who), dtype=np.int64)
    has_action = last >= 0
    kind = _action_kinds(actions, types)[row] if len(known) else row
    agreed = _last_day_of(actions, metrics.ARRANGEMENT_AGREED, as_of_day, n)[who]
    broken = _last_day_of(actions, metrics.ARRANGEMENT_BROKEN, as_of_day, n)[who]
    status = np.select([agreed < 0, broken > agreed, as_of_day - agreed <= 90], [0, 3, 1], 2)
    return pd.DataFrame(
        {
            "customer": who,
            "customer_id": portfolio.customers["customer_id"].to_numpy()[who].astype(str),
            "arrears_pence": owing["arrears_pence"].to_numpy(np.int64),
            "days_past_due": owing["days_past_due"].to_numpy(np.int64),
            "last_payment_date": _dates(owing["last_payment_day"]),
            "last_payment_pence": owing["last_payment_pence"].to_numpy(np.int64),
            "last_action": pd.Categorical.from_codes(
                np.where(has_action, kind, -1), categories=list(types)
            ),
            "last_action_date": _dates(np.where(has_action, days[row] if len(known) else 0, -1)),
            "arrangement": pd.Categorical.from_codes(status, categories=list(ARRANGEMENT_STATES)),
        }
    )


def _dates(day_numbers) -> pd.Series:
    days = np.asarray(day_numbers, dtype=np.int64)
    dates = days.astype("datetime64[D]").astype("datetime64[ns]")
    return pd.Series(np.where(days >= 0, dates, np.datetime64("NaT")))


def _last_of(customer: np.ndarray, day: np.ndarray, n: int) -> np.ndarray:
    """Row (in the given arrays) of each customer's latest event, -1 when none."""
    if not len(customer):
        return np.full(n, -1, dtype=np.int64)
    order = metrics.sort_order(customer * (1 << 32) + (day - day.min()))
    last = np.searchsorted(customer[order], np.arange(n), side="right") - 1
    has = (last >= 0) & (customer[order][np.maximum(last, 0)] == np.arange(n))
    return np.where(has, order[np.maximum(last, 0)], -1)


def _last_day_of(actions: pd.DataFrame, name: str, through: int, n: int) -> np.ndarray:
    """Day of each customer's latest action ``name`` up to ``through`` (-1 when none)."""
    chosen = actions.loc[actions["action"] == name]
    days = metrics.day_numbers(chosen["action_date"])
    keep = days <= through
    codes = chosen["customer_id"].cat.codes.to_numpy(np.int64)[keep]
    return -_first_per_customer(codes, -days[keep], n, 1)


# --- queries: what interactive filters run (small dense tables only) --------------------

PRIORITY_FORMULA = (
    "priority = 60 × min(arrears ÷ £2,000, 1) + 40 × min(days past due ÷ 365, 1), "
    "+10 when the last arrangement was broken, −20 while an arrangement is active "
    "(0–100, highest first)"
)
"""The worklist's priority score, as shown in the page."""

QUEUE_RULE = (
    "vulnerable customers → Support (never escalated); otherwise more than 90 days past due "
    "or a broken arrangement → Escalation; otherwise → Reminder"
)
QUEUES = ("Support", "Escalation", "Reminder")


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


def _months(cube, start, end, count: int) -> np.ndarray:
    """Indexes ``0 .. count - 1`` of the cube months within ``[start, end]``."""
    from .cube import month_bounds

    low, high = month_bounds(cube, start, end)
    return np.arange(max(low, 0), min(high, count - 1) + 1)


def _span(months: np.ndarray) -> slice:
    """The consecutive month indexes as a slice (a view, no copy)."""
    return slice(int(months[0]), int(months[-1]) + 1) if len(months) else slice(0, 0)


def _select(table: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Sum a segment-last table over segments with 0/1 ``weights`` (segments,) or
    (segments, groups), as int64: one BLAS product."""
    return np.rint(table @ weights.astype(np.float64)).astype(np.int64)


def ageing(cube, segments: np.ndarray, start=None, end=None, by: str | None = None) -> pd.DataFrame:
    """Customers on book and money per days-past-due bucket at each month-end.

    Parameters
    ----------
    cube : Cube
    segments : ndarray of bool
    start, end : Timestamp or None
        Month range (inclusive; None = open).
    by : str, optional
        A dimension to split by.

    Returns
    -------
    DataFrame
        ``month``, ``by`` (when given), ``bucket`` (ordered categorical), ``customers``,
        ``arrears``, ``credit`` and ``billed`` (pounds due to date); one row per month x
        group x bucket.
    """
    tables = cube.arrears
    months = _months(cube, start, end, len(tables.snapshot_days))
    matrix, labels = segment_groups(cube, segments, by)
    sums = np.moveaxis(_select(tables.sums["ageing"][_span(months)], matrix), -1, 1)
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
        ``month``, ``by``, ``customers``, ``in_arrears``, ``share_in_arrears`` (NaN with
        nobody on book or no bill due yet), ``arrears`` and ``billed`` (£ due to date) and
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
        total["share_in_arrears"] = np.where(  # NaN before any bill is due: not 0%
            (total["customers"] > 0) & (total["billed"] > 0),
            total["in_arrears"] / total["customers"],
            np.nan,
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
        ``from_bucket``, ``to_bucket``, ``customers``, ``arrears`` (£ owed the month
        before), and ``customer_share`` / ``arrears_share``: each row's share of its
        ``from_bucket`` (rows sum to 1; NaN for a bucket nobody was in).
    """
    tables = cube.arrears
    months = _months(cube, start, end, len(tables.snapshot_days))
    months = months[months >= 1]
    sums = _select(tables.sums["transitions"][_span(months)], segments).sum(axis=0)
    n = sums.shape[0]
    labels = list(tables.bucket_labels)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    customers = sums[..., 0]
    arrears = sums[..., 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        customer_share = customers / customers.sum(axis=1, keepdims=True)
        arrears_share = arrears / arrears.sum(axis=1, keepdims=True)
    return pd.DataFrame(
        {
            "from_bucket": pd.Categorical.from_codes(i.ravel(), categories=labels, ordered=True),
            "to_bucket": pd.Categorical.from_codes(j.ravel(), categories=labels, ordered=True),
            "customers": customers.ravel(),
            "arrears": arrears.ravel() / 100,
            "customer_share": customer_share.ravel(),
            "arrears_share": arrears_share.ravel(),
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
        their denominators ``in_arrears_before``, ``current_before``, ``first_before``.
        NaN where a denominator is 0.
    """
    tables = cube.arrears
    months = _months(cube, start, end, len(tables.snapshot_days))
    months = months[months >= 1]
    counts = _select(tables.sums["transitions"][_span(months), :, :, 0], segments)
    in_arrears = counts[:, 1:, :].sum(axis=(1, 2))
    cured = counts[:, 1:, 0].sum(axis=1)
    current = counts[:, 0, :].sum(axis=1)
    first = counts[:, 1, :].sum(axis=1)
    second = counts[:, 1, 2] if counts.shape[1] > 2 else np.zeros(len(months), np.int64)
    return pd.DataFrame(
        {
            "month": cube.months[months],
            "cure_rate": _ratio(cured, in_arrears),
            "roll_current": _ratio(counts[:, 0, 1], current),
            "roll_first": _ratio(second, first),
            "in_arrears_before": in_arrears,
            "current_before": current,
            "first_before": first,
        }
    )


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    numerator = np.asarray(numerator, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.maximum(denominator, 1), np.nan)


def vintage(cube, segments: np.ndarray) -> pd.DataFrame:
    """Vintage curves: cohorts by quarter of first bill, by months on book.

    Returns
    -------
    DataFrame
        ``cohort`` (e.g. ``"2022 Q1"``), ``months_on_book``, ``customers``,
        ``default_rate`` (share with a mature default so far; NaN where the cohort's
        bills of that age may still be immature) and ``arrears_share`` (share in arrears
        at that month-end). Only cells with customers.
    """
    tables = cube.arrears
    sums = _select(tables.sums["vintage"], segments)
    cohort, mob = np.nonzero(sums[..., 0])
    first = cube.months[0]
    quarter_start = (first.year * 12 + first.month - 1) // 3 * 3
    start_month = quarter_start + cohort * 3
    labels = [f"{m // 12} Q{m % 12 // 3 + 1}" for m in start_month]
    latest_month = (start_month + 2) + mob - (first.year * 12 + first.month - 1)
    mature = latest_month <= _last_mature_month(cube)
    values = sums[cohort, mob]
    return pd.DataFrame(
        {
            "cohort": labels,
            "months_on_book": mob,
            "customers": values[:, 0],
            "default_rate": np.where(mature, _ratio(values[:, 1], values[:, 0]), np.nan),
            "arrears_share": _ratio(values[:, 2], values[:, 0]),
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
        long; NaN when none is) and ``observed_h``.
    """
    tables = cube.arrears
    months = _months(cube, start, end, len(tables.snapshot_days))
    sums = _select(tables.sums["entries"][_span(months)], segments)
    frame = {"month": cube.months[months], "entered": sums[:, 0]}
    for position, h in enumerate(CURE_AFTER):
        observed = sums[:, 1 + position]
        cured = sums[:, 1 + len(CURE_AFTER) + position]
        frame[f"cured_after_{h}"] = _ratio(cured, observed)
        frame[f"observed_{h}"] = observed
    return pd.DataFrame(frame)


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
    months = _months(cube, start, end, tables.actions.shape[0])
    matrix, labels = segment_groups(cube, segments, by)
    sums = np.moveaxis(_select(tables.sums["actions"][_span(months)].sum(axis=0), matrix), -1, 1)
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
        frame[f"paid_{days}_rate"] = _ratio(measures[f"paid_{days}"], measures[f"decided_{days}"])
        frame[f"decided_{days}"] = measures[f"decided_{days}"]
    frame[f"cleared_{CLEAR_DAYS}_rate"] = _ratio(
        measures[f"cleared_{CLEAR_DAYS}"], measures[f"decided_{CLEAR_DAYS}"]
    )
    frame[f"decided_{CLEAR_DAYS}"] = measures[f"decided_{CLEAR_DAYS}"]
    return pd.DataFrame(frame)


def _action_type_labels(cube) -> list[str]:
    present = list(cube.actions["action"].cat.categories) if len(cube.actions) else []
    return [a for a in ACTIONS if a in present] + [a for a in present if a not in ACTIONS]


def funnel(cube, segments: np.ndarray, start=None, end=None) -> pd.DataFrame:
    """Distinct customers of the selection who received each action type in the period.

    Returns
    -------
    DataFrame
        ``stage`` (the action types in funnel order), ``customers``, ``share_of_previous``
        and ``share_of_first`` (NaN when the stage before has nobody).
    """
    from .cube import _any_bit, _month_bitmask

    tables = cube.arrears
    bits = tables.funnel_bits
    mask = _month_bitmask(cube, start, end)[: bits.shape[2]]
    chosen = segments[cube.customer_segment]
    counts = np.array([int((_any_bit(bits[t], mask) & chosen).sum()) for t in range(len(bits))])
    previous = np.r_[counts[:1], counts[:-1]] if len(counts) else counts
    return pd.DataFrame(
        {
            "stage": _action_type_labels(cube)[: len(counts)],
            "customers": counts,
            "share_of_previous": _ratio(counts, previous),
            "share_of_first": _ratio(counts, np.full(len(counts), counts[0] if len(counts) else 0)),
        }
    )


def worklist(cube, segments: np.ndarray) -> pd.DataFrame:
    """Customers of the selection in arrears on the as-of date, most urgent first.

    Returns
    -------
    DataFrame
        ``priority`` (:data:`PRIORITY_FORMULA`), ``queue`` (:data:`QUEUE_RULE`),
        ``customer_id``, ``arrears`` (£), ``days_past_due``, ``bucket``,
        ``last_payment_date``, ``last_payment`` (£), ``last_action``,
        ``last_action_date``, ``arrangement``, ``vulnerable`` and the customer's region,
        tariff and income band; sorted by priority, then arrears.
    """
    ranked, segment = _ranked_worklist(cube)
    return ranked.loc[segments[segment]].reset_index(drop=True)


def _ranked_worklist(cube) -> tuple[pd.DataFrame, np.ndarray]:
    """Every worklist row scored, routed and sorted, with each row's segment; computed once
    per cube (a filter then only selects rows)."""
    memo = cube.arrears.__dict__.get("_ranked")
    if memo is not None:
        return memo
    tables = cube.arrears
    rows = tables.worklist
    segment = cube.customer_segment[rows["customer"].to_numpy()]
    dims = cube.segments.iloc[segment].reset_index(drop=True)
    vulnerable = dims["is_vulnerable"].astype(int).to_numpy() == 1
    arrears = rows["arrears_pence"].to_numpy() / 100
    days = rows["days_past_due"].to_numpy()
    arrangement = rows["arrangement"].astype(str).to_numpy()
    score = 60 * np.minimum(arrears / 2000, 1) + 40 * np.minimum(days / 365, 1)
    score = (
        score + np.where(arrangement == "Broken", 10, 0) - np.where(arrangement == "Active", 20, 0)
    )
    escalate = (days > 90) | (arrangement == "Broken")
    queue = np.where(vulnerable, "Support", np.where(escalate, "Escalation", "Reminder"))
    frame = pd.DataFrame(
        {
            "priority": np.clip(np.rint(score), 0, 100).astype(np.int64),
            "queue": pd.Categorical(queue, categories=list(QUEUES)),
            "customer_id": rows["customer_id"].to_numpy(),
            "arrears": arrears,
            "days_past_due": days,
            "bucket": pd.Categorical.from_codes(
                tables.buckets.of(days), categories=list(tables.bucket_labels), ordered=True
            ),
            "last_payment_date": rows["last_payment_date"].to_numpy(),
            "last_payment": rows["last_payment_pence"].to_numpy() / 100,
            "last_action": rows["last_action"].to_numpy(),
            "last_action_date": rows["last_action_date"].to_numpy(),
            "arrangement": rows["arrangement"].to_numpy(),
            "vulnerable": vulnerable,
            "region": dims["region"].to_numpy(),
            "tariff": dims["tariff"].to_numpy(),
            "income_band": dims["income_band"].to_numpy(),
        }
    )
    order = np.lexsort((-frame["arrears"].to_numpy(), -frame["priority"].to_numpy()))
    ranked = (frame.iloc[order].reset_index(drop=True), segment[order])
    tables.__dict__["_ranked"] = ranked
    return ranked


def segment_summary(
    cube, segments: np.ndarray, start=None, end=None, by: str = "tariff"
) -> pd.DataFrame:
    """One row per value of ``by`` (the tariff view): arrears, ageing, roll, actions.

    Returns
    -------
    DataFrame
        ``by``; at the last month-end of the range: ``customers`` on book,
        ``share_in_arrears``, ``arrears`` (£), ``average_arrears`` (£), ``share_31_plus``
        (share past the first bucket edge); over the range: ``cure_rate`` and
        ``roll_current`` (pooled over months), ``reminder_paid_30_rate`` (Reminder Sent
        followed by a payment within 30 days). Values with no customer are left out.
    """
    tables = cube.arrears
    months = _months(cube, start, end, len(tables.snapshot_days))
    matrix, labels = segment_groups(cube, segments, by)
    last = tables.sums["ageing"][months[-1] if len(months) else 0] * (len(months) > 0)
    at_end = np.moveaxis(_select(last, matrix), -1, 0)
    customers = at_end[:, :, 0].sum(axis=1)
    in_arrears = at_end[:, 1:, 0].sum(axis=1)
    serious = at_end[:, tables.buckets.entry :, 0].sum(axis=1)
    arrears = at_end[:, :, 1].sum(axis=1) / 100
    moving = months[months >= 1]
    moved = _select(tables.sums["transitions"][_span(moving), :, :, 0], matrix).sum(axis=0)
    counts = np.moveaxis(moved, -1, 0)
    effect = action_effectiveness(cube, segments, start, end, by)
    reminders = effect.loc[effect["action"] == ACTIONS[0]].set_index(by)
    frame = pd.DataFrame(
        {
            by: labels,
            "customers": customers,
            "share_in_arrears": _ratio(in_arrears, customers),
            "arrears": arrears,
            "average_arrears": _ratio(arrears, in_arrears),
            "share_31_plus": _ratio(serious, customers),
            "cure_rate": _ratio(counts[:, 1:, 0].sum(axis=1), counts[:, 1:, :].sum(axis=(1, 2))),
            "roll_current": _ratio(counts[:, 0, 1], counts[:, 0, :].sum(axis=1)),
            "reminder_paid_30_rate": reminders["paid_30_rate"].reindex(labels).to_numpy()
            if len(reminders)
            else np.nan,
        }
    )
    return frame.loc[frame["customers"] > 0].reset_index(drop=True)
