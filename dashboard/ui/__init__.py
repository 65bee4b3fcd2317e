"""The user interface: pure view functions (``charts/``), the look they share (``style``),
charts that update in place (``live``), the catalogue of tabs (``tabs``) and the served
dashboard (``app``)."""
