"""The Settings dialog's engine side: reading, saving and applying settings, provider keys."""
