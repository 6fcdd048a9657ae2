"""Modules panel: tool modules, their versions and hot reloads."""
