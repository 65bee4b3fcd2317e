"""Measure how real a generated book looks: the realism targets of the demo generator.

Usage::

    .venv/bin/python benchmarks/realism.py data
    .venv/bin/collections-dashboard generate --customers 100000 --start 2022-01 \
        --end 2025-12 --seed 42 --format parquet --out /tmp/book-100k
    .venv/bin/python benchmarks/realism.py /tmp/book-100k

Reads a source (a CSV or Parquet folder, or a SQLite file) with pandas straight from the raw
files, independently of the dashboard's code, and prints one Markdown table: each target, the
measured value and pass/fail (rows without a target are context).

The ledger is a brute-force, vectorised one. At each month-end ``E`` (of the bills' months):
balance = bills due before ``E`` - payments on or before ``E`` - write-offs and credits on or
before ``E`` + signed rebills and transfers on or before ``E``; arrears = max(balance, 0).
Days past due are those of the oldest debit (a bill from its due date, a positive rebill or
transfer from the day before its date, as if due then) not covered by the reductions
(payments, write-offs, credits, negative rebills or transfers), oldest first. A customer is
on the book at a month-end when billed that month or in the months between their first and
last bills, or owing or owed money.
"""

from __future__ import annotations

import argparse
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

TABLES = ("customers", "bills", "payments", "collections_actions", "adjustments")
REDUCING = ("write_off", "credit")
PAY_WINDOW_DAYS = 30
"""Holdout outcome: paid at least min(£10, arrears) within this many days of the action."""
MIN_PAYMENT_PENCE = 1000
ARRANGEMENT_TERM_DAYS = 90
SERIOUS_DAYS = 90


# --- reading --------------------------------------------------------------------------------


def read_source(path: Path) -> dict[str, pd.DataFrame]:
    """The five tables of a CSV folder, Parquet folder or SQLite file (adjustments optional)."""
    tables = {}
    if path.is_file():
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            names = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            for table in TABLES:
                if table in names:
                    tables[table] = pd.read_sql_query(f'SELECT * FROM "{table}"', db)
    else:
        for table in TABLES:
            if (path / f"{table}.parquet").exists():
                tables[table] = pd.read_parquet(path / f"{table}.parquet")
            elif (path / f"{table}.csv").exists():
                tables[table] = pd.read_csv(path / f"{table}.csv")
    if "adjustments" not in tables:
        tables["adjustments"] = pd.DataFrame(
            {"customer_id": [], "adjustment_date": [], "amount": [], "kind": []}
        )
    return tables


