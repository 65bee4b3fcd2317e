"""The persistent cube cache: keyed by contents and parameters, safe for concurrent starts,
never running code from disk, and rebuilding (with a warning) whatever is damaged or foreign."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard import compute, loader, store
from dashboard.query.bills import aggregate_bills
from dashboard.query.selection import segment_selection
from dashboard.sources import DEFAULT_SOURCE


def copy_demo(tmp_path):
    folder = tmp_path / "demo"
    folder.mkdir()
    for table in ("customers", "bills", "payments", "collections_actions"):
        shutil.copy(DEFAULT_SOURCE / f"{table}.csv", folder / f"{table}.csv")
    return folder


def test_build_stores_a_cube_equal_to_a_fresh_build(tmp_path):
    source = copy_demo(tmp_path)
    file, built = loader.build_and_store(source, progress=False)
    assert built and file.exists() and file.parent == source / store.CACHE_DIR_NAME
    assert loader.build_and_store(source, progress=False) == (file, False)
    cached = store.read_cube(file)
    fresh = loader.load_cube(source, persistent=False)
    everyone = segment_selection(fresh)
    pd.testing.assert_frame_equal(
        aggregate_bills(cached, everyone, by=["month", "region"]),
        aggregate_bills(fresh, everyone, by=["month", "region"]),
    )
    # nothing per customer but the worklist's rows, whose segment ids are in the narrowest
    # type that holds them (2 bytes, not 8)
    assert cached.n_customers == fresh.n_customers == len(loader.load_portfolio(source).customers)
    assert cached.arrears.worklist["segment"].dtype == np.uint16
    pd.testing.assert_frame_equal(cached.arrears.worklist, fresh.arrears.worklist)
    assert not any(f.name.startswith("customer") for f in file.iterdir())


def test_changed_contents_or_parameters_give_another_cube(tmp_path):
    source = copy_demo(tmp_path)
    first = store.cube_file(source, compute.Window(), None)
    assert store.cube_file(source, compute.Window(3, 30, 100), None) != first
    assert store.cube_file(source, compute.Window(), pd.Timestamp("2025-01-31")) != first
    assert store.cube_file(source, compute.Window(), None, compute.Buckets((14, 28))) != first
    bills = source / "bills.csv"
    bills.write_text(bills.read_text().replace(",", ",", 1) + "\n")  # same rows, new bytes
    assert store.cube_file(source, compute.Window(), None) != first


def test_two_processes_building_at_once_both_succeed(tmp_path):
    source = copy_demo(tmp_path)
    code = (
        "from dashboard.loader import build_and_store;"
        f"print(build_and_store({str(source)!r}, progress=False)[0])"
    )
    runs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE) for _ in "ab"]
    outputs = [run.communicate(timeout=120)[0].decode().strip() for run in runs]
    assert all(run.returncode == 0 for run in runs)
    assert outputs[0] == outputs[1]
    assert store.read_cube(Path(outputs[0])) is not None
    leftovers = [
        p.name for p in (source / store.CACHE_DIR_NAME).iterdir() if p.name.startswith(".tmp")
    ]
    assert leftovers == []


def test_a_damaged_cache_file_is_rebuilt(tmp_path):
    source = copy_demo(tmp_path)
    file, _ = loader.build_and_store(source, progress=False)
    (file / "bills.arrow").write_bytes(b"not a table")
    with pytest.warns(store.CacheWarning, match="damaged or foreign"):
        assert store.read_cube(file) is None
    assert loader.build_and_store(source, progress=False) == (file, True)


def test_source_signature_ignores_the_cache_folder(tmp_path):
    source = copy_demo(tmp_path)
    before = loader.source_key(source)
    loader.build_and_store(source, progress=False)
    assert loader.source_key(source) == before
