"""Seeded, vectorised synthetic book of a UK water utility (the demo data set).

The book behaves like a real water company's (see :mod:`dashboard.demo.population` and
:mod:`dashboard.demo.cycle` for the rules and their constants):

- customers join throughout the period (a steady inflow of new accounts, 3.6% of the book a
  quarter) and leave with a final bill; a closed account's unpaid balance goes to a
  collection agency and is written off after two years (six months for a gone-away
  customer), and a few live accounts long behind are written off too;
- the book starts with opening balances: back-book customers already behind carry their
  arrears in as a ``transfer`` adjustment dated on the first day (so they show at the first
  month-end, and no customer gets two bills in a month), and accounts closed shortly before
  the start carry their unpaid balance in the same way;
- arrangements carry an instalment (the bill plus a slice of the arrears, paid by the due
  date), so a kept arrangement's arrears fall; a broken one stops paying;
- a randomised holdout: 10% of first reminders are held out and recorded as
  ``Reminder Held Out``; the true effect of a reminder is
  :data:`~dashboard.demo.cycle.TRUE_REMINDER_EFFECT`;
- usage and payments are seasonal, and one region is under stress for eight months;
- the optional ``adjustments`` table holds the opening transfers, write-offs, compensation
  credits and meter-read rebills.

Customers are simulated in blocks of :data:`BLOCK_CUSTOMERS`, each with its own random
stream derived from the seed (``numpy.random.SeedSequence(seed, spawn_key=(0, block))``),
month by month with NumPy arrays of per-customer state. Every table comes out sorted by
customer, then date, block after block, so files are written in customer order (Parquet row
groups hold customer ranges) with memory bounded by a block. The same arguments always give
the same data, whatever the output format or progress setting.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from dashboard import vocab
from dashboard.demo.cycle import SLOTS, Month, MonthlySimulation
from dashboard.demo.formats import FORMATS, Format, open_writer
from dashboard.demo.population import (
    Calendar,
    check_arguments,
    draw_portfolio,
    make_calendar,
)
from dashboard.demo.writers import RawChunk, chunk_length, to_frame

BLOCK_CUSTOMERS = 100_000
"""Customers simulated together (each block has its own random stream): part of what the
data are for a seed, so changing it changes the data of books larger than a block."""
WRITE_BATCH_ROWS = 1_000_000
"""Most rows written at once (one Parquet row group), cut between customers."""


class BlockTables:
    """Collects one block's months into tables sorted by customer, then date.

    Bills and payments are kept dense (months [x payment slots] x customers), so reading
    them customer by customer needs a transpose, no sort; actions and adjustments are sparse
    and sorted once at the end.

    Parameters
    ----------
    n : int
        Customers in the block.
    calendar : Calendar
    opening : dict of str to numpy.ndarray
        The opening balances (a raw ``adjustments`` chunk).
    """

    def __init__(self, n: int, calendar: Calendar, opening: dict[str, np.ndarray]):
        months = calendar.months
        self.calendar = calendar
        self.bill = np.zeros((months, n), dtype=np.int32)
        self.usage = np.full((months, n), -1, dtype=np.int32)
        self.pay_amount = np.zeros((months, SLOTS, n), dtype=np.int32)
        self.pay_day = np.zeros((months, SLOTS, n), dtype=np.int32)
        self.pay_method = np.zeros((months, SLOTS, n), dtype=np.int8)
        self.actions: list[dict[str, np.ndarray]] = []
        self.adjustments: list[dict[str, np.ndarray]] = [opening]

    def add(self, m: int, month: Month) -> None:
        """Store month ``m``."""
        self.bill[m] = month.bill
        self.usage[m] = month.usage
        self.pay_amount[m] = month.slots.amount
        self.pay_day[m] = month.slots.day
        self.pay_method[m] = month.slots.method
        self.actions.append(month.actions)
        self.adjustments.append(month.adjustments)

    def tables(self, first_number: int) -> dict[str, dict[str, np.ndarray]]:
        """Raw chunks of bills, payments, actions and adjustments, customers numbered from
        ``first_number``."""
        return {
            "bills": self._bills(first_number),
            "payments": self._payments(first_number),
            "collections_actions": _sorted(
                _concatenate(self.actions), first_number, "action_date", "action"
            ),
            "adjustments": _sorted(
                _concatenate(self.adjustments), first_number, "adjustment_date", "kind"
            ),
        }

    def _bills(self, first_number: int) -> dict[str, np.ndarray]:
        cal = self.calendar
        amount = _by_customer(self.bill)
        cells = np.flatnonzero(amount)
        customer, month = np.divmod(cells, cal.months)
        return {
            "customer_id": customer + first_number,
            "bill_period_end": cal.period_end[month],
            "bill_amount": amount[cells],
            "usage_m3": _by_customer(self.usage)[cells],
            "due_date": cal.due[month],
        }

    def _payments(self, first_number: int) -> dict[str, np.ndarray]:
        amount = _by_customer(self.pay_amount)
        cells = np.flatnonzero(amount)
        customer = cells // (self.calendar.months * SLOTS)
        return {
            "customer_id": customer + first_number,
            "payment_date": _by_customer(self.pay_day)[cells],
            "amount": amount[cells],
            "method": _by_customer(self.pay_method)[cells],
        }


def _by_customer(values: np.ndarray) -> np.ndarray:
    """Flatten a month-major array customer by customer (customers are its last axis)."""
    return np.ascontiguousarray(np.moveaxis(values, -1, 0)).ravel()


def _concatenate(chunks: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One raw chunk from several of the same columns."""
    return {column: np.concatenate([c[column] for c in chunks]) for column in chunks[0]}


