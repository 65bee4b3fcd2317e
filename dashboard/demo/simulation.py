"""Seeded, vectorised synthetic portfolio of a UK water utility (the demo data set).

The generator draws a customer table, then simulates the portfolio month by month with NumPy
arrays of per-customer state (no Python loop over customers or bills):

- each month every active customer is billed (metered: standing charge + usage x rate with
  summer-high usage; unmetered: a flat charge), prices rise every April;
- each customer is *current*, *behind* (in arrears, no arrangement) or *arranged* (on a
  payment arrangement). Current customers pay around the due date (direct-debit payers on
  it), occasionally miss or pay part; customers behind cure with catch-up payments, pay part
  or nothing; arranged customers pay a fixed instalment until they clear, or break it;
- collections actions follow the ledger: ``Reminder Sent`` 7-14 days after a due date that
  left the customer in arrears, ``Second Reminder`` 2-3 weeks later if still in arrears,
  ``Arrangement Agreed`` for some of those, ``Arrangement Broken`` when instalments stop;
- some customers join or leave during the period; a leaver's final balance may stay unpaid.

Risk varies with income band, region, tenure, vulnerability and a persistent personal
factor; a small chronic-arrears group rarely cures. The constants below are calibrated
(by measuring generated portfolios) to about 8% of customers in arrears at a month end
(regions from about 4% to 14%), a third of them on an arrangement, 6-7% vulnerable, 6-7% on
the social tariff, bad debt of 2-3% of billed revenue and a per-bill default rate (the
metric of DESIGN.md) of about 5% that falls with income.

The same arguments always give the same data: one ``numpy.random.default_rng(seed)`` is
drawn from in a fixed order, whatever the output format or progress setting.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from dashboard import vocab
from dashboard.demo.writers import (
    FORMATS,
    RawChunk,
    chunk_length,
    column_kind,
    open_writer,
    to_frame,
)

# --- customer mix -------------------------------------------------------------------------

REGION_SHARES = (0.234, 0.207, 0.162, 0.095, 0.086, 0.074, 0.073, 0.068)
"""Share of customers per region (order of ``vocab.REGIONS``)."""
REGION_RISK = (1.2, 0.95, 0.8, 1.5, 0.85, 1.35, 0.6, 0.7)
"""Relative arrears risk per region."""
INCOME_SHARES = (0.218, 0.389, 0.272, 0.121)
"""Share of customers per income band (order of ``vocab.INCOME_BANDS``)."""
INCOME_RISK = (1.7, 1.1, 0.85, 0.65)
"""Relative arrears risk per income band."""
DIRECT_DEBIT_BY_INCOME = (0.48, 0.62, 0.72, 0.8)
"""Probability of preferring direct debit per income band."""
VULNERABLE_BY_INCOME = (0.13, 0.065, 0.04, 0.03)
"""Probability of being on the priority services register per income band."""
VULNERABLE_RISK = 1.4
SOCIAL_TARIFF_BY_INCOME = (0.17, 0.05, 0.01, 0.0)
"""Probability of the social tariff per income band (doubled for vulnerable customers)."""
OTHER_TARIFF_SHARES = (0.47, 0.42, 0.0, 0.11)
"""Tariff shares of customers not on the social tariff (order of ``vocab.TARIFFS``)."""
METERED_BY_TARIFF = (1.0, 0.25, 0.55, 0.0)
"""Probability of a meter per tariff: Metered always, Unmetered never."""
SOCIAL_TARIFF_RISK = 0.9
SOCIAL_TARIFF_DISCOUNT = 0.25
EXISTING_TENURE_SHARES = (0.12, 0.40, 0.28, 0.20)
"""Tenure at the first month of customers already on the books (joiners are ``<1y``)."""
TENURE_RISK = (1.4, 1.1, 0.9, 0.8)
PERSONAL_RISK_SIGMA = 0.5
"""Log-normal spread of the persistent personal risk factor."""
CHRONIC_RATE = 0.053
"""Probability (per unit risk) of belonging to the chronic-arrears group."""
JOIN_RATE = 0.0022
LEAVE_RATE = 0.0022
"""Monthly rates of joining / leaving (about 10% each over 48 months)."""

# --- bills ----------------------------------------------------------------------------------

STANDING_CHARGE = 7.5
"""Monthly standing charge (GBP, water + sewerage) in the charging year from April 2022."""
VOLUMETRIC_RATE = 2.45
"""GBP per m3 (water + sewerage) in the charging year from April 2022."""
UNMETERED_CHARGE = (43.0, 4.0)
"""Mean and spread of the flat monthly unmetered charge (GBP) from April 2022."""
PRICE_RISE = 0.06
"""Annual price rise applied every April."""
BASE_CHARGING_YEAR = 2022
USAGE_M3 = (11.0, 0.2)
"""Median monthly household usage (m3) and its log-normal spread between households."""
USAGE_NOISE = 0.12
SEASONAL_AMPLITUDE = 0.12
"""Usage is ``1 + amplitude`` times average in July and ``1 - amplitude`` in January."""
USAGE_LIMITS_M3 = (5.0, 22.0)
DUE_DAYS = 14

# --- payment behaviour (monthly probabilities) ----------------------------------------------

MISS_RATE = (0.004, 0.002)
"""Probability per unit risk that a current customer misses a bill (manual, direct debit)."""
PARTIAL_RATE = (0.003, 0.001)
"""Probability per unit risk that a current customer pays only part (manual, direct debit)."""
CHRONIC_MISS = 0.6
CURE_RATE = (0.4, 0.6)
"""Probability that a customer behind clears everything (manual, direct debit), / sqrt(risk)."""
CHRONIC_CURE = 0.02
CHRONIC_LUMP = (4.0, 10.0)
"""A chronic payer's occasional payment, in bills (uniform range)."""
BEHIND_PARTIAL = (0.10, 0.08)
"""Probability that a customer behind pays part (ordinary, chronic)."""
CURRENT_PARTIAL_FRACTION = (0.4, 0.9)
BEHIND_PARTIAL_FRACTION = (0.3, 1.0)
"""Part of the bill paid by a current / behind customer who pays part (uniform range)."""
CURE_SPLIT_SHARE = 0.5
"""Share of cures paid as the bill plus a separate, later catch-up payment."""
CURE_BY_DD_SHARE = 0.6
"""Share of direct-debit payers' one-payment cures collected by direct debit."""
ARRANGEMENT_RATE = (0.12, 0.25, 0.12)
"""Probability of agreeing an arrangement after a second reminder (ordinary, vulnerable,
chronic)."""
INSTALMENT_FACTOR = ((1.0, 1.0), (0.2, 0.9))
"""Arrangement instalment as a fraction of the current bill (uniform ranges: ordinary,
chronic) ..."""
ARREARS_SPREAD_MONTHS = (4, 12)
"""... plus, for ordinary customers, the arrears spread over this many months (uniform)."""
ARRANGED_BY_DD = 0.25
"""Share of non direct-debit customers who pay their arrangement by direct debit."""
BREAK_RATE = (0.04, 0.20)
"""Monthly probability of breaking an arrangement (ordinary x sqrt(risk), chronic)."""
SETTLE_ON_LEAVING = (0.97, 0.4, 0.6)
"""Probability that a leaver pays the final balance (current, behind, arranged) ..."""
CHRONIC_SETTLE_FACTOR = 0.3
"""... times this for the chronic group."""
LATENESS_GROUPS = ((0.70, -2.0, 2.0, 2.0), (0.26, 2.0, 9.0, 3.0), (0.04, 6.0, 12.0, 4.0))
"""Manual payers' punctuality: (share, lowest mean, highest mean, spread) in days."""
MANUAL_METHODS_BY_INCOME = ((0.30, 0.20, 0.25, 0.25), (0.45, 0.33, 0.11, 0.11))
"""Preferred manual method shares (Card, Bank Transfer, PayPoint, Cash) for ``<£15k`` and the
rest."""
DD_PAYERS_MANUAL_METHODS = (0.6, 0.4, 0.0, 0.0)
"""Method shares of direct-debit payers when they pay by hand (Card, Bank Transfer)."""
PREFERRED_METHOD_SHARE = 0.85
"""Share of manual payments made with the customer's preferred method."""
DD_PAID_BY_DD = 0.97
REMINDER_DAYS = (7, 14)
SECOND_REMINDER_DAYS = (14, 21)
AGREEMENT_DAYS = (1, 7)
TOLERANCE_PENCE = 100
"""Balances above this are arrears (and trigger actions)."""

