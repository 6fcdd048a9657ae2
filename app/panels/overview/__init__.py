"""Overview panel: engine status and tool health at a glance."""
