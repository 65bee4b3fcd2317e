"""The worklist: customers in arrears on the as-of date, scored, routed to a queue and ranked."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from weakref import WeakKeyDictionary

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Priority:
    """The worklist's priority score: one definition for the computation and its text.

    ``score = arrears_points × min(arrears ÷ arrears_cap, 1)
    + days_points × min(days past due ÷ days_cap, 1)``, plus ``broken`` when the last
    arrangement was broken and ``active`` (negative) while one is active, rounded and
    clipped to 0–100.
    """

    arrears_points: int = 60
    arrears_cap: float = 2000.0
    days_points: int = 40
    days_cap: int = 365
    broken: int = 10
    active: int = -20

    def score(self, arrears: np.ndarray, days: np.ndarray, arrangement: np.ndarray) -> np.ndarray:
        """The scores (int64, 0–100) of customers with these arrears (£), days past due
        and arrangement states."""
        score = self.arrears_points * np.minimum(arrears / self.arrears_cap, 1)
        score = score + self.days_points * np.minimum(days / self.days_cap, 1)
        score = score + np.where(arrangement == "Broken", self.broken, 0)
        score = score + np.where(arrangement == "Active", self.active, 0)
        return np.clip(np.rint(score), 0, 100).astype(np.int64)

    def formula(self) -> str:
        """The score in words, as shown on the page."""
        return (
            f"priority = {self.arrears_points} × min(arrears ÷ £{self.arrears_cap:,.0f}, 1) + "
            f"{self.days_points} × min(days past due ÷ {self.days_cap}, 1), "
            f"+{self.broken} when the last arrangement was broken, "
            f"−{-self.active} while an arrangement is active (0–100, highest first)"
        )


PRIORITY = Priority()
"""The priority score in use."""

PRIORITY_FORMULA = PRIORITY.formula()
"""The worklist's priority score, as shown in the page."""

ESCALATE_AFTER_DAYS = 90
"""More days past due than this (or a broken arrangement) sends a customer to Escalation."""

QUEUE_RULE = (
    "an active arrangement → Arrangement (on hold: never escalated); otherwise vulnerable "
    "customers → Support (never escalated); otherwise more than "
    f"{ESCALATE_AFTER_DAYS} days past due or a broken arrangement → Escalation; "
    f"otherwise (1–{ESCALATE_AFTER_DAYS} days past due) → Early, where a reminder or a call "
    "works best"
)
"""How a customer is routed to a queue, as shown in the page."""

QUEUES = ("Early", "Escalation", "Arrangement", "Support")
"""The worklist's queues, in the order the page offers them."""

SORTS = {
    "priority": "Priority",
    "arrears": "Arrears £",
    "days_past_due": "Days past due",
    "last_payment_date": "Last payment (oldest first)",
    "roll_risk": "Roll risk (91+ within 3 months)",
}
"""Worklist orders offered (column -> label): highest first, but the oldest last payment
first (never paid first of all); customers without a roll risk (not 1–90 days past due)
after those with one."""

OPTIONAL_COLUMNS = (
    "priority",
    "queue",
    "roll_risk",
    "arrears",
    "days_past_due",
    "bucket",
    "last_payment_date",
    "last_payment",
    "last_action",
    "last_action_date",
    "arrangement",
    "vulnerable",
    "region",
    "tariff",
    "income_band",
)
"""Worklist columns a user may show or hide (the customer id is always shown, first)."""

DEFAULT_COLUMNS = (
    "priority",
    "queue",
    "arrears",
    "days_past_due",
    "last_payment_date",
    "last_action",
    "arrangement",
)
"""The columns shown until the user chooses: what a call needs, narrow enough for a laptop."""

_RANKED: WeakKeyDictionary = WeakKeyDictionary()
_RANKED_LOCK = threading.Lock()


def worklist(cube, segments: np.ndarray) -> pd.DataFrame:
    """Customers of the selection in arrears on the as-of date, most urgent first.

    Returns
    -------
    DataFrame
        ``priority`` (:data:`PRIORITY_FORMULA`), ``queue`` (:data:`QUEUE_RULE`),
        ``customer_id``, ``arrears`` (£), ``days_past_due``, ``bucket``,
        ``last_payment_date``, ``last_payment`` (£ paid in all on that day; NaN when the
        customer never paid), ``last_action``,
        ``last_action_date``, ``arrangement``, ``vulnerable`` and the customer's region,
        tariff and income band; sorted by priority, then arrears.
    """
    ranked, segment = _ranked_worklist(cube)
    return ranked.loc[segments[segment]].reset_index(drop=True)


