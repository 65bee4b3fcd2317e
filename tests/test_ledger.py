"""The ledger and its aggregates against deliberately naive brute force.

Everything here is recomputed the slow, literal way (plain Python loops over each customer's
bills and payments, or plain pandas sums) and compared with the vectorised code:

* :func:`dashboard.metrics.month_end_ledger` (oldest-first allocation, days past due);
* the ledger identity and :class:`dashboard.metrics.Buckets`;
* the cube's ageing totals on the demo and reference data;
* roll/cure transitions, arrears-entry cohorts and vintage curves
  (:func:`dashboard.arrears.build_arrears`);
* :func:`dashboard.metrics.action_outcomes`;
* the worklist.

Definitions are those of the module docstrings of :mod:`dashboard.metrics` and
:mod:`dashboard.arrears`. Day numbers are days since 1970-01-01; money is integer pence.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from dashboard import arrears, metrics
from dashboard.cube import Cube, build_cube
from dashboard.loader import DEFAULT_SOURCE, load_portfolio
from dashboard.schema import Portfolio, tables_from_frames, validate
from dashboard.vocab import ACTIONS

EPOCH = dt.date(1970, 1, 1)
DAY_BASE = 19_000
"""Day numbers of the generated ledger cases start around here (early 2022)."""

EDGE_CHOICES = ((30, 60, 90), (14, 28), (30,), (10, 20, 45, 60, 120))
"""Bucket edges the random cubes are built with."""
CUBE_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
"""Random-cube tests: examples come from a seed, which shrinks to nothing simpler, so the
shrink phase (tens of seconds per failing test) is skipped."""


# --- naive building blocks ----------------------------------------------------------------


def day_number(when) -> int:
    """Days since 1970-01-01 of a date or Timestamp (plain ``datetime`` arithmetic)."""
    return (pd.Timestamp(when).date() - EPOCH).days


def brute_balance(bills, payments, day: int) -> tuple[int, int, int]:
    """One customer's ledger on ``day``, read literally: (days past due, billed, paid).

    ``bills`` are (due day, pence) and ``payments`` (day, pence). The bills due strictly
    before ``day`` are sorted by due date; the payments dated on or before ``day`` cover
    them oldest first; days past due counts from the oldest bill not fully covered.
    """
    due = sorted((due_day, pence) for due_day, pence in bills if due_day < day)
    billed = sum(pence for _, pence in due)
    paid = sum(pence for paid_day, pence in payments if paid_day <= day)
    left = paid
    for due_day, pence in due:
        if left < pence:
            return day - due_day, billed, paid
        left -= pence
    return 0, billed, paid


def brute_bucket(days_past_due: int, edges: tuple[int, ...]) -> int:
    """Bucket number by walking the edges: 0 = Current, then 1 per edge, then the rest."""
    if days_past_due <= 0:
        return 0
    for number, edge in enumerate(edges, start=1):
        if days_past_due <= edge:
            return number
    return len(edges) + 1


def month_number(when) -> int:
    """``year * 12 + month - 1`` of a date: consecutive months differ by one."""
    when = pd.Timestamp(when)
    return when.year * 12 + when.month - 1


def brute_snapshots(first_month: int, last_month: int, as_of: pd.Timestamp) -> list[int]:
    """Month-end day numbers from ``first_month`` to ``last_month`` (month numbers), the
    months starting after ``as_of`` left out and the last one capped at ``as_of``."""
    days = []
    for number in range(first_month, last_month + 1):
        year, month = divmod(number, 12)
        start = dt.date(year, month + 1, 1)
        if start > as_of.date():
            break
        end = dt.date(year, month + 1, calendar.monthrange(year, month + 1)[1])
        days.append((min(end, as_of.date()) - EPOCH).days)
    return days


def ledger_from_rows(n_customers: int, bills, payments, snaps) -> metrics.Ledger:
    """Call :func:`metrics.month_end_ledger` on (customer, day, pence) row lists."""
    bill_rows = np.array(bills, dtype=np.int64).reshape(-1, 3)
    pay_rows = np.array(payments, dtype=np.int64).reshape(-1, 3)
    return metrics.month_end_ledger(
        bill_rows[:, 0],
        bill_rows[:, 1],
        bill_rows[:, 2],
        pay_rows[:, 0],
        pay_rows[:, 1],
        pay_rows[:, 2],
        n_customers,
        np.array(snaps, dtype=np.int64),
    )


def brute_ledger_arrays(n_customers: int, bills, payments, snaps) -> np.ndarray:
    """(customers, snapshots, 3) array of :func:`brute_balance` from (customer, day, pence)."""
    out = np.zeros((n_customers, len(snaps), 3), dtype=np.int64)
    for customer in range(n_customers):
        own_bills = [(day, pence) for c, day, pence in bills if c == customer]
        own_payments = [(day, pence) for c, day, pence in payments if c == customer]
        for j, snap in enumerate(snaps):
            out[customer, j] = brute_balance(own_bills, own_payments, snap)
    return out


# --- per-customer rows of a portfolio, and its naive month-end book -----------------------


@dataclass
class Rows:
    """A portfolio's rows per customer code, as plain Python lists of tuples.

    Attributes
    ----------
    bills : list of list of (due day, pence, bill month number)
    payments : list of list of (day, pence)
    actions : list of list of (day, action name)
    """

    bills: list
    payments: list
    actions: list

    @classmethod
    def of(cls, portfolio: Portfolio) -> Rows:
        """Group the typed tables' rows by customer code, one row at a time."""
        n = len(portfolio.customers)
        bills, payments, actions = ([[] for _ in range(n)] for _ in range(3))
        b = portfolio.bills
        for code, due, pence, period in zip(
            b["customer_id"].cat.codes,
            b["due_date"],
            b["bill_pence"],
            b["bill_period_end"],
            strict=True,
        ):
            bills[code].append((day_number(due), int(pence), month_number(period)))
        p = portfolio.payments
        for code, day, pence in zip(
            p["customer_id"].cat.codes, p["payment_date"], p["amount_pence"], strict=True
        ):
            payments[code].append((day_number(day), int(pence)))
        a = portfolio.actions
        for code, day, action in zip(
            a["customer_id"].cat.codes, a["action_date"], a["action"].astype(str), strict=True
        ):
            actions[code].append((day_number(day), action))
        return cls(bills, payments, actions)

    def balance(self, customer: int, day: int) -> tuple[int, int, int]:
        """:func:`brute_balance` of one customer on ``day``."""
        own = [(due, pence) for due, pence, _ in self.bills[customer]]
        return brute_balance(own, self.payments[customer], day)


