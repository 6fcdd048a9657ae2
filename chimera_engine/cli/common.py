"""Helpers shared by the ``chimera`` sub-commands."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chimera_engine.errors import ChimeraError
from chimera_engine.security.principal import Principal

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Subparsers = Any


def local_principal() -> Principal:
    """Who a command acts as: the OS user who owns the data directory."""
    return Principal.local(getpass.getuser())


def read_new_password(prompt: str = "Password: ") -> str:
    """A password from the terminal (asked twice) or the first line of standard input."""
    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("Repeat password: ") != first:
            raise ChimeraError("the passwords do not match")
        return first
    line = sys.stdin.readline()
    if not line:
        raise ChimeraError("no password given on standard input")
    return line.rstrip("\r\n")


def fmt_ts(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else ""
