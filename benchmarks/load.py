"""Load test of the served dashboard: many concurrent sessions changing filters.

Usage::

    .venv/bin/python benchmarks/load.py                      # 50 sessions, 120 s, demo data
    .venv/bin/python benchmarks/load.py --sessions 3 --duration 15 --json

Starts ``collections-dashboard serve`` on a free port with ``--num-procs`` server processes
(default 2: one per core of the reference machine) and short unused-session checks, so that
the memory of closed sessions can be released, then:

1. opens ``--sessions`` sessions with ``bokeh.client.pull_session``, one after another over
   ``--ramp`` seconds as users arrive (0: all in the same instant, which Tornado's greedy
   ``accept`` hands almost entirely to one server process), each followed by a
   ``DocumentReady`` event as a browser sends it, and measures the server's RSS (the whole
   process tree) before and with all sessions open;
2. lets every session change a control in its own copy of the page — Region or Income band
   filter, Bill months, Metric, Segment by — then wait for the server's answer, over and over
   for ``--duration`` seconds (at most ``--max-changes`` per session), with ``--think``
   seconds (±50%) between changes; a session's first change comes after a random part of
   a think time (users at work do not all click at one instant; ``--together``: all at
   once, the worst case);
3. closes every session, waits ``--settle`` seconds and measures RSS again;
4. with ``--rounds N``, repeats 1-3 on the same server, to see whether the memory of closed
   sessions is reused (RSS after each round) even if it is not given back to the system.

Each session first opens the *Trends* tab (:data:`LOAD_TAB`: the tab where every control
changed redraws a chart) and waits for its two charts. A change's response time runs from
sending it to the arrival of the PATCH-DOC that carries the last redrawn chart of that tab:
both (the monthly trend and the trend by segment) for a filter, period or metric change, the
trend by segment for a "Segment by" change; so a change's late charts never count as the
next change's answer. A chart counts as redrawn
when a new figure (or the "no data for this selection" note) arrives, or when HoloViews
lets go of an updated figure's rendering (``hold_render`` back to false, with its new
data). The time to the first chart is reported too. Server messages are counted and
classified, not applied to the client document. A change that raises or is not answered
within ``--timeout`` seconds is an error, and so is a traceback in the server's log; a
session waits for a late answer before its next change, and late answers count in the
response percentiles too. ``--timeline FILE`` writes every answered change (when sent,
session, kind, response) as CSV. Exit status: 0, 1 when there is any error, 2 when the
server does not start.

Panel's template busy indicator is process-wide (``pn.state.busy``): it would send every
change's on/off toggles to every open session. The dashboard's page leaves it out; if a
page has one, the report counts the PATCH-DOCs it costs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import pkgutil
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from servers import ServerError, free_port, serving  # noqa: E402

SERVE_OPTIONS = ("--check-unused-sessions", "1000", "--unused-session-lifetime", "1000")
"""Passed to ``panel serve``: discard a closed session's document within about 2 s."""

CHANGE_KINDS = ("region", "income_band", "period", "metric", "segment_by")
LOAD_TAB = "Trends"
"""The tab every session opens before changing controls (the first tab, *Debt*, does not
show the metric or the segmentation)."""
EXPECTED_CHARTS = {"region": 2, "income_band": 2, "period": 2, "metric": 2, "segment_by": 1}
"""Charts of the *Trends* tab redrawn by each change: a filter, the period or the metric
redraws both (the monthly trend and the trend by segment), "Segment by" the trend by
segment."""
MIB = 1024 * 1024


# --- server -----------------------------------------------------------------------------


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants, in bytes.

    Parameters
    ----------
    pid : int

    Returns
    -------
    int
    """
    total = 0
    for process in _tree(pid):
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def tree_cpu(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its descendants, in seconds.

    Parameters
    ----------
    pid : int

    Returns
    -------
    float
    """
    total = 0.0
    for process in _tree(pid):
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


class RssSampler(threading.Thread):
    """Samples :func:`tree_rss` every ``interval`` seconds and keeps the peak."""

    def __init__(self, pid: int, interval: float = 1.0):
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.peak = max(self.peak, tree_rss(self.pid))

    def stop(self) -> int:
        """Stop sampling.

        Returns
        -------
        int
            The peak RSS seen, in bytes.
        """
        self._stop_event.set()
        self.join()
        return max(self.peak, tree_rss(self.pid))


# --- one client session -----------------------------------------------------------------