def day_numbers(values: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 of dates (text or datetime)."""
    return pd.to_datetime(values).to_numpy().astype("datetime64[D]").astype(np.int64)


def pence(values: pd.Series) -> np.ndarray:
    return np.rint(pd.to_numeric(values).to_numpy(dtype=float) * 100).astype(np.int64)


def month_numbers(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


# --- the brute-force ledger -------------------------------------------------------------------


@dataclass
class Events:
    """Amounts per customer sorted by (customer, day), with running sums."""

    customer: np.ndarray
    day: np.ndarray
    amount: np.ndarray
    since: np.ndarray
    """Day a debit ages from (for days past due)."""
    span: int

    @classmethod
    def of(cls, customer, day, amount, since=None, span=1 << 20) -> Events:
        since = day if since is None else since
        order = np.lexsort((day, customer))
        return cls(customer[order], day[order], amount[order], since[order], span)

    @property
    def keys(self) -> np.ndarray:
        return self.customer * self.span + self.day

    def running(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.amount)])

    def to_date(self, customer: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Sum of each customer's amounts dated on or before ``day``."""
        keys, total = self.keys, self.running()
        upto = np.searchsorted(keys, customer * self.span + day, side="right")
        start = np.searchsorted(keys, customer * self.span, side="left")
        return total[upto] - total[start]

    def in_window(self, customer: np.ndarray, after: np.ndarray, upto: np.ndarray):
        """Sum of amounts dated in ``(after, upto]``."""
        return self.to_date(customer, upto) - self.to_date(customer, after)


@dataclass
class Book:
    """The tables as integer arrays, customers numbered in the customers table's order."""

    n: int
    debits: Events
    """Bills (counted from the day after their due date) and positive rebills/transfers."""
    reductions: Events
    payments: Events
    bill_customer: np.ndarray
    bill_month: np.ndarray
    bill_pence: np.ndarray
    actions: pd.DataFrame
    adjustments: pd.DataFrame
    region: np.ndarray

    @classmethod
    def of(cls, tables: dict[str, pd.DataFrame]) -> Book:
        ids = pd.Index(tables["customers"]["customer_id"].astype(str))
        code = {t: ids.get_indexer(tables[t]["customer_id"].astype(str)) for t in TABLES}
        bills, payments, adj = tables["bills"], tables["payments"], tables["adjustments"]
        due = day_numbers(bills["due_date"])
        adj_day, adj_amount = day_numbers(adj["adjustment_date"]), pence(adj["amount"])
        reducing = adj["kind"].isin(REDUCING).to_numpy()
        effect = np.where(reducing, -adj_amount, adj_amount)
        up = effect > 0
        pay_day, pay_pence = day_numbers(payments["payment_date"]), pence(payments["amount"])
        debits = Events.of(
            np.concatenate([code["bills"], code["adjustments"][up]]),
            np.concatenate([due + 1, adj_day[up]]),
            np.concatenate([pence(bills["bill_amount"]), effect[up]]),
            since=np.concatenate([due, adj_day[up] - 1]),
        )
        reductions = Events.of(
            np.concatenate([code["payments"], code["adjustments"][~up]]),
            np.concatenate([pay_day, adj_day[~up]]),
            np.concatenate([pay_pence, -effect[~up]]),
        )
        actions = tables["collections_actions"].assign(
            customer=code["collections_actions"],
            day=day_numbers(tables["collections_actions"]["action_date"]),
        )
        return cls(
            n=len(ids),
            debits=debits,
            reductions=reductions,
            payments=Events.of(code["payments"], pay_day, pay_pence),
            bill_customer=code["bills"],
            bill_month=month_numbers(day_numbers(bills["bill_period_end"])),
            bill_pence=pence(bills["bill_amount"]),
            actions=actions,
            adjustments=adj.assign(day=adj_day, pence=adj_amount, customer=code["adjustments"]),
            region=tables["customers"]["region"].astype(str).to_numpy(),
        )

    def balance(self, customer: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Balance (pence) of each customer on each day."""
        return self.debits.to_date(customer, day) - self.reductions.to_date(customer, day)

    def snapshot(self, day: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Arrears, days past due (account level) and arrears in debits older than
        :data:`SERIOUS_DAYS` (bill level), per customer at ``day``."""
        customers = np.arange(self.n)
        days = np.full(self.n, day)
        d, keys, running = self.debits, self.debits.keys, self.debits.running()
        start = np.searchsorted(keys, customers * d.span, side="left")
        end = np.searchsorted(keys, customers * d.span + day, side="right")
        old_end = np.searchsorted(keys, customers * d.span + day - SERIOUS_DAYS, side="right")
        covered = running[start] + self.reductions.to_date(customers, days)
        arrears = np.maximum(running[end] - covered, 0)
        oldest = np.searchsorted(running[1:], covered, side="right")
        owing = (oldest < end) & (arrears > 0)
        since = d.since[np.minimum(oldest, max(len(d.since) - 1, 0))] if len(d.since) else 0
        dpd = np.where(owing, day - since, 0)
        old = np.maximum(running[old_end] - covered, 0)
        return arrears, dpd, np.minimum(old, arrears)


# --- the measures -----------------------------------------------------------------------------


def month_ends(book: Book) -> tuple[np.ndarray, np.ndarray]:
    """Month numbers and month-end days from the first to the last bill month."""
    months = np.arange(book.bill_month.min(), book.bill_month.max() + 1)
    ends = (months + 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) - 1
    return months, ends


def arrears_panel(book: Book) -> dict[str, np.ndarray]:
    """Per month-end: on-book and in-arrears masks, arrears, days past due."""
    months, ends = month_ends(book)
    first = np.full(book.n, np.iinfo(np.int64).max)
    last = np.full(book.n, np.iinfo(np.int64).min)
    np.minimum.at(first, book.bill_customer, book.bill_month)
    np.maximum.at(last, book.bill_customer, book.bill_month)
    shots = [book.snapshot(int(end)) for end in ends]
    arrears = np.stack([s[0] for s in shots], axis=1)
    customers = np.repeat(np.arange(book.n), len(ends))
    balance = book.balance(customers, np.tile(ends, book.n)).reshape(book.n, len(ends))
    billed = (months[None, :] >= first[:, None]) & (months[None, :] <= last[:, None])
    on_book = billed | (balance != 0)
    return {
        "months": months,
        "ends": ends,
        "first": first,
        "on_book": on_book,
        "arrears": arrears,
        "dpd": np.stack([s[1] for s in shots], axis=1),
        "old": np.stack([s[2] for s in shots], axis=1),
    }


def share_in_arrears(panel, rows=slice(None)) -> np.ndarray:
    on_book = panel["on_book"][rows]
    return ((panel["arrears"][rows] > 0) & on_book).sum(axis=0) / on_book.sum(axis=0)


def write_off_shares(book: Book, panel) -> pd.Series:
    """Write-offs / billed per calendar year (years with all twelve bill months)."""
    year = book.bill_month // 12 + 1970
    billed = pd.Series(book.bill_pence).groupby(year).sum()
    months = pd.Series(panel["months"]).groupby(panel["months"] // 12 + 1970).size()
    adj = book.adjustments
    wo = adj[adj["kind"] == "write_off"]
    written = (
        pd.Series(wo["pence"].to_numpy())
        .groupby(month_numbers(wo["day"].to_numpy()) // 12 + 1970)
        .sum()
    )
    full = months.index[months == 12]
    return (written.reindex(full, fill_value=0) / billed.reindex(full)).rename("write-offs")


def new_account_shares(panel) -> pd.Series:
    """Customers first billed in each quarter / on-book customers at the month-end before."""
    months, first = panel["months"], panel["first"]
    quarter = months // 3
    shares = {}
    for q in np.unique(quarter)[1:]:
        inside = np.flatnonzero(quarter == q)
        if len(inside) < 3:
            continue
        new = np.isin(first, months[inside]).sum()
        shares[int(q)] = new / panel["on_book"][:, inside[0] - 1].sum()
    return pd.Series(shares, dtype=float)


def vintages(panel) -> pd.Series:
    """Customers per quarter of their first bill."""
    first = panel["first"][panel["first"] <= panel["months"][-1]]
    return pd.Series(first // 3).value_counts().sort_index()


def holdout_uplift(book: Book, as_of: int) -> dict[str, float]:
    """Paid within 30 days after ``Reminder Sent`` minus after ``Reminder Held Out``."""
    acts = book.actions
    rates = {}
    for action in ("Reminder Sent", "Reminder Held Out"):
        rows = acts[acts["action"] == action]
        customer, day = rows["customer"].to_numpy(), rows["day"].to_numpy()
        arrears = np.maximum(book.balance(customer, day), 0)
        decided = (arrears > 0) & (day + PAY_WINDOW_DAYS <= as_of)
        paid = book.payments.in_window(customer, day, day + PAY_WINDOW_DAYS)
        success = paid[decided] >= np.minimum(MIN_PAYMENT_PENCE, arrears[decided])
        rates[action] = (success.mean(), decided.sum())
    (p1, n1), (p0, n0) = rates["Reminder Sent"], rates["Reminder Held Out"]
    se = np.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    diff = p1 - p0
    return {"reminded": p1, "n1": n1, "held": p0, "n0": n0, "diff": diff, "se": se}


def kept_arrangements_owing_less(book: Book, as_of: int) -> tuple[float, int]:
    """Share of kept arrangements (no break within the term) owing less at the term's end."""
    acts = book.actions
    agreed = acts[acts["action"] == "Arrangement Agreed"]
    broken = acts[acts["action"] == "Arrangement Broken"]
    customer, day = agreed["customer"].to_numpy(), agreed["day"].to_numpy()
    ends = day + ARRANGEMENT_TERM_DAYS
    breaks = Events.of(
        broken["customer"].to_numpy(),
        broken["day"].to_numpy(),
        np.ones(len(broken), dtype=np.int64),
    )
    kept = (ends <= as_of) & (breaks.in_window(customer, day, ends) == 0)
    before = book.balance(customer[kept], day[kept])
    after = book.balance(customer[kept], ends[kept])
    return float((after < before).mean()), int(kept.sum())


# --- the report -------------------------------------------------------------------------------


def measure(path: Path) -> list[tuple[str, str, str]]:
    """Rows of (target, measured, result)."""
    from dashboard.demo.cycle import TRUE_REMINDER_EFFECT
    from dashboard.demo.population import STRESS_REGION

    book = Book.of(read_source(path))
    panel = arrears_panel(book)
    as_of = int(book.payments.day.max())
    rows = []

    def row(target: str, measured: str, ok: bool | None) -> None:
        rows.append((target, measured, "" if ok is None else ("pass" if ok else "FAIL")))

    share = share_in_arrears(panel)
    row(
        "customers in arrears, every month-end: 6–12%",
        f"{share.min():.1%} – {share.max():.1%} (mean {share.mean():.1%})",
        bool(share.min() >= 0.06 and share.max() <= 0.12),
    )
    arrears, dpd, old = panel["arrears"][:, -1], panel["dpd"][:, -1], panel["old"][:, -1]
    serious = arrears[dpd > SERIOUS_DAYS].sum() / arrears.sum()
    row(
        "91+ days ≤ 60% of arrears £ at the last month-end (account level)",
        f"{serious:.1%}",
        bool(serious <= 0.60),
    )
    row(
        "91+ days, bill level (each unpaid bill aged on its own)",
        f"{old.sum() / arrears.sum():.1%}",
        None,
    )
    wo = write_off_shares(book, panel)
    shown = ", ".join(f"{year} {value:.2%}" for year, value in wo.items())
    row(
        "write-offs 1–4% of billed, every year",
        shown,
        bool(len(wo) and wo.between(0.01, 0.04).all()),
    )
    new = new_account_shares(panel)
    row(
        "new accounts ≥ 3% of the book, every quarter after the first",
        f"{new.min():.1%} – {new.max():.1%}",
        bool(len(new) and new.min() >= 0.03),
    )
    vint = vintages(panel)
    big = book.n >= 100_000
    row(
        "each quarterly vintage ≥ 1,000 customers (100,000 set)",
        f"{len(vint)} vintages, smallest {vint.min():,}, largest {vint.max():,}",
        bool(vint.min() >= 1000) if big else None,
    )
    up = holdout_uplift(book, as_of)
    low, high = up["diff"] - 1.96 * up["se"], up["diff"] + 1.96 * up["se"]
    row(
        f"holdout uplift (paid within 30 days) contains the true {TRUE_REMINDER_EFFECT:+.1%}",
        f"{up['reminded']:.1%} of {up['n1']:,} reminded − {up['held']:.1%} of {up['n0']:,} "
        f"held out = {up['diff']:+.1%} (95% CI {low:+.1%} to {high:+.1%})",
        bool(low <= TRUE_REMINDER_EFFECT <= high),
    )
    kept, count = kept_arrangements_owing_less(book, as_of)
    row(
        "kept arrangements owing less 90 days later: most",
        f"{kept:.1%} of {count:,}",
        bool(kept > 0.5),
    )
    first_arrears = panel["arrears"][:, 0].sum() / 100
    row(
        "arrears at the first month-end > £0 (opening balances)",
        f"£{first_arrears:,.0f}",
        bool(first_arrears > 0),
    )
    owing = panel["arrears"] > 0
    average = panel["arrears"].sum(axis=0) / np.maximum(owing.sum(axis=0), 1) / 100
    row(
        "average arrears of a customer in arrears, first → last month-end",
        f"£{average[0]:,.0f} → £{average[-1]:,.0f} "
        f"(range £{average.min():,.0f}–£{average.max():,.0f})",
        None,
    )
    row("most days past due at the last month-end", f"{int(dpd.max()):,}", None)
    stressed = book.region == STRESS_REGION
    gap = share_in_arrears(panel, stressed) - share_in_arrears(panel, ~stressed)
    peak = int(np.argmax(gap))
    month = np.datetime64(int(panel["months"][peak]), "M")
    row(
        f"{STRESS_REGION} (stressed) minus the rest, customers in arrears",
        f"{gap[0]:+.1%} at the start, {gap[peak]:+.1%} at the peak ({month}), "
        f"{gap[-1]:+.1%} at the end",
        None,
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="CSV or Parquet folder, or SQLite file")
    args = parser.parse_args()
    rows = measure(args.source)
    print(f"| target ({args.source}) | measured | result |")
    print("|---|---|---|")
    for target, measured, result in rows:
        print(f"| {target} | {measured} | {result} |")


if __name__ == "__main__":
    main()
