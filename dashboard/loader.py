"""Load a source once per process and build its cube once per window.

Both results are kept in a process-wide cache keyed by the source's
:meth:`~dashboard.sources.Source.signature` (and by the window, as-of date and bucket edges
for cubes), so every session of a ``panel serve`` process shares them and an edited source is
reloaded. Nothing here imports Panel: this is the "``pn.cache`` or equivalent" that the
model uses without depending on the UI. Cached objects are shared: never mutate them.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TypeVar
from weakref import WeakSet

import pandas as pd

from dashboard import store
from dashboard.compute.ledger import Buckets
from dashboard.compute.memory import reusing_freed_memory
from dashboard.compute.outcomes import Window
from dashboard.cube.bills import segment_table
from dashboard.cube.pipeline import build_cube, validated
from dashboard.cube.streamed import build_source
from dashboard.cube.tables import Cube
from dashboard.schema import Portfolio
from dashboard.sources import DEFAULT_SOURCE, Source, open_source

T = TypeVar("T")

SOURCE_ENV = "COLLECTIONS_SOURCE"
"""Environment variable naming the source of a served app (``collections-dashboard serve``
sets it for ``panel serve dashboard/app.py``)."""

_BUILDS = threading.Lock()
"""One build at a time per process: a build takes the machine's cores (and at a million
customers gigabytes); two at once only make both slower and the memory peak higher."""

_CACHE: OrderedDict[Hashable, object] = OrderedDict()
_CACHE_SIZE = 8
_LOCK = threading.Lock()
_KEY_LOCKS: dict[Hashable, threading.Lock] = {}


def source_key(source: str | Path | Source) -> tuple[str, str]:
    """What identifies a source's current contents: its kind and signature.

    Raises
    ------
    SourceError
        For a missing or unreadable source.
    """
    source = open_source(source)
    return source.kind, source.signature()


def load_portfolio(path: str | Path | Source = DEFAULT_SOURCE) -> Portfolio:
    """Read and validate a source, once per process while its files are unchanged.

    Parameters
    ----------
    path : str or Path, optional
        CSV folder, SQLite file or Parquet folder; the demo set by default.

    Returns
    -------
    Portfolio

    Raises
    ------
    SourceError
        When the source cannot be read or fails validation.
    """
    source = open_source(path)
    key = ("portfolio", source.kind, source.signature())
    return _cached(key, lambda: validated(source))


def load_cube(
    path: str | Path | Source = DEFAULT_SOURCE,
    window: Window = Window(),
    as_of: pd.Timestamp | None = None,
    persistent: bool = True,
    buckets: Buckets = Buckets(),
) -> Cube:
    """The cube of a source for one window and as-of date, built once per process.

    Parameters
    ----------
    path : str or Path, optional
        Source path; the demo set by default.
    window : Window, optional
    as_of : Timestamp, optional
        Defaults to the latest payment date.
    persistent : bool, optional
        Use the cache on disk (:mod:`dashboard.store`): load the cube from there, or build
        it and store it.
    buckets : Buckets, optional
        Days-past-due bucket edges.

    Returns
    -------
    Cube
    """
    source = open_source(path)
    key = _cube_key(source, window, as_of, buckets)
    if not persistent:
        return _cached(key, lambda: _built(load_portfolio(source), window, as_of, buckets))
    return _cached(key, lambda: _stored_or_built(source, window, as_of, buckets)[0])


def cube_in_memory(
    path: str | Path | Source,
    window: Window = Window(),
    as_of: pd.Timestamp | None = None,
    buckets: Buckets = Buckets(),
) -> bool:
    """Whether this process holds the cube of a source for these settings in memory, so
    that :func:`load_cube` returns it at once (no read from disk, no build).

    A served page asks before it takes a link's build settings: a cube that is not in
    memory is built (or read) in a thread, never while the page is made.

    Parameters
    ----------
    path : str, Path or Source
    window : Window, optional
    as_of : Timestamp, optional
    buckets : Buckets, optional

    Returns
    -------
    bool
    """
    key = _cube_key(open_source(path), window, as_of, buckets)
    with _LOCK:
        return key in _CACHE


def build_and_store(
    path: str | Path | Source,
    window: Window = Window(),
    as_of: pd.Timestamp | None = None,
    progress: bool = True,
    buckets: Buckets = Buckets(),
) -> tuple[Path | None, bool]:
    """Fill the persistent cache for a source and window (``collections-dashboard build``).

    Returns
    -------
    (Path or None, bool)
        The cube's cache entry (None when no safe cache folder exists: the cube was built in
        memory only), and whether it had to be built (False: it was already there).
    """
    from tqdm import tqdm

    source = open_source(path)
    with tqdm(total=4, desc="build", unit="step", disable=not progress) as steps:
        cube, entry, built = _stored_or_built(source, window, as_of, buckets, steps)
    _remember(_cube_key(source, window, as_of, buckets), cube)  # load_cube: no second read
    return entry, built


def _stored_or_built(
    source: Source,
    window: Window,
    as_of: pd.Timestamp | None,
    buckets: Buckets,
    steps=None,
) -> tuple[Cube, Path | None, bool]:
    """The cube from the disk cache, or built (not via load_portfolio: a served app keeps
    only the small cube, not the raw tables) and stored. ``steps`` is an optional tqdm bar."""

    def step(label: str | None = None) -> None:
        if steps is not None:
            steps.update()
            if label:
                steps.set_postfix_str(label)

    if steps is not None:
        steps.set_postfix_str("hashing source")
    key = store.cube_key(source, window, as_of, buckets)
    entry = store.cube_file(source, window, as_of, buckets)
    cube = None if entry is None else store.read_cube(entry)
    if cube is not None:
        if steps is not None:
            steps.update(steps.total - steps.n)
        return cube, entry, False
    with _BUILDS, reusing_freed_memory():  # one setting across the steps: no trimming between
        step("reading and validating")  # streamed: partition by partition (cube.streamed)
        cube = build_source(source, window, as_of, buckets)
        step("outcomes and aggregates")
    step("writing")
    if entry is not None:
        try:
            store.write_cube(cube, entry, key)
        except OSError as exc:
            if steps is not None:  # `build` must say it could not store the cube
                raise
            warnings.warn(
                f"could not store the cube in {entry.parent} ({exc}): kept in memory only",
                store.CacheWarning,
                stacklevel=2,
            )
            entry = None
    step()
    return cube, entry, True


def cube_for(
    portfolio: Portfolio,
    window: Window,
    as_of: pd.Timestamp | None = None,
    buckets: Buckets = Buckets(),
) -> Cube:
    """The cube of in-memory tables for one window, cached per portfolio object."""
    key = ("frames", id(portfolio), window, None if as_of is None else str(as_of), buckets)
    owner, cube = _cached(key, lambda: (portfolio, _built(portfolio, window, as_of, buckets)))
    if owner is not portfolio:  # the id was reused by a new object: rebuild
        with _LOCK:
            _CACHE.pop(key, None)
        return cube_for(portfolio, window, as_of, buckets)
    return cube


def _cube_key(source: Source, window: Window, as_of, buckets: Buckets) -> tuple:
    when = None if as_of is None else str(as_of)
    return ("cube", source.kind, source.signature(), window, when, buckets)


def _remember(key: Hashable, value: object) -> None:
    """Keep ``value`` under ``key``, dropping the least recently used beyond the size."""
    with _LOCK:
        _CACHE[key] = value
        _CACHE.move_to_end(key)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)


def _built(portfolio: Portfolio, window: Window, as_of, buckets: Buckets) -> Cube:
    with _BUILDS:
        return build_cube(portfolio, window, as_of, buckets)


def warm_in_background(cube: Cube | None) -> threading.Thread | None:
    """Make, on a thread of its own, what the cube's queries make on first use
    (:meth:`~dashboard.cube.tables.ArrearsTables.warm`), once per cube: a served page
    calls it when its cube is loaded, so the first session to open a tab that reads
    them does not wait.

    Returns
    -------
    threading.Thread or None
        The thread started, or None when there is no cube, or it is warm or being warmed
        already.
    """
    if cube is None:
        return None
    with _LOCK:
        if cube.arrears in _WARMED:
            return None
        _WARMED.add(cube.arrears)
    thread = threading.Thread(target=cube.arrears.warm, name="warm cube", daemon=True)
    thread.start()
    return thread


_WARMED: WeakSet = WeakSet()
"""The cubes' ledger tables warmed or being warmed (forgotten with their cube)."""


