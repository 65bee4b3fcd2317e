"""Which :class:`~dashboard.sources.base.Source` reads a spec.

:data:`SOURCE_KINDS` lists the backends in the order they are asked; each says with
``accepts(spec)`` whether it reads a spec. A new backend is a ``Source`` subclass added here.
"""

from __future__ import annotations

from pathlib import Path

from dashboard import SourceError
from dashboard.sources.base import RawTables, Source
from dashboard.sources.csv import CsvSource
from dashboard.sources.files import source_kind
from dashboard.sources.parquet import ParquetSource
from dashboard.sources.postgresql import PostgresSource
from dashboard.sources.sqlite import SqliteSource

SOURCE_KINDS: tuple[type[Source], ...] = (PostgresSource, ParquetSource, CsvSource, SqliteSource)
"""The backends, asked in this order."""


def open_source(spec: str | Path | Source) -> Source:
    """The :class:`Source` for a spec: a Source is returned as it is, a path by its kind.

    Parameters
    ----------
    spec : str, Path or Source
        A CSV folder, a Parquet folder, a SQLite file, a ``postgresql://`` URL, or a
        source already made.

    Returns
    -------
    Source

    Raises
    ------
    SourceError
        When no backend reads the spec (a missing or unreadable path, a URL with a
        password).
    """
    if isinstance(spec, Source):
        return spec
    source_kind(spec)  # a missing or unreadable path: its own one-line error (not for a URL)
    for kind in SOURCE_KINDS:
        if kind.accepts(spec):
            return kind(spec)
    raise SourceError(f"{spec}: no source kind reads this")


def read_source(spec: str | Path | Source) -> RawTables:
    """Read the four raw tables of a source (``open_source(spec).tables()``).

    Raises
    ------
    SourceError
        On a missing path, file, table, an unreadable file or a file that is not a
        SQLite database.
    """
    return open_source(spec).tables()
