"""A control whose every change is one event (a click, a release, an Enter) is taken in by
the server at once; Panel holds a change 50 ms for more of the same widget, which stays so
for a slider moved continuously (:func:`dashboard.ui.page.answer_at_once`)."""

from __future__ import annotations

from types import SimpleNamespace

import panel as pn
import pytest
from bokeh.document import Document
from panel.io.state import set_curdoc
from test_live import counted_walks

from dashboard.ui import page
from dashboard.ui.app import Dashboard


class TimedDocument(Document):
    """A served page that records how long each change from the browser is held."""

    def __init__(self):
        super().__init__()
        request = SimpleNamespace(arguments={}, headers={}, cookies={})
        context = SimpleNamespace(request=request, id="test-session")
        self._session_context = lambda: context  # Bokeh keeps a weak reference
        self.held_ms: list[int] = []

    def add_timeout_callback(self, callback, timeout_milliseconds):
        self.held_ms.append(timeout_milliseconds)


def held_ms(widget: pn.viewable.Viewable, prop: str, value) -> list[int]:
    """How long the server holds ``widget``'s change when the browser sets ``prop`` of its
    Bokeh model (to ``value``)."""
    document = TimedDocument()
    root = widget.get_root(document)
    model = next(m for m in [root, *root.references()] if prop in m.properties())
    model.set_from_json(prop, value)  # as a browser's message sets it (read-only ones too)
    return document.held_ms


@pytest.fixture(scope="module")
def board() -> Dashboard:
    return Dashboard()


def test_the_sidebar_choices_are_taken_in_at_once(board):
    metric, segment_by = board.main_controls()[1:]
    region = board.filter_controls()[0]
    assert held_ms(metric, "active", 1) == [0]
    assert held_ms(segment_by, "value", segment_by.values[1]) == [0]
    assert held_ms(region, "value", [region.values[0]]) == [0]
    slider = board.period_slider()
    assert held_ms(slider, "value_throttled", (0, 3)) == [0]
    # the "Updating…" note the browser shows: ahead of the change it announces
    assert held_ms(board.busy.spinner, "visible", True) == [0]


def test_a_tab_opened_is_taken_in_at_once(board):
    assert held_ms(board.tabs(), "active", 1) == [0]


def test_a_tab_opened_in_the_browser_is_not_sent_back_nor_runs_the_pages_hooks(board):
    # Panel answers the browser's ``active`` with an update to the same value, which ran
    # its hooks over the whole page and walked its model graph before every first visit
    tabs = board.tabs()
    document = Document()
    root = tabs.get_root(document)
    document.add_root(root)
    hooks: list[str] = []
    page_view = SimpleNamespace(_preprocess=lambda *args: hooks.append("ran"))
    pn.state._views[root.ref["id"]] = (page_view, root, document, None)
    walks = counted_walks(document)
    try:
        root.active = 2  # the browser's click: the tab's content is made and shown
        assert tabs.active == 2 and hooks == ["ran"]  # for the content, as they should
        hooks.clear()
        walks.clear()
        tabs._update_model({}, {"active": 2}, root, root, document, None)  # the answer
        assert hooks == [] and walks == []
        tabs._update_model({}, {"active": 1}, root, root, document, None)  # the server's
        assert root.active == 1 and hooks == ["ran"]
    finally:
        del pn.state._views[root.ref["id"]]


def test_a_slider_moved_continuously_keeps_panels_hold():
    # a drag sends a value per step: held, the steps come as one change
    slider = pn.widgets.IntSlider(start=0, end=10, value=1)
    assert held_ms(slider, "value", 2) == [50]
    assert held_ms(pn.widgets.Select(options=["a", "b"]), "value", "b") == [50]  # Panel's
    answering = page.answer_at_once(pn.widgets.Select(options=["a", "b"]))
    assert held_ms(answering, "value", "b") == [0]


class ScheduledDocument(TimedDocument):
    """A served page whose timeout callbacks wait in a list until the test runs them."""

    def __init__(self):
        super().__init__()
        self.scheduled: list = []

    def add_timeout_callback(self, callback, timeout_milliseconds):
        self.scheduled.append(callback)


class Clock:
    """``time.monotonic`` that moves only when told."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def busy_page(monkeypatch):
    """A busy note on a served page, its clock and its scheduled checks."""
    clock = Clock()
    monkeypatch.setattr(page.time, "monotonic", clock)
    document = ScheduledDocument()
    busy = page.BusyIndicator()
    with set_curdoc(document):
        yield busy, clock, document


def run_checks(document: ScheduledDocument, seconds: float, clock: Clock) -> None:
    """Let ``seconds`` pass, running each check when it falls due (every SETTLE_MS)."""
    end = clock.now + seconds
    while document.scheduled and clock.now < end:
        clock.now += page.SETTLE_MS / 1000
        document.scheduled.pop(0)()


def test_a_busy_note_waiting_for_no_change_clears_after_its_timeout(busy_page):
    busy, clock, document = busy_page
    busy.spinner.visible = True  # the browser showed it; no change reaches the model
    run_checks(document, page.BUSY_TIMEOUT_S - 1, clock)
    assert busy.spinner.visible and document.scheduled  # still waiting, still checking
    run_checks(document, 2, clock)
    assert not busy.spinner.visible
    assert document.scheduled == []  # no check left running


def test_a_busy_note_clears_with_its_change_and_stays_for_a_long_one(busy_page):
    busy, clock, document = busy_page
    busy.spinner.visible = True
    run_checks(document, page.BUSY_TIMEOUT_S - 1, clock)  # a long change: still computing
    assert busy.spinner.visible
    busy._done()  # the change drawn
    assert not busy.spinner.visible
    busy.spinner.visible = True  # a later change, shown after the last one was drawn ...
    clock.now += 1.0
    document.scheduled[-1]()  # ... within 2 s of it: its check clears it
    assert not busy.spinner.visible


def test_a_hidden_busy_note_schedules_no_check(busy_page):
    busy, _clock, document = busy_page
    busy.spinner.visible = False
    assert document.scheduled == []
