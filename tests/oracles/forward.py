"""Brute-force references for the forward-looking figures: the write-off linkage per
customer, the provision matrix's loss rates and ECL, the Markov chain forecast and its
backtest. Plain Python loops over customers, months and buckets, written for clarity.

The cube's tables are read in their documented layout (``cube.arrears.ageing`` ...: segment
axis second), summed over the selected segments one cell at a time.
"""

from __future__ import annotations

import math

import numpy as np

from oracles.ledger import Book, Rows


def expected_write_offs(
    rows: Rows, book: Book, segment, n_segments: int, n_buckets: int, horizons
) -> np.ndarray:
    """(months, segments, buckets, 2 x horizons): for each customer in arrears at month-end
    j, the write-offs dated after it and on or before month-end j + h (from the customer's
    own adjustment rows), capped at the arrears at j, and a count of such customers."""
    k = len(book.snaps)
    out = np.zeros((k, n_segments, n_buckets, 2 * len(horizons)), dtype=np.int64)
    for c in range(len(segment)):
        for j in range(k):
            owed = int(book.arrears[c, j])
            if owed <= 0:
                continue
            for position, h in enumerate(horizons):
                if j + h >= k:
                    continue
                low, high = book.snaps[j], book.snaps[j + h]
                written = sum(
                    -effect
                    for day, effect, is_write_off in rows.adjustments[c]
                    if is_write_off and low < day <= high
                )
                linked = min(max(written, 0), owed)
                if linked > 0:
                    cell = out[j, segment[c], book.bucket[c, j]]
                    cell[2 * position] += linked
                    cell[2 * position + 1] += 1
    return out


def _sum_segments(table: np.ndarray, mask) -> np.ndarray:
    """Sum a documented-layout table (segment axis 1) over the selected segments, a segment
    at a time."""
    total = np.zeros(table.shape[:1] + table.shape[2:], dtype=np.int64)
    for s, chosen in enumerate(mask):
        if chosen:
            total += np.asarray(table[:, s], dtype=np.int64)
    return total


def brute_loss_rates(cube, mask, t: int, lookback: int, horizon: int, min_write_offs: int):
    """Per bucket (rate, method) known at month-end ``t``, by loops over cohorts and moves.

    Write-off rate: over cohorts m with ``t - horizon - lookback < m <= t - horizon``,
    written off / arrears; used with at least ``min_write_offs`` customer write-offs. Else
    the product of the roll rates (share of a bucket's £, or customers when it held no £,
    moving to an older bucket, moves of months ``t - lookback < j <= t``) down to the oldest
    bucket (rate 1).
    """
    from dashboard.compute.partition import WRITE_OFF_HORIZONS

    tables = cube.arrears
    ageing = _sum_segments(tables.ageing, mask)
    linked = _sum_segments(tables.write_offs, mask)
    moves = _sum_segments(tables.transitions, mask)
    position = WRITE_OFF_HORIZONS.index(horizon)
    n = ageing.shape[1]
    history, written, count = [0] * n, [0] * n, [0] * n
    for m in range(max(0, t - horizon - lookback + 1), t - horizon + 1):
        for b in range(n):
            history[b] += int(ageing[m, b, 1])
            written[b] += int(linked[m, b, 2 * position])
            count[b] += int(linked[m, b, 2 * position + 1])
    roll = [math.nan] * n
    for i in range(n - 1):
        pounds = [0] * n
        people = [0] * n
        for j in range(max(1, t - lookback + 1), t + 1):
            for to in range(n):
                pounds[to] += int(moves[j, i, to, 1])
                people[to] += int(moves[j, i, to, 0])
        weights = pounds if sum(pounds) > 0 else people
        if sum(weights) > 0:
            roll[i] = sum(weights[i + 1 :]) / sum(weights)
    result = []
    for b in range(n):
        chain = 1.0
        for i in range(b, n - 1):
            chain *= roll[i]
        if count[b] >= min_write_offs and history[b] > 0:
            result.append((written[b] / history[b], "write-offs"))
        elif math.isnan(chain):
            result.append((math.nan, "no history"))
        else:
            result.append((chain, "roll-rate chain"))
    return result


