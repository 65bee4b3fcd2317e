"""Brute-force references for the ledger and its aggregates: plain Python loops over each
customer's bills and payments, written for clarity, never for speed.

The tests compare the vectorised code with these (:mod:`dashboard.compute.ledger`,
:mod:`dashboard.compute.partition`, :mod:`dashboard.cube.ledger`, the worklist). Day
numbers are days since 1970-01-01; money is integer pence. Also here: the random and
hand-written small portfolios the tests draw (hypothesis strategies).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from dashboard import compute
from dashboard.compute import partition
from dashboard.cube.bills import segment_table
from dashboard.cube.pipeline import build_cube
from dashboard.schema import Portfolio, tables_from_frames, validate
from dashboard.vocab import ACTIONS

EPOCH = dt.date(1970, 1, 1)
DAY_BASE = 19_000
"""Day numbers of the generated ledger cases start around here (early 2022)."""

EDGE_CHOICES = ((30, 60, 90), (14, 28), (30,), (10, 20, 45, 60, 120))
"""Bucket edges the random cubes are built with."""


# --- naive building blocks ----------------------------------------------------------------


def day_number(when) -> int:
    """Days since 1970-01-01 of a date or Timestamp (plain ``datetime`` arithmetic)."""
    return (pd.Timestamp(when).date() - EPOCH).days


def brute_balance(bills, payments, day: int, adjustments=()) -> tuple[int, int, int]:
    """One customer's ledger on ``day``, read literally: (days past due, billed, paid).

    ``bills`` are (due day, pence), ``payments`` (day, pence) and ``adjustments`` (day,
    effect on the balance in pence, is a write-off). The debits are the bills due strictly
    before ``day`` and the positive adjustments dated on or before it (due the day before
    their date), sorted by due date; the payments and the negative adjustments dated on or
    before ``day`` cover them oldest first; days past due counts from the oldest debit not
    fully covered.
    """
    due = [(due_day, pence) for due_day, pence in bills if due_day < day]
    billed = sum(pence for _, pence in due)
    due += [(d - 1, pence) for d, pence, _ in adjustments if d <= day and pence > 0]
    due.sort()
    paid = sum(pence for paid_day, pence in payments if paid_day <= day)
    left = paid - sum(pence for d, pence, _ in adjustments if d <= day and pence < 0)
    for due_day, pence in due:
        if left < pence:
            return day - due_day, billed, paid
        left -= pence
    return 0, billed, paid


def brute_adjusted(adjustments, day: int) -> tuple[int, int]:
    """(effect on the balance, written off) of one customer's adjustments up to ``day``."""
    adjusted = sum(pence for d, pence, _ in adjustments if d <= day)
    written_off = sum(-pence for d, pence, off in adjustments if d <= day and off)
    return adjusted, written_off


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
    """Month-end day numbers from ``first_month`` to ``last_month`` (month numbers) of the
    complete months only: those ending on or before ``as_of``."""
    days = []
    for number in range(first_month, last_month + 1):
        year, month = divmod(number, 12)
        end = dt.date(year, month + 1, calendar.monthrange(year, month + 1)[1])
        if end > as_of.date():
            break
        days.append((end - EPOCH).days)
    return days


def month_of_day(day: int) -> int:
    """:func:`month_number` of a day number."""
    return month_number(EPOCH + dt.timedelta(days=day))


def ledger_from_rows(n_customers: int, bills, payments, snaps, adjustments=()) -> compute.Ledger:
    """Call :func:`compute.month_end_ledger` on (customer, day, pence) row lists, and
    (customer, day, effect on the balance, is a write-off) adjustment rows."""
    bill_rows = np.array(bills, dtype=np.int64).reshape(-1, 3)
    pay_rows = np.array(payments, dtype=np.int64).reshape(-1, 3)
    adj_rows = np.array(adjustments, dtype=np.int64).reshape(-1, 4)
    return compute.month_end_ledger(
        bill_rows[:, 0],
        bill_rows[:, 1],
        bill_rows[:, 2],
        pay_rows[:, 0],
        pay_rows[:, 1],
        pay_rows[:, 2],
        n_customers,
        np.array(snaps, dtype=np.int64),
        compute.Adjustments(adj_rows[:, 0], adj_rows[:, 1], adj_rows[:, 2], adj_rows[:, 3] > 0),
    )


