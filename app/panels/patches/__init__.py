"""Patches panel: LLM patch review, sandbox results and attempts."""
