"""Where the per-customer-partition work of a build runs: here (pandas, on threads) or on
Dask.

A build splits the customers into contiguous partitions (bills, payments and actions are
sorted by customer) and runs the same functions on each: bill outcomes
(:func:`dashboard.metrics.bill_outcomes`), and the month-end ledger tables and action
outcomes (:func:`dashboard.arrears.build_arrears`). The results are exact integer sums, so
they do not depend on where or in which order the partitions ran: the ``dask`` engine gives
the same cube as the ``pandas`` engine, bit for bit. The ``pandas`` engine runs the
partitions on one thread per core: their NumPy work mostly releases the GIL (1 M customers,
2 cores: the outcomes and ledger steps took 32 s on two threads, 40 s on one).

The engine is process configuration, not a metric parameter (it is not part of the cube
cache key): ``$COLLECTIONS_ENGINE`` (``pandas`` or ``dask``) and ``$COLLECTIONS_SCHEDULER``
(address of a running ``dask.distributed`` scheduler; without it a local cluster of one
worker process per core is started for the build and closed after it). The command line's
``--engine`` and ``--scheduler`` set them.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

THREADS = max(1, min(os.cpu_count() or 1, 8))
"""Threads of the ``pandas`` engine and of the build steps whose library code runs without
Python's lock (NumPy's sorts, searches and arithmetic, Arrow's hash lookups): one per
core, at most 8."""

__all__ = [
    "ENGINES",
    "ENGINE_ENV",
    "SCHEDULER_ENV",
    "THREADS",
    "Engine",
    "customer_ranges",
    "in_threads",
    "threaded_map",
]

ENGINES = ("pandas", "dask")
ENGINE_ENV = "COLLECTIONS_ENGINE"
SCHEDULER_ENV = "COLLECTIONS_SCHEDULER"


@dataclass(frozen=True)
class Engine:
    """Runs a function over partitions, here or on a Dask cluster.

    Parameters
    ----------
    name : str
        ``"pandas"`` (in this process, partitions on :data:`THREADS` threads) or ``"dask"``.
    scheduler : str, optional
        Address of a ``dask.distributed`` scheduler (``tcp://host:8786``); for ``"dask"``
        without it, a local cluster is started for each :meth:`map` or :meth:`imap`.
    customers_per_partition : int, optional
        Customers per partition: bounds a task's memory (either engine runs a few
        partitions at a time) and sets the number of tasks.
    """

    name: str = "pandas"
    scheduler: str | None = None
    customers_per_partition: int = 50_000

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise ValueError(f"unknown engine {self.name!r}: choose one of {', '.join(ENGINES)}")

    @classmethod
    def from_env(cls) -> Engine:
        """The engine named by ``$COLLECTIONS_ENGINE`` and ``$COLLECTIONS_SCHEDULER``."""
        name = os.environ.get(ENGINE_ENV) or "pandas"
        return cls(name, os.environ.get(SCHEDULER_ENV) or None)

    def map(self, func: Callable, parts: Sequence, *shared: Any) -> list:
        """``[func(part, *shared) for part in parts]``, run by this engine.

        Parameters
        ----------
        func : callable
            A module-level function (Dask workers import it by name).
        parts : sequence
            One argument per task (a partition's tables).
        *shared : object
            Arguments common to every task (sent to a cluster once, not once per task).

        Returns
        -------
        list
            The results in the order of ``parts``.
        """
        return list(self.imap(func, parts, *shared))

    def imap(
        self, func: Callable, parts: Iterable, *shared: Any, per_thread: float = 2
    ) -> Iterator[Any]:
        """As :meth:`map`, but yield the results in order as they come: the ``pandas``
        engine and a cluster then hold only a few partitions' results at a time
        (``per_thread`` per thread or worker thread, running or done and waiting for an
        earlier one)."""
        if self.name == "pandas":
            yield from threaded_map(lambda part: func(part, *shared), parts, per_thread)
            return
        with _client(self.scheduler) as client:
            common = [client.scatter(value, broadcast=True) for value in shared]
            in_flight = _in_flight(per_thread, sum(client.nthreads().values()))
            running: deque = deque()
            for part in parts:  # sent as they are made, a few per worker thread at a time
                if len(running) >= in_flight:
                    yield running.popleft().result()
                running.append(client.submit(func, part, *common, pure=False))
            while running:
                yield running.popleft().result()


@contextlib.contextmanager
def _client(scheduler: str | None) -> Iterator[Any]:
    """A ``distributed.Client`` on ``scheduler``, or on a local cluster for the duration."""
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler, set_as_default=False) as client:
            yield client
        return
    workers = os.cpu_count() or 1
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client


def customer_ranges(n_customers: int, size: int) -> list[tuple[int, int]]:
    """Contiguous customer-code ranges ``[low, high)`` of at most ``size`` customers.

    Parameters
    ----------
    n_customers : int
    size : int
        Customers per partition (at least 1).

    Returns
    -------
    list of (int, int)
    """
    size = max(int(size), 1)
    return [(low, min(low + size, n_customers)) for low in range(0, n_customers, size)]


def in_threads(func: Callable[[Any], Any], items: Iterable[Any]) -> list:
    """``[func(item) for item in items]`` on :data:`THREADS` threads, results in order.

    Worth it where ``func`` spends its time in NumPy or Arrow code that releases the GIL.
    """
    return list(threaded_map(func, items))


def _in_flight(per_thread: float, threads: int) -> int:
    """Tasks running or done and waiting at once: ``per_thread`` per thread, rounded up."""
    return max(1, math.ceil(per_thread * max(threads, 1)))


def threaded_map(
    func: Callable[[Any], Any], items: Iterable[Any], per_thread: float = 2
) -> Iterator[Any]:
    """``func(item)`` for each item, run on :data:`THREADS` threads, yielded in order.

    ``items`` is consumed lazily (at most ``per_thread`` per thread wait or run at once,
    rounded up) and each result is yielded as soon as it and those before it are done, so
    neither a generator of partitions nor the partitions' results are all held in memory
    at once (fewer in flight hold less, at the risk of a thread waiting for the slowest).
    """
    running: deque = deque()
    in_flight = _in_flight(per_thread, THREADS)
    with ThreadPoolExecutor(THREADS) as pool:
        for item in items:
            if len(running) >= in_flight:
                yield running.popleft().result()
            running.append(pool.submit(func, item))
        while running:
            yield running.popleft().result()
