"""The streamed build: a Parquet source written in customer order is read, validated and
computed one customer partition (row group) at a time, and the partitions' small results
are added up. Memory is bounded by a partition, not by the book; the cube is the same, bit
for bit, as :func:`dashboard.cube.pipeline.build_cube` on the whole book.

The layout (:data:`LAYOUT_KEY` in each file's metadata): row group ``i`` of every table
holds the rows of the customers in row group ``i`` of ``customers.parquet``
(``collections-dashboard generate --format parquet`` and ``collections-dashboard convert``
write it). Two passes:

1. **Scan**: the customers table (typed whole: segments and customer codes), and the date
   and action columns of the other tables, reduced to counts per day: the as-of date, the
   cube's months, the last bill month and the action categories follow from them.
2. **Partitions**: each task reads its row group of every table (on a Dask worker with
   ``--engine dask``), validates it against its own customers, computes bill outcomes and
   the ledger and returns small tables, with exact counts per day of its validated rows.
   The sum of those counts is checked against the scan's: when rows of unknown customers
   moved a global setting, the partitions are computed again with the exact one.

A source without the layout, or with a problem that validation refuses, is built the
unstreamed way (whose messages name the whole table's rows).
"""

from __future__ import annotations

import os
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dashboard import SourceError
from dashboard.compute.arrays import SparseSums, day_numbers, months_since
from dashboard.compute.engine import Engine, in_threads
from dashboard.compute.ledger import Buckets
from dashboard.compute.memory import reuses_freed_memory
from dashboard.compute.outcomes import (
    AS_OF_BUSY_BOOK,
    AS_OF_SUPPORT_DAYS,
    AS_OF_SUPPORT_SHARE,
    Window,
    outcome_columns,
    outcome_inputs,
)
from dashboard.compute.reach import ReachTable
from dashboard.cube.bills import (
    REACH_SERIES,
    action_table,
    arrangement_table,
    bill_frame,
    bill_sums,
    customer_reach,
    segment_table,
)
from dashboard.cube.ledger import arrears_sums, snapshot_days
from dashboard.cube.pipeline import AS_OF_MARGIN_DAYS, build_cube, known_on, validated
from dashboard.cube.tables import ArrearsTables, Cube
from dashboard.schema import (
    Portfolio,
    current_date,
    no_adjustments,
    validate_customers,
    validate_rows,
)
from dashboard.sources import Source, open_source
from dashboard.sources.base import RawTables
from dashboard.sources.files import parquet_table_path
from dashboard.sources.parquet import LAYOUT_KEY, ParquetSource, arrow_frame
from dashboard.vocab import ACTIONS, OPTIONAL_TABLES, TABLES

STREAMED_ENV = "COLLECTIONS_STREAMED"
"""Set to ``0`` to build a source with the layout the unstreamed way (comparisons)."""
DAY_LOW = -25_567
"""Day number of 1900-01-01, validation's earliest date: the first bin of the day counts."""
DAY_BINS = 60_000
"""Days counted from :data:`DAY_LOW` (to 2064): dates outside are refused by validation."""
DATE_COLUMNS = {
    "bills": ("bill_period_end", "due_date"),
    "payments": ("payment_date",),
    "collections_actions": ("action_date",),
}
"""The date columns whose counts per day decide the build's global settings."""
IN_FLIGHT = float(os.environ.get("COLLECTIONS_IN_FLIGHT") or 1.5)
"""Partitions in flight per thread (running, or done and waiting for an earlier one): each
holds its share of every cube table, full size."""
PARTITION_CUSTOMERS = 50_000
"""Customers a partition reads at least (consecutive row groups joined): one per thread
or worker runs at once, so this bounds the build's memory. Its ledger is computed in one
chunk (the full-size ledger tables of a chunk cost the same whatever its customers)."""
LAST_BUILD: dict = {}
"""Figures of the last streamed build in this process: partitions, passes and the peak RSS
of each process that computed partitions (by pid, bytes)."""


class Unstreamable(Exception):
    """The source cannot be streamed as it is: build it the unstreamed way."""


