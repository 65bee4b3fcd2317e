"""Deep equality of built tables: two cubes (or any of their parts) hold the same values."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd


def assert_same(mine, theirs, where: str = "cube", skip: tuple[str, ...] = ()) -> None:
    """Equal values, recursively through dataclasses, dicts, lists, frames and arrays."""
    if dataclasses.is_dataclass(mine):
        for field in dataclasses.fields(mine):
            if field.name not in skip:
                assert_same(
                    getattr(mine, field.name),
                    getattr(theirs, field.name),
                    f"{where}.{field.name}",
                    skip,
                )
    elif isinstance(mine, dict):
        assert mine.keys() == theirs.keys(), where
        for key in mine:
            assert_same(mine[key], theirs[key], f"{where}[{key!r}]", skip)
    elif isinstance(mine, (list, tuple)) and not isinstance(mine, str):
        assert len(mine) == len(theirs), where
        for position, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            assert_same(a, b, f"{where}[{position}]", skip)
    elif isinstance(mine, pd.DataFrame):
        pd.testing.assert_frame_equal(mine, theirs, obj=where)
    elif isinstance(mine, (pd.Index, pd.Series)):
        assert mine.equals(theirs), where
    elif isinstance(mine, np.ndarray):
        assert mine.dtype == theirs.dtype and np.array_equal(mine, theirs), where
    else:
        assert mine == theirs, where
