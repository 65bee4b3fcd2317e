"""The customers of the synthetic book, its calendar and its bills.

A book of ``n`` customers is drawn as arrays (one entry per customer, no Python loop over
customers):

- the *back book*, on the books at the first month, and *joiners*, a steady inflow of new
  accounts (:data:`JOIN_RATE` of the book a month) whose first bill is in a later month;
  the back-book share is chosen so that the inflow matches that rate over the period;
- every account may close (a house move) with a final bill: when is decided month by month
  in :mod:`dashboard.demo.cycle` (customers in arrears move more often);
- a small part of the back book are accounts closed before the first month whose unpaid
  balance is still with the collection agency, waiting for its write-off;
- dimensions (region, income band, tariff, meter, vulnerability, direct debit, tenure) and
  hidden traits (a risk factor, the chronic-arrears group, punctuality, usage).

The calendar is shared by all customers: month-ends, due dates, payment cycles, the price
index, payment seasonality, the regional stress period and the regional supply incidents
that earn customers a compensation credit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from dashboard import vocab

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
"""Relative arrears risk of vulnerable customers."""
SOCIAL_TARIFF_BY_INCOME = (0.17, 0.05, 0.01, 0.0)
"""Probability of the social tariff per income band (doubled for vulnerable customers)."""
OTHER_TARIFF_SHARES = (0.47, 0.42, 0.0, 0.11)
"""Tariff shares of customers not on the social tariff (order of ``vocab.TARIFFS``)."""
METERED_BY_TARIFF = (1.0, 0.25, 0.55, 0.0)
"""Probability of a meter per tariff: Metered always, Unmetered never."""
SOCIAL_TARIFF_RISK = 0.9
"""Relative arrears risk on the social tariff (the discount helps)."""
SOCIAL_TARIFF_DISCOUNT = 0.25
"""Discount of the social tariff on the bill."""
EXISTING_TENURE_SHARES = (0.12, 0.40, 0.28, 0.20)
"""Tenure at the first month of customers already on the books (joiners are ``<1y``)."""
TENURE_RISK = (1.4, 1.1, 0.9, 0.8)
"""Relative arrears risk per tenure band."""
PERSONAL_RISK_SIGMA = 0.5
"""Log-normal spread of the persistent personal risk factor."""
CHRONIC_RATE = 0.045
"""Probability (per unit risk) of belonging to the chronic-arrears group."""
LATENESS_GROUPS = ((0.70, -2.0, 2.0, 2.0), (0.26, 2.0, 9.0, 3.0), (0.04, 6.0, 12.0, 4.0))
"""Manual payers' punctuality: (share, lowest mean, highest mean, spread) in days."""
MANUAL_METHODS_BY_INCOME = ((0.30, 0.20, 0.25, 0.25), (0.45, 0.33, 0.11, 0.11))
"""Preferred manual method shares (Card, Bank Transfer, PayPoint, Cash) for ``<£15k`` and the
rest."""
DD_PAYERS_MANUAL_METHODS = (0.6, 0.4, 0.0, 0.0)
"""Method shares of direct-debit payers when they pay by hand (Card, Bank Transfer)."""
DIRECT_DEBIT = vocab.PAYMENT_METHODS.index("Direct Debit")
"""Code of direct debit in ``vocab.PAYMENT_METHODS``."""
MANUAL_METHODS = tuple(i for i in range(len(vocab.PAYMENT_METHODS)) if i != DIRECT_DEBIT)
"""Codes of the manual payment methods."""

# --- joining and leaving ------------------------------------------------------------------