def brute_ledger_arrays(n_customers: int, bills, payments, snaps, adjustments=()) -> np.ndarray:
    """(customers, snapshots, 5) array of :func:`brute_balance` and :func:`brute_adjusted`
    from (customer, day, pence) rows and (customer, day, effect, write-off) adjustments."""
    out = np.zeros((n_customers, len(snaps), 5), dtype=np.int64)
    for customer in range(n_customers):
        own_bills = [(day, pence) for c, day, pence in bills if c == customer]
        own_payments = [(day, pence) for c, day, pence in payments if c == customer]
        own_adjustments = [(d, p, bool(off)) for c, d, p, off in adjustments if c == customer]
        for j, snap in enumerate(snaps):
            state = brute_balance(own_bills, own_payments, snap, own_adjustments)
            out[customer, j] = (*state, *brute_adjusted(own_adjustments, snap))
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
    adjustments : list of list of (day, effect on the balance, is a write-off)
    """

    bills: list
    payments: list
    actions: list
    adjustments: list

    @classmethod
    def of(cls, portfolio: Portfolio, as_of: pd.Timestamp | None = None) -> Rows:
        """Group the typed tables' rows by customer code, one row at a time; given
        ``as_of``, only what was known on it (bills whose period ended by then, payments,
        actions and adjustments dated by then)."""
        last = day_number(as_of) if as_of is not None else 10**9
        n = len(portfolio.customers)
        bills, payments, actions, adjustments = ([[] for _ in range(n)] for _ in range(4))
        b = portfolio.bills
        for code, due, pence, period in zip(
            b["customer_id"].cat.codes,
            b["due_date"],
            b["bill_pence"],
            b["bill_period_end"],
            strict=True,
        ):
            if day_number(period) <= last:
                bills[code].append((day_number(due), int(pence), month_number(period)))
        p = portfolio.payments
        for code, day, pence in zip(
            p["customer_id"].cat.codes, p["payment_date"], p["amount_pence"], strict=True
        ):
            if day_number(day) <= last:
                payments[code].append((day_number(day), int(pence)))
        a = portfolio.actions
        for code, day, action in zip(
            a["customer_id"].cat.codes, a["action_date"], a["action"].astype(str), strict=True
        ):
            if day_number(day) <= last:
                actions[code].append((day_number(day), action))
        j = portfolio.adjustments
        for code, day, pence, kind in zip(
            j["customer_id"].cat.codes,
            j["adjustment_date"],
            j["amount_pence"],
            j["kind"].astype(str),
            strict=True,
        ):
            effect = -int(pence) if kind in ("write_off", "credit") else int(pence)
            if day_number(day) <= last:
                adjustments[code].append((day_number(day), effect, kind == "write_off"))
        return cls(bills, payments, actions, adjustments)

    def balance(self, customer: int, day: int) -> tuple[int, int, int]:
        """:func:`brute_balance` of one customer on ``day``."""
        own = [(due, pence) for due, pence, _ in self.bills[customer]]
        return brute_balance(own, self.payments[customer], day, self.adjustments[customer])

    def owed(self, customer: int, day: int) -> int:
        """The customer's balance on ``day``: billed - paid + adjusted."""
        _, billed, paid = self.balance(customer, day)
        return billed - paid + brute_adjusted(self.adjustments[customer], day)[0]


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
    adjusted, written_off : ndarray, shape (customers, months)
        Adjustments to date: effect on the balance, and the write-offs among them.
    opening : ndarray, shape (customers, 5)
        billed, paid, adjusted, written off and balance the day before month 0 starts.
    owed : ndarray, shape (customers, months)
        The balance plus the bills issued (period ended in the month or before) and not yet
        due, floored at nil.
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
    adjusted: np.ndarray
    written_off: np.ndarray
    opening: np.ndarray
    owed: np.ndarray

    @property
    def arrears(self) -> np.ndarray:
        """Billed minus paid plus adjusted, floored at 0."""
        return np.maximum(self.billed - self.paid + self.adjusted, 0)

    @property
    def credit(self) -> np.ndarray:
        """Paid minus billed minus adjusted, floored at 0."""
        return np.maximum(self.paid - self.billed - self.adjusted, 0)


