"""The anchor task: will a *bill* be missed, from what was known at its issue?

The original's sister project predicts whether a bill is missed (the window rule:
payments dated in ``(due - 3, due + 60]`` short of the bill by more than £1,
:func:`dashboard.compute.outcomes.bill_outcomes`) and tests on the last 3 months of the
reference data: AUC 0.601 for its logistic regression, but its features used the outcomes
of earlier bills whose windows had not closed when the bill was issued (look-ahead).

Here a bill is scored on its issue day (``bill_period_end``) from: the ledger that day,
payments and actions up to it, the customer's dimensions, and the outcomes of earlier bills
*whose window closed by then* (``due + 60 <= issue``). Out of time: the test bills are the
mature bills issued in the last 3 months that hold mature bills; training bills are those
whose outcome was known when the first test bill was issued. With ``look_ahead=True`` the
earlier bills' outcomes count as soon as those bills were issued (the original's leak),
for comparison.

Small books only (the seed data, the demo set): the ledger is taken on every distinct issue
day for every customer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dashboard.compute.arrays import EventIndex
from dashboard.compute.outcomes import Window, bill_outcomes, latest_payment_date
from dashboard.schema import Portfolio
from dashboard.score.book import DIMENSIONS, FLAGS, with_dimensions
from dashboard.score.evaluate import metrics_of
from dashboard.score.features import DAYS_CAP, Events, _signed_log, table_codes
from dashboard.score.model import KINDS, SEED
from dashboard.vocab import ACTIONS

ORIGINAL_AUC = 0.601
"""The sister project's published AUC on this task (with look-ahead)."""
TEST_MONTHS = 3

BILL_FEATURES = (
    "bill_amount",
    "usage_m3",
    "days_to_due",
    "balance",
    "days_past_due",
    "earlier_bills",
    "known_outcomes",
    "known_missed",
    "known_missed_share",
    "known_missed_last_3m",
    "paid_90d",
    "payments_90d",
    "direct_debit_share",
    "reminders",
    "second_reminders",
    "arrangements_agreed",
    "arrangements_broken",
    "days_since_payment",
)


def bill_rows(
    portfolio: Portfolio,
    window: Window = Window(),
    as_of: pd.Timestamp | None = None,
    look_ahead: bool = False,
) -> pd.DataFrame:
    """One row per bill: :data:`BILL_FEATURES` at its issue, its outcome and maturity.

    Parameters
    ----------
    portfolio : Portfolio
    window : Window, optional
        The payment window that decides a bill's outcome.
    as_of : Timestamp, optional
        Date of knowledge of the outcomes (default: the latest payment date).
    look_ahead : bool, optional
        Count earlier bills' outcomes from their issue, not from their window's close.

    Returns
    -------
    DataFrame
        ``customer``, ``issue`` (day), the features, ``missed``, ``mature`` and the
        customer dimensions.
    """
    as_of = latest_payment_date(portfolio.payments) if as_of is None else pd.Timestamp(as_of)
    bills = portfolio.bills
    n = len(portfolio.customers)
    tables = {
        "bills": bills,
        "payments": portfolio.payments,
        "actions": portfolio.actions,
        "adjustments": portfolio.adjustments,
    }
    events = Events.of(tables, table_codes(tables), 0, n)
    outcome = bill_outcomes(bills, portfolio.payments, window, as_of)
    missed = outcome["is_default"].to_numpy(bool)
    customer, issue, due = events.bill_customer, events.bill_issue, events.bill_due
    issue_days = np.unique(issue)
    ledger = events.ledger(issue_days)
    at = np.searchsorted(issue_days, issue)
    balance = ledger.balance_pence[customer, at]
    # an earlier bill's outcome counts once its window closed (with the leak: once issued)
    known_day = issue + 1 if look_ahead else due + window.after
    start = np.full(len(issue), -(10**6))

    def summed(c, day, value, after, through):
        return EventIndex.covering(c, day, value, after, through).sums(customer, after, through)

    known = summed(customer, known_day, np.ones(len(issue)), start, issue)
    known_missed = summed(customer, known_day, missed, start, issue)
    recent_missed = summed(customer, known_day, missed, issue - 92, issue)
    pc, pday = events.payment_customer, events.payment_day
    paid_90 = summed(pc, pday, events.payment_pence, issue - 90, issue)
    payments_90 = summed(pc, pday, np.ones(len(pday)), issue - 90, issue)
    payments_all = summed(pc, pday, np.ones(len(pday)), start, issue)
    dd_all = summed(pc, pday, events.payment_direct_debit, start, issue)
    last_paid = _last_before(pc, pday, customer, issue)
    action_counts = {
        name: summed(
            events.action_customer,
            events.action_day,
            events.action_kind == number,
            start,
            issue,
        )
        for number, name in enumerate(ACTIONS)
    }
    earlier = summed(customer, issue + 1, np.ones(len(issue)), start, issue)
    columns = {
        "customer": customer,
        "issue": issue,
        "bill_amount": _signed_log(events.bill_pence),
        "usage_m3": np.nan_to_num(bills["usage_m3"].to_numpy(np.float64)),
        "days_to_due": due - issue,
        "balance": _signed_log(balance),
        "days_past_due": np.minimum(ledger.days_past_due[customer, at], DAYS_CAP),
        "earlier_bills": earlier,
        "known_outcomes": known,
        "known_missed": known_missed,
        "known_missed_share": known_missed / np.maximum(known, 1),
        "known_missed_last_3m": recent_missed,
        "paid_90d": _signed_log(paid_90),
        "payments_90d": payments_90,
        "direct_debit_share": dd_all / np.maximum(payments_all, 1),
        "reminders": action_counts[ACTIONS[0]],
        "second_reminders": action_counts[ACTIONS[1]],
        "arrangements_agreed": action_counts[ACTIONS[2]],
        "arrangements_broken": action_counts[ACTIONS[3]],
        "days_since_payment": np.where(
            last_paid >= 0, np.minimum(issue - last_paid, DAYS_CAP), DAYS_CAP
        ),
        "missed": missed.astype(np.int8),
        "mature": outcome["is_mature"].to_numpy(bool),
    }
    frame = pd.DataFrame(columns)
    for name in BILL_FEATURES:
        frame[name] = frame[name].astype(np.float32)
    return with_dimensions(frame, portfolio.customers)


