#!/usr/bin/env bash
# The quality gate: .ci/run runs it before the tests (scripts/test.sh); the README lists it.
# It stops at the first problem. The steps, cheapest first:
#   1. formatting: `cargo fmt --all --check`, and rustfmt on every tracked .rs file (the
#      fuzz targets are a workspace of their own, which cargo fmt does not visit);
#   2. every crate of the workspace inherits [workspace.lints] (`[lints] workspace = true`);
#   3. clippy on every target of every crate (bindings included), warnings denied, with the
#      toolchain of the declared rust-version (below);
#   4. clippy on the lean core: anoonly and anoonly-bench with --no-default-features,
#      resolved alone, so no feature that another crate turns on hides a missing one;
#   5. rustdoc on the workspace with warnings denied (broken or private intra-doc links);
#   6. Python, in the test environment plus python/requirements-dev.txt (scripts/venv.sh):
#      ruff check, ruff format --check, mypy --strict (pyproject.toml's [tool.mypy]), and
#      mypy.stubtest: the stubs python/anoonly/_anoonly.pyi against the built extension.
# Usage: scripts/check.sh [rust|python]   (both by default)
#
# What it builds (2 cores): clippy and rustdoc type-check without generating code, so they
# share no artifact with the release build of `cargo test --release`; they share their
# dependencies' check artifacts with each other: both use the release profile and both
# see the dev-dependencies (clippy's --all-targets, rustdoc's --examples), so the features
# resolve alike and rustdoc re-checks only the workspace's own crates. The lean clippy
# resolves fewer features and so re-checks the core's dependencies once more (a fraction
# of a check build). Step 6 builds the extension (maturin, release), which scripts/test.sh
# then finds fresh.
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-all}"
case "$what" in
    all | rust | python) ;;
    *)
        echo "usage: scripts/check.sh [rust|python]" >&2
        exit 2
        ;;
esac

step() { printf '\n=== check: %s\n' "$*"; }

if [ "$what" != python ]; then
    step "cargo fmt --all --check; rustfmt --check on every tracked .rs file"
    cargo fmt --all --check
    git ls-files -z '*.rs' | xargs -0 rustfmt --check --edition 2021

    step "every crate inherits [workspace.lints]"
    for manifest in crates/*/Cargo.toml; do
        if ! grep -qzP '\n\[lints\]\nworkspace = true\n' "$manifest"; then
            echo "$manifest: no '[lints] workspace = true'" >&2
            exit 1
        fi
    done

    # rust-version: the workspace declares the oldest toolchain a build here proves (no other
    # can be downloaded on these machines). The clippy run is that proof at no extra cost: it
    # type-checks every target, so it runs on that toolchain when rustup has it. (Here the
    # 1.95.0 toolchain is the stable one, the same compiler: `cargo +1.95.0 clippy` and
    # `cargo clippy` share every artifact. Were stable newer, clippy would still build
    # nothing more, as its check artifacts are never shared with the tests' release build.)
    msrv=$(sed -n 's/^rust-version = "\([0-9.]*\)"$/\1/p' Cargo.toml)
    toolchain="$msrv"
    [ "${msrv//[^.]/}" = . ] && toolchain="$msrv.0"
    cargo=(cargo)
    if command -v rustup >/dev/null && rustup toolchain list | grep -q "^$toolchain-"; then
        cargo=(cargo "+$toolchain")
        step "clippy, all targets, warnings denied, on Rust $toolchain (the declared rust-version)"
    else
        echo "SKIPPED the rust-version check: toolchain $toolchain (rust-version $msrv) is not" \
            "installed; clippy runs on the default toolchain instead" >&2
        step "clippy, all targets, warnings denied (default toolchain)"
    fi
    "${cargo[@]}" clippy --release --workspace --all-targets -- -D warnings

    step "clippy on the lean core: anoonly, anoonly-bench --no-default-features"
    cargo clippy --release -p anoonly -p anoonly-bench --no-default-features -- -D warnings

    step "rustdoc, warnings denied"
    RUSTDOCFLAGS="-D warnings" cargo doc --release --workspace --no-deps --lib --examples
fi

if [ "$what" != rust ]; then
    step "Python environment (scripts/venv.sh with python/requirements-dev.txt)"
    python=$(scripts/venv.sh python/requirements-dev.txt)

    step "ruff check, ruff format --check (python, scripts)"
    "$python" -m ruff check python scripts
    "$python" -m ruff format --check python scripts

    step "mypy --strict (pyproject.toml's [tool.mypy])"
    "$python" -m mypy

    step "stubtest: python/anoonly/_anoonly.pyi against the built extension"
    # stubtest reports success for a module it cannot import: import it first. MYPYPATH
    # makes it read the checkout's stubs (the installed copy is the same after venv.sh).
    "$python" -c "import anoonly._anoonly"
    # --mypy-config-file: pyproject.toml's overrides (scikit-learn and pandas have no types).
    MYPYPATH=python "$python" -m mypy.stubtest anoonly._anoonly \
        --allowlist python/stubtest-allowlist.txt --mypy-config-file pyproject.toml
fi

step "passed"