@dataclass
class Book:
    """Every customer's naive month-end state over the cube months up to as-of.

    Attributes
    ----------
    first_month : int
        Month number of the earliest bill period end (cube month 0).
    snaps : list of int
        Snapshot day of each month (:func:`brute_snapshots`).
    days_past_due, billed, paid, bucket : ndarray, shape (customers, months)
    on_book : ndarray of bool, shape (customers, months)
    first_bill, last_bill : list of (int or None)
        Month index (0 = cube month 0) of each customer's first and last bill.
    """

    first_month: int
    snaps: list
    days_past_due: np.ndarray
    billed: np.ndarray
    paid: np.ndarray
    bucket: np.ndarray
    on_book: np.ndarray
    first_bill: list
    last_bill: list

    @property
    def arrears(self) -> np.ndarray:
        """Billed minus paid, floored at 0."""
        return np.maximum(self.billed - self.paid, 0)

    @property
    def credit(self) -> np.ndarray:
        """Paid minus billed, floored at 0."""
        return np.maximum(self.paid - self.billed, 0)


def brute_book(rows: Rows, as_of: pd.Timestamp, edges: tuple[int, ...]) -> Book:
    """Month-end states of every customer, one customer and one month-end at a time.

    On book (arrears.py): from the month of the first bill to the month of the last, and
    whenever billed != paid.
    """
    all_months = [month for own in rows.bills for _, _, month in own]
    first, last = min(all_months), max(all_months)
    snaps = brute_snapshots(first, last, as_of)
    n, k = len(rows.bills), len(snaps)
    state = np.zeros((n, k, 3), dtype=np.int64)
    on_book = np.zeros((n, k), dtype=bool)
    bucket = np.zeros((n, k), dtype=np.int64)
    first_bill, last_bill = [], []
    for customer in range(n):
        months = [month - first for _, _, month in rows.bills[customer]]
        first_bill.append(min(months) if months else None)
        last_bill.append(max(months) if months else None)
        own_bills = [(due, pence) for due, pence, _ in rows.bills[customer]]
        for j, snap in enumerate(snaps):
            days, billed, paid = brute_balance(own_bills, rows.payments[customer], snap)
            state[customer, j] = days, billed, paid
            bucket[customer, j] = brute_bucket(days, edges)
            started = months and j >= min(months)
            in_bill_range = bool(started and j <= max(months))
            on_book[customer, j] = in_bill_range or billed != paid
    return Book(
        first_month=first,
        snaps=snaps,
        days_past_due=state[..., 0],
        billed=state[..., 1],
        paid=state[..., 2],
        bucket=bucket,
        on_book=on_book,
        first_bill=first_bill,
        last_bill=last_bill,
    )


def brute_as_of(portfolio: Portfolio, as_of: pd.Timestamp | None) -> pd.Timestamp:
    """The given as-of date, or the latest payment date."""
    if as_of is not None:
        return pd.Timestamp(as_of).normalize()
    return max(pd.Timestamp(d) for d in portfolio.payments["payment_date"]).normalize()


# --- small portfolios: random and hand-written --------------------------------------------


def random_frames(
    rng: np.random.Generator, n_customers: int, n_months: int, start: pd.Timestamp
) -> dict[str, pd.DataFrame]:
    """A small random portfolio with the file columns (pounds, ISO date text).

    Customers join late and leave early, some are never billed; bills can be zero, due
    0-34 days after their month end (so due dates of consecutive bills may coincide);
    payments can precede any bill, be zero, or overpay; actions are of every type. The
    latest payment is on or after the last bill's period end.
    """
    ids = [f"C{100000 + i}" for i in range(n_customers)]
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "region": rng.choice(["Reading", "Oxford"], n_customers),
            "income_band": rng.choice(["<£15k", "£50k+"], n_customers),
            "tariff": rng.choice(["Metered", "Standard"], n_customers),
            "has_meter": rng.integers(0, 2, n_customers),
            "is_vulnerable": rng.integers(0, 2, n_customers),
            "prefers_direct_debit": 0,
            "tenure_band": "<1y",
        }
    )
    ends = pd.date_range(start, periods=n_months, freq="ME")
    bills = []
    for index, cid in enumerate(ids):
        if index and rng.random() < 0.15:
            continue  # never billed (the first customer always is)
        first = int(rng.integers(0, n_months)) if index else 0
        last = int(rng.integers(first, n_months))
        for m in range(first, last + 1):
            if m > first and rng.random() < 0.1:
                continue
            amount = 0.0 if rng.random() < 0.15 else int(rng.integers(1, 6000)) / 100
            due = ends[m] + pd.Timedelta(days=int(rng.integers(0, 35)))
            bills.append((cid, ends[m], amount, 1.0, due))
    bills = pd.DataFrame(
        bills, columns=["customer_id", "bill_period_end", "bill_amount", "usage_m3", "due_date"]
    )
    low = ends[0] - pd.Timedelta(days=40)
    span = (ends[-1] - low).days + 60
    n_pay = int(rng.integers(1, 3 * len(bills) + 2))
    amounts = rng.integers(0, 6000, n_pay) / 100
    kind = rng.random(n_pay)
    amounts[kind < 0.1] = rng.integers(10_000, 30_000) / 100  # overpayments
    amounts[(kind >= 0.1) & (kind < 0.2)] = 10.0  # exactly the "paid something" threshold
    if len(bills):  # exactly one bill: clears arrears of exactly that bill
        same = (kind >= 0.2) & (kind < 0.35)
        amounts[same] = rng.choice(bills["bill_amount"].to_numpy(), int(same.sum()))
    payments = pd.DataFrame(
        {
            "customer_id": rng.choice(ids, n_pay),
            "payment_date": low + pd.to_timedelta(rng.integers(0, span, n_pay), "D"),
            "amount": amounts,
            "method": "Card",
        }
    )
    latest = ends[-1] + pd.Timedelta(days=int(rng.integers(0, 60)))
    payments.loc[len(payments)] = (rng.choice(ids), latest, 12.34, "Card")
    # one payment on the first day of the first bill month, so that some payment precedes
    # any as-of date drawn by :func:`cases` (for none: test_worklist_when_no_payment_...)
    payments.loc[len(payments)] = (rng.choice(ids), start, 1.0, "Card")
    n_act = 3 * n_customers
    actions = pd.DataFrame(
        {
            "customer_id": rng.choice(ids, n_act),
            "action_date": low + pd.to_timedelta(rng.integers(0, span, n_act), "D"),
            "action": rng.choice(list(ACTIONS), n_act),
        }
    )
    for frame, columns in (
        (bills, ["bill_period_end", "due_date"]),
        (payments, ["payment_date"]),
        (actions, ["action_date"]),
    ):
        for column in columns:
            frame[column] = pd.to_datetime(frame[column]).dt.strftime("%Y-%m-%d")
    return {
        "customers": customers,
        "bills": bills,
        "payments": payments,
        "collections_actions": actions,
    }