def brute_book(rows: Rows, as_of: pd.Timestamp, edges: tuple[int, ...]) -> Book:
    """Month-end states of every customer, one customer and one month-end at a time.

    On book (arrears.py): from the month of the first bill to the month of the last (with
    no end for a customer billed in the book's last bill month), and whenever the balance is
    not nil.
    """
    all_months = [month for own in rows.bills for _, _, month in own]
    all_months += [month_of_day(d) for own in rows.payments for d, _ in own]
    all_months += [month_of_day(d) for own in rows.actions for d, _ in own]
    first, last = min([*all_months, month_number(as_of)]), month_number(as_of)
    bill_months = [month for own in rows.bills for _, _, month in own]
    book_last = max(bill_months) - first if bill_months else None
    snaps = brute_snapshots(first, last, as_of)
    n, k = len(rows.bills), len(snaps)
    state = np.zeros((n, k, 5), dtype=np.int64)
    opening = np.zeros((n, 5), dtype=np.int64)
    y, m = divmod(first, 12)
    opening_day = (dt.date(y, m + 1, 1) - EPOCH).days - 1
    on_book = np.zeros((n, k), dtype=bool)
    owed = np.zeros((n, k), dtype=np.int64)
    bucket = np.zeros((n, k), dtype=np.int64)
    first_bill, last_bill = [], []
    for customer in range(n):
        months = [month - first for _, _, month in rows.bills[customer]]
        first_bill.append(min(months) if months else None)
        last_bill.append(max(months) if months else None)
        own_bills = [(due, pence) for due, pence, _ in rows.bills[customer]]
        own_adjustments = rows.adjustments[customer]
        _, billed, paid = brute_balance(own_bills, rows.payments[customer], opening_day)
        adjusted, written_off = brute_adjusted(own_adjustments, opening_day)
        opening[customer] = billed, paid, adjusted, written_off, billed - paid + adjusted
        for j, snap in enumerate(snaps):
            days, billed, paid = brute_balance(
                own_bills, rows.payments[customer], snap, own_adjustments
            )
            adjusted, written_off = brute_adjusted(own_adjustments, snap)
            state[customer, j] = days, billed, paid, adjusted, written_off
            bucket[customer, j] = brute_bucket(days, edges)
            started = months and j >= min(months)
            in_bill_range = bool(started and (j <= max(months) or max(months) == book_last))
            on_book[customer, j] = in_bill_range or billed - paid + adjusted != 0
            pending = sum(
                pence
                for due, pence, month in rows.bills[customer]
                if month - first <= j and due >= snap
            )
            owed[customer, j] = max(billed - paid + adjusted + pending, 0)
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
        adjusted=state[..., 3],
        written_off=state[..., 4],
        opening=opening,
        owed=owed,
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
    n_adj = int(rng.integers(0, 2 * n_customers + 1))
    kinds = rng.choice(["write_off", "credit", "rebill", "transfer"], n_adj)
    signed = np.isin(kinds, ["rebill", "transfer"]) & (rng.random(n_adj) < 0.5)
    adjustments = pd.DataFrame(
        {
            "customer_id": rng.choice(ids, n_adj),
            "adjustment_date": low + pd.to_timedelta(rng.integers(0, span, n_adj), "D"),
            "amount": np.where(signed, -1, 1) * rng.integers(0, 8000, n_adj) / 100,
            "kind": kinds,
        }
    )
    for frame, columns in (
        (bills, ["bill_period_end", "due_date"]),
        (payments, ["payment_date"]),
        (actions, ["action_date"]),
        (adjustments, ["adjustment_date"]),
    ):
        for column in columns:
            frame[column] = pd.to_datetime(frame[column]).dt.strftime("%Y-%m-%d")
    return {
        "customers": customers,
        "bills": bills,
        "payments": payments,
        "collections_actions": actions,
        **({"adjustments": adjustments} if rng.random() < 0.7 else {}),
    }


@dataclass
class Case:
    """A random portfolio and the cube parameters to build it with."""

    portfolio: Portfolio
    window: compute.Window
    as_of: pd.Timestamp | None
    buckets: compute.Buckets
    chunk: int

    def cube(self):
        """The cube under test."""
        return build_cube(self.portfolio, self.window, self.as_of, self.buckets)


