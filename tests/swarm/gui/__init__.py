"""Qt tests of the swarm panel (pytest-qt, offscreen)."""