@dataclass
class Case:
    """A random portfolio and the cube parameters to build it with."""

    portfolio: Portfolio
    window: metrics.Window
    as_of: pd.Timestamp | None
    buckets: metrics.Buckets
    chunk: int

    def cube(self):
        """The cube under test."""
        return build_cube(self.portfolio, self.window, self.as_of, self.buckets)


@st.composite
def cases(draw) -> Case:
    """Random small portfolios (1-6 customers, 1-10 months starting in any month)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_customers = draw(st.integers(1, 6))
    n_months = draw(st.integers(1, 10))
    start = pd.Timestamp(2022, draw(st.integers(1, 12)), 1)
    frames = random_frames(rng, n_customers, n_months, start)
    # as-of on or after the first bill month starts (for an earlier one: the test
    # test_cube_builds_when_as_of_precedes_the_first_bill_month)
    shift = draw(st.one_of(st.none(), st.integers(0, 31 * n_months + 90)))
    as_of = None if shift is None else start + pd.Timedelta(days=shift)
    return Case(
        portfolio=validate(tables_from_frames(frames)),
        window=metrics.Window(3, draw(st.sampled_from([30, 60])), 100),
        as_of=as_of,
        buckets=metrics.Buckets(draw(st.sampled_from(EDGE_CHOICES))),
        chunk=draw(st.integers(1, n_customers)),
    )


def minimal_frames(bills, payments, actions=(), n_customers: int = 1) -> dict:
    """File-shaped frames from (id, period end, £, due) bills and (id, date, £) payments."""
    ids = [f"C{100000 + i}" for i in range(n_customers)]
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "region": "Reading",
            "income_band": "<£15k",
            "tariff": "Metered",
            "has_meter": 1,
            "is_vulnerable": 0,
            "prefers_direct_debit": 0,
            "tenure_band": "<1y",
        }
    )
    bills = pd.DataFrame(
        bills, columns=["customer_id", "bill_period_end", "bill_amount", "due_date"]
    ).assign(usage_m3=1.0)
    payments = pd.DataFrame(payments, columns=["customer_id", "payment_date", "amount"])
    actions = pd.DataFrame(
        list(actions) or [("C100000", "2023-05-01", "Reminder Sent")],
        columns=["customer_id", "action_date", "action"],
    )
    return {
        "customers": customers,
        "bills": bills,
        "payments": payments.assign(method="Card"),
        "collections_actions": actions,
    }


# --- expected aggregate tables ------------------------------------------------------------


def expected_ageing(book: Book, segment: np.ndarray, n_segments: int, n_buckets: int):
    """(months, segments, buckets, 5): customers on book, arrears, credit, billed, paid."""
    out = np.zeros((len(book.snaps), n_segments, n_buckets, 5), dtype=np.int64)
    values = np.stack(
        [np.ones_like(book.billed), book.arrears, book.credit, book.billed, book.paid], axis=-1
    ).tolist()
    bucket = book.bucket.tolist()
    for c, j in zip(*np.nonzero(book.on_book), strict=True):
        out[j, segment[c], bucket[c][j]] += values[c][j]
    return out


def expected_transitions(book: Book, segment: np.ndarray, n_segments: int, n_buckets: int):
    """(months, segments, from, to, 2): customers on book at both month-ends and their
    arrears at the first one."""
    k = len(book.snaps)
    out = np.zeros((k, n_segments, n_buckets, n_buckets, 2), dtype=np.int64)
    owed = book.arrears
    for c in range(len(segment)):
        for j in range(1, k):
            if book.on_book[c, j - 1] and book.on_book[c, j]:
                cell = out[j, segment[c], book.bucket[c, j - 1], book.bucket[c, j]]
                cell += [1, owed[c, j - 1]]
    return out


def expected_entries(book: Book, segment: np.ndarray, n_segments: int, entry: int):
    """{(entry month, segment): {measure: count}} for every customer reaching ``entry``."""
    out = defaultdict(lambda: dict.fromkeys(arrears.ENTRY_MEASURES, 0))
    k = len(book.snaps)
    for c in range(len(segment)):
        months = [j for j in range(k) if book.bucket[c, j] >= entry]
        if not months:
            continue
        first = months[0]
        cell = out[(first, int(segment[c]))]
        cell["entered"] += 1
        for h in arrears.CURE_AFTER:
            if first + h < k:
                cell[f"observed_{h}"] += 1
                cell[f"cured_{h}"] += int(book.bucket[c, first + h] == 0)
    return dict(out)


def expected_vintage(book: Book, segment: np.ndarray, default_month: list):
    """{(cohort, months on book, segment): [customers, defaulted, in arrears]}.

    Cohort = quarter of the first bill minus the quarter of cube month 0.
    """
    out = defaultdict(lambda: [0, 0, 0])
    first_quarter = book.first_month // 3
    for c in range(len(segment)):
        first = book.first_bill[c]
        if first is None:
            continue
        cohort = (book.first_month + first) // 3 - first_quarter
        for j in range(first, len(book.snaps)):
            cell = out[(cohort, j - first, int(segment[c]))]
            cell[0] += 1
            cell[1] += int(default_month[c] is not None and default_month[c] <= j)
            cell[2] += int(book.bucket[c, j] > 0)
    return dict(out)


def table_cells(table: np.ndarray, measures) -> dict:
    """Nonzero cells of a (..., measures) table as {index tuple: {measure: value}}."""
    cells = {}
    for index in zip(*np.nonzero(table.any(axis=-1)), strict=True):
        index = tuple(int(i) for i in index)
        cells[index] = dict(zip(measures, table[index].tolist(), strict=True))
    return cells


def first_default_months(portfolio: Portfolio, cube) -> list:
    """Per customer, the month index of their first mature defaulted bill (or None)."""
    outcome = metrics.bill_outcomes(portfolio.bills, portfolio.payments, cube.window, cube.as_of)
    first = month_number(cube.months[0])
    months = [None] * len(portfolio.customers)
    bills = portfolio.bills
    for code, period, default, mature in zip(
        bills["customer_id"].cat.codes,
        bills["bill_period_end"],
        outcome["is_default"],
        outcome["is_mature"],
        strict=True,
    ):
        if default and mature:
            month = month_number(period) - first
            months[code] = month if months[code] is None else min(months[code], month)
    return months


# --- brute-force action outcomes and worklist ---------------------------------------------


def brute_action_outcome(rows: Rows, customer: int, day: int, as_of_day: int, min_pence: int):
    """Outcome of one action, read literally (pay horizons 14 and 30, clear horizon 60).

    The arrears of an action after the as-of date are those known on the as-of date."""
    own_bills = [(due, pence) for due, pence, _ in rows.bills[customer]]
    seen = min(day, as_of_day)
    billed = sum(pence for due, pence in own_bills if due < seen)
    paid = sum(pence for paid_day, pence in rows.payments[customer] if paid_day <= seen)
    owed = max(billed - paid, 0)
    out = {"arrears_pence": owed, "in_arrears": owed > 0}
    for days in (14, 30, 60):
        after = sum(p for d, p in rows.payments[customer] if day < d <= day + days)
        decided = owed > 0 and day + days <= as_of_day
        out[f"decided_{days}"] = decided
        if days == 60:
            out["cleared_60"] = decided and after >= owed
        else:
            out[f"paid_{days}"] = decided and after >= min(min_pence, owed)
    return out


def brute_arrangement(actions, as_of_day: int) -> str:
    """None / Broken / Active / Kept from one customer's (day, action) list (90-day rule)."""
    agreed = [d for d, a in actions if a == metrics.ARRANGEMENT_AGREED and d <= as_of_day]
    broken = [d for d, a in actions if a == metrics.ARRANGEMENT_BROKEN and d <= as_of_day]
    if not agreed:
        return "None"
    if broken and max(broken) > max(agreed):
        return "Broken"
    return "Active" if as_of_day - max(agreed) <= 90 else "Kept"