@dataclass(frozen=True)
class Layout:
    """A Parquet folder in customer-ordered row groups.

    Attributes
    ----------
    source : str
        The folder.
    files : dict of str to str
        The file of each table present.
    bounds : tuple of (int, int)
        Customer codes ``[low, high)`` of each row group.
    """

    source: str
    files: dict[str, str]
    bounds: tuple[tuple[int, int], ...]

    def partitions(self, customers: int) -> list[tuple[list[int], int, int]]:
        """Consecutive row groups joined into partitions of at least ``customers``
        customers (the last may be smaller): ``(row groups, low, high)`` each."""
        parts, groups, low = [], [], 0
        for group, (first, high) in enumerate(self.bounds):
            low = first if not groups else low
            groups.append(group)
            if high - low >= customers:
                parts.append((groups, low, high))
                groups = []
        if groups:
            parts.append((groups, low, self.bounds[-1][1]))
        return parts


def source_layout(source: Source) -> Layout | None:
    """The layout of a Parquet source, or None when it lacks it (any table not a single
    file marked with :data:`LAYOUT_KEY`, or row group counts that differ)."""
    if not isinstance(source, ParquetSource) or not Path(source.path).is_dir():
        return None
    folder = Path(source.path)
    files, groups = {}, set()
    for table in (*TABLES, *OPTIONAL_TABLES):
        file = parquet_table_path(folder, table)
        if file is None and table in OPTIONAL_TABLES:
            continue
        if file is None or not file.is_file():
            return None
        try:
            meta = pq.read_metadata(file)
        except (OSError, ValueError, pa.ArrowException):
            return None
        if (meta.metadata or {}).get(LAYOUT_KEY) is None:
            return None
        files[table] = str(file)
        groups.add(meta.num_row_groups)
    customers = pq.read_metadata(files["customers"])
    sizes = [customers.row_group(i).num_rows for i in range(customers.num_row_groups)]
    if len(groups) != 1:
        return None
    highs = np.cumsum(sizes, dtype=np.int64)
    bounds = tuple((int(h - s), int(h)) for h, s in zip(highs, sizes, strict=True))
    return Layout(str(folder), files, bounds)


def layout_hint(source: Source) -> str:
    """One line: how to convert a Parquet source that lacks the layout ('' otherwise)."""
    if not isinstance(source, ParquetSource) or source_layout(source) is not None:
        return ""
    return (
        f"note: {source.path} is not in customer-ordered row groups, so the whole book is "
        f"held in memory; `collections-dashboard convert --source {source.path} --out DIR` "
        "writes a copy that builds streamed"
    )


def read_block(file: str, groups: list[int], columns: list[str] | None = None) -> pd.DataFrame:
    """Row groups ``groups`` of a table, as validation expects them (customer ids read as
    a dictionary: a partition's ids are looked up once each, not once per row)."""
    handle = pq.ParquetFile(file, read_dictionary=["customer_id"])
    return arrow_frame(handle.read_row_groups(groups, columns=columns))


@dataclass(frozen=True)
class Settings:
    """What every partition needs: the layout, the build's settings and the global values
    the scan found."""

    layout: Layout
    origins: dict[str, str]
    today: pd.Timestamp
    window: Window
    buckets: Buckets
    as_of: pd.Timestamp
    months: pd.DatetimeIndex
    last_bill_month: int
    action_categories: tuple[str, ...]
    n_segments: int
    customers_per_partition: int


@reuses_freed_memory
def build_source(
    source: str | Path | Source,
    window: Window = Window(),
    as_of: pd.Timestamp | None = None,
    buckets: Buckets = Buckets(),
    engine: Engine | None = None,
) -> Cube:
    """Build a source's cube: streamed when it has the layout, else the unstreamed way
    (with a one-line note on stderr for a Parquet source that could be converted).

    Parameters
    ----------
    source : str, Path or Source
    window, as_of, buckets, engine
        As :func:`dashboard.cube.pipeline.build_cube`.

    Returns
    -------
    Cube
    """
    source = open_source(source)
    engine = Engine.from_env() if engine is None else engine
    layout = source_layout(source) if os.environ.get(STREAMED_ENV, "1") != "0" else None
    if layout is not None:
        try:
            return streamed_cube(layout, window, as_of, buckets, engine)
        except Unstreamable:
            pass  # the unstreamed build gives the message naming the table's rows
    else:
        hint = layout_hint(source)
        if hint:
            print(hint, file=sys.stderr)
    return build_cube(validated(source), window, as_of, buckets, engine)


