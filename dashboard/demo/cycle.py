"""One month of the synthetic book at a time: bills, payments, actions and adjustments.

:class:`MonthlySimulation` keeps NumPy arrays of per-customer state (no Python loop over
customers or bills) and steps through the months. Each month ``m``:

1. balances due for write-off are written off, dated the day before the cycle starts: a
   closed account's after :data:`~dashboard.demo.population.POLICY_MONTHS` with the agency
   (or :data:`~dashboard.demo.population.GONE_AWAY_MONTHS` for a gone-away customer), and
   live accounts :data:`LIVE_WRITE_OFF_MONTHS` months behind are written off as
   uncollectable at :data:`LIVE_WRITE_OFF_RATE` a month;
2. every active customer is billed (see :func:`~dashboard.demo.population.bill_amounts`);
3. each customer is *current*, *behind* (in arrears, no arrangement) or *arranged* (on a
   payment arrangement), or *closed* (left owing; the agency recovers some). Current
   customers pay around the due date (direct-debit payers on it), occasionally miss or pay
   part; customers behind cure with catch-up payments, pay part or nothing; arranged
   customers pay their instalment (the bill plus a slice of the arrears, on the due date,
   so a kept arrangement's arrears fall) until they clear, or break it and stop paying.
   Misses are seasonal (most for bills due in January) and more frequent in the stressed
   region during its stress;
4. a customer still in arrears 7-14 days after the due date is due a first reminder.
   :data:`HOLDOUT_SHARE` of these reminders are held out at random and recorded as
   ``Reminder Held Out``. Whether the customer pays at least ``min(£10, arrears)`` within
   :data:`RESPONSE_WINDOW_DAYS` days of that day is drawn with probability ``base`` when
   held out and ``base + TRUE_REMINDER_EFFECT`` when reminded, and the payments follow
   that draw: the measured uplift of reminders estimates :data:`TRUE_REMINDER_EFFECT`;
5. meter-read corrections (``rebill``) and compensation credits after supply incidents
   (``credit``) are dated after the reminder day;
6. ``Second Reminder`` 2-3 weeks after a reminder if still in arrears, ``Arrangement Agreed``
   for some of those after the next due date, ``Arrangement Broken`` when instalments stop.

Every payment of month ``m`` falls in its cycle (from 2 days before its due date to 3 days
before the next), so balances at any day of a cycle depend on that cycle's events only.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from dashboard import vocab
from dashboard.demo.population import (
    DIRECT_DEBIT,
    GONE_AWAY_MONTHS,
    INCIDENT_SHARE,
    MANUAL_METHODS,
    POLICY_MONTHS,
    STRESS_FACTOR,
    STRESS_REGION,
    Calendar,
    Portfolio,
    between,
    bill_amounts,
    typical_bill,
    uniform_int,
)
from dashboard.demo.writers import ACTION_CODES, ADJUSTMENT_CODES

# --- payment behaviour (monthly probabilities) ----------------------------------------------

MISS_RATE = (0.013, 0.0065)
"""Probability per unit risk that a current customer misses a bill (manual, direct debit)."""
PARTIAL_RATE = (0.003, 0.001)
"""Probability per unit risk that a current customer pays only part (manual, direct debit)."""
CHRONIC_MISS = 0.45
"""Probability that a current customer of the chronic-arrears group misses a bill."""
CURE_RATE = (0.4, 0.6)
"""Probability that a customer behind clears everything (manual, direct debit), / sqrt(risk)."""
CHRONIC_CURE = 0.08
"""Probability that a chronic customer behind clears everything."""
STAYING_BEHIND = 0.75
"""Cure and response probabilities are multiplied by this for each month a customer has
been behind (the longer in arrears, the less likely to pay)."""
CHRONIC_LUMP = (1.0, 3.0)
"""A chronic payer's occasional payment, in bills (uniform range)."""
BEHIND_PARTIAL = (0.10, 0.25)
"""Probability that a customer behind pays part (ordinary, chronic)."""
CURRENT_PARTIAL_FRACTION = (0.4, 0.9)
"""Part of the bill paid by a current customer who pays part (uniform range)."""
BEHIND_PARTIAL_FRACTION = (0.3, 1.0)
"""Part of the bill paid by a customer behind who pays part (uniform range)."""
CURE_SPLIT_SHARE = 0.5
"""Share of cures paid as the bill plus a separate, later catch-up payment."""
CURE_BY_DD_SHARE = 0.6
"""Share of direct-debit payers' one-payment cures collected by direct debit."""
ARRANGEMENT_RATE = (0.12, 0.25, 0.15)
"""Probability of agreeing an arrangement after a second reminder (ordinary, vulnerable,
chronic)."""
ARREARS_SPREAD_MONTHS = ((4, 12), (8, 18))
"""An instalment is the bill plus the arrears spread over this many months (uniform:
ordinary, chronic)."""
ARRANGED_BY_DD = 0.25
"""Share of non direct-debit customers who pay their arrangement by direct debit."""
BREAK_RATE = (0.04, 0.15)
"""Monthly probability of breaking an arrangement (ordinary x sqrt(risk), chronic)."""
LEAVE_RATE = 0.0095
"""Monthly probability that a current customer's account closes with a final bill ..."""
ARREARS_LEAVE_FACTOR = 5.0
"""... times this for customers behind or arranged (debt and home moves go together)."""
SETTLE_ON_LEAVING = (0.7, 0.3, 0.5)
"""Probability that a leaver pays the final balance (current, behind, arranged) ..."""
CHRONIC_SETTLE_FACTOR = 0.4
"""... times this for the chronic group."""
PREFERRED_METHOD_SHARE = 0.85
"""Share of manual payments made with the customer's preferred method."""
DD_PAID_BY_DD = 0.97
"""Share of direct-debit payers' regular payments collected by direct debit."""
REMINDER_DAYS = (7, 14)
"""A first reminder goes this many days after the due date (uniform)."""
SECOND_REMINDER_DAYS = (14, 21)
"""A second reminder goes this many days after the first (uniform)."""
AGREEMENT_DAYS = (1, 7)
"""An arrangement is agreed this many days after the second reminder or the next due date,
whichever is later (uniform)."""
TOLERANCE_PENCE = 100
"""Balances above this are arrears (and trigger actions)."""

