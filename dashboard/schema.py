"""Validate raw tables and give them their types.

Every problem becomes one line naming the file or table, the column and up to three
offending rows. Rules (refuse = raise :class:`dashboard.SourceError`; exclude = drop the
rows, keep going and report the count in :attr:`Portfolio.warnings`):

==========================================  ========
problem                                     rule
==========================================  ========
missing table, file or column               refuse
empty table (customers, bills, payments)    refuse
empty collections_actions                   warn
duplicated customer_id                      refuse
dimension value missing, flag not 0/1       refuse
unparseable or missing date                 refuse
date before 1900-01-01                      refuse
payment, action or adjustment after today  refuse
bill period end > 366 days after today      refuse
due date > 366 days after its period end    refuse
bill period > 10 years before the next one  refuse
non-numeric, missing or negative amount     refuse
amount stored as float16/float32            refuse
binary (BLOB) value in any column           refuse
due date before its bill period end         refuse
duplicated bill (customer, period end)      refuse
adjustment kind not one of the four         refuse
write-off or credit amount negative         refuse
bill, payment or action of unknown customer exclude
bill, payment or action with no customer id exclude
==========================================  ========

The optional ``adjustments`` table (``customer_id, adjustment_date, amount, kind``) may be
absent: no adjustments. Its rows follow the same customer rules as payments (excluded with
a count when the customer is unknown). ``kind`` is one of
:data:`dashboard.vocab.ADJUSTMENT_KINDS`: ``write_off`` and ``credit`` amounts are zero or
more and reduce the balance; ``rebill`` and ``transfer`` amounts are signed (positive adds
to the balance). Typed, it carries ``balance_pence``: the adjustment's effect on what the
customer owes (negative for a write-off or credit).

"Today" is the machine's local date when validating (``validate(raw, today=...)`` or
``$COLLECTIONS_TODAY`` set it, for tests). With these rules every date lies between
1900-01-01 and a year or two after today, and bill periods have no gap over ten years, so
the span of bill months (which sizes the monthly tables built downstream) follows the
months that hold bills, not one mistyped year.

Customer ids are text: an integer id column (SQLite INTEGER, a Parquet integer type, or
floats because of a missing value) is read as the digits of each id (``100000.0`` is
``100000``).

Typed tables keep ``customer_id`` as a categorical whose categories are the customers'
ids in customer-table order, so ``customer_id.cat.codes`` is a customer's row number;
money is integer pence (``bill_pence``, ``amount_pence``). Bills, payments and actions are
sorted by customer, then date (a stable sort: same-day rows keep their file order), so each
customer's rows are contiguous and a build can split them into customer partitions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dashboard import SourceError
from dashboard.compute.arrays import day_numbers, is_sorted, month_numbers, sort_order
from dashboard.compute.engine import THREADS, in_threads
from dashboard.compute.memory import reuses_freed_memory
from dashboard.sources.base import RawTables
from dashboard.vocab import (
    ACTIONS,
    ADJUSTMENT_KINDS,
    FLAG_DIMENSIONS,
    MONEY_COLUMNS,
    OPTIONAL_TABLES,
    ORDERED_VOCABULARIES,
    PAYMENT_METHODS,
    REDUCING_ADJUSTMENTS,
    TABLES,
)

MAX_SHOWN = 3
FULL_DATE = r"^\d{4}-\d{2}-\d{2}(?:$|[ T])"
"""A text date must start with a full ``YYYY-MM-DD`` (a time may follow, as SQLite writes)."""
MAX_AMOUNT = 1_000_000.0
"""Amounts above £1m on one bill or payment are refused as absurd."""
EARLIEST_DATE = pd.Timestamp("1900-01-01")
"""Dates before this are refused: not a real date for a water bill, payment or action (a
typo such as ``0202-01-31``)."""
BILL_DAYS_AHEAD = 366
"""A bill period may end at most this many days after today, and a due date at most this
many days after its period end."""
MAX_BILL_GAP_MONTHS = 120
"""Bill periods more than this many months (10 years) before every later one are refused:
a mistyped year (1925 for 2025) would stretch every monthly table over a century (their
memory grows with the months between the first and last bill). A real debt that old is
statute-barred (6 years in England and Wales)."""
TODAY_ENV = "COLLECTIONS_TODAY"
"""Environment variable that sets "today" (``YYYY-MM-DD``) for the date rules (tests)."""
BINARY_OR_MIXED = ("bytes", "mixed", "mixed-integer")
"""What ``pandas.api.types.infer_dtype`` calls an object column that may hold bytes."""


@dataclass
class Portfolio:
    """The validated, typed tables.

    Attributes
    ----------
    customers, bills, payments, actions : DataFrame
        Typed tables (see the module docstring).
    adjustments : DataFrame
        Typed adjustments (``customer_id``, ``adjustment_date``, ``amount_pence``, ``kind``,
        ``balance_pence``); no rows when the source has none.
    warnings : list of str
        One line per problem that excluded rows or changed how a file was read.
    excluded : dict of str to int
        Rows excluded per table.
    source : str
        The path the tables were read from (empty when built from frames).
    """

    customers: pd.DataFrame
    bills: pd.DataFrame
    payments: pd.DataFrame
    actions: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=dict)
    source: str = ""
    adjustments: pd.DataFrame = field(default_factory=lambda: no_adjustments())


@reuses_freed_memory
def validate(
    raw: RawTables, today: str | date | pd.Timestamp | None = None, whole_book: bool = True
) -> Portfolio:
    """Check the raw tables and convert them to typed frames.

    Parameters
    ----------
    raw : RawTables
        Frames from :meth:`dashboard.sources.Source.tables` or :func:`tables_from_frames`.
        Its bills, payments and actions frames are consumed (removed from ``raw.frames``
        as they are typed) to keep peak memory down; a Parquet source's tables are read
        here, one at a time (:class:`dashboard.sources.ParquetFrames`).
    today : str, date or Timestamp, optional
        The date payments and actions may not be after, and bill periods not more than
        :data:`BILL_DAYS_AHEAD` days after; default :func:`current_date` (the machine's
        date).
    whole_book : bool, optional
        Whether ``raw`` is a whole book (True: an empty bills or payments table is refused)
        or the rows of a few customers (False: a customer who never paid has no payments).

    Returns
    -------
    Portfolio
        Typed tables, with warnings and excluded row counts.

    Raises
    ------
    SourceError
        On the first problem whose rule is "refuse".
    """
    today = current_date() if today is None else pd.Timestamp(today).normalize()
    warnings = list(raw.warnings)
    excluded = {table: 0 for table in TABLES}
    present = {t: c for t, c in OPTIONAL_TABLES.items() if t in raw.frames}
    for table, columns in {**TABLES, **present}.items():
        _check_columns(raw.column_names(table), columns, raw.origins[table])
    _refuse_binary(raw.frames["customers"], raw.origins["customers"])
    customers = _customers(raw.frames["customers"], raw.origins["customers"])
    ids = pd.CategoricalDtype(customers["customer_id"].to_numpy())
    typed = validate_rows(raw, ids, today, warnings, excluded, whole_book)
    bills, payments, actions = (typed[t] for t in TABLES if t != "customers")
    if actions.empty:
        warnings.append(f"{raw.origins['collections_actions']}: no collections actions")
    adjustments = typed.get("adjustments", no_adjustments(ids))
    return Portfolio(
        customers, bills, payments, actions, warnings, excluded, raw.source, adjustments
    )


def validate_rows(
    raw: RawTables,
    ids: pd.CategoricalDtype,
    today: pd.Timestamp,
    warnings: list[str],
    excluded: dict[str, int],
    whole_book: bool = True,
) -> dict[str, pd.DataFrame]:
    """Type the bills, payments, actions and (when present) adjustments of ``raw``.

    Rows of customers not in ``ids`` are excluded (counted in ``excluded``, one line in
    ``warnings``). Each raw table is released once typed (``raw.frames`` is consumed): at
    a million customers, raw and typed copies of every table at once would double peak
    memory. A streamed build calls this once per customer partition, with that
    partition's ids (:mod:`dashboard.cube.streamed`).

    Parameters
    ----------
    raw : RawTables
    ids : CategoricalDtype
        The customers' ids (their order gives the customer codes).
    today : Timestamp
    warnings : list of str
        Appended to.
    excluded : dict of str to int
        Rows excluded per table, set here.
    whole_book : bool, optional
        As :func:`validate`.

    Returns
    -------
    dict of str to DataFrame
        Typed tables by table name.
    """
    typers = {"bills": _bills, "payments": _payments, "collections_actions": _actions}
    typers.update({"adjustments": _adjustments} if "adjustments" in raw.frames else {})
    typed = {}
    for table, to_typed in typers.items():
        source = raw.frames.pop(table)
        _refuse_binary(source, raw.origins[table])
        frame, dropped = _with_known_customers(source, ids, raw.origins[table])
        excluded[table] = dropped
        if dropped:
            warnings.append(_excluded_warning(source, ids, raw.origins[table], dropped))
        del source
        if whole_book and table in ("bills", "payments"):
            _refuse_empty(frame, raw.origins[table])
        typed[table] = to_typed(frame, raw.origins[table], today)
        del frame
    return typed


def validate_customers(
    customers: pd.DataFrame, origin: str, columns: dict[str, list[str]], origins: dict[str, str]
) -> pd.DataFrame:
    """Check every table's columns and type the customers table (the global part of
    :func:`validate`, for a build that validates the other tables partition by partition).

    Parameters
    ----------
    customers : DataFrame
        The raw customers table.
    origin : str
        Where it came from (for messages).
    columns : dict of str to list of str
        The column names of each table present.
    origins : dict of str to str
        Where each table came from.

    Returns
    -------
    DataFrame
        Typed customers.

    Raises
    ------
    SourceError
        As :func:`validate`.
    """
    present = {t: c for t, c in OPTIONAL_TABLES.items() if t in columns}
    for table, needed in {**TABLES, **present}.items():
        _check_columns(columns[table], needed, origins[table])
    _refuse_binary(customers, origin)
    return _customers(customers, origin)


def customer_codes(column: pd.Series, ids: pd.CategoricalDtype) -> np.ndarray:
    """Row number in customers of each raw id (-1 if unknown), found as validation finds
    it (ids trimmed of spaces, integer ids as their digits).

    Parameters
    ----------
    column : Series
        A raw ``customer_id`` column.
    ids : CategoricalDtype
        The typed customers' ids.

    Returns
    -------
    ndarray of int64
    """
    return _customer_codes(column.reset_index(drop=True), ids)


def known_first(values: pd.Series, known: tuple[str, ...]) -> list[str]:
    """Categories as validation orders them: the known vocabulary in its order (those
    present), then the rest sorted."""
    return _known_first(values, known)


def current_date() -> pd.Timestamp:
    """Today's date for the date rules: ``$COLLECTIONS_TODAY`` when set, else the
    machine's local date.

    Returns
    -------
    Timestamp
        Midnight of the day.

    Raises
    ------
    SourceError
        When ``$COLLECTIONS_TODAY`` is not a ``YYYY-MM-DD`` date.
    """
    setting = os.environ.get(TODAY_ENV, "").strip()
    if not setting:
        return pd.Timestamp(date.today())
    try:
        return pd.Timestamp(date.fromisoformat(setting))
    except ValueError:
        raise SourceError(f"${TODAY_ENV}: not a YYYY-MM-DD date ({setting!r})") from None


def tables_from_frames(frames: dict[str, pd.DataFrame], source: str = "") -> RawTables:
    """Wrap in-memory frames (same columns as the files) so they can be validated.

    Parameters
    ----------
    frames : dict of str to DataFrame
        One frame per table name in :data:`dashboard.vocab.TABLES`, and optionally one per
        name in :data:`dashboard.vocab.OPTIONAL_TABLES`.
    source : str, optional
        A name for messages.

    Returns
    -------
    RawTables
    """
    missing = [t for t in TABLES if t not in frames]
    if missing:
        raise SourceError(f"{source or 'frames'}: table '{missing[0]}' missing")
    names = [*TABLES, *(t for t in OPTIONAL_TABLES if t in frames)]
    origins = {t: f"{source}:{t}" if source else t for t in names}
    return RawTables({t: frames[t] for t in names}, origins, source, "frames")


def _check_columns(names: list[str], columns: tuple[str, ...], origin: str) -> None:
    found = pd.Index(names)
    twice = sorted({str(c) for c in found[found.duplicated()]})
    if twice:
        raise SourceError(f"{origin}: column {twice[0]!r} appears more than once")
    missing = [c for c in columns if c not in found]
    if missing:
        listed = ", ".join(" ".join(str(c).split()) for c in found) or "none"
        raise SourceError(
            f"{origin}: column '{missing[0]}' missing"
            f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}; "
            f"columns found: {listed}"
        )


def _refuse_empty(frame: pd.DataFrame, origin: str) -> None:
    if frame.empty:
        raise SourceError(f"{origin}: empty table (header only, no rows)")


def _customers(frame: pd.DataFrame, origin: str) -> pd.DataFrame:
    _refuse_empty(frame, origin)
    frame = frame.loc[:, list(TABLES["customers"])].reset_index(drop=True)
    ids = _id_text(frame["customer_id"])
    _refuse_rows(ids.isna(), ids, origin, "customer_id", "missing id")
    _refuse_rows(ids.duplicated(keep=False), ids, origin, "customer_id", "duplicated id")
    out = pd.DataFrame({"customer_id": ids.astype(object).to_numpy()})
    for column in TABLES["customers"][1:]:
        if column in FLAG_DIMENSIONS:
            out[column] = _flag(frame[column], origin, column)
        else:
            out[column] = _dimension(frame[column], origin, column)
    return out


def _text(column: pd.Series) -> pd.Series:
    """Stripped text, empty as missing; a categorical stays categorical (work per category)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return _categorical_text(column)
    text = column.astype("string").str.strip()
    return text.mask(text == "")


