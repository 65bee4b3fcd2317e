"""The streamed build (partition by partition from a Parquet folder in customer order) gives
the same cube, table by table, as the unstreamed build of the whole book."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import write_source
from oracles.same import assert_same

from dashboard import SourceError
from dashboard.cli.convert import convert_source
from dashboard.compute.engine import Engine
from dashboard.cube import streamed
from dashboard.cube.pipeline import build_cube, validated
from dashboard.cube.streamed import LAST_BUILD, build_source, layout_hint, source_layout
from dashboard.demo import simulation
from dashboard.demo.simulation import write_demo
from dashboard.sources import DEFAULT_SOURCE, open_source
from dashboard.vocab import ACTIONS, ADJUSTMENT_KINDS


def streamed_only(source) -> object:
    """The streamed cube (failing, not falling back, when the source cannot stream)."""
    layout = source_layout(open_source(source))
    assert layout is not None
    return streamed.streamed_cube(layout)


@pytest.fixture
def small_partitions(monkeypatch):
    """Row groups of a few customers and partitions of two row groups or so."""
    monkeypatch.setattr(simulation, "WRITE_BATCH_ROWS", 700)
    monkeypatch.setattr(streamed, "PARTITION_CUSTOMERS", 45)


def test_generated_parquet_streams_and_equals_the_unstreamed_build(tmp_path, small_partitions):
    write_demo(tmp_path, "parquet", 400, "2023-01", "2024-12", 5, progress=False)
    bills = pq.ParquetFile(tmp_path / "bills.parquet")
    customers = pq.ParquetFile(tmp_path / "customers.parquet")
    assert bills.metadata.num_row_groups == customers.metadata.num_row_groups > 3
    assert source_layout(open_source(tmp_path)) is not None
    mine = streamed_only(tmp_path)
    assert LAST_BUILD["partitions"] > 3
    assert_same(mine, build_cube(validated(tmp_path)))


def test_the_demo_set_converted_streams_to_the_same_cube(tmp_path, monkeypatch):
    monkeypatch.setattr(streamed, "PARTITION_CUSTOMERS", 300)
    convert_source(DEFAULT_SOURCE, tmp_path, customers=200)
    mine = streamed_only(tmp_path)
    theirs = build_cube(validated(DEFAULT_SOURCE))
    assert_same(mine, theirs, skip=("warnings",))
    assert len(mine.warnings) == len(theirs.warnings)


def test_a_source_without_the_layout_builds_unstreamed_and_says_how_to_convert(
    tmp_path, small_tables, capsys
):
    source = write_source(small_tables, "parquet", tmp_path / "plain")
    assert source_layout(open_source(source)) is None
    assert "collections-dashboard convert" in layout_hint(open_source(source))
    cube = build_source(source)
    assert "collections-dashboard convert" in capsys.readouterr().err
    assert_same(cube, build_cube(validated(source)))


def test_rows_in_another_customers_row_group_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(streamed, "PARTITION_CUSTOMERS", 500)
    convert_source(DEFAULT_SOURCE, tmp_path, customers=500)
    file = tmp_path / "payments.parquet"
    groups = [pq.ParquetFile(file).read_row_group(i) for i in range(3)]
    moved = [pa.concat_tables([groups[0], groups[1].slice(0, 10)]), groups[1].slice(10), groups[2]]
    with pq.ParquetWriter(file, groups[0].schema) as writer:
        for group in moved:  # row group 0 now holds rows of a customer of row group 1
            writer.write_table(group, row_group_size=max(len(group), 1))
    assert source_layout(open_source(tmp_path)) is not None
    with pytest.raises(SourceError, match="customer order"):
        streamed_only(tmp_path)


def random_frames(rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """A small random book as CSV text would hold it, with rows of unknown customers."""
    n = int(rng.integers(1, 40))
    ids = np.array([f"C{100000 + i}" for i in rng.permutation(n)])
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "region": rng.choice(["Reading", "Oxford", "Slough"], n),
            "income_band": rng.choice(["<£15k", "£15-30k", "£30-50k"], n),
            "tariff": rng.choice(["Standard", "Social"], n),
            "has_meter": rng.integers(0, 2, n),
            "is_vulnerable": rng.integers(0, 2, n),
            "prefers_direct_debit": rng.integers(0, 2, n),
            "tenure_band": rng.choice(["<1y", "1-3y", "3y+"], n),
        }
    )
    who = np.append(ids, ["C999999", "C999998"])  # two unknown customers

    def dates(size: int, first: str = "2023-01-01", days: int = 600) -> np.ndarray:
        day = pd.Timestamp(first) + pd.to_timedelta(rng.integers(0, days, size), unit="D")
        return day.strftime("%Y-%m-%d").to_numpy()

    months = pd.date_range("2023-01-31", periods=20, freq="ME")
    cells = rng.random((len(who), len(months))) < 0.7
    customer, month = np.nonzero(cells)
    period_end = months[month]
    bills = pd.DataFrame(
        {
            "customer_id": who[customer],
            "bill_period_end": period_end.strftime("%Y-%m-%d"),
            "bill_amount": np.round(rng.uniform(5, 80, len(customer)), 2),
            "usage_m3": np.round(rng.uniform(0, 20, len(customer)), 2),
            "due_date": (period_end + pd.Timedelta(days=14)).strftime("%Y-%m-%d"),
        }
    )
    k = int(rng.integers(1, 40 * len(who)))
    payments = pd.DataFrame(
        {
            "customer_id": rng.choice(who, k),
            "payment_date": dates(k),
            "amount": np.round(rng.uniform(1, 90, k), 2),
            "method": rng.choice(["Direct Debit", "Card", "Cash"], k),
        }
    )
    if rng.random() < 0.5:  # an unknown customer's late payment: a global value moves
        payments.loc[len(payments)] = ["C999999", "2024-11-30", 10.0, "Card"]
    a = int(rng.integers(0, 6 * len(who)))
    actions = pd.DataFrame(
        {
            "customer_id": rng.choice(who, a),
            "action_date": dates(a),
            "action": rng.choice([*ACTIONS, "Home Visit"], a),
        }
    )
    j = int(rng.integers(0, 3 * len(who)))
    adjustments = pd.DataFrame(
        {
            "customer_id": rng.choice(who, j),
            "adjustment_date": dates(j),
            "amount": np.round(rng.uniform(0, 50, j), 2),
            "kind": rng.choice(list(ADJUSTMENT_KINDS), j),
        }
    )
    return {
        "customers": customers,
        "bills": bills,
        "payments": payments,
        "collections_actions": actions,
        "adjustments": adjustments,
    }


@pytest.mark.parametrize("seed", range(12))
def test_random_books_stream_to_the_same_cube(tmp_path, monkeypatch, seed):
    rng = np.random.default_rng(seed)
    frames = random_frames(rng)
    plain = tmp_path / "csv"
    plain.mkdir()
    for table, frame in frames.items():
        frame.to_csv(plain / f"{table}.csv", index=False)
    monkeypatch.setattr(streamed, "PARTITION_CUSTOMERS", int(rng.integers(1, 12)))
    convert_source(plain, tmp_path / "parquet", customers=int(rng.integers(1, 9)))
    theirs = build_cube(validated(plain))
    mine = streamed_only(tmp_path / "parquet")
    assert_same(mine, theirs, skip=("warnings",))
    assert len(mine.warnings) == len(theirs.warnings)


def test_dask_workers_read_their_partitions_and_give_the_same_cube(tmp_path, small_partitions):
    distributed = pytest.importorskip("distributed")
    write_demo(tmp_path, "parquet", 300, "2023-01", "2024-06", 9, progress=False)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        engine = Engine("dask", cluster.scheduler_address)
        mine = streamed.streamed_cube(source_layout(open_source(tmp_path)), engine=engine)
        workers = set(LAST_BUILD["peak_rss_by_process"])
    assert_same(mine, build_cube(validated(tmp_path)))
    assert len(workers) >= 1 and all(LAST_BUILD["peak_rss_by_process"].values())