def streamed_cube(
    layout: Layout,
    window: Window = Window(),
    as_of: pd.Timestamp | None = None,
    buckets: Buckets = Buckets(),
    engine: Engine | None = None,
) -> Cube:
    """The cube of a source in the layout, computed partition by partition.

    Raises
    ------
    Unstreamable
        When validation refuses a partition or a global check fails (the unstreamed build
        then gives the exact message).
    """
    engine = Engine.from_env() if engine is None else engine
    origins = {table: file for table, file in layout.files.items()}
    customers = _scan_customers(layout, origins)
    segments, customer_segment = segment_table(customers)
    counts, present = _scan_counts(layout)
    base = {
        "layout": layout,
        "origins": origins,
        "today": current_date(),
        "window": window,
        "buckets": buckets,
        "n_segments": len(segments),
        "customers_per_partition": PARTITION_CUSTOMERS,
    }
    settings = Settings(**base, **_global_values(counts, present, as_of))
    for passes in (1, 2):  # the exact values do not depend on the settings: two at most
        totals = _partitions(layout, customers, customer_segment, settings, engine)
        LAST_BUILD["passes"] = passes
        exact = Settings(**base, **_global_values(totals.counts, totals.present, as_of))
        if _same_globals(exact, settings):
            break
        settings = exact  # rows of unknown customers moved a global value: once more
    else:
        raise Unstreamable("the partitions' global values did not settle")
    _check_orphans(layout, customers, totals)
    return _cube(totals, settings, segments, len(customers))


def _scan_customers(layout: Layout, origins: dict[str, str]) -> pd.DataFrame:
    """The typed customers table, after the column checks of every table."""
    columns = {t: pq.read_schema(f).names for t, f in layout.files.items()}
    raw = arrow_frame(pq.read_table(layout.files["customers"]))
    try:
        return validate_customers(raw, origins["customers"], columns, origins)
    except SourceError as exc:
        raise Unstreamable(str(exc)) from None


def _scan_counts(layout: Layout) -> tuple[dict[str, np.ndarray], set[str]]:
    """Counts per day of every date column (row groups read on threads, a column at a
    time) and the action names present, over the raw rows (orphans too)."""
    tasks = [
        (table, column, block)
        for table, columns in DATE_COLUMNS.items()
        for column in columns
        for block in range(len(layout.bounds))
    ]

    def count(task: tuple[str, str, int]) -> tuple[str, np.ndarray]:
        table, column, block = task
        handle = pq.ParquetFile(layout.files[table])
        values = handle.read_row_group(block, columns=[column]).column(0)
        return column, _day_counts(values)

    counts = {c: np.zeros(DAY_BINS, np.int64) for cs in DATE_COLUMNS.values() for c in cs}
    for column, days in in_threads(count, tasks):
        counts[column] += days
    actions = pq.read_table(layout.files["collections_actions"], columns=["action"])
    names = pc.unique(pc.utf8_trim_whitespace(actions.column(0).cast(pa.string()))).to_pylist()
    if len(counts["bill_period_end"]) and _has_gap(counts["bill_period_end"]):
        raise Unstreamable("bill periods with a gap of many years")
    return counts, {n for n in names if n}


def _day_counts(values: pa.ChunkedArray) -> np.ndarray:
    """Rows per day from :data:`DAY_LOW` of a raw date column; values that are not dates
    (validation refuses them later) are not counted."""
    if pa.types.is_date(values.type) or pa.types.is_timestamp(values.type):
        days = values.cast(pa.date32()).cast(pa.int32()).to_numpy(zero_copy_only=False)
        days = days[~np.isnan(days)] if days.dtype.kind == "f" else days
    else:
        text = pd.Series(values.to_pandas(), dtype="string").str.strip()
        dates = pd.to_datetime(text, format="ISO8601", errors="coerce").dropna()
        days = day_numbers(dates.dt.tz_localize(None) if dates.dt.tz else dates)
    index = np.asarray(days, dtype=np.int64) - DAY_LOW
    index = index[(index >= 0) & (index < DAY_BINS)]
    return np.bincount(index, minlength=DAY_BINS)