def _id_text(column: pd.Series) -> pd.Series:
    """Customer ids as stripped text: a whole number stored as a float (an integer column
    with a missing value) is written without its ``.0``."""
    if not pd.api.types.is_float_dtype(column):
        return _text(column)
    values = column.to_numpy(np.float64, na_value=np.nan)
    whole = np.isfinite(values) & (np.floor(values) == values) & (np.abs(values) < 2.0**53)
    text = column.astype("string")
    digits = pd.Series(values, index=column.index).where(whole).astype("Int64").astype("string")
    return _text(text.mask(whole, digits))


def _refuse_binary(frame: pd.DataFrame, origin: str) -> None:
    """Refuse binary values (a SQLite BLOB, Parquet binary) in any column: bytes are not
    text, numbers or dates, even when they happen to spell one."""
    for name in frame.columns:
        column = frame[name]
        if column.dtype != object:
            continue
        if pd.api.types.infer_dtype(column, skipna=True) not in BINARY_OR_MIXED:
            continue  # a C pass: text, numbers, dates
        binary = np.fromiter(
            (isinstance(v, (bytes, bytearray, memoryview)) for v in column.array),
            dtype=bool,
            count=len(column),
        )  # only for a column of mixed types (rare): a pass in Python
        _refuse_rows(binary, column, origin, str(name), "binary (BLOB) value, not text")