def clear_cache() -> None:
    """Forget every loaded source and cube (tests, or to free memory)."""
    with _LOCK:
        _CACHE.clear()
        _KEY_LOCKS.clear()


def _cached(key: Hashable, compute: Callable[[], T]) -> T:
    """Compute once per key, even when several sessions ask at the same time."""
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]  # type: ignore[return-value]
        key_lock = _KEY_LOCKS.setdefault(key, threading.Lock())
    with key_lock:
        with _LOCK:
            if key in _CACHE:
                return _CACHE[key]  # type: ignore[return-value]
        value = compute()
        _remember(key, value)
        with _LOCK:
            _KEY_LOCKS.pop(key, None)
        return value


def customer_timeline(
    data: str | Path | Source | Portfolio, customer_id: str, as_of: pd.Timestamp, buckets: Buckets
):
    """One customer's timeline as known on ``as_of`` (the customer view).

    Only that customer's rows are read where the source can filter (a Parquet folder, a
    SQLite file); they are validated like the whole book and cut at ``as_of``.

    Parameters
    ----------
    data : str, Path, Source or Portfolio
        A source, or tables already loaded.
    customer_id : str
    as_of : Timestamp
    buckets : Buckets

    Returns
    -------
    dashboard.cube.timeline.Timeline

    Raises
    ------
    ValueError
        One line when the id is not valid or not a customer of the data (a SourceError,
        a ValueError too, when the source cannot be read).
    """
    from dashboard.cube.pipeline import known_on
    from dashboard.cube.timeline import customer_timeline as timeline_of
    from dashboard.cube.timeline import one_customer
    from dashboard.schema import validate
    from dashboard.sources.rows import clean_customer_id, customer_rows

    customer_id = clean_customer_id(customer_id)
    if isinstance(data, Portfolio):
        portfolio = one_customer(data, customer_id)
    else:
        raw = customer_rows(open_source(data), customer_id)
        if raw.frames["customers"].empty:
            raise ValueError(f"no customer {customer_id!r} in the data")
        portfolio = validate(raw, whole_book=False)
    if portfolio.customers.empty:
        raise ValueError(f"no customer {customer_id!r} in the data")
    return timeline_of(known_on(portfolio, as_of), as_of, buckets)


