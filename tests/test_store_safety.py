"""The cube cache as an attacker or a careless owner meets it: nothing on disk runs code,
every damaged or foreign entry is rebuilt with a warning (never a traceback, never other
numbers), unsafe folders are not used, and the cache stays within its size."""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard import compute, loader, store
from dashboard.query.bills import aggregate_bills
from dashboard.query.ledger import ageing
from dashboard.query.selection import segment_selection
from dashboard.query.worklist import worklist
from dashboard.sources import DEFAULT_SOURCE


@pytest.fixture
def source(tmp_path) -> Path:
    folder = tmp_path / "demo"
    folder.mkdir()
    for file in DEFAULT_SOURCE.glob("*.csv"):  # the four tables and adjustments
        shutil.copy(file, folder / file.name)
    return folder


@pytest.fixture(scope="module")
def fresh():
    return loader.load_cube(DEFAULT_SOURCE, persistent=False)


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    """The user's cache folder of each test is its own (and safe)."""
    home = tmp_path / "home-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    monkeypatch.delenv(store.MAX_BYTES_ENV, raising=False)
    loader.clear_cache()
    yield home
    loader.clear_cache()


def same_figures(cube, fresh) -> None:
    everyone = segment_selection(fresh)
    pd.testing.assert_frame_equal(
        aggregate_bills(cube, everyone, by=["month", "region"]),
        aggregate_bills(fresh, everyone, by=["month", "region"]),
    )
    pd.testing.assert_frame_equal(ageing(cube, everyone), ageing(fresh, everyone))
    pd.testing.assert_frame_equal(worklist(cube, everyone), worklist(fresh, everyone))


def rewrite_manifest(entry: Path, change, sealed: bool = False) -> None:
    """Change the manifest, keeping its checksums true to the files; ``sealed``: also its own
    digest (as someone who read this code would)."""
    manifest = json.loads((entry / store.MANIFEST).read_text())
    change(manifest)
    for name in list(manifest["files"]):
        if (entry / name).exists():
            manifest["files"][name] = store._file_facts(entry / name)
    if sealed:
        manifest["digest"] = store._digest_of_manifest(manifest)
    (entry / store.MANIFEST).write_text(json.dumps(manifest))


def test_an_entry_holds_no_pickle_and_reads_back_the_same_cube(source, fresh):
    entry, built = loader.build_and_store(source, progress=False)
    assert built and entry.name.startswith(f"cube-v{store.CUBE_FORMAT}-")
    names = sorted(p.name for p in entry.iterdir())
    assert all(n.endswith((".arrow", ".npy")) or n == store.MANIFEST for n in names), names
    for file in entry.glob("*.npy"):
        assert np.load(file, allow_pickle=False).dtype != object
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same_figures(store.read_cube(entry), fresh)