def customer_segments(portfolio) -> np.ndarray:
    """Each customer's segment id (customer-table order), numbered as the cube numbers its
    segments (the cube itself keeps none per customer)."""
    return segment_table(portfolio.customers)[1]


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
        window=compute.Window(3, draw(st.sampled_from([30, 60])), 100),
        as_of=as_of,
        buckets=compute.Buckets(draw(st.sampled_from(EDGE_CHOICES))),
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


def expected_movement(book: Book, segment: np.ndarray, n_segments: int) -> np.ndarray:
    """(months, segments, 8) :data:`partition.MOVEMENT_MEASURES` from month-to-month
    differences of each customer's running totals, one customer and month at a time."""
    k = len(book.snaps)
    out = np.zeros((k, n_segments, len(partition.MOVEMENT_MEASURES)), dtype=np.int64)
    for c in range(len(segment)):
        before = book.opening[c].tolist()  # billed, paid, adjusted, written off, balance
        for j in range(k):
            now = [
                int(book.billed[c, j]),
                int(book.paid[c, j]),
                int(book.adjusted[c, j]),
                int(book.written_off[c, j]),
            ]
            balance = now[0] - now[1] + now[2]
            flows = [a - b for a, b in zip(now, before[:4], strict=True)]
            out[j, segment[c]] += [
                max(before[4], 0),
                max(-before[4], 0),
                flows[0],
                flows[1],
                flows[3],
                flows[2] + flows[3],
                max(balance, 0),
                max(-balance, 0),
            ]
            before = [*now, balance]
    return out


def expected_transitions(book: Book, segment: np.ndarray, n_segments: int, n_buckets: int):
    """(months, segments, from, to, 3): customers on book at the first month-end (off book
    at the second means owing nothing: Current), their arrears at the first one and what
    they owed then including bills not yet due."""
    k = len(book.snaps)
    out = np.zeros((k, n_segments, n_buckets, n_buckets, 3), dtype=np.int64)
    arrears = book.arrears
    for c in range(len(segment)):
        for j in range(1, k):
            if book.on_book[c, j - 1]:
                cell = out[j, segment[c], book.bucket[c, j - 1], book.bucket[c, j]]
                cell += [1, arrears[c, j - 1], book.owed[c, j - 1]]
    return out


def expected_entries(book: Book, segment: np.ndarray, n_segments: int, entry: int):
    """{(entry month, segment): {measure: count}} for every customer reaching ``entry``."""
    out = defaultdict(lambda: dict.fromkeys(partition.ENTRY_MEASURES, 0))
    k = len(book.snaps)
    for c in range(len(segment)):
        months = [j for j in range(k) if book.bucket[c, j] >= entry]
        if not months:
            continue
        first = months[0]
        cell = out[(first, int(segment[c]))]
        cell["entered"] += 1
        for h in partition.CURE_AFTER:
            if first + h < k:
                cell[f"observed_{h}"] += 1
                cell[f"cured_{h}"] += int(book.bucket[c, first + h] == 0)
    return dict(out)


def expected_vintage(
    book: Book, segment: np.ndarray, default_month: list, months_on_book: int = 60
):
    """{(cohort, months on book, segment): [customers, defaulted, in arrears]}.

    Cohort 0 = the back book (first bill in cube month 0); otherwise 1 + the quarter of the
    first bill minus the quarter of cube month 0. Months on book ``0 .. months_on_book - 1``
    only.
    """
    out = defaultdict(lambda: [0, 0, 0])
    first_quarter = book.first_month // 3
    for c in range(len(segment)):
        first = book.first_bill[c]
        if first is None:
            continue
        cohort = 0 if first == 0 else 1 + (book.first_month + first) // 3 - first_quarter
        for j in range(first, min(len(book.snaps), first + months_on_book)):
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
    outcome = compute.bill_outcomes(portfolio.bills, portfolio.payments, cube.window, cube.as_of)
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
    owed = max(rows.owed(customer, min(day, as_of_day)), 0)
    out = {"arrears_pence": owed, "in_arrears": owed > 0}
    for days in (14, 30, 60):
        after = sum(p for d, p in rows.payments[customer] if day < d <= day + days)
        decided = owed > 0 and day + days <= as_of_day
        out[f"decided_{days}"] = decided
        if days == 60:
            out["cleared_60"] = decided and rows.owed(customer, day + 60) <= 0
        else:
            out[f"paid_{days}"] = decided and after >= min(min_pence, owed)
    return out


