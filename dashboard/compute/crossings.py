"""The days on which a customer's days past due cross a threshold, exact to the day.

Debits (bills, and balance-raising adjustments due the day before their date) are covered
oldest first by credits (payments, and balance-reducing adjustments: write-offs and
credits), as in :func:`dashboard.compute.ledger.month_end_ledger`. A customer is ``D``+
days past due on day ``t`` exactly when a debit due on or before ``t - D`` is not covered
on ``t``. Credits only grow, so a debit not covered on ``t`` was not covered on its own
*check day* ``due + D`` either: the debits missed on their check day are the whole story
(:func:`missed_checks`), one credits-to-date query per debit.
"""

from __future__ import annotations

import numpy as np

from dashboard.compute.arrays import EventIndex, sort_order
from dashboard.compute.ledger import Adjustments, Ledger, month_end_ledger

NEVER_DAY = 10**7
"""A day after every real day: "never reached"."""


def debits(
    bill_customer: np.ndarray,
    bill_due: np.ndarray,
    bill_pence: np.ndarray,
    adjustments: Adjustments,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bills and balance-raising adjustments sorted by (customer, due day), as the ledger
    allocates them.

    Parameters
    ----------
    bill_customer, bill_due, bill_pence : ndarray of int
        The bills' customer numbers, due days and pence.
    adjustments : Adjustments

    Returns
    -------
    (ndarray, ndarray, ndarray, ndarray)
        Customer, due day, pence and the row of each debit among the bills (-1 for an
        adjustment).
    """
    raised = adjustments.balance_pence > 0
    customer = np.concatenate([bill_customer, adjustments.customer[raised]]).astype(np.int64)
    due = np.concatenate([bill_due, adjustments.day[raised] - 1]).astype(np.int64)
    pence = np.concatenate([bill_pence, adjustments.balance_pence[raised]]).astype(np.int64)
    row = np.concatenate([np.arange(len(bill_due)), np.full(int(raised.sum()), -1)])
    order = sort_order(customer * (1 << 32) + (due - due.min(initial=0)))
    return customer[order], due[order], pence[order], row[order]


class Credits:
    """A partition's credits sorted by (customer, day) with running sums: credits to date
    and the day a running total is reached are one binary search per query.

    Parameters
    ----------
    customer, day, pence : ndarray of int
        Each credit's customer number, day and (positive) pence.
    n : int
        Customers of the partition.
    """

    def __init__(self, customer: np.ndarray, day: np.ndarray, pence: np.ndarray, n: int):
        index = EventIndex.covering(customer, day, pence, day)
        self.key, self.low, self.span = index.sorted_key, index.low, index.span
        self.cumulative = index.cumulative
        self.bounds = np.searchsorted(self.key, np.arange(n + 1, dtype=np.int64) * self.span)

    @classmethod
    def of(
        cls,
        payment_customer: np.ndarray,
        payment_day: np.ndarray,
        payment_pence: np.ndarray,
        adjustments: Adjustments,
        n: int,
    ) -> Credits:
        """Payments and balance-reducing adjustments (write-offs, credits) of ``n``
        customers."""
        reduced = adjustments.balance_pence < 0
        customer = np.concatenate([payment_customer, adjustments.customer[reduced]])
        day = np.concatenate([payment_day, adjustments.day[reduced]])
        pence = np.concatenate([payment_pence, -adjustments.balance_pence[reduced]])
        return cls(customer, day, pence, n)

    def to_date(self, customer: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Each customer's credits dated on or before ``day`` (one query per row)."""
        query = np.asarray(day, dtype=np.int64) - self.low
        np.clip(query, 0, self.span - 1, out=query)  # within the customer's own keys
        query += customer * self.span
        end = np.searchsorted(self.key, query, side="right")
        return self.cumulative.take(end) - self.cumulative.take(self.bounds.take(customer))

    def day_reaching(self, customer: np.ndarray, total: np.ndarray) -> np.ndarray:
        """First day each customer's credits to date reach ``total`` (:data:`NEVER_DAY` if
        never; a very early day when ``total`` is nil or less)."""
        first = self.cumulative.take(self.bounds.take(customer))
        event = np.searchsorted(self.cumulative[1:], first + total, side="left")
        found = event < self.bounds.take(customer + 1)
        if len(self.key):
            day = self.key.take(np.minimum(event, len(self.key) - 1)) % self.span + self.low
        else:
            day = np.zeros(len(customer), dtype=np.int64)
        day = np.where(found, day, NEVER_DAY)
        return np.where(total <= 0, -(10**6), day)


def running_within(customer: np.ndarray, pence: np.ndarray) -> np.ndarray:
    """Running total of ``pence`` within each customer's run (rows sorted by customer)."""
    total = np.cumsum(pence)
    if not len(customer):
        return total
    starts = np.flatnonzero(np.r_[True, customer[1:] != customer[:-1]])
    run = np.cumsum(np.r_[True, customer[1:] != customer[:-1]]) - 1
    return total - (total - pence)[starts][run]


def missed_checks(
    sorted_debits: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    credits: Credits,
    days: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The debits still not covered ``days`` days after they fell due.

    Parameters
    ----------
    sorted_debits : tuple
        :func:`debits` of the partition.
    credits : Credits
        Its credits.
    days : int
        The threshold: a missed check makes the customer ``days``+ days past due on it.

    Returns
    -------
    (ndarray, ndarray)
        Customer number and check day (``due + days``) of each missed debit. A customer is
        ``days``+ days past due on day ``t`` exactly when one of their missed checks is on
        or before ``t`` and that debit is still not covered on ``t``; they *reach*
        ``days``+ days past due on the check day of each missed debit that finds them
        below it.
    """
    customer, due, pence, _ = sorted_debits
    check = due + days
    missed = credits.to_date(customer, check) < running_within(customer, pence)
    return customer[missed], check[missed]


class LedgerEvents:
    """The ledger, debits and credits of a set of customers' arrays: shared by the build's
    partitions (:class:`dashboard.compute.partition.Partition`) and the score's events
    (:class:`dashboard.score.features.Events`).

    A subclass has, for customers ``0 .. size - 1`` (local codes): ``bill_customer``,
    ``bill_due``, ``bill_pence``, ``payment_customer``, ``payment_day``, ``payment_pence``
    (int arrays), ``size`` and ``adjustments`` (:class:`Adjustments`).
    """

    def ledger(self, snaps: np.ndarray) -> Ledger:
        """:func:`dashboard.compute.ledger.month_end_ledger` at ``snaps`` (customers x
        snapshot days)."""
        return month_end_ledger(
            self.bill_customer,
            self.bill_due,
            self.bill_pence,
            self.payment_customer,
            self.payment_day,
            self.payment_pence,
            self.size,
            snaps,
            self.adjustments,
        )

    def debits(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:func:`debits` of these customers."""
        return debits(self.bill_customer, self.bill_due, self.bill_pence, self.adjustments)

    def credits(self) -> Credits:
        """Payments and balance-reducing adjustments (write-offs, credits) to date."""
        return Credits.of(
            self.payment_customer, self.payment_day, self.payment_pence, self.adjustments, self.size
        )
