"""One package per panel: its view, models and dialogs together."""
