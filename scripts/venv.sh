#!/usr/bin/env bash
# The Python environment of the tests and the gate: a virtual environment (.venv, or
# $ANOONLY_VENV; created if missing, git-ignored) with the given requirement files and the
# package built from this checkout by `pip install .` (maturin, release build, in target/ as
# cargo's builds are; a second install of an unchanged checkout finds it fresh). Prints the
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
"${pip[@]}" --force-reinstall --no-deps . >&2
echo "$venv/bin/python"