def _categorical_text(column: pd.Series) -> pd.Series:
    cleaned = _text(pd.Series(column.cat.categories, dtype=object))
    new_codes, uniques = pd.factorize(cleaned, use_na_sentinel=True)
    lookup = np.append(new_codes, -1)  # a missing value (code -1) stays missing
    codes = lookup[column.cat.codes.to_numpy()]
    values = pd.Categorical.from_codes(codes, categories=pd.Index(uniques, dtype=object))
    return pd.Series(values, index=column.index)


def _categorical(text: pd.Series, categories: list[str], ordered: bool = False) -> pd.Categorical:
    """``text`` as a categorical with these categories (recoded cheaply if already one)."""
    if isinstance(text.dtype, pd.CategoricalDtype):
        return text.cat.set_categories(categories, ordered=ordered).array
    return pd.Categorical(text, categories=categories, ordered=ordered)


def _flag(column: pd.Series, origin: str, name: str) -> pd.Series:
    values = pd.to_numeric(column, errors="coerce")
    _refuse_rows(~values.isin([0, 1]), column, origin, name, "not 0 or 1")
    return values.astype(np.int8)


def _dimension(column: pd.Series, origin: str, name: str) -> pd.Series:
    text = _text(column)
    _refuse_rows(text.isna(), column, origin, name, "missing value")
    known = ORDERED_VOCABULARIES.get(name, ())
    categories = _known_first(text, known)
    return pd.Series(_categorical(text, categories, ordered=bool(known)))


