#!/usr/bin/env bash
# Every test, Rust and Python, in one command (the README's test command; .ci/run runs it).
#   1. the Rust tests: cargo test --release (the core and the `anoonly` command);
#   2. the Python package: a virtual environment (.venv, or $ANOONLY_VENV) with the test
#      requirements (python/requirements-test.txt), the package built from this checkout
#      by `pip install .` (maturin, release build) and installed into it, then pytest on
#      python/tests. The Python tests compare against target/release/anoonly.
# Tests that need ../shared/data say so and skip loudly without it.
set -euo pipefail
cd "$(dirname "$0")/.."

# Also builds target/release/anoonly (the command's tests run it), which the Python tests
# compare against. (A separate `cargo build -p anoonly-cli` would build it again: without
# the dev-dependencies' features, cargo resolves other feature sets.)
cargo test --release

venv="${ANOONLY_VENV:-.venv}"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r python/requirements-test.txt
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps .
"$venv/bin/python" -m pytest -rs python/tests
