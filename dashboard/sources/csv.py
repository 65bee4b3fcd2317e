"""A CSV folder: ``customers.csv``, ``bills.csv``, ``payments.csv``,
``collections_actions.csv`` and, when present, ``adjustments.csv``, read as text (UTF-8 with
or without BOM, else Latin-1)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from dashboard import SourceError
from dashboard.sources.base import RawTables
from dashboard.sources.files import FileSource, check_readable, expected_files, first_line
from dashboard.vocab import OPTIONAL_TABLES, TABLES


class CsvSource(FileSource):
    """A folder of one CSV file per table."""

    kind = "csv"

    def tables(self) -> RawTables:
        return _read_csv_folder(Path(self.path))


def _read_csv_folder(folder: Path) -> RawTables:
    frames, origins, warnings = {}, {}, []
    check_readable(folder)
    for table in TABLES:
        file = folder / f"{table}.csv"
        origins[table] = str(file)
        if not os.path.lexists(file):
            raise SourceError(f"{file}: file missing (a CSV source needs {expected_files('.csv')})")
        frames[table] = _read_csv_file(file, warnings)
    for table in OPTIONAL_TABLES:
        file = folder / f"{table}.csv"
        if os.path.lexists(file):
            origins[table] = str(file)
            frames[table] = _read_csv_file(file, warnings)
    return RawTables(frames, origins, str(folder), "csv", warnings)


def _read_csv_file(file: Path, warnings: list[str]) -> pd.DataFrame:
    """Read one CSV as strings; UTF-8 (with or without BOM), falling back to Latin-1."""
    check_readable(file)
    if file.is_dir():
        raise SourceError(f"{file}: a folder, not a CSV file")
    try:
        return _read_csv_text(file, "utf-8-sig")
    except UnicodeDecodeError:
        warnings.append(f"{file}: not UTF-8, read as Latin-1")
        return _read_csv_text(file, "latin-1")


def _read_csv_text(file: Path, encoding: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(
            file,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            encoding=encoding,
            skip_blank_lines=True,
            engine="c",
        )
    except pd.errors.EmptyDataError:
        raise SourceError(f"{file}: empty file (no header row)") from None
    except pd.errors.ParserError as exc:
        raise SourceError(f"{file}: not a readable CSV ({first_line(exc)})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame
