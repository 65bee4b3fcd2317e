"""Which writer writes a format: the file writers of :mod:`dashboard.demo.writers`, and the
database writer of :mod:`dashboard.demo.postgresql` (which builds on them, so the choice
lives here, above both)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from dashboard.demo.writers import (
    CsvFolderWriter,
    ParquetFolderWriter,
    SqliteWriter,
    TableWriter,
)

Format = Literal["csv", "sqlite", "parquet", "postgresql"]
FORMATS: tuple[str, ...] = ("csv", "sqlite", "parquet", "postgresql")
"""The output formats of ``generate``."""


def open_writer(fmt: str, out: str | Path) -> TableWriter:
    """Return the writer of a format.

    Parameters
    ----------
    fmt : {"csv", "sqlite", "parquet", "postgresql"}
        Output format.
    out : str or Path
        Folder (csv, parquet), file (sqlite) or ``postgresql://`` URL
        (:class:`dashboard.demo.postgresql.PostgresWriter`).

    Returns
    -------
    TableWriter

    Raises
    ------
    ValueError
        If ``fmt`` is not a known format.
    """
    writers = {"csv": CsvFolderWriter, "sqlite": SqliteWriter, "parquet": ParquetFolderWriter}
    if fmt == "postgresql":
        from dashboard.demo.postgresql import PostgresWriter  # imports the database driver

        return PostgresWriter(str(out))
    if fmt not in writers:
        raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return writers[fmt](out)