def corruptions(entry: Path) -> dict:
    """Ways a cache entry gets damaged: by a crash, a disk, a person or another version."""
    files = sorted(p.name for p in entry.iterdir() if p.name != store.MANIFEST)

    def truncate(name):
        return lambda: (entry / name).write_bytes((entry / name).read_bytes()[:100])

    def flip(name):
        def change():
            data = bytearray((entry / name).read_bytes())
            data[len(data) // 2] ^= 0xFF
            (entry / name).write_bytes(bytes(data))

        return change

    cases = {
        "manifest missing": lambda: (entry / store.MANIFEST).unlink(),
        "manifest not JSON": lambda: (entry / store.MANIFEST).write_text("{not json"),
        "manifest empty object": lambda: (entry / store.MANIFEST).write_text("{}"),
        "manifest of another key": lambda: rewrite_manifest(
            entry, lambda m: m["key"].update(edges=[14, 28]), sealed=True
        ),
        "bucket edges changed in the manifest": lambda: rewrite_manifest(
            entry, lambda m: m["cube"].update(edges=[14, 28]), sealed=True
        ),
        "manifest names a file outside": lambda: rewrite_manifest(
            entry, lambda m: m["files"].update({"../x.npy": {"bytes": 1, "blake2b": ""}})
        ),
        "as-of changed in the manifest": lambda: rewrite_manifest(
            entry, lambda m: m["cube"].update(as_of="2099-01-01")
        ),
    }
    for name in files:
        cases[f"{name} truncated"] = truncate(name)
        cases[f"{name} missing"] = lambda name=name: (entry / name).unlink()
    for name in ("bills.arrow", "worklist.arrow", "snapshot_days.npy", "sums_ageing.npy"):
        cases[f"{name} one byte changed"] = flip(name)
    return cases


def test_every_damage_is_rebuilt_with_a_warning_and_the_same_numbers(source, fresh):
    entry, _ = loader.build_and_store(source, progress=False)
    kinds = list(corruptions(entry))
    assert len(kinds) >= 22
    for kind in kinds:
        entry, _ = loader.build_and_store(source, progress=False)
        corruptions(entry)[kind]()
        loader.clear_cache()
        with pytest.warns(store.CacheWarning, match=".") as caught:
            cube = loader.load_cube(source)
        assert caught, kind
        same_figures(cube, fresh)
        assert (entry / store.MANIFEST).exists(), kind  # rebuilt and stored again


def test_a_pickle_in_an_entry_never_runs(source, tmp_path):
    entry, _ = loader.build_and_store(source, progress=False)
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    array = np.array([Payload()], dtype=object)
    np.save(entry / "snapshot_days.npy", array, allow_pickle=True)
    rewrite_manifest(entry, lambda m: None, sealed=True)  # the planted file passes every check
    with pytest.warns(store.CacheWarning):
        assert store.read_cube(entry) is None
    assert not marker.exists()


def test_an_entry_from_another_source_is_not_used(source, tmp_path, fresh):
    other = tmp_path / "other"
    shutil.copytree(source, other)
    bills = other / "bills.csv"
    lines = bills.read_text().splitlines(keepends=True)
    bills.write_text("".join(lines[:-200]))
    theirs, _ = loader.build_and_store(other, progress=False)
    mine = store.cube_file(source, compute.Window(), None)
    mine.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(theirs, mine)
    with pytest.warns(store.CacheWarning, match="another cube"):
        assert store.read_cube(mine) is None
    loader.clear_cache()
    same_figures(loader.load_cube(source), fresh)


@pytest.mark.parametrize("mode", [0o777, 0o775])
def test_a_cache_folder_others_can_write_is_not_used(source, private_home, mode, fresh):
    beside = source / store.CACHE_DIR_NAME
    beside.mkdir()
    beside.chmod(mode)
    entry = store.cube_file(source, compute.Window(), None)
    assert entry is not None and private_home in entry.parents
    private_home.mkdir(parents=True, exist_ok=True)
    private_home.chmod(0o777)
    with pytest.warns(store.CacheWarning, match="in memory only"):
        assert store.cube_file(source, compute.Window(), None) is None
    with pytest.warns(store.CacheWarning, match="in memory only"):
        same_figures(loader.load_cube(source), fresh)
    assert list(beside.iterdir()) == []


def test_no_writable_cache_folder_builds_in_memory_with_a_warning(
    source, private_home, monkeypatch, fresh
):
    monkeypatch.setattr(store, "_unsafe", lambda folder: "not writable")
    with pytest.warns(store.CacheWarning, match="in memory only"):
        same_figures(loader.load_cube(source), fresh)
    with pytest.warns(store.CacheWarning):
        assert loader.build_and_store(source, progress=False) == (None, True)


def test_leftover_temporaries_are_removed_and_fresh_ones_kept(source):
    entry, _ = loader.build_and_store(source, progress=False)
    old = entry.parent / ".tmp-killed"
    old.mkdir()
    (old / "bills.arrow").write_bytes(b"half")
    hour_ago = time.time() - store.STALE_TEMPORARY_SECONDS - 5
    os.utime(old, (hour_ago, hour_ago))
    young = entry.parent / ".tmp-writing"
    young.mkdir()
    loader.build_and_store(source, as_of=pd.Timestamp("2025-06-30"), progress=False)
    assert not old.exists() and young.exists()


def test_entry_names_stay_short_whatever_the_settings(source):
    edges = compute.Buckets(tuple(range(730 - 7 * 97, 731, 97)))
    entry = store.cube_file(source, compute.Window(90, 365, 99_999), None, edges)
    assert len(entry.name) <= 40


def test_the_least_recently_used_entries_go_first(source, monkeypatch):
    first, _ = loader.build_and_store(source, progress=False)
    size = sum(f.stat().st_size for f in first.iterdir())
    second, _ = loader.build_and_store(source, as_of=pd.Timestamp("2025-06-30"), progress=False)
    store.read_cube(first)  # used last: the second is now the oldest
    old = time.time() - 60
    os.utime(second / store.MANIFEST, (old, old))
    monkeypatch.setenv(store.MAX_BYTES_ENV, str(int(size * 2.5)))
    third, _ = loader.build_and_store(source, as_of=pd.Timestamp("2025-03-31"), progress=False)
    assert first.exists() and third.exists() and not second.exists()
    monkeypatch.setenv(store.MAX_BYTES_ENV, "a lot")
    with pytest.raises(ValueError, match="whole number"):
        store.max_bytes()