def _last_before(customer, day, query_customer, through) -> np.ndarray:
    """Each query's customer's latest event day on or before ``through`` (-1 if none)."""
    low = int(min(day.min(initial=0), through.min(initial=0))) - 1
    span = int(max(day.max(initial=0), through.max(initial=0))) - low + 1
    key = np.sort(np.asarray(customer, dtype=np.int64) * span + (day - low))
    query = np.asarray(query_customer, dtype=np.int64) * span + (through - low)
    at = np.searchsorted(key, query, side="right") - 1
    if not len(key):
        return np.full(len(query), -1)
    found = (at >= 0) & (key.take(np.maximum(at, 0)) // span == query_customer)
    return np.where(found, key.take(np.maximum(at, 0)) % span + low, -1)


@dataclass
class AnchorResult:
    """The bill-level task's out-of-time figures.

    Attributes
    ----------
    metrics : DataFrame
        Per (features, model): AUC, Brier, top-decile capture, rows.
    test_issue_months, train_through : str
        The test bills' issue months and the last day a training outcome was known.
    """

    metrics: pd.DataFrame
    test_issue_months: str
    train_through: str

    def table(self) -> str:
        """Plain-text report beside the original's AUC."""
        return "\n".join(
            [
                f"bill-level task: test bills issued {self.test_issue_months}; training "
                f"outcomes known by {self.train_through}",
                self.metrics.to_string(float_format=lambda v: f"{v:.4f}"),
                f"original (logistic regression, with look-ahead): AUC {ORIGINAL_AUC}",
            ]
        )


def anchor_evaluation(
    portfolio: Portfolio,
    window: Window = Window(),
    as_of: pd.Timestamp | None = None,
    kinds: tuple[str, ...] = KINDS,
    seed: int = SEED,
) -> AnchorResult:
    """Evaluate the bill-level task out of time, with features known at issue only (and,
    for comparison, with the original's look-ahead).

    Returns
    -------
    AnchorResult
    """
    from dashboard.score.model import make_model

    inputs = [*BILL_FEATURES, *FLAGS, *DIMENSIONS]
    results = []
    test_months = train_through = ""
    for look_ahead in (False, True):
        rows = bill_rows(portfolio, window, as_of, look_ahead)
        mature = rows.loc[rows["mature"]]
        month = day_month(mature["issue"].to_numpy())
        last_months = np.unique(month)[-TEST_MONTHS:]
        test = mature.loc[np.isin(month, last_months)]
        first_issue = int(test["issue"].min())
        due = mature["issue"] + mature["days_to_due"]
        train = mature.loc[(due + window.after <= first_issue).to_numpy()]
        for kind in kinds:
            model = _bill_model(make_model, kind, seed).fit(train[inputs], train["missed"])
            score = model.predict_proba(test[inputs])[:, 1]
            figures = metrics_of(test["missed"].to_numpy(), score)
            results.append(
                {
                    "features": "with look-ahead" if look_ahead else "known at issue",
                    "model": kind,
                    **figures,
                    "train_rows": len(train),
                }
            )
        test_months = f"{_month(last_months[0])} .. {_month(last_months[-1])}"
        train_through = str(pd.Timestamp(np.datetime64(first_issue, "D")).date())
    metrics = pd.DataFrame(results).set_index(["features", "model"])
    return AnchorResult(metrics, test_months, train_through)


def _bill_model(make_model, kind: str, seed: int):
    """The score's model of ``kind``, fed the bill features instead."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    model = make_model(kind, seed)
    if kind != "logistic":
        return model
    prepare = ColumnTransformer(
        [
            ("numbers", StandardScaler(), [*BILL_FEATURES, *FLAGS]),
            ("dimensions", OneHotEncoder(handle_unknown="ignore"), list(DIMENSIONS)),
        ]
    )
    return Pipeline([("prepare", prepare), ("model", model.named_steps["model"])])


def day_month(days: np.ndarray) -> np.ndarray:
    """Months since January 1970 of day numbers."""
    return (
        np.asarray(days, dtype=np.int64)
        .astype("datetime64[D]")
        .astype("datetime64[M]")
        .astype(np.int64)
    )


def _month(month: int) -> str:
    return str(np.datetime64(int(month), "M"))