def check_worklist(portfolio: Portfolio, cube, rows: Rows | None = None) -> None:
    """Every worklist row, and who is on it, against :class:`Rows` at the as-of day."""
    rows = Rows.of(portfolio) if rows is None else rows
    as_of_day = day_number(cube.as_of)
    ids = portfolio.customers["customer_id"].astype(str).tolist()
    owing = {}
    for customer in range(len(ids)):
        days, billed, paid = rows.balance(customer, as_of_day)
        if billed > paid:
            owing[customer] = (billed - paid, days)
    work = cube.arrears.worklist
    assert sorted(work["customer"].tolist()) == sorted(owing)
    for row in work.itertuples():
        assert row.customer_id == ids[row.customer]
        assert (row.arrears_pence, row.days_past_due) == owing[row.customer], row.customer_id
        paid = [(d, p) for d, p in rows.payments[row.customer] if d <= as_of_day]
        if paid:
            last = max(d for d, _ in paid)
            assert day_number(row.last_payment_date) == last, row.customer_id
            assert row.last_payment_pence in [p for d, p in paid if d == last], row.customer_id
        else:
            assert pd.isna(row.last_payment_date) and row.last_payment_pence == 0
        expected = brute_arrangement(rows.actions[row.customer], as_of_day)
        assert str(row.arrangement) == expected, (row.customer_id, rows.actions[row.customer])
        known = [d for d, _ in rows.actions[row.customer] if d <= as_of_day]
        if known:
            assert day_number(row.last_action_date) == max(known), row.customer_id
        else:
            assert pd.isna(row.last_action_date)


# --- the demo set, built once -------------------------------------------------------------


@dataclass
class Demo:
    """The committed demo set, its default cube, its rows and its naive book."""

    portfolio: Portfolio
    cube: Cube
    rows: Rows
    book: Book


@pytest.fixture(scope="module")
def demo() -> Demo:
    """:class:`Demo` of ``data/`` (the naive book takes a few seconds: built once)."""
    portfolio = load_portfolio(DEFAULT_SOURCE)
    cube = build_cube(portfolio)
    rows = Rows.of(portfolio)
    return Demo(portfolio, cube, rows, brute_book(rows, cube.as_of, cube.arrears.buckets.edges))


# === 1. allocation ========================================================================


@st.composite
def ledger_inputs(draw):
    """(customers, bills, payments, snapshots) with bills and payments as (customer, day,
    pence) rows in any order: zero bills, shared due dates, early payments, overpayments."""
    n = draw(st.integers(1, 4))
    customer = st.integers(0, n - 1)
    due = st.one_of(st.integers(0, 60), st.sampled_from([10, 20]))
    bill = st.tuples(
        customer,
        due.map(lambda d: DAY_BASE + d),
        st.sampled_from([0, 0, 700]) | st.integers(1, 5000),
    )
    payment = st.tuples(
        customer,
        st.integers(-20, 80).map(lambda d: DAY_BASE + d),
        st.integers(0, 12_000) | st.sampled_from([0, 700, 1400]),
    )
    bills = draw(st.lists(bill, max_size=12))
    payments = draw(st.lists(payment, max_size=12))
    snaps = sorted(draw(st.sets(st.integers(-25, 90), min_size=1, max_size=6)))
    return n, bills, payments, [DAY_BASE + s for s in snaps]


@settings(max_examples=300, deadline=None)
@given(ledger_inputs())
def test_month_end_ledger_matches_brute_force(inputs):
    n, bills, payments, snaps = inputs
    got = ledger_from_rows(n, bills, payments, snaps)
    expected = brute_ledger_arrays(n, bills, payments, snaps)
    np.testing.assert_array_equal(got.days_past_due, expected[..., 0])
    np.testing.assert_array_equal(got.billed_pence, expected[..., 1])
    np.testing.assert_array_equal(got.paid_pence, expected[..., 2])


D = DAY_BASE  # short, for the hand-written cases below