def import_panel_models() -> None:
    """Import every ``panel.models`` module, so bokeh.client knows Panel's model types, and
    the page's own components (their Bokeh models are made when their module is imported)."""
    import panel.models

    import dashboard.ui.page  # noqa: F401

    for module in pkgutil.iter_modules(panel.models.__path__):
        try:
            importlib.import_module(f"panel.models.{module.name}")
        except ImportError:  # optional extras (e.g. a plotting library) not installed
            pass


@dataclass
class Controls:
    """The client-side models of the controls the load test changes, found by title."""

    region: object
    income_band: object
    period: object
    metric: object
    segment_by: object
    tabs: object
    busy_id: str | None
    """Id of the template's busy indicator, if any: its ``css_classes`` hold ``spin`` while
    busy."""


def find_controls(document) -> Controls:
    """Find the controls in a pulled dashboard document.

    Parameters
    ----------
    document : bokeh.document.Document

    Returns
    -------
    Controls

    Raises
    ------
    LookupError
        If a control is missing (the page changed).
    """
    from bokeh.models import Widget

    titled = {
        m.title: m
        for m in document.models
        if isinstance(m, Widget) and isinstance(getattr(m, "title", None), str)
    }
    radio = [m for m in document.models if type(m).__name__ == "RadioGroup"]
    busy = [m for m in document.models if "loader" in (getattr(m, "css_classes", None) or [])]
    tabs = [m for m in document.models if type(m).__name__ == "Tabs"]
    wanted = {"Region", "Income band", "Bill months", "Segment by"}
    if missing := wanted - titled.keys():
        raise LookupError(f"controls not in the page: {sorted(missing)}")
    if len(radio) != 1 or len(busy) > 1:
        raise LookupError("metric radio group not found, or several busy indicators")
    if len(tabs) != 1 or LOAD_TAB not in [panel.title for panel in tabs[0].tabs]:
        raise LookupError(f"no tab bar with a {LOAD_TAB} tab")
    return Controls(
        region=titled["Region"],
        income_band=titled["Income band"],
        period=titled["Bill months"],
        metric=radio[0],
        segment_by=titled["Segment by"],
        tabs=tabs[0],
        busy_id=busy[0].id if busy else None,
    )


def _month_starts(start_ms: float, end_ms: float) -> list[float]:
    """Month starts (epoch milliseconds) from ``start_ms`` to ``end_ms``."""
    day = dt.datetime.fromtimestamp(start_ms / 1000, dt.UTC).date().replace(day=1)
    last = dt.datetime.fromtimestamp(end_ms / 1000, dt.UTC).date()
    months = []
    while day <= last:
        stamp = dt.datetime(day.year, day.month, 1, tzinfo=dt.UTC).timestamp() * 1000
        months.append(stamp)
        day = (day + dt.timedelta(days=32)).replace(day=1)
    return months


def effective_kind(controls: Controls, kind: str) -> str:
    """The change a kind makes on this page: a period change is made as a metric change
    when the month slider moves by month numbers (it acts on its throttled value, on
    release: a read-only property a Python client cannot send)."""
    if kind == "period" and controls.period.end < 10_000:  # month numbers, not dates
        return "metric"
    return kind


def new_value(controls: Controls, kind: str, rng: random.Random) -> tuple[object, str, object]:
    """A random value for one control, different from its current value.

    Parameters
    ----------
    controls : Controls
    kind : str
        One of :data:`CHANGE_KINDS`.
    rng : random.Random

    Returns
    -------
    (model, str, object)
        The model, the property to set and its new value.
    """
    if kind in ("region", "income_band"):
        model = getattr(controls, kind)
        options = list(model.options)
        choices = [sorted(rng.sample(options, rng.randint(0, 3))) for _ in range(10)]
        return model, "value", next(c for c in choices if c != sorted(model.value))
    kind = effective_kind(controls, kind)
    if kind == "period":
        model = controls.period
        months = _month_starts(model.start, model.end)
        while True:
            first, last = sorted(rng.sample(range(len(months)), 2))
            if (months[first], months[last]) != tuple(model.value):
                return model, "value", (months[first], months[last])
    if kind == "metric":
        model = controls.metric
        others = [i for i in range(len(model.labels)) if i != model.active]
        return model, "active", rng.choice(others)
    model = controls.segment_by
    others = [value for value, _label in model.options if value != model.value]
    return model, "value", rng.choice(others)


@dataclass
class ChangeWait:
    """What arrived since a change was sent."""

    sent: float
    expected: int
    kind: str = ""
    charts: int = 0
    first_chart_at: float | None = None
    done_at: float | None = None
    messages: int = 0

    def add_charts(self, count: int, now: float) -> None:
        """Note ``count`` redrawn charts that arrived at ``now``."""
        if count and self.first_chart_at is None:
            self.first_chart_at = now
        self.charts += count
        if self.charts >= self.expected and self.done_at is None:
            self.done_at = now


