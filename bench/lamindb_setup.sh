#!/usr/bin/env bash
# Create (once) the virtual environment that runs bench/_lamindb_ops.py, the
# LaminDB side of the benchmark, and print its python path on stdout.
#   usage: bench/lamindb_setup.sh [VENV_DIR]   (default: <repo>/.bench-venvs/lamindb)
# Env: PYTHON (interpreter to build it with, default python3.11),
#      LAMINDB_SPEC (pip requirement, default "lamindb"; e.g. lamindb==2.12.1).
# Idempotent: an existing venv that imports lamindb and has the `lamin` CLI is reused.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$repo/.bench-venvs/lamindb}"
python="${PYTHON:-python3.11}"
spec="${LAMINDB_SPEC:-lamindb}"

ready() {
  [ -x "$venv/bin/python" ] && [ -x "$venv/bin/lamin" ] &&
    "$venv/bin/python" -c "import lamindb_setup, lamindb" >/dev/null 2>&1
}

if ! ready; then
  command -v "$python" >/dev/null || { echo "lamindb_setup.sh: $python not found" >&2; exit 1; }
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$spec" >&2
  # the `lamin` CLI (needed for the offline `lamin init`) comes with lamindb;
  # install it explicitly if this lamindb version does not pull it in
  [ -x "$venv/bin/lamin" ] || "$venv/bin/python" -m pip install --quiet lamin-cli >&2
  ready || { echo "lamindb_setup.sh: venv at $venv is not usable" >&2; exit 1; }
fi
echo "$venv/bin/python"
