"""Portfolio collections dashboard for a UK water utility.

Data flows one way: ``sources`` -> ``schema`` -> ``metrics`` -> ``cube`` -> ``model``
-> ``views`` -> ``app`` / ``export`` (see ``../shared/DESIGN.md``).
"""

from __future__ import annotations

from dashboard import _allocator  # noqa: F401  (one malloc arena, before NumPy's threads)

__version__ = "0.1.0"


class SourceError(ValueError):
    """Raised when a data source cannot be read or fails validation.

    The message is one line naming the file or table, the column and up to
    three offending rows.
    """


__all__ = ["SourceError", "__version__"]
