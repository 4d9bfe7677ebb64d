#!/usr/bin/env bash
# Builds the package once: the abi3 wheel (one file for CPython 3.9 and later on this
# platform) and the sdist, with maturin, into target/wheels (older anoonly builds there
# removed first), and prints the wheel's path. The release build is cargo's, in target/,
# so an unchanged checkout repackages in seconds. scripts/venv.sh installs this wheel into
# .venv (the gate's environment) and scripts/test.sh into fresh environments outside the
# checkout; for another machine, see the README ("A wheel for another machine").
# Usage: WHEEL=$(scripts/wheel.sh PYTHON)   (PYTHON: an environment with maturin)
set -euo pipefail
cd "$(dirname "$0")/.."

python="${1:?usage: scripts/wheel.sh PYTHON (an environment with maturin)}"
out=target/wheels
mkdir -p "$out"
rm -f "$out"/anoonly-*.whl "$out"/anoonly-*.tar.gz
"$python" -m maturin build --release --quiet --out "$out" >&2
"$python" -m maturin sdist --out "$out" >&2
wheels=("$out"/anoonly-*-abi3-*.whl)
[ -f "${wheels[0]}" ] || { echo "no abi3 wheel in $out" >&2; exit 1; }
echo "$PWD/${wheels[0]}"
