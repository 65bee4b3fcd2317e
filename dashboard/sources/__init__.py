"""Sources of the four tables: a CSV folder, a SQLite file, a Parquet folder or a PostgreSQL
database.

:func:`open_source` turns a spec (a path, a ``postgresql://`` URL, or a :class:`Source`
already made) into a :class:`Source`; each backend is one subclass in its own module.
Readers return raw frames; :mod:`dashboard.schema` checks and types them.
"""

from __future__ import annotations

from dashboard.sources.base import RawTables, Source
from dashboard.sources.files import DEFAULT_SOURCE, source_kind
from dashboard.sources.registry import SOURCE_KINDS, open_source, read_source

__all__ = [
    "DEFAULT_SOURCE",
    "SOURCE_KINDS",
    "RawTables",
    "Source",
    "open_source",
    "read_source",
    "source_kind",
]
