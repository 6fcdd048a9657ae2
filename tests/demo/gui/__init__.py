"""Qt tests of the demo panel (pytest-qt, offscreen)."""
