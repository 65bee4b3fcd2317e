"""The build: read -> validate -> compute per customer partition -> the small built tables
(``pipeline``), and those tables as plain data (``tables``)."""
