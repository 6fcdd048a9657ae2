"""Qt tests of the audit panel (pytest-qt, offscreen)."""