SCORE_MAX_ENV = "COLLECTIONS_SCORE_MAX_CUSTOMERS"
"""Environment variable: the largest book (customers) the dashboard scores itself."""
SCORE_MAX_CUSTOMERS = int(os.environ.get(SCORE_MAX_ENV) or 2_000_000)
"""The largest book the dashboard scores itself: training and scoring hold the whole
validated book (about 6 GB at a million customers on this machine's 24 GB)."""


SCORE_BACKGROUND_ENV = "COLLECTIONS_SCORE_BACKGROUND_FROM"
"""Environment variable: the book size (customers) from which a served page computes a score
in the background."""
SCORE_BACKGROUND_FROM = int(os.environ.get(SCORE_BACKGROUND_ENV) or 50_000)
"""From this many customers a served page computes a score in a process of its own and says
so, instead of holding the page while it is made (reading and validating the whole book,
training, scoring: about 40 s at a million customers on this machine)."""


def _score_key(data, as_of: pd.Timestamp, target: str) -> tuple:
    as_of = pd.Timestamp(as_of).normalize()
    if isinstance(data, Portfolio):
        return ("early_warning", target, "frames", id(data), str(as_of))
    return ("early_warning", target, *source_key(data), str(as_of))


def early_warning_ready(
    data: str | Path | Source | Portfolio, as_of: pd.Timestamp, target: str = "early-warning"
) -> bool:
    """Whether :func:`early_warning` of these arguments is in this process's memory (it
    answers at once).

    Parameters
    ----------
    data, as_of, target
        As :func:`early_warning`.

    Returns
    -------
    bool
    """
    key = _score_key(data, as_of, target)
    with _LOCK:
        return key in _CACHE


def early_warning_in_background(
    data: str | Path | Source | Portfolio,
    as_of: pd.Timestamp,
    target: str,
    done: Callable[[Exception | None], None],
) -> None:
    """Compute :func:`early_warning` in a process of its own (a thread here waits for it:
    :func:`_score_elsewhere`), then call ``done``.

    Sessions that ask for the same score while it is being computed wait for the same
    thread: each ``done`` is called once, in the order asked, with None when the score is
    in memory or the error that stopped it.

    Parameters
    ----------
    data, as_of, target
        As :func:`early_warning`.
    done : callable
        Called with None or the exception, on the computing thread.
    """
    key = _score_key(data, as_of, target)
    with _LOCK:
        waiting = _SCORING.get(key)
        if waiting is not None:
            waiting.append(done)
            return
        _SCORING[key] = [done]

    def compute() -> None:
        error = None
        try:
            _score_elsewhere(data, as_of, target)
        except Exception as exc:  # given to every session that asked
            error = exc
        with _LOCK:
            callbacks = _SCORING.pop(key, [])
        for callback in callbacks:
            callback(error)

    threading.Thread(target=compute, name=f"score {target}", daemon=True).start()


_SCORING: dict[tuple, list[Callable[[Exception | None], None]]] = {}
"""Scores being computed in the background: key -> who to tell when done."""