def _is_figure(value: object) -> bool:
    return isinstance(value, dict) and value.get("name") == "Figure"


def figures_in(value: object) -> set[str]:
    """Ids of every figure anywhere in a message's content (a tab's content arrives as new
    models holding its charts)."""
    if isinstance(value, dict):
        found = {value["id"]} if _is_figure(value) and "id" in value else set()
        return found.union(*(figures_in(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(figures_in(v) for v in value))
    return set()


def _is_no_data(value: object) -> bool:
    """A pane that says the selection has no data (it replaces a chart)."""
    return isinstance(value, dict) and "for this selection" in json.dumps(value)


def classify_patch(content: dict, busy_id: str | None) -> tuple[int, bool | None]:
    """What a server PATCH-DOC says: how many charts redrawn? busy indicator on or off?

    A chart is redrawn either anew (a pane receives a new figure, or the "no data for this
    selection" note that replaces it) or in place: HoloViews holds a figure's rendering
    while it updates it and lets go at the end (``hold_render`` back to false), once per
    figure and update, in the same message as the new data.

    Parameters
    ----------
    content : dict
        The message's content (``{"events": [...], ...}``).
    busy_id : str or None
        Id of the busy indicator model (``None``: the page has none).

    Returns
    -------
    (int, bool or None)
        The number of charts redrawn, and the busy state it sets (``None``: it does not
        touch the busy indicator).
    """
    new_figures, updated, notes, busy = set(), set(), 0, None
    for event in content.get("events", []):
        if event.get("kind") != "ModelChanged":
            continue
        attr, new, target = event.get("attr"), event.get("new"), event["model"]["id"]
        if attr == "children" and isinstance(new, list):
            new_figures |= {value["id"] for value in new if _is_figure(value)}
            notes += any(map(_is_no_data, new))
        elif attr == "hold_render" and new is False:
            updated.add(target)
        elif attr == "css_classes" and target == busy_id:
            busy = "spin" in (new or [])
    return len(new_figures | updated) + notes, busy


class LoadSession:
    """One dashboard session driven through ``bokeh.client``.

    Parameters
    ----------
    url : str
        The app's address, e.g. ``http://127.0.0.1:5006/app``.
    timeout : float
        Seconds a change may take before it counts as timed out.
    """

    def __init__(self, url: str, timeout: float):
        self.url, self.timeout = url, timeout
        self.session = None
        self.controls: Controls | None = None
        self.messages = 0
        self.busy_messages = 0
        self._wait: ChangeWait | None = None

    def open(self) -> float:
        """Pull a session, find the controls, send DocumentReady, open :data:`LOAD_TAB`
        and wait for its charts.

        Returns
        -------
        float
            Seconds it took.
        """
        from bokeh.client import pull_session
        from bokeh.events import DocumentReady

        started = time.perf_counter()
        self.session = pull_session(url=self.url)
        self.session._handle_patch = self._on_patch  # count and classify, don't apply
        self.controls = find_controls(self.session.document)
        self.session.document.callbacks.send_event(DocumentReady())
        self.session.force_roundtrip()
        tabs = self.controls.tabs
        self._wait = wait = ChangeWait(sent=time.perf_counter(), expected=2, kind="open")
        tabs.active = [panel.title for panel in tabs.tabs].index(LOAD_TAB)  # made: new figures
        self._loop_until(lambda: wait.done_at is not None, wait.sent + self.timeout)
        self._wait = None
        if wait.done_at is None:
            raise TimeoutError(f"the {LOAD_TAB} tab's charts did not arrive")
        return time.perf_counter() - started

    def change(self, kind: str, rng: random.Random) -> ChangeWait:
        """Change one control and wait for the server's answer.

        Parameters
        ----------
        kind : str
            One of :data:`CHANGE_KINDS`.
        rng : random.Random

        Returns
        -------
        ChangeWait
            Arrival times; ``done_at`` is ``None`` if the change timed out.
        """
        model, prop, value = new_value(self.controls, kind, rng)
        self._wait = wait = ChangeWait(
            sent=time.perf_counter(),
            expected=EXPECTED_CHARTS[effective_kind(self.controls, kind)],
            kind=kind,
        )
        setattr(model, prop, value)  # the client document sends the PATCH-DOC
        self._loop_until(lambda: wait.done_at is not None, wait.sent + self.timeout)
        return wait

    def drain(self) -> bool:
        """After a timeout: wait up to ``timeout`` more for that change to finish.

        Returns
        -------
        bool
            Whether it finished (the session can go on).
        """
        wait = self._wait
        self._loop_until(lambda: wait.done_at is not None, time.perf_counter() + self.timeout)
        return wait.done_at is not None

    def close(self) -> None:
        """Close the websocket and wait (up to 10 s) until the server has closed it too."""
        if self.session is None:
            return
        connection = self.session._connection
        self.session.close()
        timer = connection.io_loop.call_later(10, connection.io_loop.stop)
        connection.loop_until_closed()
        connection.io_loop.remove_timeout(timer)
        connection.io_loop.close(all_fds=True)

    def _on_patch(self, message) -> None:
        now = time.perf_counter()
        self.messages += 1
        charts, busy = classify_patch(message.content, self.controls.busy_id)
        self.busy_messages += busy is not None
        if self._wait is not None:
            if self._wait.kind == "open":
                charts = len(figures_in(message.content))
            self._wait.messages += 1
            self._wait.add_charts(charts, now)

    def _loop_until(self, predicate, deadline: float) -> None:
        """Run the client's message loop until ``predicate()`` or ``deadline``.

        bokeh.client only reads messages while it waits for something; its loop stops
        when the predicate holds after a message. A SERVER-INFO request sent at the
        deadline makes the server answer, so the predicate is checked again then.
        """
        from bokeh.client.states import DISCONNECTED

        connection = self.session._connection

        def ping() -> None:
            message = connection._protocol.create("SERVER-INFO-REQ")
            connection.io_loop.add_callback(connection.send_message, message)

        def finished() -> bool:
            disconnected = isinstance(connection._state, DISCONNECTED)
            return predicate() or disconnected or time.perf_counter() >= deadline

        timer = connection.io_loop.call_at(
            connection.io_loop.time() + max(deadline - time.perf_counter(), 0), ping
        )
        connection._loop_until(finished)
        connection.io_loop.remove_timeout(timer)
        if isinstance(connection._state, DISCONNECTED):
            raise ConnectionError(f"disconnected: {connection.error_detail or 'closed'}")


# --- many sessions ----------------------------------------------------------------------


@dataclass
class SessionResult:
    """What one session measured."""

    opened: bool = False
    open_seconds: float = float("nan")
    sent: int = 0
    late: int = 0
    changes: Counter = field(default_factory=Counter)
    first_ms: list[float] = field(default_factory=list)
    all_ms: list[float] = field(default_factory=list)
    timeline: list[tuple[float, str, float]] = field(default_factory=list)
    """(seconds since the epoch when sent, change kind, response ms) of each answer."""
    messages: int = 0
    busy_messages: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class Phases:
    """Events that move every session thread from one phase to the next."""

    go: threading.Event = field(default_factory=threading.Event)
    close: threading.Event = field(default_factory=threading.Event)
    opened: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    changed: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    closed: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))


