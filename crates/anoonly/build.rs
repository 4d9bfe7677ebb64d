//! Build script: `ANOONLY_CODE_DIGEST`, a digest of everything that compiles into this
//! crate's numbers, for the keys of shared work (`src/train/shared/`): this crate's sources,
//! the workspace's `Cargo.lock` (every dependency's version, the matrix kernel's among
//! them) when there is one, the compiler's version, the target and its compile-time
//! features, and the optimisation settings. A cached result computed by another build is
//! then never taken for this build's. Any source change gives a new digest: a stale cache
//! costs a recomputation, never a wrong number.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let src = manifest.join("src");
    let mut paths = Vec::new();
    files(&src, &mut paths);
    paths.sort();
    // Two independent 64-bit SipHash streams: a 128-bit digest. Any hash will do: it is
    // computed and compared within builds of this script, never stored across versions.
    let mut h = [DefaultHasher::new(), DefaultHasher::new()];
    let mut feed = |bytes: &[u8]| {
        for (i, h) in h.iter_mut().enumerate() {
            i.hash(h);
            bytes.len().hash(h);
            bytes.hash(h);
        }
    };
    for p in &paths {
        let rel = p.strip_prefix(&manifest).unwrap_or(p);
        feed(rel.to_string_lossy().as_bytes());
        feed(&std::fs::read(p).unwrap_or_default());
    }
    let lock = manifest.join("../../Cargo.lock");
    feed(&std::fs::read(&lock).unwrap_or_default());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    feed(&version);
    for var in [
        "TARGET",
        "CARGO_CFG_TARGET_FEATURE",
        "OPT_LEVEL",
        "CARGO_ENCODED_RUSTFLAGS",
    ] {
        feed(var.as_bytes());
        feed(std::env::var(var).unwrap_or_default().as_bytes());
    }
    println!(
        "cargo:rustc-env=ANOONLY_CODE_DIGEST={:016x}{:016x}",
        h[0].finish(),
        h[1].finish()
    );
    println!("cargo:rerun-if-changed=src");
    if lock.is_file() {
        println!("cargo:rerun-if-changed={}", lock.display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
}
