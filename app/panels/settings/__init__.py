"""Settings dialog: engine, provider and rule settings."""