def _with_known_customers(
    frame: pd.DataFrame, ids: pd.CategoricalDtype, origin: str
) -> tuple[pd.DataFrame, int]:
    frame = frame.reset_index(drop=True)
    codes = _customer_codes(frame["customer_id"], ids)
    known = codes >= 0
    frame = frame.assign(customer_id=pd.Categorical.from_codes(codes, dtype=ids))
    dropped = int((~known).sum())
    if dropped:
        frame = frame.loc[known]
    return frame, dropped


def _customer_codes(column: pd.Series, ids: pd.CategoricalDtype) -> np.ndarray:
    """Row number in customers of each id (-1 if unknown), hashed in Arrow (no Python objects).

    Ids are looked up as they are; only those not found are trimmed of spaces and looked
    up again (trimming every id first would copy tens of millions of strings).
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        lookup = ids.categories.get_indexer(_text(pd.Series(column.cat.categories)).to_numpy())
        return np.append(lookup, -1)[column.cat.codes.to_numpy()].astype(np.int64)
    if pd.api.types.is_float_dtype(column):  # whole-number ids made floats by a missing value
        column = _id_text(column).astype("string[pyarrow]")
    elif not isinstance(column.dtype, pd.StringDtype):
        column = column.astype("string[pyarrow]")
    values = pa.array(column.array)  # zero-copy: an Arrow (chunked) array
    known = pa.array(np.asarray(ids.categories, dtype=object), type=values.type)
    codes = _index_in(values, known)
    missed = np.flatnonzero(codes < 0)
    if len(missed):
        trimmed = pc.utf8_trim_whitespace(values.take(pa.array(missed)))
        codes[missed] = _index_in(trimmed, known)
    return codes


def _index_in(values: pa.Array | pa.ChunkedArray, known: pa.Array) -> np.ndarray:
    """Position of each value in ``known`` (-1 when absent), as int64.

    Arrow's lookup holds no Python lock, so slices of the values are looked up on
    :data:`dashboard.engine.THREADS` threads at once (each hashes ``known`` again: cheap
    next to tens of millions of lookups).
    """
    step = -(-len(values) // THREADS) or 1

    def positions(start: int) -> np.ndarray:
        found = pc.index_in(values.slice(start, step), value_set=known)
        return pc.fill_null(found, -1).to_numpy().astype(np.int64)

    return np.concatenate(in_threads(positions, range(0, max(len(values), 1), step)))


def _excluded_warning(
    frame: pd.DataFrame, ids: pd.CategoricalDtype, origin: str, dropped: int
) -> str:
    """One line: how many rows were excluded, why (no id, or an unknown one) and examples."""
    text = _id_text(frame["customer_id"].reset_index(drop=True))
    missing = text.isna()
    unknown = ~missing & ~text.isin(ids.categories)
    examples = _examples(missing | unknown, text)
    n_missing = int(missing.sum())
    prefix = f"{origin}: column 'customer_id': excluded {dropped} "
    if not n_missing:
        return f"{prefix}rows of customers not in customers ({examples})"
    if n_missing == dropped:
        plural = "rows" if dropped > 1 else "row"
        return f"{prefix}{plural} with no customer id ({examples})"
    return (
        f"{prefix}rows: {n_missing} with no customer id, {dropped - n_missing} of customers "
        f"not in customers ({examples})"
    )


def _bills(frame: pd.DataFrame, origin: str, today: pd.Timestamp) -> pd.DataFrame:
    """Typed bills sorted by (customer, period end). ``frame``'s columns are released
    (popped) as they are typed, so raw and typed copies of a column never pile up."""
    ahead = pd.Timedelta(days=BILL_DAYS_AHEAD)
    latest = (today + ahead, f"more than {BILL_DAYS_AHEAD} days after today ({today:%Y-%m-%d})")
    period_end = _dates(frame["bill_period_end"], origin, "bill_period_end", latest)
    due = _dates(frame["due_date"], origin, "due_date")
    # seconds from period end to due date (both datetime64[s]): one array for both checks
    lateness = due.to_numpy().view(np.int64) - period_end.to_numpy().view(np.int64)
    if len(lateness) and lateness.min() < 0:
        _refuse_rows(lateness < 0, frame["due_date"], origin, "due_date", "before bill_period_end")
    if len(lateness) and lateness.max() > ahead.total_seconds():
        _refuse_rows(
            lateness > ahead.total_seconds(),
            frame["due_date"],
            origin,
            "due_date",
            f"more than {BILL_DAYS_AHEAD} days after bill_period_end",
        )
    del lateness
    _refuse_isolated_periods(period_end, frame["bill_period_end"], origin)
    del frame["bill_period_end"], frame["due_date"]
    pence = _pence(frame.pop(MONEY_COLUMNS["bills"]), origin, MONEY_COLUMNS["bills"])
    usage = _usage(frame.pop("usage_m3"), origin)
    customer_id = frame.pop("customer_id")
    key = _customer_day_key(customer_id, period_end)
    order = sort_order(key)
    same_as_next = key[order][1:] == key[order][:-1]
    del key
    if same_as_next.any():
        duplicated = np.zeros(len(order), dtype=bool)
        duplicated[order[1:][same_as_next]] = True
        duplicated[order[:-1][same_as_next]] = True
        shown = customer_id.astype(str) + " " + period_end.dt.strftime("%Y-%m-%d")
        _refuse_rows(
            duplicated, shown, origin, "bill_period_end", "duplicated bill (customer, period)"
        )
    columns = {
        "customer_id": customer_id,
        "bill_period_end": period_end,
        "due_date": due,
        "bill_pence": pence,
        "usage_m3": usage,
    }
    return _in_order(columns, order)


def _refuse_isolated_periods(period_end: pd.Series, shown: pd.Series, origin: str) -> None:
    """Refuse the bills before a gap of more than :data:`MAX_BILL_GAP_MONTHS` months with
    no bill period (one count per month of the bills' range: at most some 1,500 months
    once the date rules hold)."""
    days = period_end.to_numpy().view(np.int64) // 86_400
    if not len(days) or days.max() - days.min() <= MAX_BILL_GAP_MONTHS * 28:
        return  # too short a range to hold such a gap: no month numbers needed
    months = month_numbers(period_end)
    low = int(months.min())
    present = np.flatnonzero(np.bincount(months - low))
    far = np.flatnonzero(np.diff(present) > MAX_BILL_GAP_MONTHS)
    if len(far):
        cut = low + int(present[far[-1]])
        following = pd.Timestamp(np.datetime64(low + int(present[far[-1] + 1]), "M"))
        _refuse_rows(
            months <= cut,
            shown,
            origin,
            "bill_period_end",
            f"more than {MAX_BILL_GAP_MONTHS // 12} years before the next bill period "
            f"({following:%Y-%m}; a mistyped year?)",
        )


def _usage(column: pd.Series, origin: str) -> np.ndarray:
    usage = pd.to_numeric(column, errors="coerce")
    bad_usage = usage < 0
    if not pd.api.types.is_numeric_dtype(column):
        bad_usage |= usage.isna() & _text(column).notna()
    _refuse_rows(bad_usage, column, origin, "usage_m3", "not a non-negative number")
    return usage.to_numpy(np.float64)


def _customer_day_key(customer_id: pd.Series, dates: pd.Series) -> np.ndarray:
    """(customer row, day) as one int64 per row: sorts by customer, then date. The key is
    as small as the days' range allows, so :func:`sort_order` can use its packed sort."""
    day = day_numbers(dates)
    first = day.min(initial=0)
    key = customer_id.cat.codes.to_numpy(np.int64)
    key *= day.max(initial=0) - first + 1
    key += day
    key -= first
    return key