def brute_ecl(balances, rates, overlay: float) -> list[int]:
    """ECL pence per bucket: round(balance x min(rate x (1 + overlay/100), 1)), 0 without
    a rate."""
    out = []
    for balance, rate in zip(balances, rates, strict=True):
        if math.isnan(rate):
            out.append(0)
        else:
            out.append(round(balance * min(rate * (1 + overlay / 100), 1.0)))
    return out


def brute_chain(
    cube, mask, origin: int, lookback: int, steps: int, cure=0.0, inflow=0.0, window=None
):
    """(customers, arrears pence) per step and bucket of the forecast from ``origin``:
    the pooled customer matrix of months ``origin - lookback < j <= origin`` (j >= 1), the
    mean inflow from Current over those months, arrears per customer at the origin (over
    the lookback's month-ends for an empty bucket), iterated one customer bucket at a time.
    ``window``: other months to pool (one month for the band).
    """
    ageing = _sum_segments(cube.arrears.ageing, mask)
    moves = _sum_segments(cube.arrears.transitions, mask)
    n = ageing.shape[1]
    if window is None:  # the months whose moves are pooled
        window = range(max(1, origin - lookback + 1), origin + 1)
    counts = [[sum(int(moves[j, i, to, 0]) for j in window) for to in range(n)] for i in range(n)]
    matrix = []
    for i in range(n):
        total = sum(counts[i])
        row = [c / total for c in counts[i]] if total else [float(i == to) for to in range(n)]
        if i >= 1 and row[0] < 1:  # the what-if: cure moves, the other moves in proportion
            was = row[0]
            now = min(max(was + cure / 100, 0.0), 1.0)
            row = [now] + [v * (1 - now) / (1 - was) for v in row[1:]]
        matrix.append(row)
    months = max(len(window), 1)
    flow = [sum(int(moves[j, 0, to, 0]) for j in window) / months for to in range(n)]
    flow = [0.0] + [f * (1 + inflow / 100) for f in flow[1:]]
    average = []
    for b in range(n):
        people, pence = int(ageing[origin, b, 0]), int(ageing[origin, b, 1])
        if people:
            average.append(pence / people)
            continue
        span = range(max(0, origin - lookback + 1), origin + 1)
        people = sum(int(ageing[m, b, 0]) for m in span)
        pence = sum(int(ageing[m, b, 1]) for m in span)
        average.append(pence / people if people else 0.0)
    state = [0.0] + [float(ageing[origin, b, 0]) for b in range(1, n)]
    customers, arrears = [], []
    for _ in range(steps):
        state = [0.0] + [
            sum(state[i] * matrix[i][to] for i in range(1, n)) + flow[to] for to in range(1, n)
        ]
        customers.append(list(state))
        arrears.append([state[b] * average[b] for b in range(n)])
    return customers, arrears


def brute_backtest(cube, mask, months, lookback: int, steps: int):
    """{(origin, horizon): (forecast customers, forecast arrears £, actual customers, actual
    arrears £, actual customers within the band, actual arrears within the band)} for every
    origin with a full lookback and a seen target; the band: 10th and 90th percentiles of
    the totals forecast with each single month's matrix."""
    ageing = _sum_segments(cube.arrears.ageing, mask)
    last = months[-1]
    out = {}
    for origin in months:
        if origin < lookback or origin >= last:
            continue
        customers, arrears = brute_chain(cube, mask, origin, lookback, steps)
        singles = [
            brute_chain(cube, mask, origin, lookback, steps, window=[j])
            for j in range(origin - lookback + 1, origin + 1)
        ]
        for h in range(1, steps + 1):
            target = origin + h
            if target > last:
                continue
            actual = (int(ageing[target, 1:, 0].sum()), int(ageing[target, 1:, 1].sum()))
            inside = []
            for measure in (0, 1):
                totals = [sum(single[measure][h - 1][1:]) for single in singles]
                low, high = np.quantile(totals, 0.1), np.quantile(totals, 0.9)
                inside.append(bool(low <= actual[measure] <= high))
            out[(origin, h)] = (
                sum(customers[h - 1][1:]),
                sum(arrears[h - 1][1:]) / 100,
                actual[0],
                actual[1] / 100,
                *inside,
            )
    return out