def record_times(result: SessionResult, wait: ChangeWait) -> None:
    """Add the times of one answered change (in time or late) to ``result``.

    Parameters
    ----------
    result : SessionResult
    wait : ChangeWait
        A change whose charts all arrived.
    """
    result.first_ms.append((wait.first_chart_at - wait.sent) * 1000)
    result.all_ms.append((wait.done_at - wait.sent) * 1000)
    sent_at = time.time() - (time.perf_counter() - wait.sent)
    result.timeline.append((sent_at, wait.kind, result.all_ms[-1]))


def change_loop(
    client: LoadSession, result: SessionResult, config: argparse.Namespace, seed: int
) -> None:
    """Change random controls until the duration is over or ``max_changes`` are made.

    Parameters
    ----------
    client : LoadSession
        An open session.
    result : SessionResult
        Receives the measurements.
    config : argparse.Namespace
        ``duration``, ``max_changes``, ``think``.
    seed : int
        Seed of this session's random choices.
    """
    rng = random.Random(seed)
    end = time.perf_counter() + config.duration
    if not config.together:
        # users already at work do not all click at one instant: a session's first change
        # comes after a random part of a think time, as if it had been changing before
        time.sleep(config.think * rng.uniform(0, 1))
    while result.sent < config.max_changes and time.perf_counter() < end:
        kind = rng.choice(CHANGE_KINDS)
        result.sent += 1
        wait = client.change(kind, rng)
        if wait.done_at is not None:
            result.changes[kind] += 1
        else:
            result.errors.append(
                f"{kind}: no answer within the timeout ({wait.charts} of {wait.expected} charts"
                f" redrawn, {wait.messages} messages)"
            )
            if not client.drain():  # the next change must not see this one's answer
                result.errors.append("session stopped: a change never finished")
                return
            result.late += 1
        record_times(result, wait)
        time.sleep(config.think * rng.uniform(0.5, 1.5))


