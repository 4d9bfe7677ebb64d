#!/usr/bin/env bash
# Every test, Rust and Python, in one command (the README's test command; .ci/run runs it
# after the gate, scripts/check.sh).
#   1. the Rust tests: cargo test --release (the core, the bench crate and the `anoonly`
#      command). The tests that read ../shared/data are #[ignore]d with that reason; when
#      ../shared/data/adbench exists they run too (--include-ignored), and the script says
#      which of the two it did;
#   2. the Python package: scripts/venv.sh (.venv, or $ANOONLY_VENV, with the test
#      requirements and the package built from this checkout), then pytest on python/tests
#      with skip reasons shown (-rs): the tests that need ../shared skip, saying so. The
#      Python tests compare against target/release/anoonly.
set -euo pipefail
cd "$(dirname "$0")/.."

# Also builds target/release/anoonly (the command's tests run it), which the Python tests
# compare against. (A separate `cargo build -p anoonly-cli` would build it again: without
# the dev-dependencies' features, cargo resolves other feature sets.)
if [ -d ../shared/data/adbench ]; then
    echo "=== Rust tests: all, with the #[ignore]d ones that need ../shared/data (found) ==="
    cargo test --release -- --include-ignored
else
    # Lists them only after the build, by asking the built test binaries (no second build).
    cargo test --release
    echo "=== SKIPPED: ../shared/data/adbench not found; these Rust tests that need it did not run:"
    { cargo test --release --quiet -- --list --ignored 2>/dev/null || true; } |
        { grep ': test$' || true; } | sed 's/^/SKIPPED   /; s/: test$//'
fi

python=$(scripts/venv.sh python/requirements-test.txt)
# The fixture fails (rather than skips) when ANOONLY_BIN names a missing file.
ANOONLY_BIN="$PWD/target/release/anoonly" "$python" -m pytest -rs python/tests
