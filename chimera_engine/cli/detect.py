"""``chimera detect``: the live detector, run over CSV files (timestamp,value)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from chimera_engine.cli.common import Subparsers
from chimera_engine.config import Settings


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "detect", parents=[common], help="score CSV files (timestamp,value) for anomalies"
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="CSV file or directory")
    p.add_argument("--output-dir", "-o", type=Path, required=True, help="where outputs go")
    p.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, help="processes")
    p.set_defaults(handler=detect, needs_node=False)


async def detect(settings: Settings, args: argparse.Namespace) -> int:
    """Causal, one parameter set, restarts per file; nothing is written half."""
    from chimera_engine.anomaly import csvtool  # numpy and friends only when needed

    return csvtool.run(args)
