"""Time the early-warning score: load, training and scoring, with peak RSS.

Usage::

    .venv/bin/python benchmarks/score.py --source benchmarks/.data/parquet_1000000_7
    /usr/bin/time -v .venv/bin/python benchmarks/score.py --source /tmp/book100k

Prints one table: seconds to read and validate the source, to train the default model on
the month-ends before the as-of date (feature rows of the seeded training sample, then the
fit), to score every customer Current on the as-of date (features, then predictions), the
rows involved, the scoring's CPU time (all threads) and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import time

import pandas as pd


def main() -> None:
    """Run the timings and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True)
    parser.add_argument("--as-of", default=None)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()

    from dashboard.cube.pipeline import validated
    from dashboard.score import DEFAULT_KIND, features_at, train

    timings = []
    start = time.perf_counter()
    portfolio = validated(args.source)
    timings.append(("load + validate", time.perf_counter() - start, len(portfolio.customers)))
    as_of = pd.Timestamp(args.as_of) if args.as_of else None
    start = time.perf_counter()
    scorer = train(portfolio, as_of, kind=args.model or DEFAULT_KIND)
    timings.append(("train (features + fit)", time.perf_counter() - start, scorer.training_rows))
    start, cpu = time.perf_counter(), time.process_time()
    rows = features_at(portfolio, scorer.trained_through)
    middle = time.perf_counter()
    scores = scorer.predict(rows)
    end, cpu = time.perf_counter(), time.process_time() - cpu
    timings.append(("score: features", middle - start, len(rows)))
    timings.append(("score: predict", end - middle, len(scores)))
    timings.append(("score: total", end - start, len(scores)))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"source {args.source}, as of {scorer.trained_through:%Y-%m-%d}, model {scorer.kind}")
    print(f"{'step':<26}{'seconds':>10}{'rows':>12}")
    for step, seconds, rows_count in timings:
        print(f"{step:<26}{seconds:>10.1f}{rows_count:>12,}")
    print(f"scoring CPU time {cpu:.1f} s (all threads); peak RSS {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