def _in_order(columns: dict[str, pd.Series | np.ndarray], order: np.ndarray) -> pd.DataFrame:
    """A frame of ``columns`` with rows in ``order`` and a fresh index (tables are kept
    sorted by customer, date). Each column is taken once and not copied again into
    consolidated blocks; ``columns`` is emptied as it goes (at 40 M rows, each column
    released early is hundreds of MB off the peak)."""
    identity = is_sorted(order)  # a permutation in order is the identity
    taken = {}
    for name in list(columns):
        taken[name] = columns.pop(name) if identity else _take(columns.pop(name), order)
    return pd.DataFrame(taken, copy=False).reset_index(drop=True)


def _take(values: pd.Series | pd.api.extensions.ExtensionArray | np.ndarray, order: np.ndarray):
    """Rows ``order`` of a column (``ndarray.take``: several times faster than ``a[order]``;
    a categorical's codes are taken, never its values)."""
    if isinstance(values, pd.Series):
        values = values.array
    if isinstance(values, pd.Categorical):
        return pd.Categorical.from_codes(values.codes.take(order), dtype=values.dtype)
    return np.asarray(values).take(order)


def _payments(frame: pd.DataFrame, origin: str, today: pd.Timestamp) -> pd.DataFrame:
    latest = (today, f"after today ({today:%Y-%m-%d})")
    columns = {
        "customer_id": frame.pop("customer_id"),
        "payment_date": _dates(frame.pop("payment_date"), origin, "payment_date", latest),
        "amount_pence": _pence(frame.pop(MONEY_COLUMNS["payments"]), origin, "amount"),
        "method": _payment_methods(frame.pop("method")),
    }
    order = sort_order(_customer_day_key(columns["customer_id"], columns["payment_date"]))
    return _in_order(columns, order)


