"""Every screenshot of ``scripts/screenshots.py`` again, in the dark theme and at 200%.

Each variant runs in a process of its own (Qt fixes the scale factor when it
starts): ``docs/screenshots/dark/`` (dark theme, 100%) and
``docs/screenshots/scale200/`` (light theme, ``QT_SCALE_FACTOR=2``: images
twice the size, to check the console stays legible on high-density screens).

Usage: ``python scripts/screenshots_themes.py [--out docs/screenshots] [--only dark|scale200]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VARIANTS: dict[str, tuple[list[str], dict[str, str]]] = {
    "dark": (["--theme", "dark"], {}),
    "scale200": (["--theme", "light"], {"QT_SCALE_FACTOR": "2"}),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--only", choices=sorted(VARIANTS))
    args = parser.parse_args(argv)
    for name, (flags, extra_env) in VARIANTS.items():
        if args.only and name != args.only:
            continue
        out = args.out.resolve() / name
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **extra_env}
        command = [sys.executable, str(REPO / "scripts" / "screenshots.py"), "--out", str(out)]
        print(f"== {name}", flush=True)
        result = subprocess.run([*command, *flags], env=env, cwd=REPO, check=False)
        if result.returncode != 0:
            print(f"{name}: scripts/screenshots.py failed ({result.returncode})", file=sys.stderr)
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
