"""Qt tests of the modules panel (pytest-qt, offscreen)."""