def _payment_methods(column: pd.Series) -> pd.Categorical:
    text = _text(column)
    categories = _known_first(text, PAYMENT_METHODS)
    methods = _categorical(text, [*categories, "Unknown"])
    return methods.fillna("Unknown") if methods.isna().any() else methods


def _actions(frame: pd.DataFrame, origin: str, today: pd.Timestamp) -> pd.DataFrame:
    action = _text(frame["action"])
    _refuse_rows(action.isna(), frame["action"], origin, "action", "missing action")
    latest = (today, f"after today ({today:%Y-%m-%d})")
    columns = {
        "customer_id": frame["customer_id"],
        "action_date": _dates(frame["action_date"], origin, "action_date", latest),
        "action": _categorical(action, _known_first(action, ACTIONS)),
    }
    order = sort_order(_customer_day_key(columns["customer_id"], columns["action_date"]))
    return _in_order(columns, order)


def _adjustments(frame: pd.DataFrame, origin: str, today: pd.Timestamp) -> pd.DataFrame:
    """Typed adjustments sorted by (customer, date), with their effect on the balance."""
    kind = _text(frame["kind"])
    unknown = ~kind.isin(ADJUSTMENT_KINDS)
    allowed = ", ".join(ADJUSTMENT_KINDS)
    _refuse_rows(unknown, frame["kind"], origin, "kind", f"kind not one of {allowed}")
    latest = (today, f"after today ({today:%Y-%m-%d})")
    amount = _pence(frame["amount"], origin, "amount", signed=True)
    reducing = kind.isin(REDUCING_ADJUSTMENTS).to_numpy()
    _refuse_rows(
        pd.Series(reducing & (amount < 0), index=frame.index),
        frame["amount"],
        origin,
        "amount",
        "negative write-off or credit (a reversal is a rebill)",
    )
    columns = {
        "customer_id": frame["customer_id"],
        "adjustment_date": _dates(frame["adjustment_date"], origin, "adjustment_date", latest),
        "amount_pence": amount,
        "kind": _categorical(kind, list(ADJUSTMENT_KINDS)),
        "balance_pence": np.where(reducing, -amount, amount),
    }
    key = _customer_day_key(columns["customer_id"], columns["adjustment_date"])
    return _in_order(columns, sort_order(key))


