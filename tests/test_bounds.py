"""Every setting a user or a URL can give is bounded: a page load or a command cannot ask
for an unbounded build (hardening issue, item 2 and 17)."""

from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner

from dashboard import compute
from dashboard.cli import app
from dashboard.compute.ledger import MAX_BUCKET_DAYS, MAX_BUCKET_EDGES
from dashboard.compute.outcomes import MAX_AFTER_DAYS, MAX_BEFORE_DAYS, MAX_TOLERANCE_PENCE
from dashboard.model import CollectionsModel
from dashboard.sources import DEFAULT_SOURCE

runner = CliRunner()

TOO_MUCH = {
    "before": ["--before", str(MAX_BEFORE_DAYS + 1)],
    "after": ["--after", str(MAX_AFTER_DAYS + 1)],
    "huge before": ["--before", "99999999999"],
    "tolerance": ["--tolerance", str(MAX_TOLERANCE_PENCE / 100 + 0.01)],
    "infinite tolerance": ["--tolerance", "inf"],
    "nan tolerance": ["--tolerance", "nan"],
    "negative tolerance": ["--tolerance", "-1"],
    "nine edges": ["--bucket-edges", ",".join(str(d) for d in range(10, 100, 10))],
    "edge too far": ["--bucket-edges", f"30,60,{MAX_BUCKET_DAYS + 1}"],
    "as-of far ahead": ["--as-of", "9999-12-31"],
    "as-of years after the data": ["--as-of", "2030-01-01"],
    "as-of long before the data": ["--as-of", "1950-01-01"],
}


@pytest.mark.parametrize("case", list(TOO_MUCH))
def test_out_of_bounds_settings_are_refused_in_one_line(case):
    result = runner.invoke(app, ["summary", "--source", str(DEFAULT_SOURCE), *TOO_MUCH[case]])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr


def test_the_largest_settings_are_accepted():
    result = runner.invoke(
        app,
        [
            "summary",
            "--source",
            str(DEFAULT_SOURCE),
            "--before",
            str(MAX_BEFORE_DAYS),
            "--after",
            str(MAX_AFTER_DAYS),
            "--tolerance",
            str(MAX_TOLERANCE_PENCE / 100),
            "--bucket-edges",
            ",".join(str(MAX_BUCKET_DAYS - 10 * i) for i in reversed(range(MAX_BUCKET_EDGES))),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output


REFUSED = [
    ("before", MAX_BEFORE_DAYS + 1),
    ("after", MAX_AFTER_DAYS + 1),
    ("tolerance", MAX_TOLERANCE_PENCE / 100 + 1),
    ("tolerance", float("inf")),
    ("bucket_edges", ",".join(["1"] * 3)),
    ("bucket_edges", ",".join(str(d) for d in range(1, 10))),
    ("bucket_edges", f"{MAX_BUCKET_DAYS + 1}"),
    ("bucket_edges", "1," * 500 + "2"),
]
"""Build settings out of bounds, as a URL could give them."""


@pytest.mark.parametrize(("name", "value"), REFUSED)
def test_the_model_refuses_what_a_url_could_ask(name, value):
    model = CollectionsModel(live_outputs=["kpis"])
    cube = model.cube
    with pytest.raises(ValueError):
        setattr(model, name, value)
    assert model.cube is cube  # nothing was built


def test_a_link_asks_for_no_build_the_model_would_refuse():
    """A link's build settings are checked before its page asks for a build (in a thread,
    :meth:`dashboard.ui.app.Dashboard.sync_url`): a refused value asks for nothing."""
    from dashboard.ui.app import link_settings

    model = CollectionsModel(live_outputs=["kpis"])
    for name, value in [*REFUSED, ("after", "soon"), ("as_of", "31/12/2025"), ("as_of", 20251231)]:
        assert link_settings(model, {name: value}) == {}, (name, value)
    asked = link_settings(model, {"after": 45, "tolerance": 1, "as_of": "2025-06-30"})
    assert asked == {"after": 45, "as_of": dt.date(2025, 6, 30)}  # £1 is the model's already
    fixed = CollectionsModel(live_outputs=["kpis"], fixed_window=True)
    assert link_settings(fixed, {"after": 45}) == {}


def test_window_and_buckets_refuse_out_of_range_values_themselves():
    with pytest.raises(ValueError, match="days after due"):
        compute.Window(3, MAX_AFTER_DAYS + 1, 100)
    with pytest.raises(ValueError, match="tolerance"):
        compute.Window(3, 60, MAX_TOLERANCE_PENCE + 1)
    with pytest.raises(ValueError, match="at most"):
        compute.Buckets(tuple(range(1, MAX_BUCKET_EDGES + 2)))
    with pytest.raises(ValueError, match="finite"):
        compute.to_pence(float("nan"))


def test_a_fixed_window_model_filters_but_never_builds(monkeypatch):
    from dashboard.model import BUILD_SETTINGS
    from dashboard.ui import app as ui_app

    monkeypatch.setenv(ui_app.FIXED_WINDOW_ENV, "1")
    board = ui_app.Dashboard()
    model = board.model
    assert model.fixed_window
    cube = model.cube
    values = (5, 30, 2.0, dt.date(2025, 1, 31), "14,28")
    for name, value in zip(BUILD_SETTINGS, values, strict=True):
        with pytest.raises(TypeError):
            setattr(model, name, value)
    board.active_tab = "Worklist"  # a page's model computes its open tab's outputs
    model.region = [model.param.region.objects[0]]
    assert model.cube is cube and set(model.worklist["region"]) == set(model.region)
    assert model.clone().fixed_window
    monkeypatch.delenv(ui_app.FIXED_WINDOW_ENV)
    assert not ui_app.Dashboard().model.fixed_window


def test_serve_hands_its_settings_and_the_fixed_window_to_the_app(monkeypatch):
    """`serve --fixed-window --after 30` starts every session on that window, fixed."""
    from dashboard.cli.commands import _settings_env
    from dashboard.ui import app as ui_app

    env = _settings_env(3, 30, 1.0, None, "30,60,90", True)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    model = ui_app.Dashboard().model
    assert (model.after, model.fixed_window) == (30, True)
    assert model.cube.window.after == 30
    with pytest.raises(TypeError):
        model.after = 60
    monkeypatch.setenv(ui_app.FIXED_WINDOW_ENV, "0")
    model = ui_app.Dashboard().model
    assert (model.after, model.fixed_window) == (30, False)
    model.after = 60  # not fixed: a session may change it
