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
    steady_widths,
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


def test_a_table_with_the_same_columns_never_narrows_and_new_columns_take_their_own():
    shown = {"Segment": 120, "Billed £": 112, "Bills": 60}
    wider = {"Segment": 100, "Billed £": 130, "Bills": 60}
    assert steady_widths(shown, wider) == {"Segment": 120, "Billed £": 130, "Bills": 60}
    assert steady_widths(shown, shown) == shown
    other = {"Tariff": 90, "Billed £": 100}  # another segmentation: its own widths
    assert steady_widths(shown, other) == other
    assert steady_widths({}, wider) == wider  # the first data


def test_a_filter_change_keeps_the_tables_column_models():
    # a width that changes makes Panel give the table new column models: the page's
    # model graph walked and the columns sent and laid out again, on each filter change
    from bokeh.document import Document

    from dashboard.ui.app import Dashboard

    board = Dashboard()
    board.tabs()
    board.open_tab("Segments")
    table = board.tables["figures"]
    document = Document()
    root = table.get_root(document)
    document.add_root(root)
    columns = [column.id for column in root.columns]
    regions = board.model.param.region.objects
    for chosen in (regions[:1], regions[1:3], [], regions[2:3], regions[3:6]):
        board.model.region = list(chosen)
        assert [column.id for column in root.columns] == columns, chosen
        assert all(
            table.widths[name] >= width for name, width in tabulator_widths(table.value).items()
        )  # every value still fits
    board.model.segment_by = "tariff"  # other columns: their own models
    assert [column.id for column in root.columns] != columns
    assert set(table.widths) == set(table.value.columns)