CURRENT, BEHIND, ARRANGED = 0, 1, 2
_DD = vocab.PAYMENT_METHODS.index("Direct Debit")
_MANUAL = tuple(i for i, m in enumerate(vocab.PAYMENT_METHODS) if i != _DD)
_ACTION = {name: code for code, name in enumerate(vocab.ACTIONS)}
_SOCIAL = vocab.TARIFFS.index("Low Income Social Tariff")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


# --- arguments and calendar ---------------------------------------------------------------


def parse_month(text: str, name: str) -> np.datetime64:
    """Parse a ``YYYY-MM`` month.

    Parameters
    ----------
    text : str
        The month.
    name : str
        Argument name used in the error message.

    Returns
    -------
    numpy.datetime64
        The month (unit ``M``).

    Raises
    ------
    ValueError
        If ``text`` is not a valid ``YYYY-MM`` month.
    """
    match = _MONTH.match(str(text))
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"{name} must be a month written YYYY-MM (e.g. 2022-01), got {text!r}")
    return np.datetime64(text, "M")


def check_arguments(customers: int, start: str, end: str, seed: int) -> int:
    """Validate generator arguments and return the number of months.

    Parameters
    ----------
    customers : int
        Number of customers, at least 1.
    start, end : str
        First and last billing month, ``YYYY-MM``, ``end`` not before ``start``.
    seed : int
        Random seed (a non-negative integer).

    Returns
    -------
    int
        Number of months from ``start`` to ``end`` inclusive.

    Raises
    ------
    ValueError
        If an argument is invalid.
    """
    if isinstance(customers, bool) or not isinstance(customers, int | np.integer):
        raise ValueError(f"customers must be an integer, got {customers!r}")
    if customers < 1:
        raise ValueError(f"customers must be at least 1, got {customers}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    first, last = parse_month(start, "start"), parse_month(end, "end")
    if last < first:
        raise ValueError(f"end ({end}) is before start ({start})")
    return int((last - first).astype(int)) + 1


@dataclass(frozen=True)
class Calendar:
    """Billing calendar: one entry per month, plus the month after the end for ``due``."""

    period_end: np.ndarray
    """Last day of each month (days since 1970-01-01)."""
    due: np.ndarray
    """Due date of each month's bill, and of the month after the end (one longer)."""
    month_of_year: np.ndarray
    price_index: np.ndarray

    @property
    def months(self) -> int:
        """Number of billing months."""
        return len(self.period_end)


def make_calendar(start: str, months: int) -> Calendar:
    """Build the billing calendar of ``months`` months from ``start``.

    Parameters
    ----------
    start : str
        First month, ``YYYY-MM``.
    months : int
        Number of months.

    Returns
    -------
    Calendar
    """
    month = parse_month(start, "start") + np.arange(months + 1)
    period_end = ((month + 1).astype("datetime64[D]") - 1).astype(np.int64)
    year = month[:months].astype("datetime64[Y]").astype(int) + 1970
    month_of_year = (month[:months].astype(int) % 12) + 1
    charging_year = year - (month_of_year < 4)
    return Calendar(
        period_end=period_end[:months],
        due=period_end + DUE_DAYS,
        month_of_year=month_of_year,
        price_index=(1 + PRICE_RISE) ** (charging_year - BASE_CHARGING_YEAR),
    )


# --- the customer table -------------------------------------------------------------------


@dataclass
class Portfolio:
    """Customers: the published dimensions plus hidden behavioural traits."""

    region: np.ndarray
    income_band: np.ndarray
    tariff: np.ndarray
    has_meter: np.ndarray
    is_vulnerable: np.ndarray
    prefers_direct_debit: np.ndarray
    tenure_band: np.ndarray
    join: np.ndarray
    """Month index of the first bill."""
    last: np.ndarray
    """Month index of the last bill."""
    leaver: np.ndarray
    risk: np.ndarray
    chronic: np.ndarray
    manual_method: np.ndarray
    lateness_mean: np.ndarray
    lateness_sd: np.ndarray
    base_usage: np.ndarray
    flat_charge: np.ndarray

    @property
    def size(self) -> int:
        """Number of customers."""
        return len(self.region)

    def table(self) -> dict[str, np.ndarray]:
        """Return the raw ``customers`` chunk."""
        chunk = {"customer_id": np.arange(self.size)}
        for column in vocab.TABLES["customers"][1:]:
            chunk[column] = getattr(self, column)
        return chunk


def draw_categories(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """Draw one category per row of a probability matrix (rows need not be normalised).

    Parameters
    ----------
    rng : numpy.random.Generator
    probabilities : numpy.ndarray
        ``(n, k)`` weights, one row per draw.

    Returns
    -------
    numpy.ndarray
        ``int8`` category codes.
    """
    cumulative = np.cumsum(probabilities, axis=-1)
    cumulative /= cumulative[..., -1:]
    u = rng.random(len(cumulative))
    return (u[:, None] >= cumulative[:, :-1]).sum(axis=1).astype(np.int8)


def _shared(probabilities: tuple[float, ...], n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(probabilities, dtype=float), (n, len(probabilities)))


def _uniform_int(u: np.ndarray, low: np.ndarray | int, high: np.ndarray | int) -> np.ndarray:
    """Map uniforms to integers in ``[low, high]`` (inclusive; ``high < low`` gives ``low``)."""
    span = np.maximum(np.asarray(high) - np.asarray(low) + 1, 1)
    return np.asarray(low) + np.floor(u * span).astype(np.int64)


def draw_portfolio(rng: np.random.Generator, n: int, months: int) -> Portfolio:
    """Draw ``n`` customers with their dimensions, joining/leaving months and traits.

    Parameters
    ----------
    rng : numpy.random.Generator
    n : int
        Number of customers.
    months : int
        Number of billing months.

    Returns
    -------
    Portfolio
    """
    region = draw_categories(rng, _shared(REGION_SHARES, n))
    income = draw_categories(rng, _shared(INCOME_SHARES, n))
    prefers_dd = (rng.random(n) < np.take(DIRECT_DEBIT_BY_INCOME, income)).astype(np.int8)
    vulnerable = (rng.random(n) < np.take(VULNERABLE_BY_INCOME, income)).astype(np.int8)
    social_p = np.take(SOCIAL_TARIFF_BY_INCOME, income) * np.where(vulnerable == 1, 2.0, 1.0)
    social = rng.random(n) < social_p
    tariff = draw_categories(rng, _shared(OTHER_TARIFF_SHARES, n))
    tariff[social] = _SOCIAL
    has_meter = (rng.random(n) < np.take(METERED_BY_TARIFF, tariff)).astype(np.int8)

    join, last, leaver = _draw_membership(rng, n, months)
    tenure = draw_categories(rng, _shared(EXISTING_TENURE_SHARES, n))
    tenure[join > 0] = 0

    risk = (
        np.take(INCOME_RISK, income)
        * np.take(REGION_RISK, region)
        * np.take(TENURE_RISK, tenure)
        * np.where(vulnerable == 1, VULNERABLE_RISK, 1.0)
        * np.where(social, SOCIAL_TARIFF_RISK, 1.0)
        * rng.lognormal(-(PERSONAL_RISK_SIGMA**2) / 2, PERSONAL_RISK_SIGMA, n)
    )
    chronic = rng.random(n) < np.minimum(CHRONIC_RATE * risk, 0.5)
    manual_method = _draw_manual_methods(rng, income, prefers_dd)
    lateness_mean, lateness_sd = _draw_punctuality(rng, n)
    base_usage = USAGE_M3[0] * rng.lognormal(0.0, USAGE_M3[1], n)
    flat_charge = np.maximum(rng.normal(*UNMETERED_CHARGE, n), 25.0)
    return Portfolio(
        region=region,
        income_band=income,
        tariff=tariff,
        has_meter=has_meter,
        is_vulnerable=vulnerable,
        prefers_direct_debit=prefers_dd,
        tenure_band=tenure,
        join=join,
        last=last,
        leaver=leaver,
        risk=risk,
        chronic=chronic,
        manual_method=manual_method,
        lateness_mean=lateness_mean,
        lateness_sd=lateness_sd,
        base_usage=base_usage,
        flat_charge=flat_charge,
    )


def _draw_membership(
    rng: np.random.Generator, n: int, months: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw the first and last billed month of each customer (joiners and leavers)."""
    later = max(months - 1, 0)
    joins = rng.random(n) < 1 - np.exp(-JOIN_RATE * later)
    join = np.where(joins, _uniform_int(rng.random(n), 1, later), 0)
    room = later - join
    leaver = (rng.random(n) < 1 - np.exp(-LEAVE_RATE * later)) & (room > 0)
    last = np.where(leaver, join + _uniform_int(rng.random(n), 0, room - 1), later)
    return join.astype(np.int64), last.astype(np.int64), leaver


def _draw_manual_methods(
    rng: np.random.Generator, income: np.ndarray, prefers_dd: np.ndarray
) -> np.ndarray:
    """Preferred non direct-debit method (direct-debit payers use Card or Bank Transfer)."""
    n = len(income)
    low_income, others = (np.asarray(w) for w in MANUAL_METHODS_BY_INCOME)
    weights = np.where((income == 0)[:, None], low_income, others)
    weights = np.where((prefers_dd == 1)[:, None], np.asarray(DD_PAYERS_MANUAL_METHODS), weights)
    return np.asarray(_MANUAL, dtype=np.int8)[draw_categories(rng, weights.reshape(n, 4))]


def _draw_punctuality(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread (days after the due date) of each customer's manual payments."""
    groups = np.asarray(LATENESS_GROUPS)
    group = draw_categories(rng, _shared(tuple(groups[:, 0]), n))
    low, high, spread = groups[group, 1], groups[group, 2], groups[group, 3]
    return low + (high - low) * rng.random(n), spread


# --- bills ---------------------------------------------------------------------------------


def bill_amounts(
    portfolio: Portfolio, calendar: Calendar, m: int, noise: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bill of month ``m`` for every customer (whether billed or not).

    Parameters
    ----------
    portfolio : Portfolio
    calendar : Calendar
    m : int
        Month index.
    noise : numpy.ndarray
        Standard normal draws, one per customer (month-to-month usage noise).

    Returns
    -------
    pence : numpy.ndarray
        Bill amounts in pence.
    usage : numpy.ndarray
        Usage in hundredths of a m3, ``-1`` without a meter.
    """
    season = 1 + SEASONAL_AMPLITUDE * np.cos(2 * np.pi * (calendar.month_of_year[m] - 7) / 12)
    usage_m3 = portfolio.base_usage * season * np.exp(USAGE_NOISE * noise - USAGE_NOISE**2 / 2)
    usage = np.rint(np.clip(usage_m3, *USAGE_LIMITS_M3) * 100).astype(np.int64)
    metered = portfolio.has_meter == 1
    metered_charge = STANDING_CHARGE + usage / 100 * VOLUMETRIC_RATE
    charge = np.where(metered, metered_charge, portfolio.flat_charge)
    discount = np.where(portfolio.tariff == _SOCIAL, 1 - SOCIAL_TARIFF_DISCOUNT, 1.0)
    pence = np.rint(charge * calendar.price_index[m] * discount * 100).astype(np.int64)
    return pence, np.where(metered, usage, -1)


# --- the monthly simulation ---------------------------------------------------------------


@dataclass
class _Draws:
    """Uniform and normal draws of one month, one per customer, in a fixed order."""

    usage: np.ndarray
    event: np.ndarray
    fraction: np.ndarray
    lateness: np.ndarray
    day: np.ndarray
    day2: np.ndarray
    split: np.ndarray
    method: np.ndarray
    other_method: np.ndarray
    reminder: np.ndarray
    second: np.ndarray
    agreement: np.ndarray
    arrange: np.ndarray
    instalment: np.ndarray
    arranged_by_dd: np.ndarray
    spread: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator, n: int) -> _Draws:
        usage = rng.standard_normal(n)
        lateness = rng.standard_normal(n)
        names = [f for f in cls.__dataclass_fields__ if f not in ("usage", "lateness")]
        uniforms = {name: rng.random(n) for name in names}
        return cls(usage=usage, lateness=lateness, **uniforms)


@dataclass
class _Slots:
    """Up to two payments per customer in one month's cycle (amount 0 = no payment)."""

    amount: np.ndarray
    day: np.ndarray
    method: np.ndarray
    amount2: np.ndarray
    day2: np.ndarray
    method2: np.ndarray

    @classmethod
    def empty(cls, n: int) -> _Slots:
        zeros = np.zeros(n, dtype=np.int64)
        return cls(zeros, zeros.copy(), zeros.copy(), zeros.copy(), zeros.copy(), zeros.copy())

    def put(
        self,
        mask: np.ndarray,
        amount: np.ndarray | int,
        day: np.ndarray | int,
        method: np.ndarray | int,
        second: bool = False,
    ) -> None:
        """Set the first (or second) payment of the customers in ``mask``."""
        amounts, days, methods = (
            (self.amount2, self.day2, self.method2)
            if second
            else (self.amount, self.day, self.method)
        )
        n = len(mask)
        amounts[mask] = np.maximum(np.broadcast_to(amount, (n,))[mask], 0)
        days[mask] = np.broadcast_to(day, (n,))[mask]
        methods[mask] = np.broadcast_to(method, (n,))[mask]

    def paid_by(self, day: np.ndarray, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Amount paid on or before ``day`` (per row of ``rows``)."""
        first = np.where(self.day[rows] <= day, self.amount[rows], 0)
        return first + np.where(self.day2[rows] <= day, self.amount2[rows], 0)

    def total(self) -> np.ndarray:
        """Amount paid in the cycle per customer."""
        return self.amount + self.amount2

    def chunk(self) -> dict[str, np.ndarray]:
        """Raw ``payments`` chunk, sorted by customer then date."""
        first, second = np.flatnonzero(self.amount > 0), np.flatnonzero(self.amount2 > 0)
        customer = np.concatenate([first, second])
        day = np.concatenate([self.day[first], self.day2[second]])
        order = np.lexsort((np.arange(len(customer)), day, customer))
        return {
            "customer_id": customer[order],
            "payment_date": day[order],
            "amount": np.concatenate([self.amount[first], self.amount2[second]])[order],
            "method": np.concatenate([self.method[first], self.method2[second]])[order],
        }


@dataclass
class _Pending:
    """Customers reminded last cycle whose second reminder waits for this cycle's payments."""

    rows: np.ndarray
    second_day: np.ndarray
    agreement_day: np.ndarray
    balance_at_second: np.ndarray
    """Balance at the second-reminder day, from bills and payments up to last cycle."""
    balance_at_agreement: np.ndarray
    accepts: np.ndarray
    instalment_factor: np.ndarray
    """Instalment = factor x current bill + arrears_share x arrears."""
    arrears_share: np.ndarray
    by_dd: np.ndarray

    @classmethod
    def none(cls) -> _Pending:
        ints, floats, flags = np.zeros(0, np.int64), np.zeros(0), np.zeros(0, bool)
        return cls(ints, ints, ints, ints, ints, flags, floats, floats, flags)


@dataclass
class _PaymentContext:
    """What every payment rule of one cycle needs."""

    slots: _Slots
    bill: np.ndarray
    owed_total: np.ndarray
    """Arrears brought forward plus this month's bill."""
    due: int
    latest: int
    """Latest payment day of the cycle, in days after ``due``."""
    lateness: np.ndarray
    manual: np.ndarray
    """Method of a manual payment (usually the customer's preferred one)."""
    pays_by_dd: np.ndarray


def _between(u: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """Map uniforms to ``[low, high)``."""
    low, high = bounds
    return low + (high - low) * u


def _other_method(d: _Draws) -> np.ndarray:
    """A manual method chosen at random (for payments not made the preferred way)."""
    pick = np.minimum((d.other_method * len(_MANUAL)).astype(np.int64), len(_MANUAL) - 1)
    return np.asarray(_MANUAL)[pick]


def _actions_chunk(parts: list[tuple[np.ndarray, np.ndarray, str]]) -> dict[str, np.ndarray]:
    """Raw ``collections_actions`` chunk from (rows, days, action) parts, sorted."""
    customer = np.concatenate([rows for rows, _, _ in parts])
    day = np.concatenate([days for _, days, _ in parts])
    action = np.concatenate([np.full(len(rows), _ACTION[name]) for rows, _, name in parts])
    order = np.lexsort((action, day, customer))
    return {"customer_id": customer[order], "action_date": day[order], "action": action[order]}


class MonthlySimulation:
    """Month-by-month simulation of bills, payments and actions for a portfolio.

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
        self.state = np.where(
            (portfolio.join == 0) & (rng.random(n) < self._initial_behind()), BEHIND, CURRENT
        ).astype(np.int8)
        self.owed = np.zeros(n, dtype=np.int64)
        self.instalment = np.zeros(n, dtype=np.int64)
        self.arranged_by_dd = np.zeros(n, dtype=bool)
        self.pending = _Pending.none()

    def _initial_behind(self) -> np.ndarray:
        """Probability of starting the period behind (a stationary-ish starting mix)."""
        ordinary = np.minimum(2 * MISS_RATE[0] * self.portfolio.risk, 0.5)
        return np.where(self.portfolio.chronic, 0.8, ordinary)

    def months(self) -> Iterator[dict[str, RawChunk]]:
        """Yield, for each month, the raw chunks of ``bills``, ``payments`` and actions.

        The last item holds the actions that fall after the last month's cycle.
        """
        for m in range(self.calendar.months):
            yield self.step(m)
        yield {"collections_actions": self.flush()}

    def step(self, m: int) -> dict[str, RawChunk]:
        """Simulate month ``m``: bill, pay, move between states and act on arrears."""
        p, cal, n = self.portfolio, self.calendar, self.portfolio.size
        draws = _Draws.draw(self.rng, n)
        active = (p.join <= m) & (m <= p.last)
        final = active & p.leaver & (p.last == m)
        bill, usage = bill_amounts(p, cal, m, draws.usage)
        bill = np.where(active, bill, 0)
        due, gap = int(cal.due[m]), int(cal.due[m + 1] - cal.due[m])

        outcome = self._outcomes(active, final, draws)
        slots = self._payments(outcome, bill, due, gap, draws)
        owed_before = self.owed
        balance = owed_before + bill - slots.total()
        state = self._next_state(outcome, balance)
        reminder_day = due + _uniform_int(draws.reminder, *REMINDER_DAYS)
        actions = self._first_actions(outcome, active, owed_before + bill, slots, reminder_day)
        actions += self._settle_pending(active & ~final, state, balance, bill, slots, due)
        reminded, first_days, _ = actions[0]
        self._queue_second_reminders(reminded, first_days, owed_before + bill, slots, draws)

        self.owed = np.where(active, balance, owed_before)
        self.state = np.where(active, state, self.state).astype(np.int8)
        rows = np.flatnonzero(active)
        bills = {
            "customer_id": rows,
            "bill_period_end": np.full(len(rows), cal.period_end[m]),
            "bill_amount": bill[rows],
            "usage_m3": usage[rows],
            "due_date": np.full(len(rows), due),
        }
        return {
            "bills": bills,
            "payments": slots.chunk(),
            "collections_actions": _actions_chunk(actions),
        }

    def _outcomes(self, active: np.ndarray, final: np.ndarray, d: _Draws) -> dict[str, np.ndarray]:
        """Decide what each active customer does this month (boolean masks)."""
        p, dd, u = self.portfolio, self.dd, d.event
        current = active & (self.state == CURRENT) & ~final
        behind = active & (self.state == BEHIND) & ~final
        arranged = active & (self.state == ARRANGED) & ~final

        miss = np.minimum(np.where(dd, MISS_RATE[1], MISS_RATE[0]) * p.risk, 0.5)
        miss = np.where(p.chronic, np.maximum(miss, CHRONIC_MISS), miss)
        partial = np.minimum(np.where(dd, PARTIAL_RATE[1], PARTIAL_RATE[0]) * p.risk, 0.3)
        cure = np.clip(np.where(dd, CURE_RATE[1], CURE_RATE[0]) / self.sqrt_risk, 0.15, 0.85)
        cure = np.where(p.chronic, CHRONIC_CURE, cure)
        behind_partial = np.where(p.chronic, BEHIND_PARTIAL[1], BEHIND_PARTIAL[0])
        breaks = np.where(p.chronic, BREAK_RATE[1], np.minimum(BREAK_RATE[0] * self.sqrt_risk, 0.3))
        settle = np.take(SETTLE_ON_LEAVING, self.state)
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
        }

    def _payments(
        self, o: dict[str, np.ndarray], bill: np.ndarray, due: int, gap: int, d: _Draws
    ) -> _Slots:
        """Payments of this month's cycle: amounts, days (within the cycle) and methods.

        Every payment falls between ``due - 2`` and the day before the next cycle starts
        (``due + gap - 3``), so balances at any day of the cycle depend on this cycle only.
        """
        p = self.portfolio
        latest = gap - 3
        lateness = np.rint(p.lateness_mean + p.lateness_sd * d.lateness).astype(np.int64)
        pay = _PaymentContext(
            slots=_Slots.empty(p.size),
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
        return pay.slots

    def _pay_current(self, o: dict[str, np.ndarray], pay: _PaymentContext, d: _Draws) -> None:
        """Current customers pay in full around the due date (direct debit on it) or in part."""
        day = pay.due + np.where(pay.pays_by_dd, 0, pay.lateness)
        method = np.where(pay.pays_by_dd, _DD, pay.manual)
        pay.slots.put(o["pay"], pay.owed_total, day, method)
        part = _between(d.fraction, CURRENT_PARTIAL_FRACTION)
        amount = np.rint(pay.bill * part).astype(np.int64)
        pay.slots.put(o["partial"], amount, pay.due + pay.lateness, pay.manual)

    def _pay_behind(self, o: dict[str, np.ndarray], pay: _PaymentContext, d: _Draws) -> None:
        """Customers behind cure (in one payment, or the bill plus a catch-up) or pay part."""
        slots, dd, due = pay.slots, self.dd, pay.due
        split = o["cure"] & (d.split < CURE_SPLIT_SHARE)
        single = o["cure"] & ~split
        cure_by_dd = dd & (d.method < CURE_BY_DD_SHARE)
        slots.put(single & cure_by_dd, pay.owed_total, due, _DD)
        single_day = due + _uniform_int(d.day, 3, pay.latest)
        slots.put(single & ~cure_by_dd, pay.owed_total, single_day, pay.manual)
        first_day = np.maximum(pay.lateness, 0)
        slots.put(split, pay.bill, due + np.where(dd, 0, first_day), np.where(dd, _DD, pay.manual))
        catch_up_day = due + _uniform_int(d.day2, np.maximum(first_day, 7), pay.latest)
        slots.put(split, self.owed, catch_up_day, pay.manual, second=True)

        part = np.where(
            self.portfolio.chronic,
            _between(d.fraction, CHRONIC_LUMP),
            _between(d.fraction, BEHIND_PARTIAL_FRACTION),
        )
        amount = np.minimum(np.rint(pay.bill * part).astype(np.int64), pay.owed_total)
        slots.put(o["behind_partial"], amount, due + _uniform_int(d.day, 0, 20), pay.manual)

    def _pay_arranged_and_leaving(
        self, o: dict[str, np.ndarray], pay: _PaymentContext, d: _Draws
    ) -> None:
        """Arranged customers pay their instalment; settling leavers pay the final balance."""
        by_dd = self.arranged_by_dd
        instalment = np.minimum(self.instalment, pay.owed_total)
        instalment_day = pay.due + np.where(by_dd, 0, np.minimum(pay.lateness, 5))
        method = np.where(by_dd, _DD, pay.manual)
        pay.slots.put(o["instalment"], instalment, instalment_day, method)

        settle_by_dd = o["was_current"] & pay.pays_by_dd
        settle_day = pay.due + np.where(settle_by_dd, 0, _uniform_int(d.day, 0, 20))
        method = np.where(settle_by_dd, _DD, pay.manual)
        pay.slots.put(o["settle"], pay.owed_total, settle_day, method)

    def _next_state(self, o: dict[str, np.ndarray], balance: np.ndarray) -> np.ndarray:
        """State after this month's payments (before any new arrangement)."""
        state = self.state.copy()
        state[o["miss"] | o["partial"] | o["break"]] = BEHIND
        state[o["cure"]] = CURRENT
        cleared = (state != CURRENT) & (balance <= TOLERANCE_PENCE)
        state[cleared] = CURRENT
        return state

    def _first_actions(
        self,
        o: dict[str, np.ndarray],
        active: np.ndarray,
        owed_total: np.ndarray,
        slots: _Slots,
        day: np.ndarray,
    ) -> list[tuple[np.ndarray, np.ndarray, str]]:
        """Reminders (and broken arrangements) some days after this month's due date."""
        in_arrears = owed_total - slots.paid_by(day) > TOLERANCE_PENCE
        remind = active & ~o["instalment"] & ~o["break"] & in_arrears
        broken = o["break"] & in_arrears
        reminded, broke = np.flatnonzero(remind), np.flatnonzero(broken)
        return [
            (reminded, day[reminded], "Reminder Sent"),
            (broke, day[broke], "Arrangement Broken"),
        ]

    def _queue_second_reminders(
        self,
        r: np.ndarray,
        first: np.ndarray,
        owed_total: np.ndarray,
        slots: _Slots,
        d: _Draws,
    ) -> None:
        """Remember reminded customers ``r``: their second reminder depends on next month too."""
        p = self.portfolio
        second = first + _uniform_int(d.second[r], *SECOND_REMINDER_DAYS)
        agreement = second + _uniform_int(d.agreement[r], *AGREEMENT_DAYS)
        rate = np.where(p.is_vulnerable[r] == 1, ARRANGEMENT_RATE[1], ARRANGEMENT_RATE[0])
        rate = np.where(p.chronic[r], ARRANGEMENT_RATE[2], rate)
        (low, high), (chronic_low, chronic_high) = INSTALMENT_FACTOR
        low = np.where(p.chronic[r], chronic_low, low)
        high = np.where(p.chronic[r], chronic_high, high)
        spread = _uniform_int(d.spread[r], *ARREARS_SPREAD_MONTHS).astype(float)
        self.pending = _Pending(
            rows=r,
            second_day=second,
            agreement_day=agreement,
            balance_at_second=owed_total[r] - slots.paid_by(second, r),
            balance_at_agreement=owed_total[r] - slots.paid_by(agreement, r),
            accepts=d.arrange[r] < rate,
            instalment_factor=low + (high - low) * d.instalment[r],
            arrears_share=np.where(p.chronic[r], 0.0, 1 / spread),
            by_dd=self.dd[r] | (d.arranged_by_dd[r] < ARRANGED_BY_DD),
        )

    def _settle_pending(
        self,
        can_agree: np.ndarray,
        state: np.ndarray,
        balance: np.ndarray,
        bill: np.ndarray,
        slots: _Slots,
        due: int,
    ) -> list[tuple[np.ndarray, np.ndarray, str]]:
        """Second reminders and arrangements for customers reminded last month."""
        q = self.pending
        r = q.rows
        balance_second = q.balance_at_second + np.where(due <= q.second_day, bill[r], 0)
        balance_second -= slots.paid_by(q.second_day, r)
        balance_agreement = q.balance_at_agreement + np.where(due <= q.agreement_day, bill[r], 0)
        balance_agreement -= slots.paid_by(q.agreement_day, r)
        second = balance_second > TOLERANCE_PENCE
        agree = second & q.accepts & (balance_agreement > TOLERANCE_PENCE)
        agree &= can_agree[r] & (state[r] == BEHIND)
        agreed = r[agree]
        state[agreed] = ARRANGED
        instalment = bill[agreed] * q.instalment_factor[agree]
        instalment += balance[agreed] * q.arrears_share[agree]
        self.instalment[agreed] = np.rint(instalment).astype(np.int64)
        self.arranged_by_dd[agreed] = q.by_dd[agree]
        return [
            (r[second], q.second_day[second], "Second Reminder"),
            (agreed, q.agreement_day[agree], "Arrangement Agreed"),
        ]

    def flush(self) -> dict[str, np.ndarray]:
        """Actions after the last month's cycle (no more bills or payments)."""
        n = self.portfolio.size
        still_customer = ~self.portfolio.leaver
        state = self.state.copy()
        no_bills = np.zeros(n, dtype=np.int64)
        due_after_end = int(self.calendar.due[-1])
        actions = self._settle_pending(
            still_customer, state, self.owed, no_bills, _Slots.empty(n), due_after_end
        )
        self.pending = _Pending.none()
        return _actions_chunk(actions)


# --- assembling and writing ---------------------------------------------------------------


def simulate(
    customers: int, start: str, end: str, seed: int, progress: bool = False
) -> Iterator[tuple[str, RawChunk]]:
    """Yield ``(table, raw chunk)`` pairs: the customers, then month by month.

    Parameters
    ----------
    customers : int
        Number of customers.
    start, end : str
        First and last billing month, ``YYYY-MM``.
    seed : int
        Random seed.
    progress : bool
        Show a tqdm progress bar (one step per month).

    Yields
    ------
    tuple of (str, dict)
        Table name and raw chunk (see :mod:`dashboard.writers`).
    """
    months = check_arguments(customers, start, end, seed)
    rng = np.random.default_rng(seed)
    calendar = make_calendar(start, months)
    portfolio = draw_portfolio(rng, int(customers), months)
    yield "customers", portfolio.table()
    simulation = MonthlySimulation(portfolio, calendar, rng)
    bar = tqdm(total=months, desc="Simulating months", unit="month", disable=not progress)
    with bar:
        for chunks in simulation.months():
            yield from chunks.items()
            bar.update(min(1, months - bar.n))


def compact(table: str, chunk: RawChunk) -> dict[str, np.ndarray]:
    """Store a raw chunk in small integer types (``int8`` codes and flags, else ``int32``).

    Parameters
    ----------
    table : str
        Table name.
    chunk : mapping of str to numpy.ndarray
        Raw columns.

    Returns
    -------
    dict of str to numpy.ndarray
    """
    small = {"category": np.int8, "flag": np.int8}
    return {
        column: np.asarray(values, dtype=small.get(column_kind(table, column), np.int32))
        for column, values in chunk.items()
    }


def sort_chunk(table: str, chunk: RawChunk) -> dict[str, np.ndarray]:
    """Sort a raw chunk by customer, then date (then action, then original order).

    Parameters
    ----------
    table : str
        Table name.
    chunk : mapping of str to numpy.ndarray
        Raw columns.

    Returns
    -------
    dict of str to numpy.ndarray
    """
    keys = [np.arange(chunk_length(chunk))]
    if table == "collections_actions":
        keys.append(chunk["action"])
    keys += [chunk[c] for c in vocab.DATE_COLUMNS.get(table, ())[:1]]
    keys.append(chunk["customer_id"])
    order = np.lexsort(keys)
    return {column: values[order] for column, values in chunk.items()}


def sorted_tables(
    customers: int, start: str, end: str, seed: int, progress: bool = False
) -> dict[str, dict[str, np.ndarray]]:
    """Simulate everything and return each table as one raw chunk sorted like the seed data.

    Parameters
    ----------
    customers, start, end, seed, progress
        As for :func:`generate`.

    Returns
    -------
    dict of str to raw chunk
    """
    parts: dict[str, list[RawChunk]] = {table: [] for table in vocab.TABLES}
    for table, chunk in simulate(customers, start, end, seed, progress):
        parts[table].append(compact(table, chunk))
    tables = {}
    for table, chunks in parts.items():
        merged = {c: np.concatenate([chunk[c] for chunk in chunks]) for c in vocab.TABLES[table]}
        tables[table] = sort_chunk(table, merged)
    return tables


def generate(
    customers: int, start: str, end: str, seed: int, progress: bool = False
) -> dict[str, pd.DataFrame]:
    """Generate the four tables in memory (the same data that :func:`write_demo` writes).

    Values are as in the CSV files: ids, dates (ISO ``YYYY-MM-DD``) and labels are strings,
    money and usage floats with 2 decimals (``NaN`` usage without a meter), flags 0/1
    integers. Rows are sorted by customer then date.

    Parameters
    ----------
    customers : int
        Number of customers (at least 1).
    start, end : str
        First and last billing month, ``YYYY-MM`` (inclusive).
    seed : int
        Random seed; the same arguments always give the same tables.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``customers``, ``bills``, ``payments`` and ``collections_actions`` with the columns of
        :data:`dashboard.vocab.TABLES`.

    Raises
    ------
    ValueError
        If an argument is invalid.
    """
    tables = sorted_tables(customers, start, end, seed, progress)
    return {table: to_frame(table, chunk) for table, chunk in tables.items()}


WRITE_BATCH_ROWS = 1_000_000


def write_demo(
    out: str | Path,
    fmt: Literal["csv", "sqlite", "parquet"],
    customers: int,
    start: str,
    end: str,
    seed: int,
    progress: bool = True,
) -> dict[str, int]:
    """Generate the four tables and write them.

    CSV and SQLite rows are sorted by customer then date. Parquet is streamed month by month
    (bounded memory, one row group per month), so its rows are in month order; the data are
    the same for the same arguments.

    Parameters
    ----------
    out : str or Path
        Folder for ``csv`` (``customers.csv`` ...) and ``parquet`` (``customers.parquet``
        ...), file for ``sqlite``. Existing files of the same names are replaced.
    fmt : {"csv", "sqlite", "parquet"}
        Output format.
    customers : int
        Number of customers (at least 1).
    start, end : str
        First and last billing month, ``YYYY-MM`` (inclusive).
    seed : int
        Random seed.
    progress : bool
        Show a tqdm progress bar (one step per month).

    Returns
    -------
    dict of str to int
        Rows written per table.

    Raises
    ------
    ValueError
        If an argument is invalid or ``fmt`` unknown.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    check_arguments(customers, start, end, seed)
    counts = dict.fromkeys(vocab.TABLES, 0)
    with open_writer(fmt, out) as writer:
        if fmt == "parquet":
            pairs = simulate(customers, start, end, seed, progress)
        else:
            pairs = _batches(sorted_tables(customers, start, end, seed, progress), progress)
        for table, chunk in pairs:
            counts[table] += chunk_length(chunk)
            writer.write(table, chunk)
    return counts


def _batches(tables: dict[str, RawChunk], progress: bool) -> Iterator[tuple[str, RawChunk]]:
    """Split whole tables into slices of at most :data:`WRITE_BATCH_ROWS` rows."""
    total = sum(chunk_length(chunk) for chunk in tables.values())
    bar = tqdm(total=total, desc="Writing rows", unit="row", unit_scale=True, disable=not progress)
    with bar:
        for table, chunk in tables.items():
            rows = chunk_length(chunk)
            for begin in range(0, max(rows, 1), WRITE_BATCH_ROWS):
                batch = {c: v[begin : begin + WRITE_BATCH_ROWS] for c, v in chunk.items()}
                yield table, batch
                bar.update(chunk_length(batch))
