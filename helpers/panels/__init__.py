"""Widget panels, one module per notebook topic (see helpers.widgets.Panel)."""
