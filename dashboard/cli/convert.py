"""``collections-dashboard convert``: write a source as a Parquet folder in customer-ordered
row groups, which a build reads partition by partition (:mod:`dashboard.cube.streamed`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import typer

from dashboard.schema import customer_codes, validate_customers
from dashboard.sources import open_source
from dashboard.sources.parquet import with_layout
from dashboard.vocab import OPTIONAL_TABLES, TABLES

GROUP_CUSTOMERS = 50_000
"""Customers per row group of the converted files."""


def convert_source(source: str | Path, out: str | Path, customers: int = GROUP_CUSTOMERS) -> dict:
    """Write ``source``'s tables to ``out/TABLE.parquet`` in customer-ordered row groups.

    Row group ``i`` of every table holds the rows of the customers of row group ``i`` of
    ``customers.parquet`` (in the customers table's order; each customer's rows keep their
    order); rows of unknown customers go to the last row group, where validation excludes
    them as before. Values are written as they were read: the converted source validates
    to the same tables. One table is held in memory at a time.

    Parameters
    ----------
    source : str or Path
        Any source spec (:func:`dashboard.sources.open_source`).
    out : str or Path
        Output folder (created; files of the same names are replaced).
    customers : int, optional
        Customers per row group.

    Returns
    -------
    dict of str to int
        Rows written per table.
    """
    raw = open_source(source).tables()
    names = [t for t in (*TABLES, *OPTIONAL_TABLES) if t in raw.frames]
    columns = {t: raw.column_names(t) for t in names}
    typed = validate_customers(
        raw.frames["customers"], raw.origins["customers"], columns, raw.origins
    )
    ids = pd.CategoricalDtype(typed["customer_id"].to_numpy())
    n = len(typed)
    groups = max(1, -(-n // max(int(customers), 1)))
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    counts = {}
    for table in names:
        frame = raw.frames.pop(table) if hasattr(raw.frames, "pop") else raw.frames[table]
        frame = frame.reset_index(drop=True)
        if table == "customers":
            group = np.arange(len(frame)) // customers
        else:
            codes = customer_codes(frame["customer_id"], ids)
            group = np.where(codes < 0, groups - 1, codes // customers)
        _write_groups(folder / f"{table}.parquet", frame, group, groups)
        counts[table] = len(frame)
    return counts


def _write_groups(file: Path, frame: pd.DataFrame, group: np.ndarray, groups: int) -> None:
    """``frame`` as one row group per group number ``0 .. groups - 1`` (stable order)."""
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(groups + 1))
    table = pa.Table.from_pandas(frame.iloc[order], preserve_index=False)
    with pq.ParquetWriter(file, with_layout(table.schema.remove_metadata())) as writer:
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            writer.write_table(table.slice(a, b - a), row_group_size=max(b - a, 1))


def convert(
    source: Annotated[str, typer.Option("--source", help="Any source the build reads.")],
    out: Annotated[str, typer.Option("--out", help="Output folder (Parquet).")],
    customers: Annotated[
        int, typer.Option(help="Customers per row group (a streamed build's unit).")
    ] = GROUP_CUSTOMERS,
) -> None:
    """Write a source as a Parquet folder in customer order, which builds streamed."""
    counts = convert_source(source, out, customers)
    typer.echo(
        f"wrote {out} (parquet, customer order): "
        + ", ".join(f"{t} {n:,}" for t, n in counts.items())
    )