# --- reminders and the randomised holdout ---------------------------------------------------

HOLDOUT_SHARE = 0.10
"""Share of first reminders held out at random (recorded as ``Reminder Held Out``)."""
TRUE_REMINDER_EFFECT = 0.10
"""The true effect of a reminder: it raises the probability of paying at least
``min(£10, arrears)`` within :data:`RESPONSE_WINDOW_DAYS` days by this much (10 points)."""
RESPONSE_WINDOW_DAYS = 30
"""Days after the reminder day over which the response is drawn."""
RESPONSE_MIN_PENCE = 1000
"""A response pays at least ``min(this, arrears)``."""
RESPONSE_RATE = (0.38, 0.15)
"""Probability of paying within the window without a reminder, for customers who had no
payment planned after the reminder day (ordinary / sqrt(risk), chronic) ..."""
RESPONSE_CAP = 0.75
"""... at most this (so a reminded customer's probability stays below 1) ..."""
RESPOND_IF_INTENDED = 0.85
"""... and for customers who had a payment planned after the reminder day."""
RESPONSE_FULL_SHARE = (0.6, 0.25)
"""Share of responses without a planned payment that clear the arrears (ordinary,
chronic); the others pay part."""
RESPONSE_PART = (0.25, 0.6)
"""Part of the arrears paid by a partial response (uniform range)."""
RESPONSE_DAYS = 14
"""A response without a planned payment comes within this many days (uniform)."""

# --- opening balances, closed accounts and write-offs ---------------------------------------

OPENING_BEHIND = (2.0, 0.5, 0.7)
"""Probability that a back-book customer starts behind: ordinary (times the monthly miss
rate, at most the second value), chronic (the third)."""
OPENING_ARREARS_BILLS = ((1.0, 2.5), (1.5, 4.0))
"""Opening arrears of back-book customers behind, in bills (uniform: ordinary, chronic)."""
CLOSED_ARREARS_BILLS = (1.0, 5.0)
"""Unpaid balance of accounts closed before the first month, in bills (uniform)."""
AGENCY_RECOVERY_RATE = 0.04
"""Monthly probability that the agency recovers a payment from a closed account ..."""
AGENCY_FULL_SHARE = 0.4
"""... the whole balance with this probability, else part of it ..."""
AGENCY_PART = (0.2, 0.5)
"""... this part (uniform range) ..."""
AGENCY_METHOD = vocab.PAYMENT_METHODS.index("Bank Transfer")
"""... paid by the agency by bank transfer."""
LIVE_WRITE_OFF_RATE = 0.3
"""Monthly probability that a live account long behind is written off as uncollectable
(insolvency, bereavement, hardship, no means to pay) ..."""
LIVE_WRITE_OFF_MONTHS = 3
"""... once behind for this many months ..."""
LIVE_WRITE_OFF_MIN_PENCE = 10_000
"""... and owing at least this much."""

# --- other adjustments ------------------------------------------------------------------------

REBILL_RATE = 0.004
"""Monthly probability of a meter-read correction (``rebill``) for a metered customer ..."""
REBILL_POUNDS = (2.0, 40.0)
"""... of this size (GBP, uniform range) ..."""
REBILL_UP_SHARE = 0.6
"""... adding to the balance with this probability (else a refund)."""
INCIDENT_CREDIT_PENCE = 3000
"""Compensation ``credit`` (guaranteed standards scheme) after a supply incident."""
ADJUSTMENT_DAYS = (15, 20)
"""Credits and rebills are dated this many days after the due date (after any reminder)."""