@pytest.mark.parametrize(
    "bills, payments, snaps, expected",
    [
        pytest.param(
            [(0, D + 10, 1000)],
            [],
            [D + 10, D + 11, D + 40],
            [[(0, 0, 0), (1, 1000, 0), (30, 1000, 0)]],
            id="in-arrears-the-day-after-due",
        ),
        pytest.param(
            [(0, D + 10, 1000), (0, D + 40, 1000)],
            [(0, D - 5, 1500)],
            [D + 5, D + 50],
            [[(0, 0, 1500), (10, 2000, 1500)]],
            id="payment-before-any-bill-covers-the-oldest",
        ),
        pytest.param(
            [(0, D + 40, 1000), (0, D + 10, 1000)],
            [(0, D + 11, 1000)],
            [D + 60],
            [[(20, 2000, 1000)]],
            id="exact-cover-of-the-oldest-input-unsorted",
        ),
        pytest.param(
            [(0, D + 10, 1000)],
            [(0, D + 12, 3000)],
            [D + 20],
            [[(0, 1000, 3000)]],
            id="overpayment-is-credit",
        ),
        pytest.param(
            [(0, D + 5, 0), (0, D + 5, 500)],
            [],
            [D + 6],
            [[(1, 500, 0)]],
            id="zero-bill-and-bill-due-the-same-day",
        ),
        pytest.param([(0, D + 5, 0)], [], [D + 30], [[(0, 0, 0)]], id="zero-bill-is-never-owed"),
        pytest.param(
            [(0, D + 10, 1000)],
            [(0, D + 20, 1000)],
            [D + 19, D + 20],
            [[(9, 1000, 0), (0, 1000, 1000)]],
            id="payment-on-the-snapshot-day-counts",
        ),
        pytest.param(
            [(1, D + 10, 800)],
            [(0, D + 1, 5000)],
            [D + 15],
            [[(0, 0, 5000)], [(5, 800, 0)]],
            id="one-customers-payment-never-covers-another",
        ),
        pytest.param(
            [(0, D + 10, 300), (0, D + 20, 300), (0, D + 30, 300)],
            [(0, D + 25, 200), (0, D + 26, 200)],
            [D + 25, D + 26, D + 31],
            [[(15, 600, 200), (6, 600, 400), (11, 900, 400)]],
            id="partial-payments-move-the-oldest-forward",
        ),
    ],
)
def test_month_end_ledger_known_cases(bills, payments, snaps, expected):
    got = ledger_from_rows(len(expected), bills, payments, snaps)
    got_triples = np.stack([got.days_past_due, got.billed_pence, got.paid_pence], axis=-1)
    assert got_triples.tolist() == [[list(t) for t in row] for row in expected]


# === 2. ledger identity and buckets =======================================================


def assert_ledger_identity(ledger: metrics.Ledger) -> None:
    """arrears - credit == billed - paid; both >= 0, never both positive; days past due > 0
    exactly when in arrears."""
    owed, credit = ledger.arrears_pence, ledger.credit_pence
    np.testing.assert_array_equal(owed - credit, ledger.billed_pence - ledger.paid_pence)
    assert (owed >= 0).all() and (credit >= 0).all()
    assert not ((owed > 0) & (credit > 0)).any()
    np.testing.assert_array_equal(ledger.days_past_due > 0, owed > 0)
    assert (ledger.days_past_due >= 0).all()


@settings(max_examples=150, deadline=None)
@given(ledger_inputs())
def test_ledger_identity_on_random_rows(inputs):
    assert_ledger_identity(ledger_from_rows(*inputs))


def test_ledger_identity_on_demo_data(demo):
    portfolio, cube = demo.portfolio, demo.cube
    bills, payments = portfolio.bills, portfolio.payments
    ledger = metrics.month_end_ledger(
        bills["customer_id"].cat.codes.to_numpy(np.int64),
        metrics.day_numbers(bills["due_date"]),
        bills["bill_pence"].to_numpy(np.int64),
        payments["customer_id"].cat.codes.to_numpy(np.int64),
        metrics.day_numbers(payments["payment_date"]),
        payments["amount_pence"].to_numpy(np.int64),
        len(portfolio.customers),
        cube.arrears.snapshot_days,
    )
    assert ledger.billed_pence.shape == (len(portfolio.customers), len(cube.months))
    assert_ledger_identity(ledger)
    assert (ledger.arrears_pence > 0).any()


@pytest.mark.parametrize(
    "edges, labels",
    [
        ((30, 60, 90), ("Current", "1–30", "31–60", "61–90", "91+")),
        ((14, 28), ("Current", "1–14", "15–28", "29+")),
        ((30,), ("Current", "1–30", "31+")),
        ((1, 2, 365), ("Current", "1–1", "2–2", "3–365", "366+")),
    ],
)
def test_buckets_of_walks_the_edges(edges, labels):
    buckets = metrics.Buckets(edges)
    days = np.arange(0, 800)
    expected = [brute_bucket(int(d), edges) for d in days]
    assert buckets.of(days).tolist() == expected
    assert buckets.of(days).dtype == np.int8
    assert buckets.labels == labels
    assert buckets.entry == (2 if len(edges) > 1 else 1)


