"""Queries of the built tables: filters -> segments and months (``selection``), and the frames
a view needs (``bills``, ``ledger``, ``worklist``)."""
