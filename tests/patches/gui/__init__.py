"""Qt tests of the patches panel (pytest-qt, offscreen)."""