def _has_gap(period_ends: np.ndarray) -> bool:
    """Whether bill periods leave a gap the unstreamed validation would refuse (more than
    :data:`dashboard.schema.MAX_BILL_GAP_MONTHS` months with no bill period)."""
    from dashboard.schema import MAX_BILL_GAP_MONTHS

    days = np.flatnonzero(period_ends) + DAY_LOW
    months = np.unique(days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64))
    return bool(len(months) and np.any(np.diff(months) > MAX_BILL_GAP_MONTHS))


def latest_supported_day(payment_days: np.ndarray) -> int | None:
    """:func:`dashboard.compute.outcomes.latest_payment_date` from counts per day: the
    latest payment day that other payments support (day number; None with no payments)."""
    paid_days = np.flatnonzero(payment_days)
    if not len(paid_days):
        return None
    n = int(payment_days.sum())
    latest = int(paid_days[-1])
    needed = max(2, -(-n // AS_OF_SUPPORT_SHARE))
    if payment_days[max(latest - AS_OF_SUPPORT_DAYS + 1, 0) : latest + 1].sum() < needed:
        low = int(paid_days[0])
        running = np.concatenate([[0], np.cumsum(payment_days[low : latest + 1])])
        end = np.arange(1, len(running))
        in_window = running[end] - running[np.maximum(end - AS_OF_SUPPORT_DAYS, 0)]
        paid = running[end] > running[end - 1]
        supported = np.flatnonzero(paid & (in_window >= needed))
        if len(supported) and in_window[supported[-1]] >= AS_OF_BUSY_BOOK:
            latest = low + int(supported[-1])
    return latest + DAY_LOW


def _date(day: int) -> pd.Timestamp:
    return pd.Timestamp(np.datetime64(int(day), "D"))


def _global_values(counts: dict[str, np.ndarray], present: set[str], as_of) -> dict:
    """As-of date, cube months, last bill month and action categories from counts per day,
    as :func:`dashboard.cube.pipeline.build_cube` finds them on the whole book."""
    if not counts["bill_period_end"].any() or not counts["payment_date"].any():
        raise Unstreamable("no bills or no payments")  # validation refuses an empty table
    if as_of is None:
        as_of = _date(latest_supported_day(counts["payment_date"]))
    as_of = pd.Timestamp(as_of).normalize()
    _check_as_of(counts, as_of)
    through = int(day_numbers(pd.DatetimeIndex([as_of]))[0]) - DAY_LOW + 1
    known = {c: np.flatnonzero(days[: max(through, 0)]) for c, days in counts.items()}
    firsts = [
        known[c][0] for c in ("bill_period_end", "payment_date", "action_date") if len(known[c])
    ]
    first = min([_date(int(d) + DAY_LOW) for d in firsts] + [as_of])
    months = pd.date_range(
        first.to_period("M").start_time, as_of.to_period("M").start_time, freq="MS"
    )
    ends = known["bill_period_end"]
    last_bill_month = -1
    if len(ends):
        last_end = pd.Series([_date(int(ends[-1]) + DAY_LOW)])
        last_bill_month = int(months_since(last_end, months[0])[0])
    categories = [a for a in ACTIONS if a in present] + sorted(present - set(ACTIONS))
    return {
        "as_of": as_of,
        "months": months,
        "last_bill_month": last_bill_month,
        "action_categories": tuple(categories),
    }


def _check_as_of(counts: dict[str, np.ndarray], as_of: pd.Timestamp) -> None:
    """:func:`dashboard.cube.pipeline.check_as_of` from counts per day."""
    days = np.flatnonzero(np.add.reduce([c > 0 for c in counts.values()]))
    if not len(days):
        return
    margin = pd.Timedelta(days=AS_OF_MARGIN_DAYS)
    earliest = _date(int(days[0]) + DAY_LOW) - margin
    latest = _date(int(days[-1]) + DAY_LOW) + margin
    if not earliest <= as_of <= latest:
        raise ValueError(
            f"as-of {as_of:%Y-%m-%d} is too far outside the data's dates: choose a date from "
            f"{earliest:%Y-%m-%d} to {latest:%Y-%m-%d}"
        )


def _same_globals(a: Settings, b: Settings) -> bool:
    return (
        a.as_of == b.as_of
        and a.months.equals(b.months)
        and a.last_bill_month == b.last_bill_month
        and a.action_categories == b.action_categories
    )


def _partitions(
    layout: Layout,
    customers: pd.DataFrame,
    customer_segment: np.ndarray,
    settings: Settings,
    engine: Engine,
) -> Totals:
    """Every partition's results, added up as they come, in order (a task: its row
    groups, their customers and segments; the tables are read where the task runs)."""
    bounds = layout.partitions(settings.customers_per_partition)
    tasks = (
        (groups, customers.iloc[low:high].reset_index(drop=True), customer_segment[low:high])
        for groups, low, high in bounds
    )
    totals = Totals()
    try:
        results = engine.imap(partition_result, tasks, settings, per_thread=IN_FLIGHT)
        for (_, low, _), part in zip(bounds, results, strict=True):
            totals.add(part, low)
    except SourceError as exc:
        raise Unstreamable(str(exc)) from None
    LAST_BUILD.update(partitions=len(bounds), peak_rss_by_process=totals.peaks)
    return totals


def partition_result(task: tuple, settings: Settings) -> dict:
    """Read, validate and compute one partition; return its small tables.

    Parameters
    ----------
    task : tuple
        Row groups, their typed customers and their segment ids.
    settings : Settings

    Returns
    -------
    dict
        ``bills`` (dense sums), ``actions``, ``arrangements``, ``bits``, ``arrears``,
        ``counts`` and ``present`` (of the validated rows), ``excluded``, ``warnings``,
        and ``pid`` and ``peak_rss`` of the process that ran it.
    """
    groups, customers, segment = task
    frames = {
        t: read_block(f, groups) for t, f in settings.layout.files.items() if t != "customers"
    }
    raw = RawTables(frames, settings.origins, settings.layout.source, "parquet")
    ids = pd.CategoricalDtype(customers["customer_id"].to_numpy())
    warnings: list[str] = []
    excluded: dict[str, int] = {}
    typed = validate_rows(raw, ids, settings.today, warnings, excluded, whole_book=False)
    actions = typed["collections_actions"]
    counts = _typed_counts(typed)
    present = set(_present(actions["action"]))
    result = {"counts": counts, "present": present, "excluded": excluded, "warnings": warnings}
    if not present <= set(settings.action_categories):
        return {**result, **_process_figures()}  # a second pass follows, with them
    actions["action"] = actions["action"].cat.set_categories(list(settings.action_categories))
    adjustments = typed.get("adjustments", no_adjustments(ids))
    part = Portfolio(customers, typed["bills"], typed["payments"], actions, adjustments=adjustments)
    result.update(_tables(known_on(part, settings.as_of), segment, settings))
    return {**result, **_process_figures()}


def _present(action: pd.Series) -> list[str]:
    codes = np.unique(action.cat.codes.to_numpy())
    return list(action.cat.categories[codes[codes >= 0]])


def _typed_counts(typed: dict[str, pd.DataFrame]) -> dict[str, np.ndarray]:
    counts = {}
    for table, columns in DATE_COLUMNS.items():
        for column in columns:
            index = day_numbers(typed[table][column]) - DAY_LOW
            counts[column] = np.bincount(
                index[(index >= 0) & (index < DAY_BINS)], minlength=DAY_BINS
            )
    return counts


def _process_figures() -> dict:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return {"pid": os.getpid(), "peak_rss": int(peak)}


def _tables(part: Portfolio, segment: np.ndarray, settings: Settings) -> dict:
    """A partition's share of every cube table (local customer codes)."""
    bills, payments, months = part.bills, part.payments, settings.months
    as_of_day = int(day_numbers(pd.DatetimeIndex([settings.as_of]))[0])
    columns = outcome_columns(outcome_inputs(bills, payments), settings.window, as_of_day)
    outcomes = pd.DataFrame(columns, index=bills.index, copy=False)
    bill_month = months_since(bills["bill_period_end"], months[0])
    codes = bills["customer_id"].cat.codes.to_numpy()
    payment_key = months_since(payments["payment_date"], months[0]) * settings.n_segments
    payment_key += segment[payments["customer_id"].cat.codes.to_numpy()]
    sums = bill_sums(
        bills,
        outcomes,
        bill_month,
        segment[codes],
        months,
        settings.n_segments,
        payment_key,
        payments["amount_pence"].to_numpy(np.int64),
    )
    arrears = arrears_sums(
        part,
        outcomes,
        bill_month,
        segment,
        settings.n_segments,
        months,
        settings.as_of,
        settings.buckets,
        chunk=max(len(part.customers), 1),
        engine=Engine("pandas"),
        last_bill_month=settings.last_bill_month,
    )
    return {
        "bills": sums,
        "actions": action_table(part.actions, segment),
        "arrangements": arrangement_table(part.actions, segment, settings.as_of),
        "reach": customer_reach(
            bills, outcomes, bill_month, segment, len(months), settings.n_segments
        ),
        "arrears": arrears,
    }


class Totals:
    """The partitions' results added up as they come: the additive tables summed, the
    worklist rows kept in customer order, the reach tables combined a few at a time."""

    def __init__(self) -> None:
        self.counts: dict[str, np.ndarray] = {}
        self.present: set[str] = set()
        self.excluded: dict[str, int] = {}
        self.warnings: dict[str, list[str]] = {}
        self.first_excluded: dict[str, int] = {}
        self.peaks: dict[int, int] = {}
        self.bills: dict[str, np.ndarray] = {}
        self.frames: dict[str, list[pd.DataFrame]] = {"actions": [], "arrangements": []}
        self.reach: dict[str, list[ReachTable]] = {}
        self.arrears: dict[str, np.ndarray] = {}
        self.sparse: dict[str, list[SparseSums]] = {}
        self.worklists: list[pd.DataFrame] = []

    def add(self, part: dict, low: int) -> None:
        """Add one partition's results (its customers' codes start at ``low``)."""
        _add_into(self.counts, part["counts"])
        self.present |= part["present"]
        for table, rows in part["excluded"].items():
            self.excluded[table] = self.excluded.get(table, 0) + rows
            if rows and table not in self.first_excluded:
                self.first_excluded[table] = rows
        for line in part["warnings"]:
            self.warnings.setdefault(line.split(": ", 1)[0], []).append(line)
        self.peaks[part["pid"]] = max(self.peaks.get(part["pid"], 0), part["peak_rss"])
        if "bills" not in part:
            return
        _add_into(self.bills, part["bills"])
        for name in self.frames:
            self.frames[name].append(part[name])
        sums, funnel, worklist = part["arrears"]  # integer sums: stored once, at the end
        tables = {**part["reach"], **{f"funnel_{i}": table for i, table in enumerate(funnel)}}
        tables[SEVERE_REACH] = sums.pop("reach_after")
        for name in [name for name, table in sums.items() if isinstance(table, SparseSums)]:
            table = sums.pop(name)
            SparseSums.keep(self.sparse.setdefault(name, []), table, table.shape)
        for name, table in tables.items():
            self.add_reach(name, table)
        _add_into(self.arrears, sums)
        worklist = worklist.copy()
        worklist["customer"] = worklist["customer"].to_numpy(np.int64) + low
        self.worklists.append(worklist)

    def add_reach(self, name: str, table: ReachTable) -> None:
        """Keep a partition's reach table (:meth:`ReachTable.keep`: combined a few at a
        time)."""
        ReachTable.keep(self.reach.setdefault(name, []), table)

    def combined_sparse(self) -> dict[str, SparseSums]:
        """The partitions' sparse sums (:class:`SparseSums`), added up."""
        return {
            name: SparseSums.combined(parts, parts[0].shape) for name, parts in self.sparse.items()
        }

    def combined_reach(self, name: str, n_months: int, n_segments: int) -> ReachTable:
        return ReachTable.combined(self.reach.get(name, []), n_months, n_segments)


SEVERE_REACH = "severe_reach_after"
"""Where :class:`Totals` keeps the partitions' ``reach_after`` tables (the ledger's
customers reaching 91+ days past due)."""


def _add_into(total: dict[str, np.ndarray], part: dict[str, np.ndarray]) -> None:
    """``total[name] += part[name]`` for every array (in place; the first one is taken)."""
    for name, values in part.items():
        if name in total:
            total[name] += values
        else:
            total[name] = values


def _check_orphans(layout: Layout, customers: pd.DataFrame, totals: Totals) -> None:
    """Rows excluded as of unknown customers must be unknown to the whole book: a row of a
    known customer in another customer's row group breaks the layout."""
    if not sum(totals.excluded.values()):
        return
    known = pa.array(customers["customer_id"].to_numpy(dtype=object), type=pa.string())
    for groups, low, high in layout.partitions(PARTITION_CUSTOMERS):
        own = known.slice(low, high - low)
        for table, file in layout.files.items():
            if table == "customers":
                continue
            ids = read_block(file, groups, ["customer_id"])["customer_id"].astype(str)
            ids = pc.utf8_trim_whitespace(pa.array(ids.to_numpy(dtype=object), pa.string()))
            elsewhere = pc.and_(pc.invert(pc.is_in(ids, own)), pc.is_in(ids, known))
            if pc.any(elsewhere).as_py():
                raise SourceError(
                    f"{file}: row groups {groups[0]}-{groups[-1]} hold rows of customers of "
                    "other row groups: not in customer order (run collections-dashboard convert)"
                )


def _merged_warnings(totals: Totals, origins: dict[str, str]) -> list[str]:
    """One exclusion line per table (counts added up; the first partition's examples, whose
    row numbers count from the start of its row groups)."""
    lines = []
    for table in (*TABLES, *OPTIONAL_TABLES):
        found = totals.warnings.get(origins.get(table, ""), [])
        if found:
            first, total = totals.first_excluded[table], totals.excluded[table]
            lines.append(found[0].replace(f"excluded {first} ", f"excluded {total} ", 1))
    return lines


def _cube(totals: Totals, settings: Settings, segments: pd.DataFrame, n_customers: int) -> Cube:
    """The cube of the added-up partitions."""
    months, n_segments = settings.months, settings.n_segments
    actions = pd.concat(totals.frames["actions"], ignore_index=True)
    actions = actions.groupby(["month", "segment", "action"], observed=True)["count"].sum()
    arrangements = pd.concat(totals.frames["arrangements"], ignore_index=True)
    warnings = _merged_warnings(totals, settings.origins)
    if not totals.counts["action_date"].any():
        warnings.append(f"{settings.origins['collections_actions']}: no collections actions")
    snaps = snapshot_days(months, settings.as_of)
    severe = totals.combined_reach(SEVERE_REACH, len(snaps), n_segments)
    arrears = ArrearsTables.of(
        {**totals.arrears, **totals.combined_sparse(), "reach_after": severe},
        buckets=settings.buckets,
        snapshot_days=snaps,
        funnel=[
            totals.combined_reach(f"funnel_{i}", len(months), n_segments)
            for i in range(len(ACTIONS))
        ],
        worklist=pd.concat(totals.worklists, ignore_index=True),
    )
    totals.arrears, totals.sparse = {}, {}  # the float64 tables replace the integer sums
    return Cube(
        months=months,
        segments=segments,
        bills=bill_frame(totals.bills, months, n_segments),
        actions=actions.reset_index(),
        arrangements=arrangements.groupby(["month", "segment"], as_index=False).sum(),
        n_customers=n_customers,
        reach={name: totals.combined_reach(name, len(months), n_segments) for name in REACH_SERIES},
        as_of=settings.as_of,
        window=settings.window,
        warnings=tuple(warnings),
        excluded={table: rows for table, rows in totals.excluded.items() if rows},
        arrears=arrears,
    )