def test_buckets_default_boundaries():
    days = [0, 1, 30, 31, 60, 61, 90, 91, 5000]
    expected = [0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert metrics.Buckets().of(np.array(days)).tolist() == expected
    assert metrics.Buckets.parse(" 14, 28 ,") == metrics.Buckets((14, 28))
    assert metrics.Buckets.parse("30,60,90") == metrics.Buckets()


@pytest.mark.parametrize(
    "text", ["", " , ", "abc", "30,abc", "60,30", "30,30", "0,30", "-5", "1.5"]
)
def test_buckets_parse_refuses_bad_text(text):
    with pytest.raises(ValueError, match="bucket edges"):
        metrics.Buckets.parse(text)


# === 3. ageing totals on the demo and reference data ======================================


def pandas_month_end_totals(portfolio: Portfolio, snaps: np.ndarray, months: pd.DatetimeIndex):
    """Per snapshot: (customers on book, on-book billed - paid, all customers' billed - paid,
    on-book billed, on-book paid), from the typed tables with plain pandas."""
    bills, payments = portfolio.bills, portfolio.payments
    ids = portfolio.customers["customer_id"]
    bill_month = bills["bill_period_end"].dt.to_period("M")
    first = bill_month.groupby(bills["customer_id"], observed=False).min().reindex(ids)
    last = bill_month.groupby(bills["customer_id"], observed=False).max().reindex(ids)
    rows = []
    for snap, month in zip(snaps, months, strict=False):
        day = pd.Timestamp(EPOCH) + pd.Timedelta(days=int(snap))
        billed = (
            bills.loc[bills["due_date"] < day]
            .groupby("customer_id", observed=False)["bill_pence"]
            .sum()
            .reindex(ids, fill_value=0)
        )
        paid = (
            payments.loc[payments["payment_date"] <= day]
            .groupby("customer_id", observed=False)["amount_pence"]
            .sum()
            .reindex(ids, fill_value=0)
        )
        period = month.to_period("M")
        started = first.notna() & (first <= period)
        on_book = (started & (last >= period)) | (billed != paid)
        rows.append(
            (
                int(on_book.sum()),
                int((billed - paid)[on_book].sum()),
                int((billed - paid).sum()),
                int(billed[on_book].sum()),
                int(paid[on_book].sum()),
            )
        )
    return rows


def check_ageing_totals(portfolio: Portfolio, cube) -> None:
    """Ageing summed over segments and buckets == pandas totals, for every month-end."""
    tables = cube.arrears
    first = month_number(cube.months[0])
    expected_snaps = brute_snapshots(first, month_number(cube.months[-1]), cube.as_of)
    assert tables.snapshot_days.tolist() == expected_snaps
    totals = tables.ageing.sum(axis=(1, 2))  # (months, measures)
    measures = dict(zip(arrears.AGEING_MEASURES, totals.T, strict=True))
    expected = pandas_month_end_totals(portfolio, tables.snapshot_days, cube.months)
    for j, (customers, net, net_all, billed, paid) in enumerate(expected):
        month = cube.months[j].strftime("%Y-%m")
        assert measures["customers"][j] == customers, month
        assert measures["arrears_pence"][j] - measures["credit_pence"][j] == net, month
        assert net_all == net, f"{month}: an off-book customer holds a balance"
        assert measures["billed_pence"][j] == billed, month
        assert measures["paid_pence"][j] == paid, month


def test_ageing_totals_on_demo_data(demo):
    check_ageing_totals(demo.portfolio, demo.cube)


def test_ageing_totals_on_reference_data(seed_dir):
    portfolio = load_portfolio(seed_dir)
    check_ageing_totals(portfolio, build_cube(portfolio))


def test_ageing_transitions_and_cohorts_on_demo_data(demo):
    """Every ageing, transition, entry and vintage cell of the demo cube vs the naive book."""
    cube, book = demo.cube, demo.book
    segment, n_seg = cube.customer_segment, len(cube.segments)
    n_b = len(cube.arrears.bucket_labels)
    assert cube.arrears.snapshot_days.tolist() == book.snaps
    np.testing.assert_array_equal(cube.arrears.ageing, expected_ageing(book, segment, n_seg, n_b))
    np.testing.assert_array_equal(
        cube.arrears.transitions, expected_transitions(book, segment, n_seg, n_b)
    )
    entries = expected_entries(book, segment, n_seg, cube.arrears.buckets.entry)
    assert table_cells(cube.arrears.entries, arrears.ENTRY_MEASURES) == entries
    vintage = expected_vintage(book, segment, first_default_months(demo.portfolio, cube))
    got = table_cells(cube.arrears.vintage, arrears.VINTAGE_MEASURES)
    assert {index: list(cell.values()) for index, cell in got.items()} == vintage


# === 4-5. random cubes: ageing, transitions, entry cohorts, vintage =====================


def case_book(case: Case, cube) -> Book:
    """The naive book of a random case, checking the cube's as-of and snapshot days."""
    as_of = brute_as_of(case.portfolio, case.as_of)
    assert cube.as_of == as_of
    book = brute_book(Rows.of(case.portfolio), as_of, case.buckets.edges)
    assert cube.arrears.snapshot_days.tolist() == book.snaps
    assert month_number(cube.months[0]) == book.first_month
    return book


@CUBE_SETTINGS
@given(cases())
def test_ageing_matches_brute_force(case):
    cube = case.cube()
    book = case_book(case, cube)
    n_seg, n_b = len(cube.segments), len(case.buckets.labels)
    np.testing.assert_array_equal(
        cube.arrears.ageing, expected_ageing(book, cube.customer_segment, n_seg, n_b)
    )


@CUBE_SETTINGS
@given(cases())
def test_transitions_match_brute_force(case):
    cube = case.cube()
    book = case_book(case, cube)
    n_seg, n_b = len(cube.segments), len(case.buckets.labels)
    expected = expected_transitions(book, cube.customer_segment, n_seg, n_b)
    np.testing.assert_array_equal(cube.arrears.transitions.sum(axis=1), expected.sum(axis=1))
    np.testing.assert_array_equal(cube.arrears.transitions, expected)

    everyone = np.ones(n_seg, dtype=bool)
    matrix = arrears.transition_matrix(cube, everyone)
    moves = expected[1:].sum(axis=(0, 1))  # (from, to, 2)
    assert matrix["customers"].tolist() == moves[..., 0].ravel().tolist()
    assert matrix["arrears"].tolist() == pytest.approx((moves[..., 1] / 100).ravel().tolist())
    for share, column in (("customer_share", 0), ("arrears_share", 1)):
        rows = matrix.groupby("from_bucket", observed=False)[share]
        for number, (_, values) in enumerate(rows):
            if moves[number, :, column].sum() > 0:
                assert values.sum() == pytest.approx(1.0)
            else:
                assert values.isna().all()

    rates = arrears.roll_rates(cube, everyone)
    for row in rates.itertuples():
        j = cube.months.get_loc(row.month)
        counts = expected[j, ..., 0].sum(axis=0)
        before = counts[1:].sum()
        assert row.in_arrears_before == before
        if before:
            assert row.cure_rate == pytest.approx(counts[1:, 0].sum() / before)
        if counts[0].sum():
            assert row.roll_current == pytest.approx(counts[0, 1] / counts[0].sum())


@CUBE_SETTINGS
@given(cases())
def test_entry_cohorts_match_brute_force(case):
    cube = case.cube()
    book = case_book(case, cube)
    expected = expected_entries(book, cube.customer_segment, len(cube.segments), case.buckets.entry)
    assert table_cells(cube.arrears.entries, arrears.ENTRY_MEASURES) == expected


def test_entry_cohort_known_case():
    """31-60 days past due at the end of March; 1-30 in April (not cured); Current from May."""
    bills = [
        ("C100000", f"2023-{m:02d}-{calendar.monthrange(2023, m)[1]}", 10.0, f"2023-{m + 1:02d}-14")
        for m in range(1, 10)
    ]
    payments = [("C100000", "2023-04-20", 20.0), ("C100000", "2023-05-20", 20.0)]
    payments += [("C100000", f"2023-{m:02d}-14", 10.0) for m in range(6, 10)]
    cube = build_cube(validate(tables_from_frames(minimal_frames(bills, payments))))
    assert len(cube.arrears.snapshot_days) == 9
    assert cube.arrears.entries.sum(axis=1).tolist() == [
        [1, 1, 1, 1, 1, 0, 1, 1, 1] if month == 2 else [0] * 9 for month in range(9)
    ]


@CUBE_SETTINGS
@given(cases())
def test_vintage_matches_brute_force(case):
    cube = case.cube()
    book = case_book(case, cube)
    default_month = first_default_months(case.portfolio, cube)
    expected = expected_vintage(book, cube.customer_segment, default_month)
    got = {
        index: list(values.values())
        for index, values in table_cells(cube.arrears.vintage, arrears.VINTAGE_MEASURES).items()
    }
    assert got == expected


def test_vintage_cohort_is_the_quarter_of_the_first_bill():
    """A portfolio whose first bill month is April: April's customers are cohort 0 (Q2)."""
    frames = minimal_frames(
        bills=[("C100000", "2023-04-30", 10.0, "2023-05-14")],
        payments=[("C100000", "2023-07-01", 10.0)],
    )
    cube = build_cube(validate(tables_from_frames(frames)))
    cohorts = np.nonzero(cube.arrears.vintage[..., 0].sum(axis=(1, 2)))[0]
    assert cohorts.tolist() == [0]
    curves = arrears.vintage(cube, np.ones(len(cube.segments), dtype=bool))
    assert set(curves["cohort"]) == {"2023 Q2"}


def build_in_chunks(portfolio: Portfolio, cube: Cube, chunk: int) -> arrears.ArrearsTables:
    """:func:`arrears.build_arrears` of ``cube``'s portfolio and parameters, ``chunk``
    customers at a time."""
    outcomes = metrics.bill_outcomes(portfolio.bills, portfolio.payments, cube.window, cube.as_of)
    first = month_number(cube.months[0])
    bill_month = np.array([month_number(d) - first for d in portfolio.bills["bill_period_end"]])
    return arrears.build_arrears(
        portfolio,
        outcomes,
        bill_month,
        cube.customer_segment,
        len(cube.segments),
        cube.months,
        cube.as_of,
        cube.arrears.buckets,
        chunk=chunk,
    )


def assert_same_tables(got: arrears.ArrearsTables, expected: arrears.ArrearsTables) -> None:
    """Every table of two :class:`arrears.ArrearsTables` is equal."""
    for name in ("ageing", "transitions", "vintage", "entries", "actions", "funnel_bits"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), name)
    pd.testing.assert_frame_equal(got.worklist, expected.worklist)


