"""Sign-in and first-administrator dialogs."""
