"""Brute force for the matched comparison of collections actions: one customer and one
month at a time, read literally from the naive book (:mod:`oracles.ledger`)."""

from __future__ import annotations

import numpy as np

from oracles.ledger import Book, Rows, month_of_day

BANDS = (10_000, 50_000)  # pence: under £100, £100-£499.99, £500+
PAY_DAYS = 30
MIN_PENCE = 1000
HOLDOUT = "Reminder Held Out"


def expected_matched(
    rows: Rows, book: Book, segment, n_segments: int, types: list, n_buckets: int, as_of_day: int
) -> np.ndarray:
    """(months, segments, strata, types + 1, [customers, paid]) counted one at a time."""
    k = len(book.snaps)
    n_bands = len(BANDS) + 1
    strata, groups = (n_buckets - 1) * n_bands, len(types) + 1
    out = np.zeros((k, n_segments, strata, groups, 2), dtype=np.int64)
    for customer, g in enumerate(segment):
        for m in range(1, k):
            owed = int(book.arrears[customer, m - 1])
            end = book.snaps[m] + PAY_DAYS
            if owed <= 0 or end > as_of_day:
                continue
            band = sum(owed >= edge for edge in BANDS)
            stratum = (book.bucket[customer, m - 1] - 1) * n_bands + band
            paid = sum(
                pence for day, pence in rows.payments[customer] if book.snaps[m - 1] < day <= end
            )
            hit = int(paid >= min(MIN_PENCE, owed))
            got = {
                name
                for day, name in rows.actions[customer]
                if month_of_day(day) - book.first_month == m and name != HOLDOUT
            }
            for group in [types.index(name) for name in got] or [len(types)]:
                out[m, g, stratum, group] += (1, hit)
    return out
