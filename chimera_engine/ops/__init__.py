"""Authorised operations, one module per feature, combined by :class:`EngineFacade`."""

from __future__ import annotations