CURRENT, BEHIND, ARRANGED, CLOSED, SETTLED = 0, 1, 2, 3, 4
"""Customer states: ``CLOSED`` left owing, ``SETTLED`` closed with nothing left to do."""
_STRESS = vocab.REGIONS.index(STRESS_REGION)
_PERSISTENCE = STAYING_BEHIND ** np.arange(13)
_HELD_OUT = ACTION_CODES[vocab.HELD_OUT]


@dataclass
class _Draws:
    """Uniform and normal draws of one month, one per customer, in a fixed order."""

    usage: np.ndarray
    lateness: np.ndarray
    leave: np.ndarray
    event: np.ndarray
    fraction: np.ndarray
    day: np.ndarray
    day2: np.ndarray
    split: np.ndarray
    method: np.ndarray
    other_method: np.ndarray
    reminder: np.ndarray
    second: np.ndarray
    agreement: np.ndarray
    arrange: np.ndarray
    arranged_by_dd: np.ndarray
    spread: np.ndarray
    hold: np.ndarray
    respond: np.ndarray
    response_full: np.ndarray
    response_amount: np.ndarray
    response_day: np.ndarray
    write_off: np.ndarray
    rebill: np.ndarray
    rebill_amount: np.ndarray
    credit: np.ndarray
    adjustment_day: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator, n: int) -> _Draws:
        """Draw a month's values for ``n`` customers."""
        usage = rng.standard_normal(n)
        lateness = rng.standard_normal(n)
        names = [f.name for f in fields(cls) if f.name not in ("usage", "lateness")]
        uniforms = rng.random((len(names), n), dtype=np.float32)
        return cls(usage=usage, lateness=lateness, **dict(zip(names, uniforms, strict=True)))


SLOTS = 3
"""Payments per customer and cycle: a regular one, a catch-up and a reminder response."""


@dataclass
class Slots:
    """Up to :data:`SLOTS` payments per customer in one cycle (amount 0 = no payment).

    Arrays are ``(SLOTS, customers)``; a customer's payments are in date order along the
    slots (the catch-up is never before the regular payment, the response after both).
    """

    amount: np.ndarray
    day: np.ndarray
    method: np.ndarray

    @classmethod
    def empty(cls, n: int) -> Slots:
        """No payments for ``n`` customers."""
        zeros = np.zeros((SLOTS, n), dtype=np.int64)
        return cls(zeros, zeros.copy(), zeros.copy())

    def put(
        self,
        mask: np.ndarray,
        amount: np.ndarray | int,
        day: np.ndarray | int,
        method: np.ndarray | int,
        slot: int = 0,
    ) -> None:
        """Set payment ``slot`` of the customers in ``mask`` (negative amounts become 0)."""
        np.copyto(self.amount[slot], np.maximum(amount, 0), where=mask)
        np.copyto(self.day[slot], day, where=mask)
        np.copyto(self.method[slot], method, where=mask)

    def paid_by(self, day: np.ndarray, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Amount paid on or before ``day`` (per row of ``rows``)."""
        amount, days = self.amount[:, rows], self.day[:, rows]
        paid = np.where(days[0] <= day, amount[0], 0)
        for slot in range(1, SLOTS):
            paid += np.where(days[slot] <= day, amount[slot], 0)
        return paid

    def paid_after(self, day: np.ndarray) -> np.ndarray:
        """Amount paid after ``day`` (one day per customer)."""
        return self.total() - self.paid_by(day)

    def total(self) -> np.ndarray:
        """Amount paid in the cycle per customer."""
        return self.amount.sum(axis=0)

    def shift(self, not_before: np.ndarray) -> None:
        """Move payments dated before ``not_before`` (per customer; 0 = none) to that day."""
        np.maximum(self.day, not_before, out=self.day)

    def drop_after(self, mask: np.ndarray, day: np.ndarray) -> None:
        """Cancel the payments after ``day`` of the customers in ``mask``."""
        self.amount[mask & (self.day > day)] = 0

    def top_up(self, mask: np.ndarray, day: np.ndarray, extra: np.ndarray) -> None:
        """Add ``extra`` to the last payment after ``day`` of the customers in ``mask``."""
        done = ~mask
        for slot in range(SLOTS - 1, -1, -1):
            here = ~done & (self.amount[slot] > 0) & (self.day[slot] > day)
            self.amount[slot] += np.where(here, extra, 0)
            done |= here


@dataclass
class _Pending:
    """Customers reminded last cycle whose second reminder waits for this cycle's payments."""

    rows: np.ndarray
    second_day: np.ndarray
    agreement_day: np.ndarray
    balance_at_second: np.ndarray
    """Balance at the second-reminder day, from bills, payments and adjustments up to last
    cycle."""
    balance_at_agreement: np.ndarray
    accepts: np.ndarray
    spread: np.ndarray
    """Months over which an arrangement would spread the arrears."""
    by_dd: np.ndarray

    @classmethod
    def none(cls) -> _Pending:
        """No pending customers."""
        ints, flags = np.zeros(0, np.int64), np.zeros(0, bool)
        return cls(ints, ints, ints, ints, ints, flags, ints, flags)

    def written_off(self, amount: np.ndarray, day: int) -> None:
        """Take write-offs (per customer, dated ``day``) out of the balances on later days."""
        self.balance_at_second -= np.where(self.second_day >= day, amount[self.rows], 0)
        self.balance_at_agreement -= np.where(self.agreement_day >= day, amount[self.rows], 0)


@dataclass
class _PaymentContext:
    """What every payment rule of one cycle needs."""

    slots: Slots
    bill: np.ndarray
    owed_total: np.ndarray
    """Balance brought forward plus this month's bill."""
    due: int
    latest: int
    """Latest payment day of the cycle, in days after ``due``."""
    lateness: np.ndarray
    manual: np.ndarray
    """Method of a manual payment (usually the customer's preferred one)."""
    pays_by_dd: np.ndarray


@dataclass
class Month:
    """What one month adds to the tables: dense per-customer arrays and sparse chunks."""

    bill: np.ndarray
    """Bill per customer in pence (0 = not billed)."""
    usage: np.ndarray
    slots: Slots
    actions: dict[str, np.ndarray]
    adjustments: dict[str, np.ndarray]


def _other_method(d: _Draws) -> np.ndarray:
    """A manual method chosen at random (for payments not made the preferred way)."""
    pick = np.minimum((d.other_method * len(MANUAL_METHODS)).astype(np.int64), 3)
    return np.asarray(MANUAL_METHODS)[pick]


def actions_chunk(parts: list[tuple[np.ndarray, np.ndarray, int]]) -> dict[str, np.ndarray]:
    """Raw ``collections_actions`` chunk from ``(rows, days, action code)`` parts."""
    return {
        "customer_id": np.concatenate([rows for rows, _, _ in parts]),
        "action_date": np.concatenate([days for _, days, _ in parts]),
        "action": np.concatenate([np.full(len(rows), code) for rows, _, code in parts]),
    }


def adjustments_chunk(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, str]],
) -> dict[str, np.ndarray]:
    """Raw ``adjustments`` chunk from ``(rows, days, amounts, kind)`` parts."""
    return {
        "customer_id": np.concatenate([rows for rows, _, _, _ in parts]),
        "adjustment_date": np.concatenate([days for _, days, _, _ in parts]),
        "amount": np.concatenate([amounts for _, _, amounts, _ in parts]),
        "kind": np.concatenate(
            [np.full(len(rows), ADJUSTMENT_CODES[kind]) for rows, _, _, kind in parts]
        ),
    }


