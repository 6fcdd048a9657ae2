"""Qt tests of the admin panel (pytest-qt, offscreen)."""