JOIN_RATE = 0.012
"""New accounts a month as a share of the book (3.6% a quarter: home moves and new homes)."""
GONE_AWAY_SHARE = 0.75
"""Share of customers who cannot be traced if they leave owing money (written off after
:data:`GONE_AWAY_MONTHS`); the others' debt is placed with a collection agency."""
POLICY_MONTHS = 24
"""Months after the final bill when a closed account's unpaid balance is written off (two
years, the policy United Utilities reports for non-collectable revenue)."""
GONE_AWAY_MONTHS = 3
"""Months after the final bill when a gone-away customer's balance is written off."""
CLOSED_BACK_BOOK_SHARE = 0.016
"""Share of the back book that are accounts closed (within :data:`POLICY_MONTHS`) before the
first month, whose unpaid balance is still with the agency."""

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
"""Charging year (from April) of the prices above."""
USAGE_M3 = (11.0, 0.2)
"""Median monthly household usage (m3) and its log-normal spread between households."""
USAGE_NOISE = 0.12
"""Log-normal month-to-month spread of a household's usage."""
SEASONAL_AMPLITUDE = 0.12
"""Usage is ``1 + amplitude`` times average in July and ``1 - amplitude`` in January."""
USAGE_LIMITS_M3 = (5.0, 22.0)
"""Monthly usage is clipped to this range (m3)."""
DUE_DAYS = 14
"""Days from a bill's period end to its due date."""

# --- the calendar's shared events -----------------------------------------------------------

PAYMENT_SEASON_AMPLITUDE = 0.2
"""Payment strain is ``1 + amplitude`` times average for bills due in January (after
Christmas) and ``1 - amplitude`` for bills due in July."""
STRESS_REGION = "Swindon"
"""The region under economic stress for a while (a large local employer closes)."""
STRESS_START_SHARE = 0.45
"""The stress starts this far into the period ..."""
STRESS_MONTHS = 8
"""... and lasts this many months."""
STRESS_FACTOR = 2.8
"""Payment strain of the stressed region during the stress (misses x, cures / this)."""
INCIDENT_RATE = 0.06
"""Monthly probability of a supply incident in a region ..."""
INCIDENT_SHARE = 0.03
"""... affecting this share of its customers, who get a compensation credit."""

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_SOCIAL = vocab.TARIFFS.index("Low Income Social Tariff")


# --- small helpers of random draws ------------------------------------------------------------


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


def shared(probabilities: tuple[float, ...], n: int) -> np.ndarray:
    """The same probability row for ``n`` draws (see :func:`draw_categories`)."""
    return np.broadcast_to(np.asarray(probabilities, dtype=float), (n, len(probabilities)))


def uniform_int(u: np.ndarray, low: np.ndarray | int, high: np.ndarray | int) -> np.ndarray:
    """Map uniforms to integers in ``[low, high]`` (inclusive; ``high < low`` gives ``low``)."""
    span = np.maximum(np.asarray(high) - np.asarray(low) + 1, 1)
    return np.asarray(low) + np.floor(u * span).astype(np.int64)


def between(u: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """Map uniforms to ``[low, high)``."""
    low, high = bounds
    return low + (high - low) * u


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
    """Billing calendar: one entry per month (``due`` has one more, the month after the end).

    Month ``m``'s bill covers the month and is due :data:`DUE_DAYS` after its end; its
    *payment cycle* runs from two days before that due date to :attr:`cycle_end`, three days
    before the next due date, so every payment belongs to exactly one cycle.
    """

    start_day: int
    """First day of the first month (days since 1970-01-01): opening balances are dated so."""
    period_end: np.ndarray
    """Last day of each month."""
    due: np.ndarray
    """Due date of each month's bill, and of the month after the end (one longer)."""
    month_of_year: np.ndarray
    """Calendar month (1-12) of each billing month."""
    price_index: np.ndarray
    """Price level of each month relative to :data:`BASE_CHARGING_YEAR`."""
    strain: np.ndarray
    """Seasonal payment strain of each cycle (misses x, cures / this; mean 1)."""
    stress: np.ndarray
    """Whether the stressed region is under stress in each cycle."""
    incidents: np.ndarray
    """``(months, regions)``: a supply incident in the region in the month."""

    @property
    def months(self) -> int:
        """Number of billing months."""
        return len(self.period_end)

    @property
    def cycle_end(self) -> np.ndarray:
        """Last day of each month's payment cycle."""
        return self.due[1:] - 3


def make_calendar(start: str, months: int, seed: int) -> Calendar:
    """Build the billing calendar of ``months`` months from ``start``.

    Parameters
    ----------
    start : str
        First month, ``YYYY-MM``.
    months : int
        Number of months.
    seed : int
        Seed of the shared events (regional incidents); the same for every customer block.

    Returns
    -------
    Calendar
    """
    month = parse_month(start, "start") + np.arange(months + 1)
    period_end = ((month + 1).astype("datetime64[D]") - 1).astype(np.int64)
    year = month[:months].astype("datetime64[Y]").astype(int) + 1970
    month_of_year = (month[:months].astype(int) % 12) + 1
    charging_year = year - (month_of_year < 4)
    due_month = month_of_year % 12 + 1
    strain = 1 + PAYMENT_SEASON_AMPLITUDE * np.cos(2 * np.pi * (due_month - 1) / 12)
    first_stressed = int(round(STRESS_START_SHARE * months))
    stress = (np.arange(months) >= first_stressed) & (
        np.arange(months) < first_stressed + STRESS_MONTHS
    )
    events = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0xCA1,)))
    return Calendar(
        start_day=int(month[0].astype("datetime64[D]").astype(np.int64)),
        period_end=period_end[:months],
        due=period_end + DUE_DAYS,
        month_of_year=month_of_year,
        price_index=(1 + PRICE_RISE) ** (charging_year - BASE_CHARGING_YEAR),
        strain=strain,
        stress=stress,
        incidents=events.random((months, len(vocab.REGIONS))) < INCIDENT_RATE,
    )


