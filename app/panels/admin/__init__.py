"""Admin panel: users, API keys, capabilities and throttles."""