@CUBE_SETTINGS
@given(cases())
def test_chunked_build_matches_one_chunk(case):
    """Aggregating customers in chunks (build_arrears' ``chunk``) changes nothing."""
    cube = case.cube()
    assert_same_tables(build_in_chunks(case.portfolio, cube, case.chunk), cube.arrears)


# === 6. action outcomes ===================================================================


@CUBE_SETTINGS
@given(cases(), st.sampled_from([1000, 1, 3000]))
def test_action_outcomes_match_per_action_loop(case, min_pence):
    portfolio = case.portfolio
    as_of = brute_as_of(portfolio, case.as_of)
    got = metrics.action_outcomes(
        portfolio.actions, portfolio.bills, portfolio.payments, as_of, (14, 30), 60, min_pence
    )
    rows = Rows.of(portfolio)
    actions = portfolio.actions
    for index, code, day in zip(
        actions.index, actions["customer_id"].cat.codes, actions["action_date"], strict=True
    ):
        expected = brute_action_outcome(rows, code, day_number(day), day_number(as_of), min_pence)
        assert got.loc[index, list(expected)].tolist() == list(expected.values()), index


@CUBE_SETTINGS
@given(cases())
def test_action_effectiveness_sums_the_per_action_loop(case):
    """The cube's action table, through :func:`arrears.action_effectiveness`."""
    cube = case.cube()
    rows = Rows.of(case.portfolio)
    as_of_day = day_number(cube.as_of)
    first, last = month_number(cube.months[0]), month_number(cube.months[-1])
    totals = defaultdict(lambda: defaultdict(int))
    actions = case.portfolio.actions
    for code, day, action in zip(
        actions["customer_id"].cat.codes,
        actions["action_date"],
        actions["action"].astype(str),
        strict=True,
    ):
        if not first <= month_number(day) <= last:
            continue
        outcome = brute_action_outcome(rows, code, day_number(day), as_of_day, 1000)
        totals[action]["actions"] += 1
        for name, value in outcome.items():
            if name != "arrears_pence":
                totals[action][name] += int(value)
    got = arrears.action_effectiveness(cube, np.ones(len(cube.segments), dtype=bool))
    for row in got.itertuples():
        expected = totals[row.action]
        assert row.actions == expected["actions"], row.action
        assert row.in_arrears == expected["in_arrears"], row.action
        for rate, numerator, denominator in (
            ("paid_14_rate", "paid_14", "decided_14"),
            ("paid_30_rate", "paid_30", "decided_30"),
            ("cleared_60_rate", "cleared_60", "decided_60"),
        ):
            assert getattr(row, denominator) == expected[denominator], (row.action, denominator)
            if expected[denominator]:
                share = expected[numerator] / expected[denominator]
                assert getattr(row, rate) == pytest.approx(share), (row.action, rate)
            else:
                assert np.isnan(getattr(row, rate))


def test_action_outcomes_known_cases():
    """Thresholds met exactly, horizons ending exactly on the payment day, and no arrears
    on the due date itself (a bill is owed from the day after)."""
    frames = minimal_frames(
        bills=[
            ("C100000", "2023-01-31", 50.0, "2023-02-14"),
            ("C100001", "2023-01-31", 5.0, "2023-02-14"),
            ("C100002", "2023-01-31", 30.0, "2023-02-14"),
        ],
        payments=[
            ("C100000", "2023-03-15", 10.0),  # day + 14: exactly £10
            ("C100000", "2023-04-30", 40.0),  # day + 60: the £50 is cleared exactly
            ("C100001", "2023-03-31", 5.0),  # day + 30: exactly the arrears (< £10)
            ("C100002", "2023-03-02", 9.99),  # a penny short of £10
            ("C100002", "2023-06-30", 0.01),
        ],
        actions=[
            ("C100000", "2023-03-01", "Reminder Sent"),
            ("C100001", "2023-03-01", "Reminder Sent"),
            ("C100002", "2023-03-01", "Second Reminder"),
            ("C100000", "2023-02-14", "Reminder Sent"),  # due today: not yet in arrears
            ("C100001", "2023-05-15", "Reminder Sent"),  # 46 days before as-of
        ],
        n_customers=3,
    )
    portfolio = validate(tables_from_frames(frames))
    got = metrics.action_outcomes(
        portfolio.actions, portfolio.bills, portfolio.payments, pd.Timestamp("2023-06-30")
    )
    columns = ["arrears_pence", "paid_14", "paid_30", "decided_60", "cleared_60"]
    assert _by_action(portfolio, got[columns]) == {
        ("C100000", "2023-03-01"): [5000, True, True, True, True],
        ("C100001", "2023-03-01"): [500, False, True, True, True],
        ("C100002", "2023-03-01"): [3000, False, False, True, False],
        ("C100000", "2023-02-14"): [0, False, False, False, False],
        ("C100001", "2023-05-15"): [0, False, False, False, False],
    }
    frames["payments"] = frames["payments"].iloc[[0, 2, 3, 4]]  # without C100000's £40
    portfolio = validate(tables_from_frames(frames))
    short = metrics.action_outcomes(
        portfolio.actions, portfolio.bills, portfolio.payments, pd.Timestamp("2023-06-30")
    )
    by_action = _by_action(portfolio, short[["paid_14", "cleared_60"]])
    assert by_action[("C100000", "2023-03-01")] == [True, False]  # £10 of £50


