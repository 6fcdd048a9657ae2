"""Qt tests of the settings panel (pytest-qt, offscreen)."""
