"""The :class:`Source` interface: where the four tables come from, and what identifies them.

Lumen's shape: a source is a parameterised object with ``tables()`` (the raw frames),
``signature()`` (a short string that changes whenever the data does: the cache key of every
built table) and ``describe()`` (one line for pages and errors). A new backend is one
subclass; :func:`dashboard.sources.open_source` chooses a subclass for a source spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import param

DATABASE_SCHEMES = ("postgresql://", "postgres://")
"""Source specs that are database URLs, not paths."""


def is_database_url(spec: object) -> bool:
    """Whether ``spec`` is a ``postgresql://`` (or ``postgres://``) URL rather than a path.

    Parameters
    ----------
    spec : object
        A source spec (a URL is always a ``str``; a ``Path`` never is one).

    Returns
    -------
    bool
    """
    return isinstance(spec, str) and spec.strip().lower().startswith(DATABASE_SCHEMES)


@dataclass
class RawTables:
    """The four tables as read, before validation.

    Attributes
    ----------
    frames : dict of str to DataFrame
        Raw table per name in :data:`dashboard.vocab.TABLES`.
    origins : dict of str to str
        Where each table came from, used in error messages (``data/bills.csv``,
        ``demo.sqlite:bills``).
    source : str
        The source that was read (what :meth:`Source.describe` says).
    kind : str
        ``"csv"``, ``"sqlite"``, ``"parquet"`` or ``"postgresql"``.
    warnings : list of str
        Problems noticed while reading (e.g. a fallback text encoding).
    """

    frames: Mapping[str, pd.DataFrame]
    origins: dict[str, str]
    source: str
    kind: str
    warnings: list[str] = field(default_factory=list)

    def column_names(self, table: str) -> list[str]:
        """A table's column names (from its schema when it has not been read yet)."""
        names = getattr(self.frames, "column_names", None)
        return names(table) if names is not None else list(self.frames[table].columns)


class Source(param.Parameterized):
    """Where a portfolio's tables come from.

    Subclasses set :attr:`kind` and implement :meth:`tables`, :meth:`signature`,
    :meth:`describe`, :meth:`spec` and :meth:`accepts`; :meth:`cache_home` says where built
    tables may be kept beside the data.
    """

    kind: str = ""
    """Short name of the backend (``csv``, ``sqlite``, ``parquet``, ``postgresql``)."""

    def tables(self) -> RawTables:
        """Read the four tables, raw (``dashboard.schema.validate`` types and checks them).

        Returns
        -------
        RawTables

        Raises
        ------
        SourceError
            When a table is missing or cannot be read.
        """
        raise NotImplementedError

    def signature(self) -> str:
        """A short string that changes whenever the data changes: the key of every cache.

        Returns
        -------
        str
        """
        raise NotImplementedError

    def describe(self) -> str:
        """The source in a few words, for page headers and error messages.

        Returns
        -------
        str
        """
        raise NotImplementedError

    @classmethod
    def accepts(cls, spec: str | Path) -> bool:
        """Whether this backend reads ``spec`` (see :func:`dashboard.sources.open_source`)."""
        return False

    def spec(self) -> str:
        """The text that opens this source again (``--source``, ``$COLLECTIONS_SOURCE``).

        Returns
        -------
        str
        """
        raise NotImplementedError

    def cache_home(self) -> Path | None:
        """The folder beside the data where built tables may be kept (None: no such place,
        the user's cache folder is used)."""
        return None

    def __str__(self) -> str:
        return self.describe()