def _score_elsewhere(data, as_of: pd.Timestamp, target: str) -> dict:
    """:func:`early_warning` of a source computed in a process of its own and kept in this
    one's memory: reading the whole book, training and scoring would otherwise hold this
    process's interpreter lock for most of a minute at a million customers, and every page it
    serves would wait; the book's memory is given back when that process ends. Tables in
    memory (a :class:`Portfolio`) are scored here.

    The process runs at a lower CPU priority (:data:`SCORING_NICENESS`) and is daemonic: a
    server that stops ends it, rather than waiting for its score (or leaving it running)."""
    if isinstance(data, Portfolio):
        return early_warning(data, as_of, target)
    spec = open_source(data).spec()
    spawn = multiprocessing.get_context("spawn")  # a fork of a threaded server is unsafe
    receive, send = spawn.Pipe(duplex=False)
    worker = spawn.Process(
        target=_score_in_background_process,
        args=(send, os.getpid(), spec, as_of, target),
        name=f"score {target}",
        daemon=True,
    )
    worker.start()
    send.close()  # this end is the worker's: its exit then reads as the pipe's end here
    try:
        outcome, value = receive.recv()
    except EOFError:
        worker.join()
        raise RuntimeError(
            f"the scoring process ended without a score (exit code {worker.exitcode})"
        ) from None
    finally:
        receive.close()
    worker.join()
    if outcome == "error":
        raise value
    return _cached(_score_key(data, as_of, target), lambda: value)


SCORING_NICENESS = 19
"""How much lower than the server's a scoring process's CPU priority is (``os.nice``): a
score is background work, and the pages being served (the server and the browsers on the
same machine) come first when they want the CPU; the score takes every cycle they leave."""


def _score_in_background_process(send, parent: int, spec, as_of, target: str) -> None:
    """The scoring process's work: :func:`early_warning` sent back through ``send`` as
    ``("value", scores)`` or ``("error", exception)``, at a lower CPU priority; it ends as
    soon as the server that asked has ended (it would otherwise read and score the whole
    book for nobody)."""
    if hasattr(os, "nice"):
        os.nice(SCORING_NICENESS)
    _end_with(parent)
    try:
        outcome = ("value", early_warning(spec, as_of, target))
    except Exception as exc:  # the server says why on the page
        outcome = ("error", exc)
    try:
        send.send(outcome)
    except Exception as exc:  # an exception that cannot be pickled: its text
        send.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    send.close()


def _end_with(parent: int) -> None:
    """End this process as soon as the process ``parent`` has ended."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="end with the server", daemon=True).start()


def early_warning(
    data: str | Path | Source | Portfolio, as_of: pd.Timestamp, target: str = "early-warning"
) -> dict:
    """A score of every customer of its population on ``as_of`` and its out-of-time
    evaluation (the target's model kind), computed once per source, as-of date and target.

    Parameters
    ----------
    data : str, Path, Source or Portfolio
    as_of : Timestamp
    target : str, optional
        A key of :data:`dashboard.score.TARGETS`: ``early-warning`` (customers Current on
        ``as_of``, 31+ days past due within three month-ends) or ``roll-risk`` (1–90 days
        past due, 91+ within three month-ends).

    Returns
    -------
    dict
        ``scores`` (DataFrame: ``customer_id``, ``code`` (position in the customers table),
        ``segment`` (the cube's segment id), ``score``, highest first) and ``evaluation``
        (:class:`dashboard.score.Evaluation`).
    """
    from dashboard import score

    chosen = score.TARGETS[target]
    as_of = pd.Timestamp(as_of).normalize()
    key = _score_key(data, as_of, target)

    def compute() -> dict:
        portfolio = data if isinstance(data, Portfolio) else load_portfolio(data)
        kind = chosen.model
        with _BUILDS:  # one heavy job at a time, like a build
            evaluated = score.evaluation(portfolio, as_of, kinds=(kind,), target=chosen)
            scorer = score.train(portfolio, as_of, kind, target=chosen)
            scores = score.scores_at(portfolio, as_of, scorer)
        ids = portfolio.customers["customer_id"]
        codes = pd.Index(ids).get_indexer(scores.index)
        _, segment_of_customer = segment_table(portfolio.customers)
        frame = pd.DataFrame(
            {
                "customer_id": scores.index.to_numpy(),
                "code": codes,
                "segment": segment_of_customer[codes],
                "score": scores.to_numpy(),
            }
        )
        frame = frame.sort_values("score", ascending=False, kind="stable")
        return {"scores": frame.reset_index(drop=True), "evaluation": evaluated}

    return _cached(key, compute)
