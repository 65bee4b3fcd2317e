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

DATE_COLUMNS: dict[str, tuple[str, ...]] = {
    "bills": ("bill_period_end", "due_date"),
    "payments": ("payment_date",),
    "collections_actions": ("action_date",),
}

MONEY_COLUMNS: dict[str, str] = {"bills": "bill_amount", "payments": "amount"}
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