def _parts(mask: np.ndarray, days: np.ndarray | int, code: int) -> tuple:
    """``(rows, days, action code)`` of the customers in ``mask`` (for :func:`actions_chunk`)."""
    rows = np.flatnonzero(mask)
    return rows, np.broadcast_to(days, mask.shape)[rows], code


class MonthlySimulation:
    """Month-by-month simulation of a block of customers.

    Parameters
    ----------
    portfolio : Portfolio
    calendar : Calendar
    rng : numpy.random.Generator
        Drawn from in a fixed order (the portfolio must be drawn first).
    """

    def __init__(self, portfolio: Portfolio, calendar: Calendar, rng: np.random.Generator):
        n = portfolio.size
        self.portfolio, self.calendar, self.rng = portfolio, calendar, rng
        self.dd = portfolio.prefers_direct_debit == 1
        self.sqrt_risk = np.sqrt(portfolio.risk)
        self.state, self.owed = self._opening(rng)
        self.instalment = np.zeros(n, dtype=np.int64)
        self.arranged_by_dd = np.zeros(n, dtype=bool)
        self.not_before = np.zeros(n, dtype=np.int64)
        """Day before which the customer pays nothing (after not responding to a reminder)."""
        self.pending = _Pending.none()
        self.last = np.where(portfolio.closed_before, -portfolio.closed_months_ago, calendar.months)
        """Month of the final bill (the number of months while the account is open)."""
        self.months_behind = (self.state == BEHIND).astype(np.int64)
        """Months in a row the customer ended behind."""

    # --- the start ------------------------------------------------------------------------

    def _opening(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Opening states and balances: some back-book customers behind, closed accounts."""
        p = self.portfolio
        u_state, u_amount = rng.random(p.size), rng.random(p.size)
        low, high, chronic = OPENING_BEHIND
        behind_p = np.minimum(low * MISS_RATE[0] * p.risk, high)
        behind_p = np.where(p.chronic, chronic, behind_p)
        behind = (p.join == 0) & ~p.closed_before & (u_state < behind_p)
        ordinary, chronic_bills = OPENING_ARREARS_BILLS
        bills = np.where(p.chronic, between(u_amount, chronic_bills), between(u_amount, ordinary))
        bills = np.where(p.closed_before, between(u_amount, CLOSED_ARREARS_BILLS), bills)
        owing = behind | p.closed_before
        owed = np.where(owing, np.rint(bills * typical_bill(p, self.calendar)), 0)
        state = np.where(behind, BEHIND, np.where(p.closed_before, CLOSED, CURRENT))
        return state.astype(np.int8), owed.astype(np.int64)

    def opening_balances(self) -> dict[str, np.ndarray]:
        """Opening balances as a raw ``adjustments`` chunk: ``transfer`` adjustments (the
        balance carried over from before the period) dated on the first day."""
        rows = np.flatnonzero(self.owed > 0)
        day = np.full(len(rows), self.calendar.start_day)
        return adjustments_chunk([(rows, day, self.owed[rows], "transfer")])

    # --- one month ------------------------------------------------------------------------

    def step(self, m: int) -> Month:
        """Simulate month ``m``: write off, bill, pay, remind, adjust and move between states."""
        p, cal, n = self.portfolio, self.calendar, self.portfolio.size
        d = _Draws.draw(self.rng, n)
        active = (p.join <= m) & (m <= self.last)
        final = active & (d.leave < self._leave_rate())
        self.last = np.where(final, m, self.last)
        adjustments = [self._write_offs(m, active, d)]
        bill, usage = bill_amounts(p, cal, m, d.usage)
        bill = np.where(active, bill, 0)
        due, end = int(cal.due[m]), int(cal.cycle_end[m])

        outcome = self._outcomes(m, active, final, d)
        slots = self._payments(outcome, bill, due, end - due, d)
        not_before, self.not_before = self.not_before, np.zeros(n, dtype=np.int64)
        slots.shift(not_before)
        owed_total = self.owed + bill
        reminder_day = due + uniform_int(d.reminder, *REMINDER_DAYS)
        in_arrears = owed_total - slots.paid_by(reminder_day) > TOLERANCE_PENCE
        eligible = active & ~outcome["instalment"] & ~outcome["break"] & in_arrears
        held = self._respond(m, eligible, reminder_day, owed_total, slots, not_before, end, d)
        adjusted, parts = self._credits_and_rebills(m, active, due, d)
        adjustments += parts

        balance = owed_total - slots.total() + adjusted
        state = self._next_state(outcome, balance)
        reminded = eligible & ~held
        actions = [
            _parts(reminded, reminder_day, ACTION_CODES["Reminder Sent"]),
            _parts(held, reminder_day, _HELD_OUT),
            _parts(outcome["break"] & in_arrears, reminder_day, ACTION_CODES["Arrangement Broken"]),
        ]
        actions += self._settle_pending(active & ~final, state, balance, bill, slots, due)
        self._queue_second_reminders(m, reminded, reminder_day, owed_total, slots, adjusted, d)
        self._close_month(active, final, state, balance)
        return Month(
            bill=bill,
            usage=usage,
            slots=slots,
            actions=actions_chunk(actions),
            adjustments=adjustments_chunk(adjustments),
        )

    def _leave_rate(self) -> np.ndarray:
        """Monthly probability that each account closes this month."""
        owing = (self.state == BEHIND) | (self.state == ARRANGED)
        return LEAVE_RATE * np.where(owing, ARREARS_LEAVE_FACTOR, 1.0)

    def _persistence(self) -> np.ndarray:
        """Factor of cure and response probabilities for the months already behind."""
        return np.take(_PERSISTENCE, np.minimum(self.months_behind, len(_PERSISTENCE) - 1))

    def _strain(self, m: int) -> np.ndarray:
        """Payment strain of each customer this month: season times regional stress."""
        stressed = self.calendar.stress[m] & (self.portfolio.region == _STRESS)
        return self.calendar.strain[m] * np.where(stressed, STRESS_FACTOR, 1.0)

    def _write_offs(self, m: int, active: np.ndarray, d: _Draws) -> tuple:
        """Write off due balances on the day before the cycle starts (zeroing them)."""
        p = self.portfolio
        day = int(self.calendar.due[m]) - 3
        age = m - self.last
        closed = self.state == CLOSED
        expired = (age >= POLICY_MONTHS) | (p.gone_away & (age >= GONE_AWAY_MONTHS))
        closed_due = closed & (expired | (self.owed <= TOLERANCE_PENCE))
        live = active & (self.state == BEHIND) & (self.owed >= LIVE_WRITE_OFF_MIN_PENCE)
        live &= self.months_behind >= LIVE_WRITE_OFF_MONTHS
        live &= d.write_off < LIVE_WRITE_OFF_RATE
        written = closed_due | live
        amount = np.where(written, self.owed, 0)
        self.owed = self.owed - amount
        self.state = np.where(closed_due, SETTLED, np.where(live, CURRENT, self.state))
        self.months_behind = np.where(live, 0, self.months_behind)
        self.pending.written_off(amount, day)
        rows = np.flatnonzero(written & (amount > 0))
        return rows, np.full(len(rows), day), amount[rows], "write_off"

    def _outcomes(
        self, m: int, active: np.ndarray, final: np.ndarray, d: _Draws
    ) -> dict[str, np.ndarray]:
        """Decide what each customer does this month (boolean masks)."""
        p, dd, u = self.portfolio, self.dd, d.event
        strain = self._strain(m)
        current = active & (self.state == CURRENT) & ~final
        behind = active & (self.state == BEHIND) & ~final
        arranged = active & (self.state == ARRANGED) & ~final

        miss = np.minimum(np.where(dd, MISS_RATE[1], MISS_RATE[0]) * p.risk * strain, 0.5)
        miss = np.where(p.chronic, np.maximum(miss, CHRONIC_MISS), miss)
        partial = np.minimum(np.where(dd, PARTIAL_RATE[1], PARTIAL_RATE[0]) * p.risk * strain, 0.3)
        cure = np.clip(np.where(dd, CURE_RATE[1], CURE_RATE[0]) / self.sqrt_risk, 0.15, 0.85)
        cure = np.where(p.chronic, CHRONIC_CURE, cure) * self._persistence() / strain
        behind_partial = np.where(p.chronic, BEHIND_PARTIAL[1], BEHIND_PARTIAL[0])
        breaks = np.where(p.chronic, BREAK_RATE[1], np.minimum(BREAK_RATE[0] * self.sqrt_risk, 0.3))
        breaks = np.minimum(breaks * strain, 0.5)
        settle = np.take(SETTLE_ON_LEAVING, np.minimum(self.state, ARRANGED))
        settle = settle * np.where(p.chronic, CHRONIC_SETTLE_FACTOR, 1.0)

        return {
            "miss": current & (u < miss),
            "partial": current & (u >= miss) & (u < miss + partial),
            "pay": current & (u >= miss + partial),
            "cure": behind & (u < cure),
            "behind_partial": behind & (u >= cure) & (u < cure + behind_partial),
            "instalment": arranged & (u >= breaks),
            "break": arranged & (u < breaks),
            "settle": final & (u < settle),
            "was_current": self.state == CURRENT,
            "recover": (self.state == CLOSED) & (u < AGENCY_RECOVERY_RATE),
        }

    # --- payments -------------------------------------------------------------------------

    def _payments(
        self, o: dict[str, np.ndarray], bill: np.ndarray, due: int, latest: int, d: _Draws
    ) -> Slots:
        """Payments of this month's cycle: amounts, days (within the cycle) and methods."""
        p = self.portfolio
        lateness = np.rint(p.lateness_mean + p.lateness_sd * d.lateness).astype(np.int64)
        pay = _PaymentContext(
            slots=Slots.empty(p.size),
            bill=bill,
            owed_total=self.owed + bill,
            due=due,
            latest=latest,
            lateness=np.clip(lateness, -2, latest),
            manual=np.where(d.method < PREFERRED_METHOD_SHARE, p.manual_method, _other_method(d)),
            pays_by_dd=self.dd & (d.method < DD_PAID_BY_DD),
        )
        self._pay_current(o, pay, d)
        self._pay_behind(o, pay, d)
        self._pay_arranged_and_leaving(o, pay, d)
        self._recover_closed(o, pay, d)
        return pay.slots

    def _pay_current(self, o: dict[str, np.ndarray], pay: _PaymentContext, d: _Draws) -> None:
        """Current customers pay in full around the due date (direct debit on it) or in part."""
        day = pay.due + np.where(pay.pays_by_dd, 0, pay.lateness)
        method = np.where(pay.pays_by_dd, DIRECT_DEBIT, pay.manual)
        pay.slots.put(o["pay"], pay.owed_total, day, method)
        part = between(d.fraction, CURRENT_PARTIAL_FRACTION)
        amount = np.rint(pay.bill * part).astype(np.int64)
        pay.slots.put(o["partial"], amount, pay.due + pay.lateness, pay.manual)

    def _pay_behind(self, o: dict[str, np.ndarray], pay: _PaymentContext, d: _Draws) -> None:
        """Customers behind cure (in one payment, or the bill plus a catch-up) or pay part."""
        slots, dd, due = pay.slots, self.dd, pay.due
        split = o["cure"] & (d.split < CURE_SPLIT_SHARE)
        single = o["cure"] & ~split
        cure_by_dd = dd & (d.method < CURE_BY_DD_SHARE)
        slots.put(single & cure_by_dd, pay.owed_total, due, DIRECT_DEBIT)
        single_day = due + uniform_int(d.day, 3, pay.latest)
        slots.put(single & ~cure_by_dd, pay.owed_total, single_day, pay.manual)
        first_day = np.maximum(pay.lateness, 0)
        first_method = np.where(dd, DIRECT_DEBIT, pay.manual)
        slots.put(split, pay.bill, due + np.where(dd, 0, first_day), first_method)
        catch_up_day = due + uniform_int(d.day2, np.maximum(first_day, 7), pay.latest)
        slots.put(split, self.owed, catch_up_day, pay.manual, slot=1)

        part = np.where(
            self.portfolio.chronic,
            between(d.fraction, CHRONIC_LUMP),
            between(d.fraction, BEHIND_PARTIAL_FRACTION),
        )
        amount = np.minimum(np.rint(pay.bill * part).astype(np.int64), pay.owed_total)
        slots.put(o["behind_partial"], amount, due + uniform_int(d.day, 0, 20), pay.manual)

    def _pay_arranged_and_leaving(
        self, o: dict[str, np.ndarray], pay: _PaymentContext, d: _Draws
    ) -> None:
        """Arranged customers pay their instalment by the due date; settling leavers pay the
        final balance."""
        by_dd = self.arranged_by_dd
        instalment = np.minimum(self.instalment, pay.owed_total)
        instalment_day = pay.due - np.where(by_dd, 0, uniform_int(d.day2, 0, 2))
        method = np.where(by_dd, DIRECT_DEBIT, pay.manual)
        pay.slots.put(o["instalment"], instalment, instalment_day, method)

        settle_by_dd = o["was_current"] & pay.pays_by_dd
        settle_day = pay.due + np.where(settle_by_dd, 0, uniform_int(d.day, 0, 20))
        method = np.where(settle_by_dd, DIRECT_DEBIT, pay.manual)
        pay.slots.put(o["settle"], pay.owed_total, settle_day, method)

    def _recover_closed(self, o: dict[str, np.ndarray], pay: _PaymentContext, d: _Draws) -> None:
        """The collection agency recovers all or part of some closed accounts' balances."""
        part = np.rint(self.owed * between(d.split, AGENCY_PART)).astype(np.int64)
        amount = np.where(d.fraction < AGENCY_FULL_SHARE, self.owed, np.maximum(part, 1))
        day = pay.due + uniform_int(d.day, 0, 20)
        pay.slots.put(o["recover"], amount, day, AGENCY_METHOD)

    # --- reminders and the holdout --------------------------------------------------------

    def _respond(
        self,
        m: int,
        eligible: np.ndarray,
        day: np.ndarray,
        owed_total: np.ndarray,
        slots: Slots,
        not_before: np.ndarray,
        end: int,
        d: _Draws,
    ) -> np.ndarray:
        """Hold out some reminders and make every eligible customer's payments follow their
        response draw; return the held-out customers.

        Responders pay at least ``min(£10, arrears)`` after ``day`` within the cycle (their
        planned payments, topped up if needed, or a new one); the others pay nothing after
        ``day`` in this cycle nor before ``day + RESPONSE_WINDOW_DAYS`` in the next.
        """
        p = self.portfolio
        held = eligible & (d.hold < HOLDOUT_SHARE)
        planned = slots.paid_after(day)
        intended = planned > 0
        unplanned = np.where(p.chronic, RESPONSE_RATE[1], RESPONSE_RATE[0] / self.sqrt_risk)
        unplanned = unplanned * self._persistence() / self._strain(m)
        unplanned = np.minimum(unplanned, RESPONSE_CAP)
        base = np.where(intended, RESPOND_IF_INTENDED, unplanned)
        responds = eligible & (d.respond < base + np.where(held, 0.0, TRUE_REMINDER_EFFECT))
        silent = eligible & ~responds
        slots.drop_after(silent, day)
        self.not_before = np.where(silent, day + RESPONSE_WINDOW_DAYS + 1, 0)

        arrears = owed_total - slots.paid_by(day)
        least = np.minimum(RESPONSE_MIN_PENCE, arrears)
        slots.top_up(responds & intended & (planned < least), day, least - planned)
        full_share = np.where(p.chronic, RESPONSE_FULL_SHARE[1], RESPONSE_FULL_SHARE[0])
        part = np.rint(arrears * between(d.response_amount, RESPONSE_PART)).astype(np.int64)
        amount = np.where(d.response_full < full_share, arrears, np.clip(part, least, arrears))
        first = np.maximum(day + 1, not_before)
        pay_day = uniform_int(d.response_day, first, np.minimum(first + RESPONSE_DAYS, end))
        slots.put(responds & ~intended, amount, pay_day, p.manual_method, slot=2)
        return held

    def _queue_second_reminders(
        self,
        m: int,
        reminded: np.ndarray,
        first: np.ndarray,
        owed_total: np.ndarray,
        slots: Slots,
        adjusted: np.ndarray,
        d: _Draws,
    ) -> None:
        """Remember reminded customers: their second reminder depends on next month too."""
        p = self.portfolio
        r = np.flatnonzero(reminded)
        second = first[r] + uniform_int(d.second[r], *SECOND_REMINDER_DAYS)
        next_due = int(self.calendar.due[m + 1])
        agreement = np.maximum(second, next_due) + uniform_int(d.agreement[r], *AGREEMENT_DAYS)
        rate = np.where(p.is_vulnerable[r] == 1, ARRANGEMENT_RATE[1], ARRANGEMENT_RATE[0])
        rate = np.where(p.chronic[r], ARRANGEMENT_RATE[2], rate)
        (low, high), (chronic_low, chronic_high) = ARREARS_SPREAD_MONTHS
        spread = np.where(
            p.chronic[r],
            uniform_int(d.spread[r], chronic_low, chronic_high),
            uniform_int(d.spread[r], low, high),
        )
        before = owed_total[r] + adjusted[r]
        self.pending = _Pending(
            rows=r,
            second_day=second,
            agreement_day=agreement,
            balance_at_second=before - slots.paid_by(second, r),
            balance_at_agreement=before - slots.paid_by(agreement, r),
            accepts=d.arrange[r] < rate,
            spread=spread,
            by_dd=self.dd[r] | (d.arranged_by_dd[r] < ARRANGED_BY_DD),
        )

    def _settle_pending(
        self,
        can_agree: np.ndarray,
        state: np.ndarray,
        balance: np.ndarray,
        bill: np.ndarray,
        slots: Slots,
        due: int,
    ) -> list[tuple[np.ndarray, np.ndarray, int]]:
        """Second reminders and arrangements for customers reminded last month."""
        q = self.pending
        r = q.rows
        balance_second = q.balance_at_second + np.where(due < q.second_day, bill[r], 0)
        balance_second -= slots.paid_by(q.second_day, r)
        balance_agreement = q.balance_at_agreement + np.where(due < q.agreement_day, bill[r], 0)
        balance_agreement -= slots.paid_by(q.agreement_day, r)
        second = balance_second > TOLERANCE_PENCE
        agree = second & q.accepts & (balance_agreement > TOLERANCE_PENCE)
        agree &= can_agree[r] & (state[r] == BEHIND)
        agreed = r[agree]
        state[agreed] = ARRANGED
        instalment = bill[agreed] + balance[agreed] / q.spread[agree]
        self.instalment[agreed] = np.rint(instalment).astype(np.int64)
        self.arranged_by_dd[agreed] = q.by_dd[agree]
        return [
            (r[second], q.second_day[second], ACTION_CODES["Second Reminder"]),
            (agreed, q.agreement_day[agree], ACTION_CODES["Arrangement Agreed"]),
        ]

    # --- adjustments and the month's close ------------------------------------------------

    def _credits_and_rebills(
        self, m: int, active: np.ndarray, due: int, d: _Draws
    ) -> tuple[np.ndarray, list[tuple]]:
        """Meter-read corrections and incident credits: their effect on each balance, and
        the adjustments (dated after any reminder of the cycle) as chunk parts."""
        p = self.portfolio
        rebill = active & (p.has_meter == 1) & (d.rebill < REBILL_RATE)
        up = d.rebill < REBILL_RATE * REBILL_UP_SHARE
        size = np.rint(between(d.rebill_amount, REBILL_POUNDS) * 100).astype(np.int64)
        signed = np.where(up, size, -size)
        credit = active & self.calendar.incidents[m, p.region] & (d.credit < INCIDENT_SHARE)
        day = due + uniform_int(d.adjustment_day, *ADJUSTMENT_DAYS)
        effect = np.where(rebill, signed, 0) - np.where(credit, INCIDENT_CREDIT_PENCE, 0)
        rebills, credits = np.flatnonzero(rebill), np.flatnonzero(credit)
        return effect, [
            (rebills, day[rebills], signed[rebills], "rebill"),
            (credits, day[credits], np.full(len(credits), INCIDENT_CREDIT_PENCE), "credit"),
        ]

    def _next_state(self, o: dict[str, np.ndarray], balance: np.ndarray) -> np.ndarray:
        """State after this month's payments (before any new arrangement)."""
        keep_arranged = (self.state == ARRANGED) & ~o["break"]
        behind = np.where(keep_arranged, ARRANGED, BEHIND)
        return np.where(balance <= TOLERANCE_PENCE, CURRENT, behind).astype(np.int8)

    def _close_month(
        self, active: np.ndarray, final: np.ndarray, state: np.ndarray, balance: np.ndarray
    ) -> None:
        """Carry balances and states into next month; leavers' accounts close."""
        closed = self.state == CLOSED
        self.owed = np.where(active | closed, balance, self.owed)
        state = np.where(active, state, self.state)
        state = np.where(final, np.where(balance > 0, CLOSED, SETTLED), state)
        state = np.where(closed & (balance <= 0), SETTLED, state)
        self.state = state.astype(np.int8)
        self.months_behind = np.where(self.state == BEHIND, self.months_behind + 1, 0)

    def flush(self) -> dict[str, np.ndarray]:
        """Actions after the last month's cycle (no more bills or payments)."""
        n = self.portfolio.size
        still_customer = self.last >= self.calendar.months
        state = self.state.copy()
        no_bills = np.zeros(n, dtype=np.int64)
        due_after_end = int(self.calendar.due[-1])
        actions = self._settle_pending(
            still_customer, state, self.owed, no_bills, Slots.empty(n), due_after_end
        )
        self.pending = _Pending.none()
        return actions_chunk(actions)
