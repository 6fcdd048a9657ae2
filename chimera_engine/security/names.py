"""Names people give things (keys, agents, metrics): printable text only.

A name is shown in tables, logs and the audit trail. Control characters (NUL
included) break logs and terminals, bidirectional overrides make a name read
differently than it is stored, and markup could be rendered by a rich-text view.
"""

from __future__ import annotations

import re

from chimera_engine.errors import ValidationError

# the same class in JSON Schema (ECMA-262) and Python syntax
NAME_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069<>]*$"
_NAME = re.compile(NAME_PATTERN)


def check_name(text: str, what: str = "name") -> str:
    """``text`` if it is a printable name; else :class:`ValidationError`.

    >>> check_name("nightly ETL")
    'nightly ETL'
    >>> check_name("evil\\u202egnp.exe")
    Traceback (most recent call last):
    ...
    chimera_engine.errors.ValidationError: name must not contain control characters, \
bidirectional overrides or markup
    """
    if not _NAME.match(text):
        raise ValidationError(
            f"{what} must not contain control characters, bidirectional overrides or markup"
        )
    return text