def brute_arrangement(actions, as_of_day: int, term: int = 90) -> str:
    """None / Broken / Active / Kept of one customer's latest arrangement, from their
    (day, action) list: Broken if a break is recorded within its term (up to as-of);
    otherwise Active until the term ends, then Kept."""
    agreed = [d for d, a in actions if a == compute.ARRANGEMENT_AGREED and d <= as_of_day]
    if not agreed:
        return "None"
    start = max(agreed)
    end = min(start + term, as_of_day)
    if any(a == compute.ARRANGEMENT_BROKEN and start < d <= end for d, a in actions):
        return "Broken"
    return "Active" if start + term > as_of_day else "Kept"


def check_worklist(portfolio: Portfolio, cube, rows: Rows | None = None) -> None:
    """Every worklist row, and who is on it, against :class:`Rows` at the as-of day."""
    rows = Rows.of(portfolio, cube.as_of) if rows is None else rows
    as_of_day = day_number(cube.as_of)
    ids = portfolio.customers["customer_id"].astype(str).tolist()
    owing = {}
    for customer in range(len(ids)):
        days, _, _ = rows.balance(customer, as_of_day)
        owed = rows.owed(customer, as_of_day)
        if owed > 0:
            owing[customer] = (owed, days)
    work = cube.arrears.worklist
    assert sorted(work["customer"].tolist()) == sorted(owing)
    dimensions = list(cube.segments.columns)
    for row in work.itertuples():
        assert row.customer_id == ids[row.customer]
        assert (row.arrears_pence, row.days_past_due) == owing[row.customer], row.customer_id
        segment = cube.segments.iloc[row.segment][dimensions].astype(str).tolist()
        customer = portfolio.customers.iloc[row.customer][dimensions].astype(str).tolist()
        assert segment == customer, row.customer_id  # the row's segment is the customer's
        paid = [(d, p) for d, p in rows.payments[row.customer] if d <= as_of_day]
        if paid:
            last = max(d for d, _ in paid)
            assert day_number(row.last_payment_date) == last, row.customer_id
            total = sum(p for d, p in paid if d == last)  # all paid on the last day
            assert row.last_payment_pence == total, row.customer_id
        else:
            assert pd.isna(row.last_payment_date) and row.last_payment_pence == 0
        expected = brute_arrangement(rows.actions[row.customer], as_of_day)
        assert str(row.arrangement) == expected, (row.customer_id, rows.actions[row.customer])
        known = [d for d, _ in rows.actions[row.customer] if d <= as_of_day]
        if known:
            assert day_number(row.last_action_date) == max(known), row.customer_id
        else:
            assert pd.isna(row.last_action_date)


def expected_bill_ageing(rows: Rows, book: Book, segment, n_segments: int, edges) -> np.ndarray:
    """(months, segments, buckets, [arrears pence, customers]): at each month-end, the debits
    due before it covered oldest first by the credits to date; each debit's unpaid part in
    the bucket of its own days past due; a customer counted once per bucket."""
    k = len(book.snaps)
    out = np.zeros((k, n_segments, len(edges) + 2, 2), dtype=np.int64)
    for c, g in enumerate(segment):
        adjustments = rows.adjustments[c]
        for j, snap in enumerate(book.snaps):
            due = [(d, p) for d, p, _ in rows.bills[c] if d < snap]
            due += [(d - 1, p) for d, p, _ in adjustments if d <= snap and p > 0]
            due.sort()
            left = sum(p for d, p in rows.payments[c] if d <= snap)
            left += sum(-p for d, p, _ in adjustments if d <= snap and p < 0)
            seen = set()
            for due_day, pence in due:
                covered = min(left, pence)
                left -= covered
                if pence - covered > 0:
                    bucket = brute_bucket(snap - due_day, edges)
                    out[j, g, bucket, 0] += pence - covered
                    seen.add(bucket)
            for bucket in seen:
                out[j, g, bucket, 1] += 1
    return out
