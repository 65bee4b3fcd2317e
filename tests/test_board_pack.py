"""The board pack: the ledger figures of ``export figures`` (:data:`LEDGER_FIGURES`).

Each figure is drawn from one model output, unchanged (:func:`figure_frames`); these tests
read the numbers back from the matplotlib artists (bar heights, bar spans, line data) and
compare them with that output, on the demo data (the reference dataset when the demo set is
absent) and on a filtered model (one region, one calendar year). A selection without data
draws a note, never empty axes or an error.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard.export import FIGURES, draw_figure, export_figures, figure_frames
from dashboard.export.figures import LEDGER_FIGURES
from dashboard.model import CollectionsModel
from dashboard.ui.charts.headline import STEP_LABELS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NO_DATA = "widen the filters or the period"


@pytest.fixture(scope="module")
def source(demo_or_seed_source: Path) -> Path:
    return demo_or_seed_source


@pytest.fixture(scope="module")
def model(source: Path) -> CollectionsModel:
    return CollectionsModel(source=str(source))


@pytest.fixture(scope="module")
def filtered(model: CollectionsModel) -> CollectionsModel:
    """One region over one calendar year of complete month-ends."""
    region = model.param["region"].objects[0]
    year = model.cube.months[-1].year - 1
    return model.clone(region=[region], period=(dt.datetime(year, 1, 1), dt.datetime(year, 12, 1)))


@pytest.fixture(scope="module", params=["demo", "filtered"])
def chosen(request, model, filtered) -> CollectionsModel:
    return model if request.param == "demo" else filtered


@pytest.fixture(scope="module")
def figures(source: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return export_figures(source, tmp_path_factory.mktemp("board_pack"))


def _draw(name: str, model: CollectionsModel):
    figure = draw_figure(name, figure_frames(model)[name], model)
    return figure, figure.axes[0], figure_frames(model)[name]


def _texts(figure) -> list[str]:
    from matplotlib.text import Text

    return [t.get_text() for t in figure.findobj(Text)]


def _line(ax, label: str) -> np.ndarray:
    lines = [line for line in ax.get_lines() if line.get_label() == label]
    assert len(lines) == 1, (label, [line.get_label() for line in ax.get_lines()])
    return np.asarray(lines[0].get_ydata(), dtype=float)


def _faded(ax, label: str) -> np.ndarray:
    """The y values of the faded points of a rate (none when it has no such points)."""
    found = [c for c in ax.collections if c.get_label().startswith(f"{label} (faded")]
    return np.asarray(found[0].get_offsets())[:, 1] if found else np.empty(0)


def _check_rate(ax, frame: pd.DataFrame, label: str, rate: str, denominator: str, min_sample):
    """The line holds every rate of ``min_sample`` customers or more (NaN elsewhere), the
    faded points the others: together exactly the frame's rates."""
    small = frame[denominator] < min_sample
    expected = frame[rate].where(~small).to_numpy(dtype=float)
    np.testing.assert_array_equal(_line(ax, label), expected)
    faded = frame.loc[small & frame[rate].notna(), rate].to_numpy(dtype=float)
    np.testing.assert_array_equal(_faded(ax, label), faded)


# --- files and frames ------------------------------------------------------------------------


def test_board_pack_figures_are_written(figures):
    names = [p.name for p in figures]
    assert names == [f"{name}.png" for name in FIGURES]
    assert names[-len(LEDGER_FIGURES) :] == [f"{name}.png" for name in LEDGER_FIGURES]
    assert list(LEDGER_FIGURES) == [
        "aged_debt",
        "share_in_arrears",
        "debt_movement",
        "roll_and_cure",
        "severe_arrears",
    ]
    for path in figures[-len(LEDGER_FIGURES) :]:
        data = path.read_bytes()
        assert data[:8] == PNG_SIGNATURE, path.name
        width, height = struct.unpack(">II", data[16:24])
        assert width >= 800 and height >= 300, (path.name, width, height)
        assert 15_000 < len(data) < 2_000_000, (path.name, len(data))


def test_ledger_frames_are_the_model_outputs(chosen):
    frames = figure_frames(chosen)
    pd.testing.assert_frame_equal(frames["aged_debt"], chosen.aged_arrears)
    pd.testing.assert_frame_equal(frames["share_in_arrears"], chosen.arrears_monthly)
    pd.testing.assert_frame_equal(frames["debt_movement"], chosen.headline["bridge"])
    pd.testing.assert_frame_equal(frames["roll_and_cure"], chosen.roll)
    pd.testing.assert_frame_equal(frames["severe_arrears"], chosen.severe_monthly)
    for name, output in LEDGER_FIGURES.items():
        assert hasattr(chosen, output), name


# --- the numbers drawn are the model's -------------------------------------------------------


def test_aged_debt_stacks_the_past_due_buckets(chosen):
    figure, ax, frame = _draw("aged_debt", chosen)
    buckets = list(frame["bucket"].cat.categories)
    bars = ax.containers
    assert [c.get_label() for c in bars] == [f"{b} days past due" for b in buckets[1:]]
    bottom = np.zeros(frame["month"].nunique())
    for container, bucket in zip(bars, buckets[1:], strict=True):
        rows = frame.loc[frame["bucket"] == bucket].sort_values("month")
        heights = np.array([bar.get_height() for bar in container])
        np.testing.assert_allclose(heights, rows["arrears"].to_numpy(), rtol=0, atol=1e-9)
        lows = np.array([bar.get_y() for bar in container])
        np.testing.assert_allclose(lows, bottom, rtol=0, atol=1e-6)
        bottom = bottom + rows["arrears"].to_numpy()
    assert "Current" not in [c.get_label() for c in bars]  # not arrears
    assert f"as of {chosen.as_of_date:%d %b %Y}" in figure.get_suptitle()
    subtitle = ax.get_title(loc="left")
    assert "bill level" in subtitle and chosen.describe_selection() in subtitle