def run_session(
    url: str, config: argparse.Namespace, index: int, phases: Phases, result: SessionResult
) -> None:
    """Thread body: open, wait for the go, change controls, wait for close, close.

    Parameters
    ----------
    url : str
    config : argparse.Namespace
    index : int
        Session number (seeds its random choices).
    phases : Phases
    result : SessionResult
    """
    client = LoadSession(url, config.timeout)
    time.sleep(index * config.ramp / max(config.sessions, 1))  # users arrive one by one
    try:
        result.open_seconds = client.open()
        result.opened = True
    except Exception as error:  # any failure is a counted error
        result.errors.append(f"open: {type(error).__name__}: {error}")
    phases.opened.release()
    phases.go.wait()
    try:
        if result.opened:
            change_loop(client, result, config, config.seed + index)
    except Exception as error:
        result.errors.append(f"change: {type(error).__name__}: {error}")
    phases.changed.release()
    phases.close.wait()
    try:
        client.close()
    except Exception as error:
        result.errors.append(f"close: {type(error).__name__}: {error}")
    result.messages, result.busy_messages = client.messages, client.busy_messages
    phases.closed.release()


def acquire_all(semaphore: threading.Semaphore, count: int, timeout: float) -> int:
    """Acquire ``semaphore`` ``count`` times within ``timeout`` seconds in all.

    Parameters
    ----------
    semaphore : threading.Semaphore
    count : int
    timeout : float

    Returns
    -------
    int
        How many acquisitions succeeded.
    """
    deadline = time.perf_counter() + timeout
    for done in range(count):
        if not semaphore.acquire(timeout=max(deadline - time.perf_counter(), 0)):
            return done
    return count


def _own_cpu() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


def run_sessions(url: str, config: argparse.Namespace, server_pid: int) -> dict:
    """Open the sessions, run the change phase, close them; measure RSS in between.

    Parameters
    ----------
    url : str
    config : argparse.Namespace
    server_pid : int
        The server process (RSS of its tree is measured).

    Returns
    -------
    dict
        Raw measurements: ``results`` (list of SessionResult), times and RSS values.
    """
    phases = Phases()
    results = [SessionResult() for _ in range(config.sessions)]
    rss_before = tree_rss(server_pid)
    started = time.perf_counter()
    threads = [
        threading.Thread(target=run_session, args=(url, config, i, phases, r), daemon=True)
        for i, r in enumerate(results)
    ]
    for thread in threads:
        thread.start()
    opened = acquire_all(phases.opened, config.sessions, config.open_timeout)
    open_seconds = time.perf_counter() - started
    time.sleep(2)  # let the server finish what the last DocumentReady started
    rss_open = tree_rss(server_pid)
    _progress(
        f"{opened} sessions open after {open_seconds:.0f} s; changing for {config.duration:g} s"
    )
    sampler = RssSampler(server_pid)
    sampler.start()
    started, cpu_started, own_started = time.perf_counter(), tree_cpu(server_pid), _own_cpu()
    phases.go.set()
    # a session's last change may start just before the end and time out, then drain
    acquire_all(phases.changed, config.sessions, config.duration + 2 * config.timeout + 60)
    change_seconds = time.perf_counter() - started
    change_cpu = tree_cpu(server_pid) - cpu_started
    client_cpu = _own_cpu() - own_started
    rss_peak = sampler.stop()
    _progress(f"changes over after {change_seconds:.0f} s; closing the sessions")
    phases.close.set()
    closed = acquire_all(phases.closed, config.sessions, 60)
    _progress(f"{closed} sessions closed; measuring RSS in {config.settle:g} s")
    time.sleep(config.settle)
    return {
        "results": results,
        "opened": opened,
        "closed": closed,
        "open_seconds": open_seconds,
        "change_seconds": change_seconds,
        "change_cpu": change_cpu,
        "client_cpu": client_cpu,
        "rss_before": rss_before,
        "rss_open": rss_open,
        "rss_peak": rss_peak,
        "rss_after": tree_rss(server_pid),
    }


