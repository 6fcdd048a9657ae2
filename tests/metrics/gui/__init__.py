"""Qt tests of the metrics panel (pytest-qt, offscreen)."""