# --- the customer table -------------------------------------------------------------------


@dataclass
class Portfolio:
    """Customers: the published dimensions plus membership and hidden behavioural traits."""

    region: np.ndarray
    income_band: np.ndarray
    tariff: np.ndarray
    has_meter: np.ndarray
    is_vulnerable: np.ndarray
    prefers_direct_debit: np.ndarray
    tenure_band: np.ndarray
    join: np.ndarray
    """Month index of the first bill (0 for the back book)."""
    closed_months_ago: np.ndarray
    """Months since an account closed before the first month (0 for the others)."""
    gone_away: np.ndarray
    """Cannot be traced if they leave owing money."""
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

    @property
    def closed_before(self) -> np.ndarray:
        """Accounts closed before the first month (their balance is with the agency)."""
        return self.closed_months_ago > 0

    def table(self, first_number: int = 0) -> dict[str, np.ndarray]:
        """Return the raw ``customers`` chunk, customers numbered from ``first_number``."""
        chunk = {"customer_id": first_number + np.arange(self.size)}
        for column in vocab.TABLES["customers"][1:]:
            chunk[column] = getattr(self, column)
        return chunk


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
    region = draw_categories(rng, shared(REGION_SHARES, n))
    income = draw_categories(rng, shared(INCOME_SHARES, n))
    prefers_dd = (rng.random(n) < np.take(DIRECT_DEBIT_BY_INCOME, income)).astype(np.int8)
    vulnerable = (rng.random(n) < np.take(VULNERABLE_BY_INCOME, income)).astype(np.int8)
    social_p = np.take(SOCIAL_TARIFF_BY_INCOME, income) * np.where(vulnerable == 1, 2.0, 1.0)
    social = rng.random(n) < social_p
    tariff = draw_categories(rng, shared(OTHER_TARIFF_SHARES, n))
    tariff[social] = _SOCIAL
    has_meter = (rng.random(n) < np.take(METERED_BY_TARIFF, tariff)).astype(np.int8)

    join, closed_months_ago = draw_membership(rng, n, months)
    tenure = draw_categories(rng, shared(EXISTING_TENURE_SHARES, n))
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
    gone_away = rng.random(n) < GONE_AWAY_SHARE
    gone_away &= closed_months_ago <= GONE_AWAY_MONTHS  # the others were written off before
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
        closed_months_ago=closed_months_ago,
        gone_away=gone_away,
        risk=risk,
        chronic=chronic,
        manual_method=manual_method,
        lateness_mean=lateness_mean,
        lateness_sd=lateness_sd,
        base_usage=base_usage,
        flat_charge=flat_charge,
    )


