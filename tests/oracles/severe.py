"""Brute force for reaching 91+ days past due: every customer's days past due on every day,
read literally with :func:`oracles.ledger.brute_balance`, never vectorised."""

from __future__ import annotations

import numpy as np

from oracles.ledger import Book, Rows, brute_balance

SEVERE = 91


def severe_days(rows: Rows, customer: int, last_day: int) -> list[int]:
    """The days up to ``last_day`` on which the customer is 91+ days past due."""
    bills = [(due, pence) for due, pence, _ in rows.bills[customer]]
    dues = [due for due, _ in bills]
    dues += [day - 1 for day, pence, _ in rows.adjustments[customer] if pence > 0]
    if not dues:
        return []
    payments, adjustments = rows.payments[customer], rows.adjustments[customer]
    return [
        day
        for day in range(min(dues) + SEVERE, last_day + 1)
        if brute_balance(bills, payments, day, adjustments)[0] >= SEVERE
    ]


def expected_severe(rows: Rows, book: Book, segment: np.ndarray, n_segments: int):
    """``(reach_after, ever_severe)`` as the build lays them out, one customer at a time.

    reach_after[s, 0, g]: customers of segment g on book and under 91 days past due at
    month-end s; reach_after[s, d, g]: those of them whose first 91+ day after month-end s
    falls in month s + d. ever_severe[m, g]: (on book at m, of them 91+ on a day <= m).
    """
    snaps = book.snaps
    k = len(snaps)
    reach = np.zeros((k, k, n_segments), dtype=np.int64)
    ever = np.zeros((k, n_segments, 2), dtype=np.int64)
    for customer, g in enumerate(segment):
        days = severe_days(rows, customer, snaps[-1]) if k else []
        for s in range(k):
            if book.on_book[customer, s] and book.days_past_due[customer, s] < SEVERE:
                reach[s, 0, g] += 1
                later = [day for day in days if day > snaps[s]]
                if later:
                    month = next(j for j in range(k) if snaps[j] >= later[0])
                    reach[s, month - s, g] += 1
        for m in range(k):
            if book.on_book[customer, m]:
                ever[m, g, 0] += 1
                ever[m, g, 1] += any(day <= snaps[m] for day in days)
    return reach, ever