def sorted_by(rows: pd.DataFrame, key: str) -> pd.DataFrame:
    """Worklist rows in the order ``key`` of :data:`SORTS` (stable: ties keep the priority
    order).

    Parameters
    ----------
    rows : DataFrame
        Rows of :func:`worklist`, in priority order.
    key : str
        A key of :data:`SORTS`.

    Returns
    -------
    DataFrame
    """
    if key not in SORTS:
        raise ValueError(f"unknown worklist order {key!r}: one of {', '.join(SORTS)}")
    if key == "priority":
        return rows
    ascending = key == "last_payment_date"
    missing = "last" if key == "roll_risk" else "first"
    return rows.sort_values(
        key, ascending=ascending, kind="stable", na_position=missing
    ).reset_index(drop=True)


def with_roll_risk(rows: pd.DataFrame, scores: pd.DataFrame | None) -> pd.DataFrame:
    """Worklist rows with ``roll_risk``: each customer's probability of being 91+ days past
    due within three month-ends (:data:`dashboard.score.ROLL_RISK`), NaN when not scored
    (not 1–90 days past due on the as-of date, or the score not computed).

    Parameters
    ----------
    rows : DataFrame
        Rows of :func:`worklist`.
    scores : DataFrame or None
        ``customer_id`` and ``score`` (``CollectionsModel.roll_risk["scores"]``).

    Returns
    -------
    DataFrame
    """
    risk = np.full(len(rows), np.nan)
    if scores is not None and len(scores) and len(rows):
        at = pd.Index(scores["customer_id"]).get_indexer(rows["customer_id"])
        found = at >= 0
        risk[found] = scores["score"].to_numpy()[at[found]]
    return rows.assign(roll_risk=risk)


def queue_counts(cube, segments: np.ndarray) -> dict[str, int]:
    """Customers of the selection in each queue (and ``All``), for the queue buttons.

    Parameters
    ----------
    cube : Cube
    segments : ndarray of bool
        The selected segments.

    Returns
    -------
    dict of str to int
        ``All`` then every queue of :data:`QUEUES`, in that order (0 when empty).
    """
    ranked, segment = _ranked_worklist(cube)
    queues = ranked["queue"].cat.codes.to_numpy()[segments[segment]]
    counts = np.bincount(queues, minlength=len(QUEUES))
    return {"All": int(counts.sum()), **{q: int(n) for q, n in zip(QUEUES, counts, strict=True)}}


def _ranked_worklist(cube) -> tuple[pd.DataFrame, np.ndarray]:
    """Every worklist row scored, routed and sorted, with each row's segment; computed once
    per cube (a filter then only selects rows)."""
    with _RANKED_LOCK:
        if cube.arrears in _RANKED:
            return _RANKED[cube.arrears]
    tables = cube.arrears
    rows = tables.worklist
    segment = rows["segment"].to_numpy()
    dims = cube.segments.iloc[segment].reset_index(drop=True)
    vulnerable = dims["is_vulnerable"].astype(int).to_numpy() == 1
    arrears = rows["arrears_pence"].to_numpy() / 100
    days = rows["days_past_due"].to_numpy()
    arrangement = rows["arrangement"].astype(str).to_numpy()
    escalate = (days > ESCALATE_AFTER_DAYS) | (arrangement == "Broken")
    queue = np.select(
        [arrangement == "Active", vulnerable, escalate],
        ["Arrangement", "Support", "Escalation"],
        "Early",
    )
    frame = pd.DataFrame(
        {
            "priority": PRIORITY.score(arrears, days, arrangement),
            "queue": pd.Categorical(queue, categories=list(QUEUES)),
            "customer_id": rows["customer_id"].to_numpy(),
            "arrears": arrears,
            "days_past_due": days,
            "bucket": pd.Categorical.from_codes(
                tables.buckets.of(days), categories=list(tables.bucket_labels), ordered=True
            ),
            "last_payment_date": rows["last_payment_date"].to_numpy(),
            "last_payment": np.where(
                rows["last_payment_date"].isna().to_numpy(),
                np.nan,
                rows["last_payment_pence"].to_numpy() / 100,
            ),
            # text columns of few values stay categorical: a filter's rows are taken as codes
            "last_action": rows["last_action"].array,
            "last_action_date": rows["last_action_date"].to_numpy(),
            "arrangement": rows["arrangement"].array,
            "vulnerable": vulnerable,
            "region": dims["region"].array,
            "tariff": dims["tariff"].array,
            "income_band": dims["income_band"].array,
        }
    )
    order = np.lexsort((-frame["arrears"].to_numpy(), -frame["priority"].to_numpy()))
    ranked = (frame.iloc[order].reset_index(drop=True), segment[order])
    with _RANKED_LOCK:
        _RANKED[tables] = ranked
    return ranked
