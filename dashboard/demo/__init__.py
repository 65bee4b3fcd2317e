"""The seeded, vectorised synthetic book (``simulation``) and the writers of its tables
(``writers``: CSV folder, SQLite file, Parquet folder)."""

from __future__ import annotations

from dashboard.demo.simulation import generate, write_demo

__all__ = ["generate", "write_demo"]
