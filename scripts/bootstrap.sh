#!/usr/bin/env bash
# Installs what is missing to run or test CHIMERA Console on a Debian machine:
# the system libraries Qt needs, a Python >= 3.11 venv at .venv/, and the project.
# Usage: scripts/bootstrap.sh [run|test]   (run also installs what a real window needs)
set -euo pipefail
cd "$(dirname "$0")/.."
purpose="${1:-test}"

say() { printf 'bootstrap: %s\n' "$*" >&2; }

# --- system libraries -----------------------------------------------------------------
# library file -> Debian package
libs=(
  "libglib-2.0.so.0:libglib2.0-0" "libEGL.so.1:libegl1" "libGL.so.1:libgl1"
  "libxkbcommon.so.0:libxkbcommon0" "libfontconfig.so.1:libfontconfig1"
  "libfreetype.so.6:libfreetype6" "libdbus-1.so.3:libdbus-1-3" "libX11.so.6:libx11-6"
  "libxcb.so.1:libxcb1"
)
if [ "$purpose" = run ]; then
  libs+=(
    "libxcb-icccm.so.4:libxcb-icccm4" "libxcb-keysyms.so.1:libxcb-keysyms1"
    "libxcb-cursor.so.0:libxcb-cursor0" "libxkbcommon-x11.so.0:libxkbcommon-x11-0"
    "libxcb-image.so.0:libxcb-image0" "libxcb-render-util.so.0:libxcb-render-util0"
    "libxcb-shape.so.0:libxcb-shape0" "libxcb-xinerama.so.0:libxcb-xinerama0"
    "libxcb-randr.so.0:libxcb-randr0" "libxcb-xkb.so.1:libxcb-xkb1"
  )
fi
missing=()
cache="$(/sbin/ldconfig -p 2>/dev/null || ldconfig -p 2>/dev/null || true)"
for entry in "${libs[@]}"; do
  file="${entry%%:*}"; pkg="${entry##*:}"
  grep -q "$file" <<<"$cache" || missing+=("$pkg")
done
# the patch sandbox runs every phase under bubblewrap (and setpriv from util-linux)
command -v bwrap >/dev/null 2>&1 || missing+=("bubblewrap")
command -v setpriv >/dev/null 2>&1 || missing+=("util-linux")
if ! ls /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf >/dev/null 2>&1; then
  missing+=("fonts-dejavu-core")
fi
# the hot-reload tests check out branches of a real git repository
if [ "$purpose" = test ] && ! command -v git >/dev/null 2>&1; then
  missing+=("git")
fi
pick_python() {
  for candidate in python3 python3.12 python3.13 python3.11; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}
PY="${CHIMERA_PYTHON:-}"
if [ -z "$PY" ] && [ ! -x .venv/bin/python ]; then
  PY="$(pick_python || true)"
  [ -n "$PY" ] || missing+=("python3" "python3-venv")
fi
if [ ${#missing[@]} -gt 0 ]; then
  say "installing system packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
      say "run as root: apt-get install -y ${missing[*]}"; exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -n "$PY" ] || [ -x .venv/bin/python ] || PY="$(pick_python)"
fi

# --- the venv and the project ------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $PY ($("$PY" --version 2>&1))"
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
stamp=.venv/.chimera-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  say "installing the project and its dependencies into .venv"
  .venv/bin/python -m pip install -q -e ".[dev]"
  touch "$stamp"
fi
