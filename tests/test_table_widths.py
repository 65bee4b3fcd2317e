"""Column widths given to every table (:func:`dashboard.ui.style.tabulator_widths`), so that
the browser lays a table out without measuring its cells: each column as wide as its header
or its longest value as shown, whatever the column holds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard.ui.style import (
    CHAR_PX,
    MAX_COLUMN_PX,
    PADDING_PX,
    WIDTH_SAMPLE_ROWS,
    tabulator_widths,
)


def shown_px(characters: int) -> int:
    return characters * CHAR_PX + PADDING_PX


def test_every_column_gets_a_width_at_least_its_longest_shown_value():
    frame = pd.DataFrame(
        {
            "Customer": ["C1", "C100000123"],
            "Arrears £": [12.5, -1234567.891],  # shown "£-1,234,567.89"
            "Rate %": [3.25, 100.0],  # shown "100.0%"
            "Bills": np.array([7, 1_234_567], dtype=np.int64),
            "Band": pd.Categorical(["low", "a much longer band"], ["low", "a much longer band"]),
            "Since": pd.to_datetime(["2024-01-01", "2025-12-31"]),
        }
    )
    widths = tabulator_widths(frame)
    assert set(widths) == set(frame.columns)
    assert widths["Customer"] >= shown_px(len("C100000123"))
    assert widths["Arrears £"] >= shown_px(len("£-1,234,567.89"))
    assert widths["Rate %"] >= shown_px(len("100.0%"))
    assert widths["Bills"] >= shown_px(len("1234567"))
    assert widths["Band"] >= shown_px(len("a much longer band"))
    assert widths["Since"] >= shown_px(len("2025-12-31"))
    assert all(isinstance(px, int) and 0 < px <= MAX_COLUMN_PX for px in widths.values())


def test_a_long_header_sets_its_column_and_long_text_is_capped():
    frame = pd.DataFrame(
        {"A header much longer than any of its values": [1, 2], "Note": ["x" * 500] * 2}
    )
    widths = tabulator_widths(frame)
    assert widths["A header much longer than any of its values"] > shown_px(1) * 3
    assert widths["Note"] == MAX_COLUMN_PX


@pytest.mark.parametrize(
    "values",
    [
        pd.Series([], dtype=object),
        pd.Series([None, np.nan, "text"], dtype=object),
        pd.Series(["a", None], dtype="string"),
        pd.Series([np.nan, np.nan]),
        pd.Series([True, False]),
    ],
)
def test_missing_values_empty_columns_and_any_type_are_measured_without_error(values):
    widths = tabulator_widths(pd.DataFrame({"Column": values}))
    assert 0 < widths["Column"] <= MAX_COLUMN_PX


def test_text_is_measured_on_its_first_rows_only():
    rows = ["short"] * WIDTH_SAMPLE_ROWS + ["a value far longer than the sampled ones"]
    assert tabulator_widths(pd.DataFrame({"Text": rows}))["Text"] < shown_px(30)