def _sorted(
    chunk: dict[str, np.ndarray], first_number: int, date: str, code: str
) -> dict[str, np.ndarray]:
    """Sort a sparse chunk by customer, date, code (then original order); number customers."""
    day = chunk[date].astype(np.int64)
    low = int(day.min()) if len(day) else 0
    key = (chunk["customer_id"] * (int(day.max(initial=low)) - low + 1) + day - low) * 16
    order = np.argsort(key + chunk[code], kind="stable")
    sorted_chunk = {column: values[order] for column, values in chunk.items()}
    sorted_chunk["customer_id"] = sorted_chunk["customer_id"] + first_number
    return sorted_chunk


def simulate_block(
    rng: np.random.Generator,
    n: int,
    calendar: Calendar,
    first_number: int,
    on_month: Callable[[], object] = lambda: None,
) -> Iterator[tuple[str, RawChunk]]:
    """Simulate one block of customers and yield its tables.

    Parameters
    ----------
    rng : numpy.random.Generator
        The block's random stream.
    n : int
        Customers in the block.
    calendar : Calendar
    first_number : int
        Number of the block's first customer.
    on_month : callable
        Called after each simulated month (progress).

    Yields
    ------
    tuple of (str, dict)
        Table name and raw chunk: ``customers``, ``bills``, ``payments``,
        ``collections_actions``, ``adjustments``.
    """
    portfolio = draw_portfolio(rng, n, calendar.months)
    yield "customers", portfolio.table(first_number)
    simulation = MonthlySimulation(portfolio, calendar, rng)
    block = BlockTables(n, calendar, simulation.opening_balances())
    for m in range(calendar.months):
        block.add(m, simulation.step(m))
        on_month()
    block.actions.append(simulation.flush())
    yield from block.tables(first_number).items()


def simulate(
    customers: int, start: str, end: str, seed: int, progress: bool = False
) -> Iterator[tuple[str, RawChunk]]:
    """Yield ``(table, raw chunk)`` pairs, block by block of customers.

    Parameters
    ----------
    customers : int
        Number of customers.
    start, end : str
        First and last billing month, ``YYYY-MM``.
    seed : int
        Random seed.
    progress : bool
        Show a tqdm progress bar (one step per block and month).

    Yields
    ------
    tuple of (str, dict)
        Table name and raw chunk (see :mod:`dashboard.demo.writers`); each table's chunks
        come in customer order.
    """
    months = check_arguments(customers, start, end, seed)
    calendar = make_calendar(start, months, seed)
    firsts = range(0, int(customers), BLOCK_CUSTOMERS)
    bar = tqdm(
        total=len(firsts) * months, desc="Simulating months", unit="month", disable=not progress
    )
    with bar:
        for block, first in enumerate(firsts):
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, block)))
            n = min(BLOCK_CUSTOMERS, int(customers) - first)
            yield from simulate_block(rng, n, calendar, first, lambda: bar.update(1))


def generate(
    customers: int, start: str, end: str, seed: int, progress: bool = False
) -> dict[str, pd.DataFrame]:
    """Generate the five tables in memory (the same data that :func:`write_demo` writes).

    Values are as in the CSV files: ids, dates (ISO ``YYYY-MM-DD``) and labels are strings,
    money and usage floats with 2 decimals (``NaN`` usage without a meter), flags 0/1
    integers. Rows are sorted by customer then date.

    Parameters
    ----------
    customers : int
        Number of customers (at least 1).
    start, end : str
        First and last billing month, ``YYYY-MM`` (inclusive).
    seed : int
        Random seed; the same arguments always give the same tables.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``customers``, ``bills``, ``payments``, ``collections_actions`` and ``adjustments``
        with the columns of :data:`dashboard.vocab.ALL_TABLES`.

    Raises
    ------
    ValueError
        If an argument is invalid.
    """
    parts: dict[str, list[RawChunk]] = {table: [] for table in vocab.ALL_TABLES}
    for table, chunk in simulate(customers, start, end, seed, progress):
        parts[table].append(chunk)
    return {table: to_frame(table, _concatenate(chunks)) for table, chunks in parts.items()}


def write_demo(
    out: str | Path,
    fmt: Format,
    customers: int,
    start: str,
    end: str,
    seed: int,
    progress: bool = True,
) -> dict[str, int]:
    """Generate the five tables and write them, sorted by customer then date.

    Memory is bounded by a block of :data:`BLOCK_CUSTOMERS` customers: each block's tables
    are written (in batches of at most :data:`WRITE_BATCH_ROWS` rows cut between customers,
    one Parquet row group each) before the next block is simulated. Parquet files are cut
    at the same customers in every table (row group ``i`` of each table holds the rows of
    the customers of row group ``i`` of ``customers.parquet``, about
    :data:`WRITE_BATCH_ROWS` rows of the largest table), the layout a streamed build reads
    partition by partition (:mod:`dashboard.cube.streamed`).

    Parameters
    ----------
    out : str or Path
        Folder for ``csv`` (``customers.csv`` ...) and ``parquet`` (``customers.parquet``
        ...), file for ``sqlite``, ``postgresql://`` URL for ``postgresql``. Existing files
        (tables) of the same names are replaced.
    fmt : {"csv", "sqlite", "parquet", "postgresql"}
        Output format.
    customers : int
        Number of customers (at least 1).
    start, end : str
        First and last billing month, ``YYYY-MM`` (inclusive).
    seed : int
        Random seed.
    progress : bool
        Show a tqdm progress bar (one step per block and month).

    Returns
    -------
    dict of str to int
        Rows written per table.

    Raises
    ------
    ValueError
        If an argument is invalid or ``fmt`` unknown.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    check_arguments(customers, start, end, seed)
    counts = dict.fromkeys(vocab.ALL_TABLES, 0)
    tables = simulate(customers, start, end, seed, progress)
    with open_writer(fmt, out) as writer:
        batches = _layout_batches(tables) if fmt == "parquet" else _table_batches(tables)
        for table, batch in batches:
            counts[table] += chunk_length(batch)
            writer.write(table, batch)
    return counts


def _table_batches(tables: Iterator[tuple[str, RawChunk]]) -> Iterator[tuple[str, RawChunk]]:
    """Each table's chunks in batches of :func:`customer_batches`."""
    for table, chunk in tables:
        for batch in customer_batches(chunk):
            yield table, batch


def _layout_batches(tables: Iterator[tuple[str, RawChunk]]) -> Iterator[tuple[str, RawChunk]]:
    """Each block's tables cut at the same customers, a slice of every table per range (the
    customer-ordered layout of a streamed build): about :data:`WRITE_BATCH_ROWS` rows of
    the block's largest table per range."""
    block: dict[str, RawChunk] = {}
    for table, chunk in itertools.chain(tables, [("customers", None)]):  # lazily
        if table == "customers" and block:
            yield from _cut_block(block)
            block = {}
        if chunk is not None:
            block[table] = chunk


def _cut_block(block: dict[str, RawChunk]) -> Iterator[tuple[str, RawChunk]]:
    """Slices of every table of a block, by equal ranges of customer numbers."""
    numbers = block["customers"]["customer_id"]
    n = len(numbers)
    largest = max(chunk_length(chunk) for chunk in block.values())
    groups = max(1, min(n, -(-largest // WRITE_BATCH_ROWS)))
    cuts = numbers[np.arange(0, n, -(-n // groups))][1:] if n else numbers[:0]
    slices = {}
    for table, chunk in block.items():
        bounds = np.concatenate(
            [[0], np.searchsorted(chunk["customer_id"], cuts), [chunk_length(chunk)]]
        )
        slices[table] = [
            {column: values[a:b] for column, values in chunk.items()}
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]
    for group in range(len(cuts) + 1):
        for table, parts in slices.items():
            yield table, parts[group]


def customer_batches(chunk: RawChunk, rows: int | None = None) -> Iterator[RawChunk]:
    """Split a chunk sorted by customer into slices of about ``rows`` rows, each holding
    whole customers (a customer with more rows gets a slice of its own).

    Parameters
    ----------
    chunk : mapping of str to numpy.ndarray
        Raw columns sorted by ``customer_id``.
    rows : int, optional
        Target slice length (default :data:`WRITE_BATCH_ROWS`).

    Yields
    ------
    dict of str to numpy.ndarray
    """
    rows = WRITE_BATCH_ROWS if rows is None else rows
    length = chunk_length(chunk)
    customer = chunk["customer_id"]
    cuts = np.searchsorted(customer, customer[np.arange(rows, length, rows)], side="left")
    bounds = np.unique(np.concatenate([[0], cuts, [length]]))
    if len(bounds) == 1:
        bounds = np.array([0, 0])
    for begin, end in zip(bounds[:-1], bounds[1:], strict=True):
        yield {column: values[begin:end] for column, values in chunk.items()}
