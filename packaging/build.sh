#!/usr/bin/env bash
# Build the one-dir bundle dist/chimera-console/ with PyInstaller, then run its self-test.
# Usage: packaging/build.sh   (``make bundle``; needs the project installed in .venv
# with the ``bundle`` extra: .venv/bin/pip install -e '.[bundle]')
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
start=$(date +%s)
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/chimera-console.spec
bundle=dist/chimera-console
# The desktop entry and icons, laid out as in a system's share/ (for packagers).
mkdir -p "$bundle/share/applications"
cp resources/chimera-console.desktop "$bundle/share/applications/"
for png in resources/icons/chimera-console-*.png; do
  size=${png##*-}; size=${size%.png}
  mkdir -p "$bundle/share/icons/hicolor/${size}x${size}/apps"
  cp "$png" "$bundle/share/icons/hicolor/${size}x${size}/apps/chimera-console.png"
done
mkdir -p "$bundle/share/icons/hicolor/scalable/apps"
cp resources/icons/chimera-console.svg "$bundle/share/icons/hicolor/scalable/apps/"
echo "bundle: built in $(( $(date +%s) - start )) s, $(du -sh "$bundle" | cut -f1) in $bundle"
QT_QPA_PLATFORM=offscreen "$bundle/chimera-console" --self-test
