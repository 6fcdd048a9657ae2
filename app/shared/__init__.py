"""Models, texts and dialog bases that several panels share (no panel imports another)."""