def merge_rounds(rounds: list[dict]) -> dict:
    """Combine the raw measurements of several rounds against the same server.

    Parameters
    ----------
    rounds : list of dict
        From :func:`run_sessions`, in order.

    Returns
    -------
    dict
        Like one round's: results, counts, times and CPU summed; RSS before and with all
        sessions open from the first round, the peak over all, after from the last, and
        ``rss_after_rounds`` (RSS after each round closed).
    """
    first, last = rounds[0], rounds[-1]
    return {
        "results": [result for raw in rounds for result in raw["results"]],
        "opened": sum(raw["opened"] for raw in rounds),
        "closed": sum(raw["closed"] for raw in rounds),
        "open_seconds": first["open_seconds"],
        "change_seconds": sum(raw["change_seconds"] for raw in rounds),
        "change_cpu": sum(raw["change_cpu"] for raw in rounds),
        "client_cpu": sum(raw["client_cpu"] for raw in rounds),
        "rss_before": first["rss_before"],
        "rss_open": first["rss_open"],
        "rss_peak": max(raw["rss_peak"] for raw in rounds),
        "rss_after": last["rss_after"],
        "rss_after_rounds": [raw["rss_after"] for raw in rounds],
    }


# --- report -----------------------------------------------------------------------------


def percentiles(values: list[float]) -> dict:
    """p50, p95 and max of ``values`` (``None`` each when empty).

    Parameters
    ----------
    values : list of float

    Returns
    -------
    dict
        ``{"n", "p50", "p95", "max"}``.
    """
    if not values:
        return {"n": 0, "p50": None, "p95": None, "max": None}
    data = np.asarray(values, dtype=float)
    p50, p95 = np.percentile(data, [50, 95])
    return {"n": len(values), "p50": float(p50), "p95": float(p95), "max": float(data.max())}


def server_log_errors(log_text: str) -> list[str]:
    """Lines of the server's log that report an error or a traceback.

    Parameters
    ----------
    log_text : str

    Returns
    -------
    list of str
    """
    return [
        line.strip()
        for line in log_text.splitlines()
        if "Traceback" in line or " ERROR " in line or "Exception" in line
    ]


def summarize(raw: dict, config: argparse.Namespace, log_errors: list[str]) -> dict:
    """Turn the raw measurements into the report's numbers.

    Parameters
    ----------
    raw : dict
        From :func:`run_sessions`.
    config : argparse.Namespace
    log_errors : list of str
        Error lines of the server's log.

    Returns
    -------
    dict
        JSON-ready report (times in ms or s, memory in MiB).
    """
    results, expected = raw["results"], config.sessions * config.rounds
    errors = [e for r in results for e in r.errors] + log_errors
    errors += ["session did not open in time"] * (expected - raw["opened"])
    errors += ["session did not close in time"] * (expected - raw["closed"])
    kinds = sum((r.changes for r in results), Counter())
    changes, sent = sum(kinds.values()), sum(r.sent for r in results)
    answered = sum(len(r.all_ms) for r in results)  # in time or late
    open_times = [r.open_seconds for r in results if r.opened]
    mib = {k: raw[k] / MIB for k in ("rss_before", "rss_open", "rss_peak", "rss_after")}
    return {
        "url": raw["url"],
        "sessions": config.sessions,
        "rounds": config.rounds,
        "sessions_opened": sum(r.opened for r in results),
        "open_all_s": raw["open_seconds"],
        "open_session_s": {
            "p50": median(open_times) if open_times else None,
            "max": max(open_times, default=None),
        },
        "duration_s": config.duration,
        "change_phase_s": raw["change_seconds"],
        "think_s": config.think,
        "ramp_s": config.ramp,
        "num_procs": config.num_procs,
        "changes_sent": sent,
        "changes": changes,
        "changes_late": sum(r.late for r in results),
        "changes_by_kind": dict(sorted(kinds.items())),
        "changes_per_s": answered / raw["change_seconds"] if raw["change_seconds"] else 0.0,
        "server_cpu_s": raw["change_cpu"],
        "server_cpu_ms_per_change": raw["change_cpu"] * 1000 / sent if sent else None,
        "client_cpu_s": raw["client_cpu"],
        "errors": len(errors),
        "errors_by_cause": dict(Counter(e.split(": ", 1)[-1] for e in errors).most_common()),
        "error_examples": errors[:10],
        # answered changes, including those answered after the timeout (counted as errors)
        "response_ms": percentiles([v for r in results for v in r.all_ms]),
        "first_chart_ms": percentiles([v for r in results for v in r.first_ms]),
        "patch_doc_messages": sum(r.messages for r in results),
        "busy_indicator_messages": sum(r.busy_messages for r in results),
        "rss_before_mib": mib["rss_before"],
        "rss_open_mib": mib["rss_open"],
        "rss_per_session_mib": (mib["rss_open"] - mib["rss_before"]) / config.sessions,
        "rss_peak_mib": mib["rss_peak"],
        "rss_after_mib": mib["rss_after"],
        "rss_after_rounds_mib": [rss / MIB for rss in raw["rss_after_rounds"]],
        "settle_s": config.settle,
        "cpus": os.cpu_count(),
        "load_before": raw["load_before"],
        "load_after": os.getloadavg()[0],
    }


