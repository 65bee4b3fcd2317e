"""Pure view functions: a model frame in, a HoloViews object or Panel pane out."""
