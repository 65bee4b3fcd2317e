"""The seeded, vectorised synthetic book and the writers of its tables.

``population`` draws the customers and the calendar, ``cycle`` simulates one month of a
block of customers, ``simulation`` runs the blocks and writes the tables through
``writers`` (CSV folder, SQLite file, Parquet folder; ``postgresql`` a database)."""

from __future__ import annotations

from dashboard.demo.simulation import generate, write_demo

__all__ = ["generate", "write_demo"]
