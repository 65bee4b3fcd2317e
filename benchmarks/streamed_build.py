"""Time one build of a source's cube in this process: wall seconds and peak RSS.

Usage::

    .venv/bin/python benchmarks/streamed_build.py benchmarks/.data/streamed_1000000_7
    /usr/bin/time -v .venv/bin/python benchmarks/streamed_build.py PATH

Builds with :func:`dashboard.cube.streamed.build_source` (streamed when the source is a
Parquet folder in customer order, the unstreamed way otherwise), writes nothing, and prints
one line: the wall time of the build, the process's peak RSS (``getrusage``, GB = 10^9
bytes) and the partitions the build ran.
"""

from __future__ import annotations

import argparse
import resource
import time


def main() -> None:
    """Build once and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="CSV folder, SQLite file or Parquet folder")
    args = parser.parse_args()

    from dashboard.cube.streamed import LAST_BUILD, build_source

    start = time.perf_counter()
    cube = build_source(args.source)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # KiB on Linux
    customers = cube.n_customers
    partitions = LAST_BUILD.get("partitions", "-")
    print(
        f"build {seconds:.1f} s, peak RSS {peak:.2f} GB, {customers:,} customers, "
        f"{partitions} partitions"
    )


if __name__ == "__main__":
    main()