def test_aged_debt_month_without_customers_is_a_gap(model):
    frame = figure_frames(model)["aged_debt"]
    empty_month = frame["month"].iloc[-1]
    gap = frame.assign(
        customers=frame["customers"].where(frame["month"] != empty_month, 0),
        arrears=frame["arrears"].where(frame["month"] != empty_month, 0.0),
    )
    ax = draw_figure("aged_debt", gap, model).axes[0]
    for container in ax.containers:
        assert np.isnan(container[-1].get_height())  # not drawn, not a £0 bar
        assert not np.isnan(container[0].get_height())


def test_share_in_arrears_draws_the_monthly_shares(chosen):
    figure, ax, frame = _draw("share_in_arrears", chosen)
    _check_rate(
        ax, frame, "in arrears / on book", "share_in_arrears", "customers", chosen.min_sample
    )
    assert ax.get_ylim()[0] == 0
    assert ax.yaxis.get_major_formatter()(0.1, 0).endswith("%")


def test_debt_movement_draws_the_bridge(chosen):
    figure, ax, bridge = _draw("debt_movement", chosen)
    bars = ax.containers[0]
    lefts = np.array([bar.get_x() for bar in bars])
    rights = lefts + np.array([bar.get_width() for bar in bars])
    start, end = bridge["start"].to_numpy(), bridge["end"].to_numpy()
    np.testing.assert_allclose(lefts, np.minimum(start, end), rtol=0, atol=1e-6)
    np.testing.assert_allclose(rights, np.maximum(start, end), rtol=0, atol=1e-6)
    # opening and closing are totals: bars from 0 to the balance
    for row in (0, len(bridge) - 1):
        assert min(lefts[row], rights[row]) == pytest.approx(min(0.0, bridge["amount"].iloc[row]))
        assert max(lefts[row], rights[row]) == pytest.approx(max(0.0, bridge["amount"].iloc[row]))
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [STEP_LABELS[s] for s in bridge["step"]]
    assert ax.yaxis_inverted()  # opening at the top
    texts = _texts(figure)
    for step, amount in zip(bridge["step"], bridge["amount"], strict=True):
        pounds = f"£{abs(amount):,.0f}"
        sign = "−" if amount < 0 else ("" if step in ("opening", "closing") else "+")
        assert f"{sign}{pounds}" in texts, (step, amount)


def test_roll_and_cure_draws_the_roll_rates(chosen):
    figure, ax, roll = _draw("roll_and_cure", chosen)
    labels = list(chosen.cube.arrears.bucket_labels)
    rates = {
        "cure_rate": ("Cure: in arrears → Current", "in_arrears_before"),
        "roll_current": (f"Roll: {labels[0]} → {labels[1]}", "current_before"),
        "roll_first": (f"Roll: {labels[1]} → {labels[2]}", "first_before"),
    }
    for rate, (label, denominator) in rates.items():
        _check_rate(ax, roll, label, rate, denominator, chosen.min_sample)
    assert ax.get_ylim()[0] == 0
    assert ax.yaxis.get_major_formatter()(0.5, 0).endswith("%")


def test_severe_arrears_draws_the_monthly_reach_rate(chosen):
    figure, ax, monthly = _draw("severe_arrears", chosen)
    _check_rate(
        ax, monthly, "reached 91+ days / at risk", "reach_rate", "at_risk", chosen.min_sample
    )
    assert ax.get_ylim()[0] == 0
    assert ax.yaxis.get_major_formatter()(0.01, 0).endswith("%")
    top = ax.get_ylim()[1]
    off_scale = monthly.loc[monthly["reach_rate"] > top]
    for month, value in zip(off_scale["month"], off_scale["reach_rate"], strict=True):
        # a run-in month cut from the view is still in the line, and written at the top
        assert f"{month:%b %Y}: {value:.1%} (off the scale)" in _texts(figure)


# --- no data ---------------------------------------------------------------------------------


def _no_customers(model: CollectionsModel) -> dict | None:
    """Filters on two dimensions whose values no customer combines, if the data has any."""
    segments = model.cube.segments
    for a, b in itertools.combinations(["income_band", "region", "tariff", "tenure_band"], 2):
        present = set(zip(segments[a], segments[b], strict=True))
        for x in segments[a].cat.categories:
            for y in segments[b].cat.categories:
                if (x, y) not in present:
                    return {a: [x], b: [y]}
    return None


@pytest.mark.parametrize("selection", ["incomplete month", "no customers"])
def test_empty_selection_draws_a_note(model, selection):
    if selection == "incomplete month":  # the as-of month: no complete month-end in it
        if len(model.cube.months) == len(model.cube.arrears.snapshot_days):
            pytest.skip("the data's last month is complete")
        last = model.cube.months[-1].to_pydatetime()
        empty = model.clone(period=(last, last))
    else:
        filters = _no_customers(model)
        if filters is None:
            pytest.skip("every combination of two dimensions has customers in this data")
        empty = model.clone(**filters)
    frames = figure_frames(empty)
    for name in LEDGER_FIGURES:
        figure = draw_figure(name, frames[name], empty)
        assert any(NO_DATA in text for text in _texts(figure)), name
        ax = figure.axes[0]
        assert not ax.containers and not ax.get_lines(), name
        figure.savefig(io.BytesIO(), format="png")  # and it saves
