"""A persistent cache of built cubes, next to the data, in formats that cannot run code.

``serve``, ``summary`` and ``export`` load a cube from here instead of rebuilding it. Each
cube is an *entry*: a folder ``cube-v{CUBE_FORMAT}-{digest}`` holding

* ``manifest.json`` — the format, the package version, the key the cube was built for
  (source kind and :meth:`~dashboard.sources.Source.signature`, window, tolerance, as-of,
  bucket edges), the cube's scalars, and every file's size and BLAKE2b checksum;
* the cube's frames as Arrow IPC files (``*.arrow``) and its arrays as ``.npy`` files, read
  with ``allow_pickle=False``.

Nothing in an entry is executed or unpickled. The digest in the name is that of the key,
and a manifest whose key does not give that digest, a missing file, a size or checksum that
differs, or a file that does not parse makes the entry *foreign or damaged*: it is removed
and the cube rebuilt, with a :class:`CacheWarning` — never a traceback, never a cube that
differs from a fresh build.

Entries are written into a temporary folder and renamed into place, so two processes
building at once never read a half-written entry (the slower one drops its own copy);
temporaries left by a killed write are removed once they are an hour old. Loading an entry
marks it used; when the folder holds more than :func:`max_bytes` (``$COLLECTIONS_CACHE_BYTES``,
4 GiB by default) the least recently used entries go first.

The folder is ``.collections-cache`` beside the data
(:meth:`~dashboard.sources.Source.cache_home`), else the user's cache folder. A folder that
other users could write to (world- or group-writable, or owned by someone else) is never
used: anyone who can write there could make the server show their numbers. With no usable
folder the cube is built in memory only, with a warning.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from dashboard import __version__
from dashboard.compute.ledger import Buckets
from dashboard.compute.outcomes import Window
from dashboard.compute.reach import ReachTable
from dashboard.cube.tables import ArrearsTables, Cube
from dashboard.sources import Source, open_source
from dashboard.vocab import ACTIONS

CACHE_DIR_NAME = ".collections-cache"
CUBE_FORMAT = 17
"""Bump when :class:`dashboard.cube.tables.Cube` changes shape: old entries are then ignored."""

MAX_BYTES_ENV = "COLLECTIONS_CACHE_BYTES"
DEFAULT_MAX_BYTES = 4 * 2**30
"""The cache's size before least recently used entries are removed (a 1 M-customer cube is
a few hundred MB; this machine has tens of GB of disk)."""

STALE_TEMPORARY_SECONDS = 3600
"""A temporary entry older than this was left by a killed write and is removed."""

MANIFEST = "manifest.json"
_FRAMES = ("segments", "bills", "actions", "arrangements", "worklist")


class CacheWarning(UserWarning):
    """The cube cache could not be used as asked (a damaged entry, no safe folder)."""


def cube_key(
    source: str | Path | Source,
    window: Window,
    as_of: pd.Timestamp | None,
    buckets: Buckets = Buckets(),
) -> dict:
    """What a cube is built from: the source's contents and the build settings.

    Returns
    -------
    dict
        JSON-ready: ``format``, ``version``, ``source_kind``, ``signature``, ``window``
        (before, after, tolerance in pence), ``as_of`` (``"latest"`` or a date) and
        ``edges``.
    """
    source = open_source(source)
    return {
        "format": CUBE_FORMAT,
        "version": __version__,
        "source_kind": source.kind,
        "signature": source.signature(),
        "window": [window.before, window.after, window.tolerance_pence],
        "as_of": "latest" if as_of is None else f"{pd.Timestamp(as_of):%Y-%m-%d}",
        "edges": list(buckets.edges),
    }


def entry_name(key: dict) -> str:
    """The folder name of a cube entry: short whatever the settings (a digest of the key)."""
    return f"cube-v{CUBE_FORMAT}-{_digest_of_key(key)}"


def cube_file(
    source: str | Path | Source,
    window: Window,
    as_of: pd.Timestamp | None,
    buckets: Buckets = Buckets(),
) -> Path | None:
    """Where the cube of this source and these settings is kept (an entry folder).

    Returns
    -------
    Path or None
        None when no safe cache folder exists for the source (see :func:`cache_folder`).
    """
    source = open_source(source)
    folder = cache_folder(source)
    if folder is None:
        return None
    return folder / entry_name(cube_key(source, window, as_of, buckets))


def cache_folder(source: Source) -> Path | None:
    """``.collections-cache`` beside the data, else the user's cache folder; None (with a
    :class:`CacheWarning`) when neither is safe to use.

    A folder is safe when it is (or can be created as) a real folder owned by this user and
    writable by nobody else.
    """
    candidates = []
    home_of_data = source.cache_home()
    if home_of_data is not None:
        candidates.append(Path(home_of_data) / CACHE_DIR_NAME)
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.blake2b(source.describe().encode(), digest_size=8).hexdigest()
    candidates.append(home / "collections-dashboard" / digest)
    refused = []
    for folder in candidates:
        problem = _unsafe(folder)
        if problem is None:
            return folder
        refused.append(f"{folder} ({problem})")
    warnings.warn(
        f"no safe cache folder, the cube is kept in memory only: {'; '.join(refused)}",
        CacheWarning,
        stacklevel=2,
    )
    return None


def read_cube(entry: Path) -> Cube | None:
    """The cached cube, or None when absent; a foreign or damaged entry is removed, with a
    :class:`CacheWarning`, and None returned (the cube is then rebuilt).

    Parameters
    ----------
    entry : Path
        From :func:`cube_file`.

    Returns
    -------
    Cube or None
    """
    entry = Path(entry)
    if not (entry / MANIFEST).exists():
        if entry.exists():
            _discard(entry, "no manifest")
        return None
    try:
        cube = _read_entry(entry)
    except (OSError, ValueError, KeyError, TypeError, IndexError, pa.ArrowException) as exc:
        _discard(entry, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return None
    now = time.time()
    try:
        os.utime(entry / MANIFEST, (now, now))  # used now: the last to go
    except OSError:
        pass
    return cube


def write_cube(cube: Cube, entry: Path, key: dict) -> Path:
    """Write a cube as an entry, atomically (a temporary folder renamed into place).

    Parameters
    ----------
    cube : Cube
    entry : Path
        From :func:`cube_file`.
    key : dict
        From :func:`cube_key`: what the cube was built from.

    Returns
    -------
    Path
        The entry (another process's identical entry if it finished first).
    """
    if entry.name != entry_name(key):
        raise ValueError(f"{entry.name} is not the entry of this key")
    folder = entry.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    remove_stale_temporaries(folder)
    temporary = Path(tempfile.mkdtemp(dir=folder, prefix=".tmp-"))
    try:
        files = _write_files(cube, temporary)
        manifest = {
            "key": key,
            "cube": {
                "as_of": f"{cube.as_of:%Y-%m-%d}",
                "window": [cube.window.before, cube.window.after, cube.window.tolerance_pence],
                "edges": list(cube.arrears.buckets.edges),
                "warnings": list(cube.warnings),
                "excluded": cube.excluded,
                "customers": cube.n_customers,
            },
            "files": {name: _file_facts(temporary / name) for name in files},
        }
        manifest["digest"] = _digest_of_manifest(manifest)
        (temporary / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        try:
            os.rename(temporary, entry)
        except OSError:
            if not (entry / MANIFEST).exists():
                raise
            shutil.rmtree(temporary, ignore_errors=True)  # another process finished first
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    keep_within(folder, max_bytes())
    return entry


def max_bytes() -> int:
    """The cache's size limit: ``$COLLECTIONS_CACHE_BYTES`` or :data:`DEFAULT_MAX_BYTES`."""
    text = os.environ.get(MAX_BYTES_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"${MAX_BYTES_ENV}={text!r}: not a whole number of bytes") from None
    if value < 0:
        raise ValueError(f"${MAX_BYTES_ENV}={text!r}: must be 0 or more")
    return value


def keep_within(folder: Path, limit: int) -> list[Path]:
    """Remove the least recently used entries until the folder holds at most ``limit`` bytes.

    Returns
    -------
    list of Path
        The entries removed.
    """
    entries = []
    for entry in folder.glob(f"cube-v{CUBE_FORMAT}-*"):
        manifest = entry / MANIFEST
        if manifest.exists():
            size = sum(f.stat().st_size for f in entry.iterdir() if f.is_file())
            entries.append((manifest.stat().st_mtime, size, entry))
    total = sum(size for _, size, _ in entries)
    removed = []
    for _, size, entry in sorted(entries, key=lambda item: item[0]):
        if total <= limit:
            break
        shutil.rmtree(entry, ignore_errors=True)
        total -= size
        removed.append(entry)
    return removed


def remove_stale_temporaries(folder: Path, age: float = STALE_TEMPORARY_SECONDS) -> list[Path]:
    """Remove temporaries (``.tmp-*``) older than ``age`` seconds, left by killed writes."""
    removed = []
    now = time.time()
    for temporary in folder.glob(".tmp-*"):
        try:
            if now - temporary.lstat().st_mtime > age:
                if temporary.is_dir() and not temporary.is_symlink():
                    shutil.rmtree(temporary, ignore_errors=True)
                else:
                    temporary.unlink(missing_ok=True)
                removed.append(temporary)
        except OSError:
            continue
    return removed


# --- reading and writing an entry ---------------------------------------------------------


def _write_files(cube: Cube, folder: Path) -> list[str]:
    frames = {
        "segments": cube.segments,
        "bills": cube.bills,
        "actions": cube.actions,
        "arrangements": cube.arrangements,
        "worklist": cube.arrears.worklist,
    }
    arrays = {
        "months": cube.months.to_numpy(),
        "snapshot_days": cube.arrears.snapshot_days,
        **{f"funnel_{i}": table.as_array() for i, table in enumerate(cube.arrears.funnel)},
        **{f"reach_{name}": table.as_array() for name, table in cube.reach.items()},
        **{f"sums_{name}": table for name, table in cube.arrears.sums.items()},
        "severe_reach": cube.arrears.reach_after.as_array(),
    }
    names = []
    for name, frame in frames.items():
        table = pa.Table.from_pandas(frame, preserve_index=True)
        with pa.OSFile(str(folder / f"{name}.arrow"), "wb") as sink:
            with pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
        names.append(f"{name}.arrow")
    for name, array in arrays.items():
        np.save(folder / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
        names.append(f"{name}.npy")
    return names


def _read_entry(entry: Path) -> Cube:
    manifest = json.loads((entry / MANIFEST).read_text(encoding="utf-8"))
    key = manifest["key"]
    if entry.name != entry_name(key) or key.get("format") != CUBE_FORMAT:
        raise ValueError("manifest of another cube")
    if manifest.get("digest") != _digest_of_manifest(manifest):
        raise ValueError("manifest changed after it was written")
    facts = manifest["cube"]
    fixed_as_of = key["as_of"] != "latest" and facts["as_of"] != key["as_of"]
    if facts["window"] != key["window"] or facts["edges"] != key["edges"] or fixed_as_of:
        raise ValueError("manifest of another cube")
    verified = {}  # each file read once: checked, then parsed from the same bytes
    for name, expected in manifest["files"].items():
        if Path(name).name != name or not name.endswith((".arrow", ".npy")):
            raise ValueError(f"unexpected file name {name!r}")
        data = (entry / name).read_bytes()
        if _facts_of(data) != expected:
            raise ValueError(f"{name}: size or checksum differs from the manifest")
        verified[name] = data
    frames = {name: _frame_of(verified[f"{name}.arrow"]) for name in _FRAMES}
    arrays = {
        Path(name).stem: np.load(io.BytesIO(data), allow_pickle=False)
        for name, data in verified.items()
        if name.endswith(".npy")
    }
    months = pd.DatetimeIndex(arrays.pop("months"))
    if len(months):
        regular = pd.date_range(months[0], periods=len(months), freq="MS", unit=months.unit)
        if not regular.equals(months):
            raise ValueError("cube months are not consecutive month starts")
        months = regular
    sums = {k.removeprefix("sums_"): v for k, v in arrays.items() if k.startswith("sums_")}
    n_months, n_segments = len(months), len(frames["segments"])
    reach = {
        k.removeprefix("reach_"): ReachTable.from_array(v, n_months, n_segments)
        for k, v in arrays.items()
        if k.startswith("reach_")
    }
    funnel = [
        ReachTable.from_array(arrays[f"funnel_{i}"], n_months, n_segments)
        for i in range(len(ACTIONS))
    ]
    arrears = ArrearsTables(
        buckets=Buckets(tuple(facts["edges"])),
        snapshot_days=arrays["snapshot_days"],
        sums=sums,
        funnel=funnel,
        worklist=frames["worklist"],
        reach_after=ReachTable.from_array(
            arrays["severe_reach"], len(arrays["snapshot_days"]), n_segments
        ),
    )
    return Cube(
        months=months,
        segments=frames["segments"],
        bills=frames["bills"],
        actions=frames["actions"],
        arrangements=frames["arrangements"],
        n_customers=int(facts["customers"]),
        reach=reach,
        as_of=pd.Timestamp(facts["as_of"]),
        window=Window(*facts["window"]),
        arrears=arrears,
        warnings=tuple(str(line) for line in facts["warnings"]),
        excluded={str(table): int(rows) for table, rows in facts["excluded"].items()},
    )


def _frame_of(data: bytes) -> pd.DataFrame:
    return pa.ipc.open_file(pa.BufferReader(data)).read_all().to_pandas()


def _facts_of(data: bytes) -> dict:
    return {"bytes": len(data), "blake2b": hashlib.blake2b(data, digest_size=16).hexdigest()}


def _file_facts(file: Path) -> dict:
    return _facts_of(file.read_bytes())


def _digest_of_manifest(manifest: dict) -> str:
    body = {name: manifest[name] for name in ("key", "cube", "files")}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _digest_of_key(key: dict) -> str:
    text = json.dumps(key, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _discard(entry: Path, reason: str) -> None:
    warnings.warn(
        f"cache entry {entry} is damaged or foreign ({reason}): rebuilding",
        CacheWarning,
        stacklevel=3,
    )
    shutil.rmtree(entry, ignore_errors=True)


def _unsafe(folder: Path) -> str | None:
    """Why ``folder`` must not hold cubes (None: it may); nothing is created.

    The folder, if it exists, must be a real folder of this user that nobody else can write
    to; the folder it is in (or would be created in) must not let others rename or replace
    it: not writable by others, unless sticky like ``/tmp``.
    """
    parent = folder.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    try:
        around = parent.stat()
    except OSError as exc:
        return str(exc)
    if around.st_mode & (stat.S_IWOTH | stat.S_IWGRP) and not around.st_mode & stat.S_ISVTX:
        return f"inside {parent}, which other users can write to"
    try:
        info = folder.lstat()
    except FileNotFoundError:
        if not os.access(parent, os.W_OK | os.X_OK):
            return "cannot be created: not writable"
        return None
    except OSError as exc:
        return str(exc)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        return "not a folder"
    if info.st_uid != os.getuid():
        return "owned by another user"
    if info.st_mode & (stat.S_IWOTH | stat.S_IWGRP):
        return "writable by other users"
    if not os.access(folder, os.W_OK | os.X_OK):
        return "not writable"
    return None