def _ms(stats: dict) -> str:
    if not stats["n"]:
        return "none measured"
    return f"p50 {stats['p50']:,.0f} ms, p95 {stats['p95']:,.0f} ms, max {stats['max']:,.0f} ms"


def _sessions(report: dict) -> str:
    if report["rounds"] == 1:
        return f"{report['sessions_opened']} of {report['sessions']} opened"
    planned = report["sessions"] * report["rounds"]
    return (
        f"{report['sessions']} a round × {report['rounds']} rounds "
        f"({report['sessions_opened']} of {planned} opened)"
    )


def _late(report: dict) -> str:
    return f", incl. {report['changes_late']} late" if report["changes_late"] else ""


def _errors(report: dict) -> str:
    causes = "; ".join(f"{n} × {cause}" for cause, n in report["errors_by_cause"].items())
    return f"{report['errors']}" + (f" ({causes})" if causes else "")


def _cpu(report: dict) -> str:
    text = f"{report['server_cpu_s']:.1f} s"
    if report["server_cpu_ms_per_change"] is not None:
        text += f" ({report['server_cpu_ms_per_change']:,.0f} ms a change sent)"
    return text + f"; load generator {report['client_cpu_s']:.1f} s"


def _rounds_row(report: dict) -> list[tuple[str, str]]:
    if report["rounds"] == 1:
        return []
    values = ", ".join(f"{rss:,.1f}" for rss in report["rss_after_rounds_mib"])
    return [("server RSS after each round closed", f"{values} MiB")]


def format_table(report: dict) -> str:
    """The report as one Markdown table.

    Parameters
    ----------
    report : dict
        From :func:`summarize`.

    Returns
    -------
    str
    """
    kinds = ", ".join(f"{k} {n}" for k, n in report["changes_by_kind"].items())
    opened = report["open_session_s"]
    per_change = report["patch_doc_messages"] / max(report["changes_sent"], 1)
    retained = report["rss_after_mib"] - report["rss_before_mib"]
    rows = [
        ("sessions (concurrent)", _sessions(report)),
        ("server processes (panel serve --num-procs)", str(report["num_procs"])),
        (
            f"time to open all sessions (arriving over {report['ramp_s']:g} s)",
            f"{report['open_all_s']:.1f} s (one session: p50 {opened['p50'] or 0:.1f} s, "
            f"max {opened['max'] or 0:.1f} s)",
        ),
        (
            "change phase",
            f"{report['change_phase_s']:.1f} s (--duration {report['duration_s']:g} s, "
            f"think {report['think_s']:g} s ±50%)",
        ),
        ("changes sent", f"{report['changes_sent']:,}"),
        ("changes answered in time", f"{report['changes']:,} ({kinds})"),
        ("throughput (answered in time or late)", f"{report['changes_per_s']:.2f} changes/s"),
        ("server CPU while changing", _cpu(report)),
        ("errors (exceptions, timeouts, server log)", _errors(report)),
        (
            f"response per change (all its charts redrawn){_late(report)}",
            _ms(report["response_ms"]),
        ),
        ("time to the first redrawn chart", _ms(report["first_chart_ms"])),
        (
            "PATCH-DOC messages received",
            f"{report['patch_doc_messages']:,} ({per_change:.1f} a change; "
            f"{report['busy_indicator_messages']:,} busy-indicator toggles)",
        ),
        ("server RSS before sessions", f"{report['rss_before_mib']:,.1f} MiB"),
        ("server RSS, all sessions open", f"{report['rss_open_mib']:,.1f} MiB"),
        ("memory per session", f"{report['rss_per_session_mib']:,.2f} MiB"),
        ("server RSS peak while changing", f"{report['rss_peak_mib']:,.1f} MiB"),
        (
            f"server RSS {report['settle_s']:g} s after all sessions closed",
            f"{report['rss_after_mib']:,.1f} MiB ({retained:+,.1f} MiB vs before)",
        ),
        *_rounds_row(report),
        (
            "machine",
            f"{report['cpus']} CPUs; load average {report['load_before']:.1f} before the "
            f"test, {report['load_after']:.1f} at the end",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"| {'measure':<{width}} | value |", f"|{'-' * (width + 2)}|-------|"]
    lines += [f"| {name:<{width}} | {value} |" for name, value in rows]
    lines += [f"\nerror: {example}" for example in report["error_examples"]]
    return "\n".join(lines)


# --- command line -----------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command-line options.

    Parameters
    ----------
    argv : list of str, optional

    Returns
    -------
    argparse.Namespace
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=50, help="concurrent sessions")
    parser.add_argument("--duration", type=float, default=120, help="seconds of changes")
    parser.add_argument("--source", type=Path, default=ROOT / "data", help="data source")
    parser.add_argument("--port", type=int, default=0, help="server port (0: a free one)")
    parser.add_argument("--address", default="127.0.0.1", help="server address")
    parser.add_argument("--max-changes", type=int, default=1000, help="changes per session")
    parser.add_argument(
        "--think", type=float, default=10.0, help="seconds between a user's changes (±50%%)"
    )
    parser.add_argument(
        "--num-procs", type=int, default=2, help="server processes (panel serve --num-procs)"
    )
    parser.add_argument(
        "--ramp",
        type=float,
        default=60,
        help="seconds over which the sessions open, one after another (0: all at once)",
    )
    parser.add_argument("--timeout", type=float, default=60, help="seconds a change may take")
    parser.add_argument("--open-timeout", type=float, default=600, help="seconds to open all")
    parser.add_argument("--settle", type=float, default=15, help="seconds after closing")
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat open/change/close (memory reuse)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the random changes")
    parser.add_argument("--server-log", type=Path, help="keep the server's output here")
    parser.add_argument(
        "--serve-arg",
        action="append",
        metavar="ARG",
        help="extra panel serve argument, repeatable (e.g. --serve-arg=--num-procs --serve-arg=2)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--together",
        action="store_true",
        help="every session makes its first change at the same instant (a worst case)",
    )
    parser.add_argument(
        "--timeline", type=Path, help="write each change's send time and response here (CSV)"
    )
    return parser.parse_args(argv)


