"""The exact integer sums every cube table is made of (:mod:`dashboard.compute.arrays`):
against a literal loop over the rows, for counts and for pence, with keys repeated, absent
or empty, and for the sparse sums partitions hand back and add up."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.compute.arrays import (
    SparseSums,
    group_matrix,
    integer_sums,
    measure_sums,
    stacked_sums,
)

PENCE = st.integers(-(10**12), 10**12)  # up to £10 billion a row, either sign


def literal_sums(key, weights, size) -> list[int]:
    sums = [0] * size
    for position, cell in enumerate(key):
        sums[cell] += 1 if weights is None else int(weights[position])
    return sums


@st.composite
def keyed_rows(draw, columns: int):
    size = draw(st.integers(1, 40))
    rows = draw(st.integers(0, 60))
    key = np.array(draw(st.lists(st.integers(0, size - 1), min_size=rows, max_size=rows)))
    key = key.astype(np.int64)
    weights = [None] + [
        np.array(draw(st.lists(PENCE, min_size=rows, max_size=rows)), dtype=np.float64)
        for _ in range(columns - 1)
    ]
    return key, weights, size


@settings(max_examples=150, deadline=None)
@given(keyed_rows(columns=4))
def test_sums_per_key_are_the_literal_sums(rows):
    key, weights, size = rows
    table = measure_sums(key, weights, size)
    assert table.dtype == np.int64 and table.shape == (size, len(weights))
    for j, w in enumerate(weights):
        expected = literal_sums(key, w, size)
        assert table[:, j].tolist() == expected
        assert integer_sums(key, w, size).tolist() == expected


@settings(max_examples=100, deadline=None)
@given(keyed_rows(columns=2), keyed_rows(columns=2))
def test_columns_of_different_keys_are_summed_each_on_its_own(first, second):
    size = max(first[2], second[2])
    columns = [(first[0], first[1][1]), (second[0], None), (np.zeros(0, np.int64), None)]
    table = stacked_sums(columns, size)
    assert table[:, 0].tolist() == literal_sums(first[0], first[1][1], size)
    assert table[:, 1].tolist() == literal_sums(second[0], None, size)
    assert not table[:, 2].any()  # no rows: nil sums, whatever the weights' type


def test_a_key_beyond_the_table_is_an_error_not_a_longer_column():
    with pytest.raises(ValueError):
        stacked_sums([(np.array([0, 5]), None)], 3)


@settings(max_examples=100, deadline=None)
@given(keyed_rows(columns=3), st.integers(1, 5))
def test_partitions_sparse_sums_added_up_are_the_dense_sums(rows, parts):
    key, weights, size = rows
    cuts = np.linspace(0, len(key), parts + 1).astype(int)
    sparse = [
        SparseSums.of(key[low:high], [w if w is None else w[low:high] for w in weights])
        for low, high in zip(cuts[:-1], cuts[1:], strict=True)
    ]
    total = SparseSums.combined(sparse, (size, len(weights)))
    assert np.array_equal(total.dense(), measure_sums(key, weights, size))


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 6),  # groups
    st.lists(st.tuples(st.integers(0, 5), st.lists(PENCE, min_size=3, max_size=3)), max_size=30),
)
def test_group_matrix_sums_the_rows_of_each_group_exactly(n_groups, rows):
    group = np.array([g % n_groups for g, _ in rows], dtype=np.int64)
    values = np.array([v for _, v in rows], dtype=np.int64).reshape(len(rows), 3)
    sums = group_matrix(group, n_groups) @ values
    assert sums.dtype == np.int64 and sums.shape == (n_groups, 3)
    for g in range(n_groups):
        for j in range(3):
            assert sums[g, j] == sum(int(values[i, j]) for i in range(len(rows)) if group[i] == g)
    flags = values > 0  # counts of flagged rows, from bool arrays
    counts = group_matrix(group, n_groups) @ flags
    assert counts.tolist() == [
        [sum(bool(flags[i, j]) for i in range(len(rows)) if group[i] == g) for j in range(3)]
        for g in range(n_groups)
    ]
