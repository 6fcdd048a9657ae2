"""Code generation: LLM providers, prompts, the patch format, sandboxed tests and review."""

from __future__ import annotations
