"""Qt tests of the sessions panel (pytest-qt, offscreen)."""
