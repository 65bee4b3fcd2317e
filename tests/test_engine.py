"""The Dask engine: the same partition functions on a distributed.LocalCluster give the
same cube as the pandas engine, bit for bit; the command line's --engine/--scheduler."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from oracles.same import assert_same

from dashboard import compute
from dashboard.compute.engine import Engine, customer_ranges
from dashboard.cube.bills import partitioned_outcomes
from dashboard.cube.pipeline import build_cube
from dashboard.loader import load_portfolio
from dashboard.sources import DEFAULT_SOURCE

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes, as on a 2-core machine."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local


@pytest.fixture(scope="module")
def portfolio():
    return load_portfolio(DEFAULT_SOURCE)


def test_customer_ranges_cover_every_customer_once():
    assert customer_ranges(0, 10) == []
    assert customer_ranges(25, 10) == [(0, 10), (10, 20), (20, 25)]
    ranges = customer_ranges(1501, 100)
    assert ranges[0][0] == 0 and ranges[-1][1] == 1501
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))


def test_an_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="unknown engine 'spark'"):
        Engine("spark")


def test_dask_cube_equals_pandas_cube_on_a_local_cluster(cluster, portfolio):
    # 1,500 customers in partitions of 200: eight tasks per stage, in any order
    dask = Engine("dask", cluster.scheduler_address, customers_per_partition=200)
    pandas = Engine("pandas")
    by_dask = build_cube(portfolio, engine=dask)
    by_pandas = build_cube(portfolio, engine=pandas)
    assert_same(by_dask, by_pandas)
    assert by_pandas.bills["defaults"].sum() > 0 and len(by_pandas.arrears.worklist) > 0


def test_partitioned_outcomes_equal_the_whole_table_for_any_partition(cluster, portfolio):
    window, as_of = compute.Window(), compute.latest_payment_date(portfolio.payments)
    whole = compute.bill_outcomes(portfolio.bills, portfolio.payments, window, as_of)
    for size in (1, 7, 1000):
        engine = Engine("dask", cluster.scheduler_address, customers_per_partition=size)
        parts = partitioned_outcomes(portfolio.bills, portfolio.payments, window, as_of, engine)
        pd.testing.assert_frame_equal(parts, whole)


def test_pandas_engine_in_small_chunks_gives_the_same_ledger(portfolio):
    small = build_cube(portfolio, engine=Engine("pandas", customers_per_partition=97))
    assert_same(small.arrears, build_cube(portfolio).arrears, "arrears")


def summary_json(*options: str) -> dict:
    command = [sys.executable, "-m", "dashboard.cli", "summary", "--json", *options]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def test_summary_on_a_dask_scheduler_equals_summary_on_pandas(cluster, tmp_path):
    # a copy of the demo set, so that the cube cache beside it starts empty for each engine
    import shutil

    for engine_dir in ("pandas", "dask"):
        shutil.copytree(DEFAULT_SOURCE, tmp_path / engine_dir, ignore=shutil.ignore_patterns(".*"))
    on_pandas = summary_json("--source", str(tmp_path / "pandas"), "--engine", "pandas")
    on_dask = summary_json(
        "--source",
        str(tmp_path / "dask"),
        "--engine",
        "dask",
        "--scheduler",
        cluster.scheduler_address,
    )
    for result in (on_pandas, on_dask):
        result.pop("source", None)
    assert on_dask == on_pandas
    assert on_pandas["overall"]["bills"] > 0


def test_scheduler_without_dask_engine_is_a_usage_error():
    command = [sys.executable, "-m", "dashboard.cli", "summary", "--engine", "pandas"]
    command += ["--scheduler", "tcp://127.0.0.1:1"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "--scheduler needs --engine dask" in run.stderr


@pytest.mark.parametrize("per_thread", [0.5, 1, 1.5, 2])
def test_threaded_map_keeps_order_and_bounds_what_is_in_flight(per_thread):
    """Results come in order; no more than ``per_thread`` × threads items are taken from
    the generator ahead of the results handed out (each holds a partition's tables)."""
    import math
    import threading
    import time

    from dashboard.compute.engine import THREADS, threaded_map

    taken, handed = [0], [0]
    lock = threading.Lock()
    most_ahead = [0]

    def items():
        for number in range(12):
            with lock:
                taken[0] += 1
                most_ahead[0] = max(most_ahead[0], taken[0] - handed[0])
            yield number

    def work(number: int) -> int:
        time.sleep(0.01 * (number % 3))  # out of order
        return number * number

    results = []
    for result in threaded_map(work, items(), per_thread):
        with lock:
            handed[0] += 1
        results.append(result)
    assert results == [n * n for n in range(12)]
    assert most_ahead[0] <= max(1, math.ceil(per_thread * THREADS)) + 1
