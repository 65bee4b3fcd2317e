"""Benchmark the dashboard's build and filter latency against the original SQLite approach.

Usage::

    .venv/bin/python benchmarks/run.py --customers 100000
    .venv/bin/python benchmarks/run.py --customers 1000000 --skip-original \
        --original-customers 20000
    .venv/bin/python benchmarks/run.py --customers 10000000     # generate, build streamed

Data comes from ``collections-dashboard generate --format parquet`` (cached under
``benchmarks/.data/``). With ``--streamed`` (the default from 5,000,000 customers) the
book is generated in customer-ordered row groups and built streamed, partition by
partition (``collections-dashboard build``): build wall time, peak RSS (of the build and of
each process that computed partitions), the cube's size on disk and the recompute latency
after a filter change. Prints one table: build time (load + outcomes + aggregates; the
median of ``--builds`` fresh processes, with stage medians), peak RSS of the build, model
recompute latency after random filter / segment / period changes (p50, p95; with every
output live, and with only the outputs of each dashboard tab live, as a served dashboard
does), and the original approach on the same data in the same run —
SQLite with the original indexes and the ``bill_targets`` view (correlated subqueries), then
the monthly and income-band queries — with the ratio. With ``--skip-original`` the original
is measured on a smaller portfolio (``--original-customers``) and extrapolated linearly in
bills.

With ``--source-kind postgresql`` the same portfolio is written into a PostgreSQL database
with ``generate --format postgresql`` (schema ``bench_CUSTOMERS_SEED`` of ``--postgres URL``,
default ``$COLLECTIONS_TEST_POSTGRES``, else a throwaway cluster started with
``tests/pgcluster.py``; kept between runs only in a server you give), and the build from it is
timed against the build from the Parquet folder, in turn, with each one's peak RSS and the
cost of the source's signature::

    .venv/bin/python benchmarks/run.py --customers 1000000 --source-kind postgresql --builds 3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"

ORIGINAL_SCHEMA = """
CREATE INDEX idx_bills_customer ON bills(customer_id);
CREATE INDEX idx_payments_customer ON payments(customer_id);
CREATE INDEX idx_payments_date ON payments(payment_date);
CREATE VIEW bill_targets AS
SELECT b.customer_id, b.bill_period_end, b.due_date, b.bill_amount,
       (SELECT COALESCE(SUM(p.amount), 0) FROM payments p
         WHERE p.customer_id = b.customer_id
           AND p.payment_date >  date(b.due_date, '-3 day')
           AND p.payment_date <= date(b.due_date, '+60 day')) AS paid_in_window
FROM bills b;
"""
"""Reconstruction of the original notebook's approach: a view with a correlated subquery."""

ORIGINAL_QUERIES = {
    "monthly": """
        SELECT substr(bill_period_end, 1, 7) AS month,
               AVG(CASE WHEN paid_in_window < bill_amount - 1.0 THEN 1.0 ELSE 0.0 END)
        FROM bill_targets GROUP BY month ORDER BY month""",
    "income band": """
        SELECT c.income_band,
               AVG(CASE WHEN t.paid_in_window < t.bill_amount - 1.0 THEN 1.0 ELSE 0.0 END)
        FROM bill_targets t JOIN customers c USING (customer_id) GROUP BY c.income_band""",
}


def portfolio_path(customers: int, seed: int = 7) -> Path:
    """A generated Parquet portfolio of ``customers``, cached in benchmarks/.data."""
    path = DATA / f"parquet_{customers}_{seed}"
    if not (path / "customers.parquet").exists():
        from dashboard.demo import write_demo

        print(f"generating {customers:,} customers into {path} ...", file=sys.stderr)
        write_demo(path, "parquet", customers, "2022-01", "2025-12", seed, progress=True)
    return path


