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
    "otherwise → Reminder"
)
"""How a customer is routed to a queue, as shown in the page."""

QUEUES = ("Arrangement", "Support", "Escalation", "Reminder")

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


def _ranked_worklist(cube) -> tuple[pd.DataFrame, np.ndarray]:
    """Every worklist row scored, routed and sorted, with each row's segment; computed once
    per cube (a filter then only selects rows)."""
    with _RANKED_LOCK:
        if cube.arrears in _RANKED:
            return _RANKED[cube.arrears]
    tables = cube.arrears
    rows = tables.worklist
    segment = cube.customer_segment[rows["customer"].to_numpy()]
    dims = cube.segments.iloc[segment].reset_index(drop=True)
    vulnerable = dims["is_vulnerable"].astype(int).to_numpy() == 1
    arrears = rows["arrears_pence"].to_numpy() / 100
    days = rows["days_past_due"].to_numpy()
    arrangement = rows["arrangement"].astype(str).to_numpy()
    escalate = (days > ESCALATE_AFTER_DAYS) | (arrangement == "Broken")
    queue = np.select(
        [arrangement == "Active", vulnerable, escalate],
        ["Arrangement", "Support", "Escalation"],
        "Reminder",
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
            "last_action": rows["last_action"].to_numpy(),
            "last_action_date": rows["last_action_date"].to_numpy(),
            "arrangement": rows["arrangement"].to_numpy(),
            "vulnerable": vulnerable,
            "region": dims["region"].to_numpy(),
            "tariff": dims["tariff"].to_numpy(),
            "income_band": dims["income_band"].to_numpy(),
        }
    )
    order = np.lexsort((-frame["arrears"].to_numpy(), -frame["priority"].to_numpy()))
    ranked = (frame.iloc[order].reset_index(drop=True), segment[order])
    with _RANKED_LOCK:
        _RANKED[tables] = ranked
    return ranked
