//! Content keys: a BLAKE3 hash of named, length-prefixed fields, starting with the code's
//! identity, so that a key names what a piece of work computes, bit for bit.

use std::fmt;

use ndarray::ArrayView2;

use crate::vocab::tensor::NamedTensor;

/// A content key: the BLAKE3 hash of everything a piece of work depends on.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(pub [u8; 32]);

impl Key {
    /// Lower-case hex (64 characters): the cache file's name.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", &self.hex()[..16])
    }
}

/// Builds a [`Key`]: named fields, each length-prefixed, so that no two different field
/// lists hash the same bytes. It starts with the code's identity (see the module
/// documentation of [`crate::train::shared`]), so keys from another version or build never
/// match.
pub struct KeyBuilder(blake3::Hasher);

/// A digest of this crate's sources, `Cargo.lock`, the compiler and the compile-time target
/// features (`build.rs`).
pub const CODE_DIGEST: &str = env!("ANOONLY_CODE_DIGEST");

impl KeyBuilder {
    /// A key for the work named `domain` (e.g. `feawad/pretrain`).
    pub fn new(domain: &str) -> KeyBuilder {
        let mut k = KeyBuilder::bare();
        k.bytes("anoonly-shared-work", domain.as_bytes())
            .bytes("crate_version", env!("CARGO_PKG_VERSION").as_bytes())
            .bytes("code", CODE_DIGEST.as_bytes())
            .bytes("target_arch", std::env::consts::ARCH.as_bytes())
            .bytes("target_os", std::env::consts::OS.as_bytes());
        k
    }

    /// A hash of fields alone, without the code's identity (a cache file's checksum).
    pub(super) fn bare() -> KeyBuilder {
        KeyBuilder(blake3::Hasher::new())
    }

    fn len(&mut self, n: usize) {
        self.0.update(&(n as u64).to_le_bytes());
    }

    /// A field of raw bytes.
    pub fn bytes(&mut self, name: &str, value: &[u8]) -> &mut Self {
        self.len(name.len());
        self.0.update(name.as_bytes());
        self.len(value.len());
        self.0.update(value);
        self
    }

    pub fn u64(&mut self, name: &str, value: u64) -> &mut Self {
        self.bytes(name, &value.to_le_bytes())
    }

    /// A field of `f32` values, as their little-endian bits (so `-0.0` and `0.0`, or two
    /// NaNs, are different values, as they may be to the arithmetic).
    pub fn f32s(&mut self, name: &str, values: &[f32]) -> &mut Self {
        self.len(name.len());
        self.0.update(name.as_bytes());
        self.len(values.len() * 4);
        self.put_f32s(values);
        self
    }

    fn put_f32s(&mut self, values: &[f32]) {
        let mut buf = [0u8; 4096];
        for chunk in values.chunks(buf.len() / 4) {
            for (b, v) in buf.chunks_exact_mut(4).zip(chunk) {
                b.copy_from_slice(&v.to_le_bytes());
            }
            self.0.update(&buf[..chunk.len() * 4]);
        }
    }

    /// The rows `rows` of `x`, in that order (the sampler's view of a data matrix), with
    /// their count and width.
    pub fn rows(
        &mut self,
        name: &str,
        x: ArrayView2<f32>,
        rows: impl ExactSizeIterator<Item = usize>,
    ) -> &mut Self {
        self.u64(&format!("{name}.rows"), rows.len() as u64);
        self.u64(&format!("{name}.cols"), x.ncols() as u64);
        self.len(name.len());
        self.0.update(name.as_bytes());
        self.len(rows.len() * x.ncols() * 4);
        let mut scratch = Vec::new();
        for r in rows {
            let row = x.row(r);
            match row.as_slice() {
                Some(s) => self.put_f32s(s),
                None => {
                    scratch.clear();
                    scratch.extend(row.iter().copied());
                    self.put_f32s(&scratch);
                }
            }
        }
        self
    }

    /// Named tensors (a network's state): each name, shape and values, in order.
    pub fn tensors(&mut self, name: &str, tensors: &[NamedTensor]) -> &mut Self {
        self.u64(&format!("{name}.count"), tensors.len() as u64);
        for t in tensors {
            self.bytes("tensor.name", t.name.as_bytes());
            let shape: Vec<u8> = t
                .shape
                .iter()
                .flat_map(|&s| (s as u64).to_le_bytes())
                .collect();
            self.bytes("tensor.shape", &shape);
            self.f32s("tensor.data", &t.data);
        }
        self
    }

    pub fn finish(&self) -> Key {
        Key(*self.0.finalize().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_length_prefixed_and_depend_on_every_field() {
        let a = KeyBuilder::new("d")
            .bytes("x", b"ab")
            .bytes("y", b"c")
            .finish();
        let b = KeyBuilder::new("d")
            .bytes("x", b"a")
            .bytes("y", b"bc")
            .finish();
        assert_ne!(a, b);
        assert_ne!(
            KeyBuilder::new("d").f32s("v", &[0.0]).finish(),
            KeyBuilder::new("d").f32s("v", &[-0.0]).finish()
        );
        let x = ndarray::array![[1.0f32, 2.0], [3.0, 4.0]];
        let rows = |r: Vec<usize>| {
            KeyBuilder::new("d")
                .rows("x", x.view(), r.into_iter())
                .finish()
        };
        assert_eq!(rows(vec![0, 1]), rows(vec![0, 1]));
        assert_ne!(rows(vec![0, 1]), rows(vec![1, 0]));
        assert_eq!(
            KeyBuilder::new("d")
                .rows("x", x.t(), [0usize, 1].into_iter())
                .finish(),
            KeyBuilder::new("d")
                .rows(
                    "x",
                    x.t().as_standard_layout().view(),
                    [0usize, 1].into_iter()
                )
                .finish()
        );
        assert_eq!(KeyBuilder::new("d").finish().hex().len(), 64);
    }
}
