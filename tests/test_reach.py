"""Reach tables (:mod:`dashboard.compute.reach`) against a literal walk of each customer's
months, for every month range: distinct customers with a flagged month, and customers
reaching ordered stages; split into partitions and combined, the same table."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.compute.reach import ReachTable, month_reach, stage_reach


def brute_stages(stages: list[np.ndarray], segment, n_segments, start, end) -> np.ndarray:
    """Per stage and segment: customers reaching the stages in order within start..end."""
    counts = np.zeros((len(stages), n_segments), dtype=np.int64)
    for customer in range(stages[0].shape[0]) if stages else ():
        earliest = start
        for position, flags in enumerate(stages):
            later = [m for m in range(earliest, end + 1) if flags[customer, m]]
            if not later:
                break
            counts[position, segment[customer]] += 1
            earliest = later[0]
    return counts


def random_flags(rng, customers: int, months: int, stages: int) -> list[np.ndarray]:
    density = rng.choice([0.02, 0.1, 0.5, 0.95])
    return [rng.random((customers, months)) < density for _ in range(stages)]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 100), st.integers(0, 30), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_stage_counts_match_a_literal_walk_for_every_range(months, customers, n_stages, seed):
    rng = np.random.default_rng(seed)
    n_segments = int(rng.integers(1, 5))
    stages = random_flags(rng, customers, months, n_stages)
    segment = rng.integers(0, n_segments, customers)
    tables = stage_reach(stages, segment, n_segments)
    assert len(tables) == n_stages
    for start in range(months):
        for end in range(start - 1, months):  # start - 1: an empty range
            got = np.stack([t.per_segment(start, end) for t in tables])
            expected = brute_stages(stages, segment, n_segments, start, end)
            np.testing.assert_array_equal(got, expected, f"months {start}..{end}")


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 200), st.integers(1, 30), st.integers(0, 2**32 - 1))
def test_month_pairs_give_the_customers_with_a_flag_in_the_range(months, customers, seed):
    """From (customer, month) pairs, repeated pairs included (two bills in a month), in any
    order and any chunking of the customers."""
    rng = np.random.default_rng(seed)
    pairs = int(rng.integers(0, customers * months + 1))
    rows, month = rng.integers(0, customers, pairs), rng.integers(0, months, pairs)
    flags = np.zeros((customers, months), dtype=bool)
    flags[rows, month] = True
    segment = rng.integers(0, 3, customers)
    chunk = int(rng.integers(1, customers + 1))
    table = month_reach(rows, month, segment, months, 3, chunk=chunk)
    for start, end in rng.integers(0, months, (30, 2)):
        start, end = min(start, end), max(start, end)
        expected = np.bincount(segment[flags[:, start : end + 1].any(axis=1)], minlength=3)
        np.testing.assert_array_equal(table.per_segment(start, end), expected)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 60), st.integers(2, 60), st.integers(0, 2**32 - 1))
def test_partitions_combined_are_the_whole_table(months, customers, seed):
    """A streamed build's partitions, combined in any grouping, store the very same table."""
    rng = np.random.default_rng(seed)
    stages = random_flags(rng, customers, months, 3)
    segment = rng.integers(0, 4, customers)
    whole = stage_reach(stages, segment, 4)
    cuts = np.sort(rng.choice(np.arange(1, customers), min(3, customers - 1), replace=False))
    bounds = [0, *cuts.tolist(), customers]
    parts = [
        stage_reach([s[lo:hi] for s in stages], segment[lo:hi], 4)
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    for position, table in enumerate(whole):
        pieces = [part[position] for part in parts]
        once = ReachTable.combined(pieces, months, 4)
        twice = ReachTable.combined(
            [ReachTable.combined(pieces[:2], months, 4), *pieces[2:]], months, 4
        )
        np.testing.assert_array_equal(once.as_array(), table.as_array())
        np.testing.assert_array_equal(twice.as_array(), table.as_array())


def test_the_table_does_not_grow_with_customers():
    """Customers with the same months and segment are one entry: a million customers billed
    every month of four years in 3 segments are at most months x segments entries."""
    rng = np.random.default_rng(0)
    months, customers = 48, 1_000_000
    flags = np.ones((customers, months), dtype=bool)
    flags[rng.integers(0, customers, 1000), rng.integers(0, months, 1000)] = False  # gaps
    table = stage_reach([flags], rng.integers(0, 3, customers), 3)[0]
    assert len(table) < 48 * 3 + 3 * 1000 * 3
    assert table.per_segment(0, months - 1).sum() == customers


def test_a_stored_table_reads_back_and_a_foreign_array_is_refused():
    stages = [np.array([[True, False, True], [False, False, True]])]
    table = stage_reach(stages, np.array([0, 1]), 2)[0]
    stored = table.as_array()
    assert stored.dtype.itemsize <= 14  # int16 months and segments, int32 counts
    again = ReachTable.from_array(stored, 3, 2)
    np.testing.assert_array_equal(again.per_segment(1, 2), [1, 1])
    np.testing.assert_array_equal(again.per_segment(1, 1), [0, 0])
    with pytest.raises(ValueError):
        ReachTable.from_array(stored, 3, 1)  # a segment the cube does not have
    with pytest.raises(ValueError):
        ReachTable.from_array(stored, 2, 2)  # a month the cube does not have
    plain = np.stack([stored[name].astype(np.int64) for name in stored.dtype.names], axis=1)
    with pytest.raises(ValueError):
        ReachTable.from_array(plain, 3, 2)  # not the stored layout
    floats = stored.astype([(name, np.float64) for name in stored.dtype.names])
    with pytest.raises(ValueError):
        ReachTable.from_array(floats, 3, 2)
    shuffled = stored[::-1].copy()
    if (np.diff(shuffled["first"]) < 0).any():
        with pytest.raises(ValueError):
            ReachTable.from_array(shuffled, 3, 2)


def test_an_answer_kept_is_the_answer_and_cannot_be_changed():
    """A filter change asks the same range again: the kept answer, read-only; more ranges
    than are kept, asked twice over, still give the brute-force answer."""
    rng = np.random.default_rng(1)
    flags = rng.random((50, 12)) < 0.3
    segment = rng.integers(0, 3, 50)
    table = stage_reach([flags], segment, 3)[0]
    first = table.per_segment(2, 7)
    assert table.per_segment(2, 7) is first
    with pytest.raises(ValueError):
        first[0] = 99
    sent = pickle.loads(pickle.dumps(table))  # a Dask worker's result: no answers, no lock
    np.testing.assert_array_equal(sent.per_segment(2, 7), first)
    for _ in range(2):
        for start in range(12):
            for end in range(start, 12):
                expected = np.bincount(segment[flags[:, start : end + 1].any(axis=1)], minlength=3)
                np.testing.assert_array_equal(table.per_segment(start, end), expected)