def measure_build(source: Path, engine: str = "pandas") -> dict:
    """Build in a fresh process, so peak RSS is the build's own (with ``--engine dask``, the
    workers' memory is not in it: they are other processes)."""
    code = (
        "import json, resource, time\n"
        "from dashboard.sources import read_source\n"
        "from dashboard.schema import validate\n"
        "from dashboard.cube.pipeline import build_cube\n"
        "from dashboard.compute.memory import reusing_freed_memory\n"
        "reusing = reusing_freed_memory(); reusing.__enter__()  # as loader.build_and_store\n"
        "t0 = time.perf_counter()\n"
        f"raw = read_source({str(source)!r})\n"
        "t1 = time.perf_counter()\n"
        "portfolio = validate(raw); del raw\n"
        "t2 = time.perf_counter()\n"
        "cube = build_cube(portfolio)\n"
        "t3 = time.perf_counter()\n"
        "print(json.dumps({'read': t1 - t0, 'validate': t2 - t1, 'cube': t3 - t2,\n"
        "  'build': t3 - t0, 'bills': len(portfolio.bills),\n"
        "  'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n"
    )
    env = {**os.environ, "COLLECTIONS_ENGINE": engine}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def streamed_path(customers: int, seed: int = 7) -> tuple[Path, dict | None]:
    """A generated Parquet portfolio in customer-ordered row groups (what a streamed build
    reads), cached in benchmarks/.data; generated by ``collections-dashboard generate`` in
    a fresh process, whose wall time and peak RSS are returned (None: it was there)."""
    path = DATA / f"streamed_{customers}_{seed}"
    if (path / "adjustments.parquet").exists():
        return path, None
    print(f"generating {customers:,} customers into {path} ...", file=sys.stderr)
    command = [str(Path(sys.executable).parent / "collections-dashboard"), "generate"]
    command += [f"--customers={customers}", f"--seed={seed}", "--format=parquet"]
    command += [f"--out={path}", "--start=2022-01", "--end=2025-12", "--no-progress"]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return path, {"seconds": time.perf_counter() - started, "peak_rss_mb": peak}


def measure_streamed_build(source: Path, engine: str = "pandas") -> dict:
    """``collections-dashboard build`` of ``source`` in a fresh process (its cache entry
    removed first): wall time, peak RSS, the streamed build's figures and the cube's size
    on disk."""
    code = (
        "import json, resource, shutil, time\n"
        "from dashboard import store\n"
        "from dashboard.compute.ledger import Buckets\n"
        "from dashboard.compute.outcomes import Window\n"
        "from dashboard.cube.streamed import LAST_BUILD\n"
        "from dashboard.loader import build_and_store\n"
        f"entry = store.cube_file({str(source)!r}, Window(), None, Buckets())\n"
        "shutil.rmtree(entry, ignore_errors=True)\n"
        "t0 = time.perf_counter()\n"
        f"entry, built = build_and_store({str(source)!r}, progress=False)\n"
        "t1 = time.perf_counter()\n"
        "size = sum(f.stat().st_size for f in entry.rglob('*') if f.is_file())\n"
        "print(json.dumps({'build': t1 - t0, 'cube_mb': size / 1e6, **LAST_BUILD,\n"
        "  'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n"
    )
    env = {**os.environ, "COLLECTIONS_ENGINE": engine}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def streamed_rows(args: argparse.Namespace) -> list[tuple[str, str]]:
    """Generate (once) and build streamed; the rows of the table."""
    source, generated = streamed_path(args.customers)
    rows = [("customers", f"{args.customers:,}"), ("source", str(source))]
    if generated is not None:
        rows.append(
            (
                "generate --format parquet (customer-ordered row groups)",
                f"{generated['seconds']:.1f} s, peak RSS {generated['peak_rss_mb']:,.0f} MB",
            )
        )
    builds = [measure_streamed_build(source, args.engine) for _ in range(max(args.builds, 1))]
    walls = sorted(b["build"] for b in builds)
    build = builds[0]
    workers = build.get("peak_rss_by_process", {})
    rows += [
        (
            f"build total, streamed ({args.engine} engine, median of {len(builds)})",
            f"{float(np.median(walls)):.1f} s (range {walls[0]:.1f}-{walls[-1]:.1f} s)",
        ),
        ("partitions / passes", f"{build.get('partitions')} / {build.get('passes')}"),
        ("peak RSS of the build", f"{max(b['peak_rss_mb'] for b in builds):,.0f} MB"),
        (
            "peak RSS of each process that computed partitions",
            ", ".join(f"{v / 2**20:,.0f} MB" for v in workers.values()) or "-",
        ),
        ("cube on disk", f"{build['cube_mb']:,.0f} MB"),
    ]
    print_table(rows)  # the build's figures first: the recompute runs take a while
    sys.stdout.flush()
    latency = measure_recompute(source, args.changes) * 1000
    rows.append(
        (
            f"recompute after a change, every output (n={len(latency)})",
            f"p50 {np.percentile(latency, 50):.1f} ms, p95 {np.percentile(latency, 95):.1f} ms",
        )
    )
    for tab, outputs in outputs_by_tab().items():
        values = measure_recompute(source, args.changes, live_outputs=outputs) * 1000
        rows.append(
            (
                f"  with the {tab} tab open (its outputs only)",
                f"p50 {np.percentile(values, 50):.1f} ms, p95 {np.percentile(values, 95):.1f} ms",
            )
        )
    return rows


