"""Build the aggregated ledger: every customer partition's ledger tables
(:func:`dashboard.compute.partition.partition_tables`), summed as they come, the funnel
reach tables and the worklist rows (:class:`dashboard.cube.tables.ArrearsTables`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.compute.arrays import SparseSums, day_numbers, months_since
from dashboard.compute.engine import Engine, customer_ranges
from dashboard.compute.ledger import Buckets
from dashboard.compute.outcomes import (
    ARRANGEMENT_AGREED,
    ARRANGEMENT_BROKEN,
    ARRANGEMENT_STATES,
    arrangement_states,
)
from dashboard.compute.partition import (
    AGEING_MEASURES,
    AT_RISK_MEASURES,
    BILL_AGEING_MEASURES,
    CHUNK_CUSTOMERS,
    ENTRY_MEASURES,
    EVER_SEVERE_MEASURES,
    MOVEMENT_MEASURES,
    PARTITION_COLUMNS,
    TRANSITION_MEASURES,
    VINTAGE_MEASURES,
    WRITE_OFF_MEASURES,
    LedgerSettings,
    Partition,
    Shapes,
    action_kinds,
    action_shape,
    action_types,
    dates_of,
    day_of,
    first_default_month,
    last_day_of,
    last_of,
    matched_shape,
    partition_tables,
    vintage_months,
)
from dashboard.compute.reach import ReachTable, month_flags, stage_reach
from dashboard.cube.tables import ArrearsTables
from dashboard.schema import Portfolio
from dashboard.vocab import ACTIONS


def snapshot_days(months: pd.DatetimeIndex, as_of: pd.Timestamp) -> np.ndarray:
    """Month-end day numbers of the complete months: those ending on or before ``as_of``.

    A month not yet over is not a month-end (its last point would compare a part month with
    whole ones); the as-of day itself is the separate *today* snapshot.
    """
    ends = day_numbers(months + pd.offsets.MonthEnd(0)).astype(np.int64)
    return ends[ends <= day_of(as_of)]


def build_arrears(
    portfolio: Portfolio,
    outcomes: pd.DataFrame,
    bill_month: np.ndarray,
    customer_segment: np.ndarray,
    n_segments: int,
    months: pd.DatetimeIndex,
    as_of: pd.Timestamp,
    buckets: Buckets = Buckets(),
    chunk: int = CHUNK_CUSTOMERS,
    engine: Engine | None = None,
    last_bill_month: int | None = None,
) -> ArrearsTables:
    """Compute the ledger chunk by chunk of customers and aggregate it.

    :func:`arrears_sums`, stored as the cube's tables (:meth:`ArrearsTables.of`); the
    parameters are :func:`arrears_sums`'s.

    Returns
    -------
    ArrearsTables
    """
    sums, funnel, worklist = arrears_sums(
        portfolio, outcomes, bill_month, customer_segment, n_segments, months, as_of,
        buckets, chunk, engine, last_bill_month,
    )  # fmt: skip
    return ArrearsTables.of(
        sums,
        buckets=buckets,
        snapshot_days=snapshot_days(months, as_of),
        funnel=funnel,
        worklist=worklist,
    )


def arrears_sums(
    portfolio: Portfolio,
    outcomes: pd.DataFrame,
    bill_month: np.ndarray,
    customer_segment: np.ndarray,
    n_segments: int,
    months: pd.DatetimeIndex,
    as_of: pd.Timestamp,
    buckets: Buckets = Buckets(),
    chunk: int = CHUNK_CUSTOMERS,
    engine: Engine | None = None,
    last_bill_month: int | None = None,
) -> tuple[dict[str, np.ndarray], list[ReachTable], pd.DataFrame]:
    """The ledger's integer sums, chunk by chunk of customers, added up.

    Parameters
    ----------
    portfolio : Portfolio
        Validated tables (sorted by customer, as :func:`dashboard.schema.validate` keeps them).
    outcomes : DataFrame
        :func:`bill_outcomes` of ``portfolio.bills``.
    bill_month : ndarray of int
        Month index of each bill relative to ``months[0]``.
    customer_segment : ndarray of int
        Segment id of each customer.
    n_segments : int
    months : DatetimeIndex
        The cube's bill months.
    as_of : Timestamp
    buckets : Buckets, optional
    chunk : int, optional
        Customers per chunk (bounds memory).
    engine : Engine, optional
        Where the chunks run (default: :meth:`Engine.from_env`).
    last_bill_month : int, optional
        The book's last bill month (default: the last of ``bill_month``).

    Returns
    -------
    (dict, list of ReachTable, DataFrame)
        Every table's int64 sums in its documented layout
        (:class:`~dashboard.cube.tables.ArrearsTables`; ``reach_after`` a
        :class:`ReachTable`, ``matched`` a :class:`SparseSums` of its shape), the funnel's
        reach tables and the
        worklist rows. A streamed build adds these up over its partitions and stores them
        once (one float64 copy for the whole book, not one per partition).
    """
    snaps = snapshot_days(months, as_of)
    customer_segment = np.asarray(customer_segment, dtype=np.int64)  # a cube's is narrow
    k, n_b = len(snaps), len(buckets.labels)
    quarter_offset = (months[0].month - 1) % 3  # months since the first month's quarter began
    cohorts = 1 + (len(months) - 1 + quarter_offset) // 3 + 1  # the back book, then quarters
    shape = Shapes(k, n_segments, n_b, cohorts=cohorts)
    totals = {  # every partition's sums are added into these
        "ageing": (k, n_segments, n_b, len(AGEING_MEASURES)),
        "transitions": (k, n_segments, n_b, n_b, len(TRANSITION_MEASURES)),
        "bill_ageing": (k, n_segments, n_b, len(BILL_AGEING_MEASURES)),
        "vintage": (shape.cohorts, vintage_months(k), n_segments, len(VINTAGE_MEASURES)),
        "entries": (k, n_segments, len(ENTRY_MEASURES)),
        "actions": action_shape(portfolio.actions, len(months), n_segments),
        "movement": (k, n_segments, len(MOVEMENT_MEASURES)),
        "today": (1, n_segments, n_b, len(AGEING_MEASURES)),
        "write_offs": (k, n_segments, n_b, len(WRITE_OFF_MEASURES)),
        "at_risk": (k, n_segments, len(AT_RISK_MEASURES)),
        "ever_severe": (k, n_segments, len(EVER_SEVERE_MEASURES)),
        "matched": matched_shape(portfolio.actions, shape),
    }
    shapes, totals = totals, {}  # a chunk's own sums start the totals: no zeros to add to
    tables = {  # the columns partitions carry, selected once
        name: getattr(portfolio, name)[list(columns)] for name, columns in PARTITION_COLUMNS.items()
    }
    codes = {  # the categoricals' own int32 codes, not int64 copies (partitions widen them)
        name: table["customer_id"].cat.codes.to_numpy() for name, table in tables.items()
    }
    n_customers = len(portfolio.customers)
    defaulted_month = first_default_month(codes["bills"], outcomes, bill_month, n_customers)
    chunks = (  # a generator: the pandas engine holds a few chunks at a time
        (
            Partition.of(tables, codes, bill_month, low, high),
            customer_segment[low:high],
            defaulted_month[low:high],
        )
        for low, high in customer_ranges(n_customers, chunk)
    )
    if last_bill_month is None:  # a streamed build passes the whole book's
        last_bill_month = int(bill_month.max()) if len(bill_month) else -1
    settings = LedgerSettings(
        snaps, buckets, shape, quarter_offset, day_of(as_of), months, as_of, last_bill_month
    )
    engine = Engine.from_env() if engine is None else engine
    worklists, reach_after, sparse = [], [], {}
    for sums, worklist in engine.imap(partition_tables, chunks, settings):  # summed as they come
        ReachTable.keep(reach_after, sums.pop("reach_after"))
        for name, table in sums.items():
            if isinstance(table, SparseSums):  # kept sparse: most of its cells stay empty
                SparseSums.keep(sparse.setdefault(name, []), table, shapes[name])
            else:
                _add_sums(totals, shapes[name], name, table)
        worklists.append(worklist)
        del sums  # a chunk's tables have the cube's full size: not kept past their addition
    totals |= {name: SparseSums.combined(parts, shapes[name]) for name, parts in sparse.items()}
    for name in shapes.keys() - totals.keys():  # no chunk at all: nil tables
        totals[name] = np.zeros(shapes[name], dtype=np.int64)
    totals["reach_after"] = ReachTable.combined(reach_after, k, n_segments)
    funnel = funnel_reach(portfolio.actions, months, customer_segment, n_segments)
    worklist = _worklist_frame(worklists, portfolio, as_of, customer_segment, n_segments)
    return totals, funnel, worklist


def _add_sums(totals: dict[str, np.ndarray], shape: tuple, name: str, table: np.ndarray) -> None:
    """Add a chunk's dense table ``name`` into ``totals``; the first one is taken as it is
    (a fresh int64 array of the table's shape)."""
    if name not in totals:
        if table.dtype == np.int64 and table.shape == shape:
            totals[name] = table
            return
        totals[name] = np.zeros(shape, dtype=np.int64)
    totals[name] += table


def funnel_reach(
    actions: pd.DataFrame, months: pd.DatetimeIndex, customer_segment: np.ndarray, n_segments: int
) -> list[ReachTable]:
    """The funnel's reach tables: one per stage of :data:`ACTIONS`, in order.

    A customer reaches a stage in the first month of its action at or after the month they
    reached the stage before (the first stage: from the range's start); a stage whose
    action the data does not hold stops the sequence, and its tables and the later ones are
    empty (:func:`dashboard.compute.reach.stage_reach`).
    """
    types = action_types(actions)
    month = months_since(actions["action_date"], months[0])
    inside = (month >= 0) & (month < len(months))
    kind = action_kinds(actions, types)[inside]
    customer = actions["customer_id"].cat.codes.to_numpy(np.int64)[inside]
    month = month[inside]
    stages = []
    for action in ACTIONS:
        if action not in types:
            break
        got = kind == types.get_loc(action)
        stages.append(month_flags(customer[got], month[got], len(customer_segment), len(months)))
    tables = stage_reach(stages, customer_segment, n_segments)
    empty = ReachTable.empty(len(months), n_segments)
    return tables + [empty] * (len(ACTIONS) - len(tables))


def _worklist_frame(
    parts: list[pd.DataFrame],
    portfolio: Portfolio,
    as_of,
    customer_segment: np.ndarray,
    n_segments: int,
) -> pd.DataFrame:
    """Customers in arrears with their segment (in the narrowest unsigned type that holds
    the segment ids), last action and arrangement status on ``as_of``."""
    owing = pd.concat(parts, ignore_index=True)
    who = owing["customer"].to_numpy(np.int64)
    n = len(portfolio.customers)
    actions = portfolio.actions
    as_of_day = day_of(as_of)
    types = action_types(actions)
    days = day_numbers(actions["action_date"])
    known = np.flatnonzero(days <= as_of_day)
    codes = actions["customer_id"].cat.codes.to_numpy(np.int64)
    last = last_of(codes[known], days[known], n)[who]
    row = known[np.maximum(last, 0)] if len(known) else np.zeros(len(who), dtype=np.int64)
    has_action = last >= 0
    kind = action_kinds(actions, types)[row] if len(known) else row
    agreed = last_day_of(actions, ARRANGEMENT_AGREED, as_of_day, n)[who]
    broken = actions.loc[actions["action"] == ARRANGEMENT_BROKEN]
    status = np.where(agreed < 0, 0, arrangement_states(who, agreed, broken, as_of_day))
    return pd.DataFrame(
        {
            "customer": who,
            "customer_id": portfolio.customers["customer_id"].to_numpy()[who].astype(str),
            "segment": customer_segment[who].astype(np.min_scalar_type(max(n_segments - 1, 0))),
            "arrears_pence": owing["arrears_pence"].to_numpy(np.int64),
            "days_past_due": owing["days_past_due"].to_numpy(np.int64),
            "last_payment_date": dates_of(owing["last_payment_day"]),
            "last_payment_pence": owing["last_payment_pence"].to_numpy(np.int64),
            "last_action": pd.Categorical.from_codes(
                np.where(has_action, kind, -1), categories=list(types)
            ),
            "last_action_date": dates_of(np.where(has_action, days[row] if len(known) else 0, -1)),
            "arrangement": pd.Categorical.from_codes(status, categories=list(ARRANGEMENT_STATES)),
        }
    )
