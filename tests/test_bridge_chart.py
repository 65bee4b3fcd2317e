"""The debt-movement bridge (dashboard.ui.charts.headline.bridge_chart) stays readable on a
phone: one row per step, each amount on its bar's row, right of the bar and inside the axes.

Upright bars put six amounts side by side, which overlapped at 390 px; rows never share a
line whatever the width. (The served page at 390×844: tests/test_accessibility.py and a
screenshot.)
"""

from __future__ import annotations

import holoviews as hv
import pandas as pd
import pytest

from dashboard.ui.charts.headline import STEP_LABELS, bridge_chart
from dashboard.ui.live import chart_table

STEPS = list(STEP_LABELS)


def bridge(amounts: list[float]) -> pd.DataFrame:
    """A bridge frame like the model's: opening, flows, closing, with running balances."""
    starts, ends, balance = [], [], 0.0
    for step, amount in zip(STEPS, amounts, strict=True):
        start = 0.0 if step in ("opening", "closing") else balance
        end = amount if step in ("opening", "closing") else balance + amount
        starts.append(start)
        ends.append(end)
        balance = end
    return pd.DataFrame({"step": STEPS, "start": starts, "end": ends, "amount": amounts})


@pytest.mark.parametrize(
    "amounts",
    [
        [5_593.0, 41_300.0, -39_900.0, -359.0, -197.0, 6_437.0],
        [0.0, 1_830_000.0, -1_800_000.0, -32_400.0, 7_100.0, 4_700.0],
    ],
)
def test_each_amount_has_its_own_row_inside_the_axes(amounts):
    hv.extension("bokeh")
    chart = bridge_chart(bridge(amounts), "Jan 2026", "all customers")
    labels = next(e for e in chart if isinstance(e, hv.Labels))
    rects = next(e for e in chart if isinstance(e, hv.Rectangles))
    assert list(labels.data["y"]) == list(range(len(STEPS)))  # one row each
    figure = hv.render(chart)
    # the amounts start right of their bars and end inside the axes: a fifth of the width
    # is left right of the longest bar (about 55 px on a phone, for "−£1.80m")
    assert (labels.data["x"].to_numpy() > rects.data["high"].to_numpy()).all()
    headroom = figure.x_range.end - rects.data["high"].max()
    assert headroom >= 0.2 * (figure.x_range.end - figure.x_range.start)
    assert figure.y_range.start > figure.y_range.end  # opening at the top
    assert [figure.yaxis[0].major_label_overrides[i] for i in range(len(STEPS))] == [
        STEP_LABELS[s] for s in STEPS
    ]


def test_its_table_holds_the_steps_and_amounts_only():
    amounts = [5_593.0, 41_300.0, -39_900.0, -359.0, -197.0, 6_437.0]
    table = chart_table(bridge_chart(bridge(amounts), "Jan 2026", "all customers"))
    assert list(table.columns) == ["label", "amount"]
    assert list(table["amount"]) == amounts
