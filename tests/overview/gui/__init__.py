"""Qt tests of the overview panel (pytest-qt, offscreen)."""