def _by_action(portfolio, outcomes: pd.DataFrame) -> dict:
    """Outcome rows keyed by (customer, action day): validation sorts actions by customer."""
    actions = portfolio.actions
    days = actions["action_date"].dt.strftime("%Y-%m-%d")
    keys = zip(actions["customer_id"].astype(str), days, strict=True)
    return dict(zip(keys, outcomes.to_numpy().tolist(), strict=True))


# === 7. worklist ==========================================================================


def test_worklist_on_demo_data(demo):
    work = demo.cube.arrears.worklist
    assert len(work) > 100
    assert set(work["arrangement"].astype(str)) == set(arrears.ARRANGEMENT_STATES)
    check_worklist(demo.portfolio, demo.cube, demo.rows)


@CUBE_SETTINGS
@given(cases())
def test_worklist_on_random_data(case):
    check_worklist(case.portfolio, case.cube())


def test_arrangement_status_boundaries():
    """The worklist's arrangement rule at its edges: 90 days, a break on the agreed day."""
    as_of = pd.Timestamp("2023-06-30")
    histories = {
        "C100000": [("2023-07-01", "Arrangement Agreed")],  # after as-of: None
        "C100001": [("2023-04-01", "Arrangement Agreed")],  # exactly 90 days: Active
        "C100002": [("2023-03-31", "Arrangement Agreed")],  # 91 days: Kept
        "C100003": [("2023-05-01", "Arrangement Agreed"), ("2023-05-01", "Arrangement Broken")],
        "C100004": [("2023-05-01", "Arrangement Agreed"), ("2023-05-02", "Arrangement Broken")],
        "C100005": [("2023-01-10", "Arrangement Broken"), ("2023-02-01", "Arrangement Agreed")],
        "C100006": [("2023-06-01", "Arrangement Agreed"), ("2023-07-02", "Arrangement Broken")],
    }
    expected = ["None", "Active", "Kept", "Active", "Broken", "Kept", "Active"]
    actions = [(cid, day, action) for cid, rows in histories.items() for day, action in rows]
    frames = minimal_frames(
        bills=[(cid, "2023-01-31", 20.0, "2023-02-14") for cid in histories],
        payments=[("C100000", "2023-06-30", 1.0)],
        actions=actions,
        n_customers=len(histories),
    )
    portfolio = validate(tables_from_frames(frames))
    cube = build_cube(portfolio, as_of=as_of)
    work = cube.arrears.worklist.set_index("customer_id")
    assert work.loc[list(histories), "arrangement"].astype(str).tolist() == expected
    check_worklist(portfolio, cube)


def test_worklist_when_no_payment_precedes_as_of():
    """Nobody has paid yet on the as-of day: the worklist lists the debt, no last payment."""
    frames = minimal_frames(
        bills=[("C100000", "2023-01-31", 10.0, "2023-02-14")],
        payments=[("C100000", "2023-03-20", 10.0)],
    )
    portfolio = validate(tables_from_frames(frames))
    cube = build_cube(portfolio, as_of=pd.Timestamp("2023-03-01"))
    work = cube.arrears.worklist
    assert work[["arrears_pence", "days_past_due", "last_payment_pence"]].to_numpy().tolist() == [
        [1000, 15, 0]
    ]
    assert work["last_payment_date"].isna().all()


# === crashes and definition gaps ==========================================================


def test_cube_builds_when_as_of_precedes_the_first_bill_month():
    """An as-of date before any bill month (a user's choice): no month-ends, no crash."""
    frames = minimal_frames(
        bills=[("C100000", "2023-04-30", 10.0, "2023-05-14")],
        payments=[("C100000", "2023-06-01", 10.0)],
    )
    cube = build_cube(validate(tables_from_frames(frames)), as_of=pd.Timestamp("2023-03-15"))
    assert len(cube.arrears.snapshot_days) == 0
    assert cube.arrears.ageing.shape[0] == 0
    assert cube.arrears.worklist.empty


def test_chunk_of_customers_who_never_paid():
    """A chunk without payments (e.g. the last, short chunk of a large portfolio)."""
    frames = minimal_frames(
        bills=[
            ("C100000", "2023-01-31", 10.0, "2023-02-14"),
            ("C100001", "2023-01-31", 20.0, "2023-02-14"),
        ],
        payments=[("C100000", "2023-03-01", 10.0)],
        n_customers=2,
    )
    portfolio = validate(tables_from_frames(frames))
    cube = build_cube(portfolio)
    assert cube.arrears.worklist["customer_id"].tolist() == ["C100001"]
    assert_same_tables(build_in_chunks(portfolio, cube, chunk=1), cube.arrears)


def test_payment_before_the_first_bill_month_is_on_book():
    frames = minimal_frames(
        bills=[
            ("C100000", "2023-04-30", 10.0, "2023-05-14"),
            ("C100001", "2023-02-28", 10.0, "2023-03-14"),
        ],
        payments=[("C100000", "2023-02-10", 5.0), ("C100001", "2023-06-01", 10.0)],
        n_customers=2,
    )
    cube = build_cube(validate(tables_from_frames(frames)))
    totals = cube.arrears.ageing.sum(axis=(1, 2))
    net = totals[:, 1] - totals[:, 2]
    # Feb and Mar: C100001 owes nothing yet / £10; C100000 holds a £5 credit
    assert net.tolist() == [-500, 500, 500]
