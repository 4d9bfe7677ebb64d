#!/usr/bin/env bash
# The Python environment of the gate (scripts/check.sh): a virtual environment (.venv, or
# $ANOONLY_VENV; created if missing, git-ignored) with the given requirement files, maturin,
# and the package as the wheel scripts/wheel.sh builds from this checkout (maturin, release,
# in target/ as cargo's builds are: an unchanged checkout repackages in seconds). The tests
# install the same wheel into fresh environments (scripts/test.sh). Prints the
# environment's python on stdout, pip's messages go to stderr.
# Usage: PY=$(scripts/venv.sh python/requirements-test.txt [MORE.txt ...])
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${ANOONLY_VENV:-.venv}"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv" >&2
fi
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
for req in "$@"; do
    "${pip[@]}" -r "$req" >&2
done
# The build backend of pyproject.toml, pinned alike.
"${pip[@]}" "maturin>=1.9,<2" >&2
wheel=$(scripts/wheel.sh "$venv/bin/python")
"${pip[@]}" --force-reinstall --no-deps "$wheel" >&2
echo "$venv/bin/python"
