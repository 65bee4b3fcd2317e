"""Names shared by every stage: tables, columns, dimension vocabularies.

The vocabularies follow the reference dataset of the original notebook
(``../shared/seed-data``); ordered ones (income, tenure) keep their natural order
so that charts and tables list them low to high.
"""

from __future__ import annotations

TABLES: dict[str, tuple[str, ...]] = {
    "customers": (
        "customer_id",
        "region",
        "income_band",
        "tariff",
        "has_meter",
        "is_vulnerable",
        "prefers_direct_debit",
        "tenure_band",
    ),
    "bills": ("customer_id", "bill_period_end", "bill_amount", "usage_m3", "due_date"),
    "payments": ("customer_id", "payment_date", "amount", "method"),
    "collections_actions": ("customer_id", "action_date", "action"),
}
"""Required columns of each table, in file order."""

OPTIONAL_TABLES: dict[str, tuple[str, ...]] = {
    "adjustments": ("customer_id", "adjustment_date", "amount", "kind"),
}
"""Tables a source may hold or lack (absent means none): columns, in file order."""

ALL_TABLES: dict[str, tuple[str, ...]] = {**TABLES, **OPTIONAL_TABLES}
"""Every table a source may hold: the four required ones, then the optional ones."""

DATE_COLUMNS: dict[str, tuple[str, ...]] = {
    "bills": ("bill_period_end", "due_date"),
    "payments": ("payment_date",),
    "collections_actions": ("action_date",),
    "adjustments": ("adjustment_date",),
}

MONEY_COLUMNS: dict[str, str] = {
    "bills": "bill_amount",
    "payments": "amount",
    "adjustments": "amount",
}
"""The money column of each table; loaded into an integer ``*_pence`` column."""

FLAG_DIMENSIONS = ("has_meter", "is_vulnerable", "prefers_direct_debit")
"""0/1 customer columns."""

DIMENSIONS = (
    "income_band",
    "region",
    "tariff",
    "is_vulnerable",
    "tenure_band",
    "has_meter",
    "prefers_direct_debit",
)
"""Customer dimensions that filter and segment the portfolio."""

REGIONS = (
    "London - North",
    "London - South",
    "Thames Valley",
    "Reading",
    "Swindon",
    "Slough",
    "Guildford",
    "Oxford",
)
INCOME_BANDS = ("<£15k", "£15k-£30k", "£30k-£50k", "£50k+")
TARIFFS = ("Metered", "Standard", "Low Income Social Tariff", "Unmetered")
TENURE_BANDS = ("<1y", "1-3y", "3-5y", "5+y")
PAYMENT_METHODS = ("Direct Debit", "Card", "Bank Transfer", "PayPoint", "Cash")
ACTIONS = ("Reminder Sent", "Second Reminder", "Arrangement Agreed", "Arrangement Broken")
HELD_OUT = "Reminder Held Out"
"""The action a randomised holdout records: a reminder that was due and deliberately not
sent (the comparison group of reminder uplift)."""
ADJUSTMENT_KINDS = ("write_off", "credit", "rebill", "transfer")
"""Kinds of balance adjustment. ``write_off`` and ``credit`` amounts are positive and reduce
what the customer owes; ``rebill`` and ``transfer`` amounts are signed: positive adds to it,
negative reduces it."""
REDUCING_ADJUSTMENTS = ("write_off", "credit")
"""Adjustment kinds whose (positive) amount reduces the balance."""

ORDERED_VOCABULARIES: dict[str, tuple[str, ...]] = {
    "income_band": INCOME_BANDS,
    "tenure_band": TENURE_BANDS,
}
"""Dimensions whose values have a natural order (others sort alphabetically)."""

DIMENSION_LABELS: dict[str, str] = {
    "income_band": "Income band",
    "region": "Region",
    "tariff": "Tariff",
    "is_vulnerable": "Vulnerable",
    "tenure_band": "Tenure",
    "has_meter": "Metered",
    "prefers_direct_debit": "Prefers direct debit",
}