def back_book_share(months: int) -> float:
    """Share of customers on the books at the first month.

    Joiners arrive evenly over the later months; with this share their monthly number is
    :data:`JOIN_RATE` of the back book.

    Parameters
    ----------
    months : int
        Number of billing months.

    Returns
    -------
    float
    """
    return 1 / (1 + JOIN_RATE * (months - 1))


def draw_membership(rng: np.random.Generator, n: int, months: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw each customer's first billed month, and which accounts closed before the start.

    Back-book customers start at month 0; joiners' first months are spread evenly over the
    later months (stratified, so each month gets its share). A share
    :data:`CLOSED_BACK_BOOK_SHARE` of the back book closed 1 to :data:`POLICY_MONTHS` months
    before the first month. (When open accounts close is decided month by month, see
    :mod:`dashboard.demo.cycle`.)

    Parameters
    ----------
    rng : numpy.random.Generator
    n : int
        Number of customers.
    months : int
        Number of billing months.

    Returns
    -------
    join : numpy.ndarray
        ``int64`` month index of the first bill.
    closed_months_ago : numpy.ndarray
        ``int64`` months since an account closed before the start (0 for the others).
    """
    back = (rng.random(n) < back_book_share(months)) | (months == 1)
    joiners = np.flatnonzero(~back)
    rank = np.empty(len(joiners), dtype=np.int64)
    rank[np.argsort(rng.random(len(joiners)))] = np.arange(len(joiners))
    slot = (rank + rng.random(len(joiners))) / max(len(joiners), 1)
    join = np.zeros(n, dtype=np.int64)
    join[joiners] = 1 + np.minimum((slot * (months - 1)).astype(np.int64), months - 2)
    closed_before = back & (rng.random(n) < CLOSED_BACK_BOOK_SHARE)
    ago = uniform_int(rng.random(n), 1, POLICY_MONTHS)
    return join, np.where(closed_before, ago, 0).astype(np.int64)


def _draw_manual_methods(
    rng: np.random.Generator, income: np.ndarray, prefers_dd: np.ndarray
) -> np.ndarray:
    """Preferred non direct-debit method (direct-debit payers use Card or Bank Transfer)."""
    n = len(income)
    low_income, others = (np.asarray(w) for w in MANUAL_METHODS_BY_INCOME)
    weights = np.where((income == 0)[:, None], low_income, others)
    weights = np.where((prefers_dd == 1)[:, None], np.asarray(DD_PAYERS_MANUAL_METHODS), weights)
    return np.asarray(MANUAL_METHODS, dtype=np.int8)[draw_categories(rng, weights.reshape(n, 4))]


def _draw_punctuality(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread (days after the due date) of each customer's manual payments."""
    groups = np.asarray(LATENESS_GROUPS)
    group = draw_categories(rng, shared(tuple(groups[:, 0]), n))
    low, high, spread = groups[group, 1], groups[group, 2], groups[group, 3]
    return low + (high - low) * rng.random(n), spread


# --- bills ---------------------------------------------------------------------------------


def _charge_factor(portfolio: Portfolio, calendar: Calendar, m: int) -> np.ndarray:
    """Price index times the social-tariff discount, per customer."""
    discount = np.where(portfolio.tariff == _SOCIAL, 1 - SOCIAL_TARIFF_DISCOUNT, 1.0)
    return calendar.price_index[m] * discount


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
    pence = np.rint(charge * _charge_factor(portfolio, calendar, m) * 100).astype(np.int64)
    return pence, np.where(metered, usage, -1)


def typical_bill(portfolio: Portfolio, calendar: Calendar) -> np.ndarray:
    """Each customer's average monthly bill at the first month's prices, in pence.

    Parameters
    ----------
    portfolio : Portfolio
    calendar : Calendar

    Returns
    -------
    numpy.ndarray
        ``float`` pence.
    """
    metered = STANDING_CHARGE + np.clip(portfolio.base_usage, *USAGE_LIMITS_M3) * VOLUMETRIC_RATE
    charge = np.where(portfolio.has_meter == 1, metered, portfolio.flat_charge)
    return charge * _charge_factor(portfolio, calendar, 0) * 100