def no_adjustments(ids: pd.CategoricalDtype | None = None) -> pd.DataFrame:
    """An empty typed adjustments table (a source without one).

    Parameters
    ----------
    ids : CategoricalDtype, optional
        The customers' id categories (none when not given).

    Returns
    -------
    DataFrame
    """
    ids = pd.CategoricalDtype([]) if ids is None else ids
    return pd.DataFrame(
        {
            "customer_id": pd.Categorical.from_codes([], dtype=ids),
            "adjustment_date": np.array([], dtype="datetime64[s]"),
            "amount_pence": np.array([], dtype=np.int64),
            "kind": pd.Categorical([], categories=list(ADJUSTMENT_KINDS)),
            "balance_pence": np.array([], dtype=np.int64),
        }
    )


def _known_first(values: pd.Series, known: tuple[str, ...]) -> list[str]:
    """Categories: the known vocabulary in its order (those present), then the rest sorted."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.cat.categories[np.unique(values.cat.codes[values.cat.codes >= 0])])
    else:
        present = set(values.dropna().unique())
    return [v for v in known if v in present] + sorted(present - set(known))


def _dates(
    column: pd.Series,
    origin: str,
    name: str,
    latest: tuple[pd.Timestamp, str] | None = None,
) -> pd.Series:
    """Midnight of each date; refuses unparseable, partial, numeric and time-zoned dates,
    dates before :data:`EARLIEST_DATE` and, given ``latest`` (a date and how to say so),
    dates after it."""
    problem = "unparseable or missing date (need YYYY-MM-DD)"
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_datetime64_any_dtype(column):
        _refuse_rows(
            pd.Series(True, index=column.index),
            column,
            origin,
            name,
            "a number, not a date (need YYYY-MM-DD)",
        )
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        _refuse_rows(
            column.notna(), column, origin, name, "date with a time zone (need YYYY-MM-DD)"
        )
    if pd.api.types.is_datetime64_any_dtype(column):
        dates = column
    else:
        values = column.str.strip() if pd.api.types.is_string_dtype(column) else column
        try:
            dates = pd.to_datetime(values, format="ISO8601", errors="coerce")
        except (ValueError, TypeError):  # e.g. mixed time-zone offsets
            dates = pd.Series(pd.NaT, index=column.index)
        if isinstance(dates.dtype, pd.DatetimeTZDtype):
            _refuse_rows(
                dates.notna(), column, origin, name, "date with a time zone (need YYYY-MM-DD)"
            )
        if pd.api.types.is_string_dtype(column):
            # ISO8601 also accepts "2024-03" or "2024": a day must be given.
            dates = dates.where(values.str.match(FULL_DATE, na=False))
    _refuse_rows(dates.isna(), column, origin, name, problem)
    seconds = np.asarray(dates).astype("datetime64[s]", copy=False).view(np.int64)
    midnight = (seconds - seconds % 86_400).view("datetime64[s]")  # floor, also before 1970
    earliest = np.datetime64(EARLIEST_DATE.date(), "s")
    if len(midnight) and midnight.min() < earliest:  # min and max: the rows only if needed
        problem = f"date before {EARLIEST_DATE:%Y-%m-%d} (not a real date here)"
        _refuse_rows(midnight < earliest, column, origin, name, problem)
    if latest is not None and len(midnight):
        last = np.datetime64(latest[0].date(), "s")
        if midnight.max() > last:
            _refuse_rows(midnight > last, column, origin, name, latest[1])
    return pd.Series(midnight, index=column.index, name=column.name)


def _pence(column: pd.Series, origin: str, name: str, signed: bool = False) -> np.ndarray:
    dtype = getattr(column.dtype, "numpy_dtype", column.dtype)
    if isinstance(dtype, np.dtype) and dtype.kind == "f" and dtype.itemsize < 8:
        _refuse_rows(
            column.notna(),
            column,
            origin,
            name,
            f"amount stored as {dtype} (too narrow to hold every penny: store a 64-bit "
            "float, a decimal or text)",
        )
    amounts = pd.to_numeric(column, errors="coerce")
    _refuse_rows(amounts.isna(), column, origin, name, "not a number")
    if not signed:
        _refuse_rows(amounts < 0, column, origin, name, "negative amount")
    too_large = amounts.abs() > MAX_AMOUNT
    _refuse_rows(too_large, column, origin, name, f"amount above £{MAX_AMOUNT:,.0f}")
    return np.rint(amounts.to_numpy(np.float64) * 100).astype(np.int64)


def _refuse_rows(bad: pd.Series, shown: pd.Series, origin: str, column: str, problem: str) -> None:
    """Raise one line naming origin, column and up to three offending rows when any is bad."""
    bad = pd.Series(np.asarray(bad, dtype=bool), index=shown.index)
    if bad.any():
        count = int(bad.sum())
        raise SourceError(
            f"{origin}: column '{column}': {problem} in {count} row{'s' if count > 1 else ''} "
            f"({_examples(bad, shown)})"
        )


def _examples(bad: pd.Series, shown: pd.Series) -> str:
    """Describe up to three bad rows as ``row N 'value'`` (N = 1-based data row of the table)."""
    mask = np.asarray(bad, dtype=bool)
    positions = np.flatnonzero(mask)[:MAX_SHOWN]
    rows = shown.index[positions]
    values = shown.iloc[positions]
    parts = [f"row {row + 1} {_quote(value)}" for row, value in zip(rows, values, strict=True)]
    more = ", ..." if int(mask.sum()) > MAX_SHOWN else ""
    return ", ".join(parts) + more


def _quote(value: object) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "(empty)"
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")
