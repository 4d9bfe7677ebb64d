#!/usr/bin/env bash
# Every test, Rust and Python, in one command (the README's test command; .ci/run runs it
# after the gate, scripts/check.sh).
#   1. the Rust tests: cargo test --release (the core, the bench crate and the `anoonly`
#      command). The tests that read ../shared/data are #[ignore]d with that reason; when
#      ../shared/data/adbench exists they run too (--include-ignored), and the script says
#      which of the two it did;
#   2. the Python package, as a user installs it: scripts/venv.sh builds the abi3 wheel and
#      the sdist once (scripts/wheel.sh, target/wheels) and installs the wheel into .venv
#      (the gate's environment); then a fresh virtual environment outside the checkout,
#      made and filled with a minimal PATH (/usr/bin:/bin: no Rust toolchain, no
#      ~/.cargo/bin), gets the wheel from PyPI's dependencies and python/requirements-test.txt,
#      and pytest runs python/tests from outside the checkout against it, with skip
#      reasons shown (-rs): the tests that need ../shared skip, saying so, and
#      test_install.py fails if anoonly was imported from the checkout. The tests
#      compare against target/release/anoonly;
#   3. the estimator contract (python/tests/test_sklearn.py) again, in a second fresh
#      environment with the oldest scikit-learn the package supports (pyproject.toml's
#      floor, OLDEST_SKLEARN below).
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
wheel=$(ls "$PWD"/target/wheels/anoonly-*-abi3-*.whl)
echo "=== built $(basename "$wheel") and $(basename "$(ls target/wheels/anoonly-*.tar.gz)")"

# The oldest scikit-learn pyproject.toml accepts (`scikit-learn>=X`), and numpy as of it.
OLDEST_SKLEARN=$(sed -n 's/.*"scikit-learn>=\([0-9.]*\)".*/\1/p' pyproject.toml)
[ -n "$OLDEST_SKLEARN" ] || { echo "no scikit-learn floor in pyproject.toml" >&2; exit 1; }

# A fresh environment outside the checkout, made and used with a minimal environment: no
# Rust toolchain on PATH (installing must not need one), nothing of this shell's.
system_python="${CLEAN_PYTHON:-/usr/bin/python3}"
clean=$(mktemp -d "${TMPDIR:-/tmp}/anoonly-wheel.XXXXXX")
trap 'rm -rf "$clean"' EXIT
repo="$PWD"
in_clean() {
    env -i PATH="$1/bin:/usr/bin:/bin" HOME="$HOME" LANG=C.UTF-8 \
        ANOONLY_BIN="$repo/target/release/anoonly" ANOONLY_INSTALLED="$1" "${@:2}"
}
fresh_env() {
    env -i PATH=/usr/bin:/bin HOME="$HOME" "$system_python" -m venv "$1"
    if in_clean "$1" sh -c 'command -v cargo || command -v rustc' >/dev/null; then
        echo "a Rust toolchain is on the clean PATH" >&2
        exit 1
    fi
}

echo "=== Python tests: the wheel in a fresh environment ($clean/wheel), run from outside the checkout"
fresh_env "$clean/wheel"
in_clean "$clean/wheel" pip install --quiet --disable-pip-version-check \
    "$wheel" -r python/requirements-test.txt
# The fixture fails (rather than skips) when ANOONLY_BIN names a missing file.
(cd "$clean" && in_clean "$clean/wheel" python -m pytest -rs -p no:cacheprovider \
    --rootdir "$repo" "$repo/python/tests")

echo "=== the estimator contract with the oldest supported scikit-learn ($OLDEST_SKLEARN)"
fresh_env "$clean/oldest"
# numpy below 2.3: the releases current when that scikit-learn came out.
in_clean "$clean/oldest" pip install --quiet --disable-pip-version-check \
    "$wheel" "scikit-learn==$OLDEST_SKLEARN" "numpy<2.3" pandas pytest
(cd "$clean" && in_clean "$clean/oldest" python -m pytest -rs -p no:cacheprovider \
    --rootdir "$repo" "$repo/python/tests/test_sklearn.py" "$repo/python/tests/test_install.py")