def _progress(text: str) -> None:
    print(f"[load {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def run(config: argparse.Namespace, log_path: Path) -> dict:
    """Serve the dashboard, load it, stop it.

    Parameters
    ----------
    config : argparse.Namespace
    log_path : Path
        Receives the server's output.

    Returns
    -------
    dict
        The report (see :func:`summarize`).
    """
    import_panel_models()
    load_before = os.getloadavg()[0]
    port = config.port or free_port(config.address)
    options = ["--liveness", *SERVE_OPTIONS, "--num-procs", str(config.num_procs)]
    options += config.serve_arg or []
    _progress(f"server starting on http://{config.address}:{port}")
    with serving(
        config.source,
        *options,
        address=config.address,
        port=port,
        timeout=180,
        log=log_path,
        own_group=True,  # stop the --num-procs processes too
        cwd=ROOT,
    ) as server:
        time.sleep(2)
        rounds = []
        for number in range(1, config.rounds + 1):
            _progress(f"round {number}: opening {config.sessions} sessions")
            rounds.append(run_sessions(server.url, config, server.process.pid))
        raw = merge_rounds(rounds)
        raw.update(url=server.url, load_before=load_before)
    if config.timeline:
        write_timeline(config.timeline, raw["results"])
    _progress("done")
    return summarize(raw, config, server_log_errors(log_path.read_text(errors="replace")))


def write_timeline(path: Path, results: list[SessionResult]) -> None:
    """Write every answered change as a CSV row: when it was sent (seconds since the
    epoch), the session, its kind and its response time in milliseconds.

    Parameters
    ----------
    path : Path
    results : list of SessionResult
    """
    rows = sorted(
        (sent, index, kind, ms)
        for index, result in enumerate(results)
        for sent, kind, ms in result.timeline
    )
    lines = ["sent,session,kind,response_ms"]
    lines += [f"{sent:.3f},{index},{kind},{ms:.1f}" for sent, index, kind, ms in rows]
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Run the load test and print the table (or JSON).

    Parameters
    ----------
    argv : list of str, optional

    Returns
    -------
    int
        Exit status: 0 without errors, 1 with errors, 2 if the server did not start.
    """
    import tempfile

    config = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="collections-load-") as folder:
        log_path = config.server_log or Path(folder) / "server.log"
        try:
            report = run(config, log_path)
        except ServerError as error:  # its message ends with the server's output
            print(f"error: {error}", file=sys.stderr)
            return 2
    print(json.dumps(report, indent=2) if config.json else format_table(report))
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
