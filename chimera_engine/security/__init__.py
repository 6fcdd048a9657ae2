"""Authentication, authorisation and the audit log."""

from __future__ import annotations