def postgres_source(url: str, customers: int, seed: int = 7) -> tuple[str, float | None]:
    """The portfolio of :func:`portfolio_path` in schema ``bench_CUSTOMERS_SEED`` of the
    database at ``url``, written with ``generate --format postgresql`` unless already there.

    Returns
    -------
    (str, float or None)
        The source spec, and the seconds the writing took (None: it was there).
    """
    from dashboard import SourceError
    from dashboard.sources.pgspec import with_options
    from dashboard.sources.postgresql import PostgresSource, fetch

    schema = f"bench_{customers}_{seed}"
    spec = with_options(url, schema=schema)
    try:
        with PostgresSource(spec).session() as cursor:
            rows = fetch(cursor, f"SELECT count(*) FROM {schema}.customers", spec)
        if rows[0][0] == customers:
            return spec, None
    except SourceError:  # not there yet
        pass
    from dashboard.demo import write_demo

    print(f"generating {customers:,} customers into {spec} ...", file=sys.stderr)
    started = time.perf_counter()
    write_demo(spec, "postgresql", customers, "2022-01", "2025-12", seed, progress=True)
    return spec, time.perf_counter() - started


def measure_signature(spec: str) -> tuple[float, float]:
    """Seconds of a source's first ``signature()`` in a fresh process, and of a second one."""
    code = (
        "import json, time\n"
        "from dashboard.sources import open_source\n"
        f"source = open_source({spec!r})\n"
        "t0 = time.perf_counter(); source.signature(); t1 = time.perf_counter()\n"
        "source.signature(); t2 = time.perf_counter()\n"
        "print(json.dumps([t1 - t0, t2 - t1]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    first, again = json.loads(result.stdout.strip().splitlines()[-1])
    return first, again


@contextlib.contextmanager
def postgres_server(url: str | None):
    """``url``, or a throwaway cluster (``tests/pgcluster.py``) for the run."""
    if url:
        yield url
        return
    sys.path.insert(0, str(HERE.parent / "tests"))
    import pgcluster

    folder = tempfile.mkdtemp(prefix="collections-bench-pg-")
    try:
        yield pgcluster.start(folder)
    finally:
        pgcluster.stop(folder)


def compare_postgresql(args: argparse.Namespace) -> list[tuple[str, str]]:
    """Build from PostgreSQL and from Parquet (the same portfolio), in turn; the rows of
    the table."""
    parquet = Path(args.parquet) if args.parquet else portfolio_path(args.customers)
    with postgres_server(args.postgres) as url:
        spec, written = postgres_source(url, args.customers)
        runs = {"postgresql": [], "parquet": []}
        for _ in range(max(args.builds, 1)):
            runs["postgresql"].append(measure_build(spec, args.engine))
            runs["parquet"].append(measure_build(parquet, args.engine))
        signature = measure_signature(spec)
    median = {
        kind: {k: float(np.median([b[k] for b in r])) for k in r[0]} for kind, r in runs.items()
    }
    peak = {kind: max(b["peak_rss_mb"] for b in r) for kind, r in runs.items()}
    pg, pq_ = median["postgresql"], median["parquet"]
    bills = {kind: r[0]["bills"] for kind, r in runs.items()}
    same = bills["postgresql"] == bills["parquet"]
    rows = [
        ("customers", f"{args.customers:,}"),
        (
            "bills",
            f"{bills['postgresql']:,}"
            + (
                ""
                if same
                else f" (Parquet: {bills['parquet']:,}: "
                "another book, regenerate it or give --parquet)"
            ),
        ),
    ]
    if written is not None:
        rows.append(("generate --format postgresql (write + vacuum)", f"{written:.1f} s"))
    for kind, build in median.items():
        rows.append(
            (
                f"build from {kind}: read / validate / outcomes + aggregates",
                f"{build['read']:.1f} / {build['validate']:.1f} / {build['cube']:.1f} s",
            )
        )
    rows += [
        (f"build total, postgresql (median of {len(runs['postgresql'])})", f"{pg['build']:.1f} s"),
        (f"build total, parquet (median of {len(runs['parquet'])})", f"{pq_['build']:.1f} s"),
        ("postgresql / parquet build time", f"{pg['build'] / pq_['build']:.2f}x (target <= 2x)"),
        ("peak RSS of the build, postgresql", f"{peak['postgresql']:,.0f} MB"),
        ("peak RSS of the build, parquet", f"{peak['parquet']:,.0f} MB"),
        (
            "postgresql signature(): first in a process / again (same snapshot)",
            f"{signature[0]:.2f} s / {signature[1] * 1000:.0f} ms",
        ),
    ]
    return rows


def print_table(rows: list[tuple[str, str]]) -> None:
    """Print ``(measure, value)`` rows as a two-column table."""
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{width}}  value")
    print(f"{'-' * width}  {'-' * 40}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def outputs_by_tab() -> dict[str, list[str]]:
    """The model outputs each dashboard tab shows (read from a dashboard on the demo data)."""
    import panel as pn

    from dashboard.ui.app import Dashboard

    pn.extension("echarts", "tabulator")
    board = Dashboard()
    board.tabs()
    return board.outputs_by_tab()


def measure_recompute(
    source: Path, changes: int, seed: int = 0, live_outputs: list[str] | None = None
) -> np.ndarray:
    """Seconds per random filter / segment / period change of a CollectionsModel.

    ``live_outputs``: the outputs kept up to date (a served dashboard keeps those of its open
    tab); all of them by default.
    """
    from dashboard.model import ON_DEMAND, OUTPUT_NAMES, CollectionsModel
    from dashboard.vocab import DIMENSIONS

    every = [name for name in OUTPUT_NAMES if name not in ON_DEMAND]  # a model's default
    model = CollectionsModel(source=str(source), live_outputs=live_outputs or every)
    rng = np.random.default_rng(seed)
    months = model.cube.months
    timings = []
    for _ in range(changes):
        kind = rng.choice(["filter", "segment", "period", "clear"])
        start = time.perf_counter()
        if kind == "filter":
            dim = str(rng.choice(DIMENSIONS))
            objects = model.param[dim].objects
            size = int(rng.integers(1, len(objects) + 1))
            setattr(model, dim, list(rng.choice(objects, size=size, replace=False)))
        elif kind == "segment":
            model.segment_by = str(rng.choice(DIMENSIONS))
        elif kind == "period":
            first, last = sorted(rng.choice(len(months), size=2, replace=False))
            model.period = (months[first].to_pydatetime(), months[last].to_pydatetime())
        else:
            model.param.update({dim: [] for dim in DIMENSIONS})
        timings.append(time.perf_counter() - start)
    return np.array(timings)


def measure_original(source: Path) -> dict:
    """Load the Parquet portfolio into SQLite the original way and time its two queries."""
    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "original.sqlite"
        with sqlite3.connect(db) as connection:
            for table in ("customers", "bills", "payments"):
                frame = pd.read_parquet(source / f"{table}.parquet")
                for column in frame.columns:
                    if "date" in column or column == "bill_period_end":
                        frame[column] = pd.to_datetime(frame[column]).dt.strftime("%Y-%m-%d")
                frame.to_sql(table, connection, index=False)
            connection.executescript(ORIGINAL_SCHEMA)
            bills = connection.execute("SELECT COUNT(*) FROM bills").fetchone()[0]
            timings = {"bills": bills}
            for name, query in ORIGINAL_QUERIES.items():
                start = time.perf_counter()
                connection.execute(query).fetchall()
                timings[name] = time.perf_counter() - start
    return timings


def main() -> None:
    """Run every measurement and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=60, help="filter changes to time (>= 50)")
    parser.add_argument("--skip-original", action="store_true")
    parser.add_argument("--original-customers", type=int, default=10_000)
    parser.add_argument(
        "--engine", choices=["pandas", "dask"], default="pandas", help="build engine"
    )
    parser.add_argument(
        "--builds", type=int, default=1, help="builds to time (the median is reported)"
    )
    parser.add_argument(
        "--source-kind",
        choices=["parquet", "postgresql"],
        default="parquet",
        help="postgresql: time the build from PostgreSQL against the Parquet build only",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("COLLECTIONS_TEST_POSTGRES"),
        help="PostgreSQL URL (a user that may create schemas); default "
        "$COLLECTIONS_TEST_POSTGRES, else a throwaway cluster",
    )
    parser.add_argument(
        "--parquet",
        help="with --source-kind postgresql: the Parquet folder of the same book "
        "(default benchmarks/.data/parquet_CUSTOMERS_7)",
    )
    parser.add_argument(
        "--streamed",
        action="store_true",
        help="generate in customer-ordered row groups and time the streamed build "
        "(the default from 5,000,000 customers)",
    )
    args = parser.parse_args()
    if args.streamed or args.customers >= 5_000_000:
        print_table(streamed_rows(args))
        return
    if args.source_kind == "postgresql":
        print_table(compare_postgresql(args))
        return

    source = portfolio_path(args.customers)
    builds = [measure_build(source, args.engine) for _ in range(max(args.builds, 1))]
    build = {key: float(np.median([b[key] for b in builds])) for key in builds[0]}
    build["bills"] = builds[0]["bills"]
    totals = sorted(b["build"] for b in builds)
    latency = measure_recompute(source, args.changes) * 1000
    by_tab = {
        tab: measure_recompute(source, args.changes, live_outputs=outputs) * 1000
        for tab, outputs in outputs_by_tab().items()
    }
    original_source = portfolio_path(args.original_customers) if args.skip_original else source
    original = measure_original(original_source)
    scale = build["bills"] / original["bills"]
    note = (
        f"measured at {args.original_customers:,} customers ({original['bills']:,} bills), "
        f"x{scale:.1f} linear"
        if args.skip_original
        else "same data"
    )
    ours = {"monthly": latency, "income band": latency}

    rows = [
        ("customers", f"{args.customers:,}"),
        ("bills", f"{build['bills']:,}"),
        ("build: open source (schemas only)", f"{build['read']:.1f} s"),
        ("build: read + validate (a table at a time)", f"{build['validate']:.1f} s"),
        ("build: outcomes + aggregates", f"{build['cube']:.1f} s"),
        (
            f"build total ({args.engine} engine, median of {len(builds)})",
            f"{build['build']:.1f} s"
            + (f" (range {totals[0]:.1f}-{totals[-1]:.1f} s)" if len(builds) > 1 else ""),
        ),
        ("peak RSS of the build", f"{max(b['peak_rss_mb'] for b in builds):,.0f} MB"),
        (
            f"recompute after a change, every output (n={len(latency)})",
            f"p50 {np.percentile(latency, 50):.1f} ms, p95 {np.percentile(latency, 95):.1f} ms",
        ),
    ]
    for tab, values in by_tab.items():
        rows.append(
            (
                f"  with the {tab} tab open (its outputs only)",
                f"p50 {np.percentile(values, 50):.1f} ms, p95 {np.percentile(values, 95):.1f} ms",
            )
        )
    for name in ORIGINAL_QUERIES:
        seconds = original[name] * scale
        rows.append(
            (
                f"original {name} query ({note})",
                f"{seconds:,.1f} s = {seconds * 1000 / np.percentile(ours[name], 95):,.0f}x "
                "our p95 recompute",
            )
        )
    rows.append(
        (
            "peak RSS of this script",
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB",
        )
    )
    print_table(rows)


if __name__ == "__main__":
    main()
