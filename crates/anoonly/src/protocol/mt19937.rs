//! numpy's legacy `RandomState` (MT19937), reduced to the draws the ADBench split makes:
//! `np.random.seed`, `randint` / `choice(n, k, replace=True)`, `permutation`,
//! `choice(n, k, replace=False)`.
//!
//! Replicated so that a split at a given seed picks the same rows as the official code
//! (`np.random.seed(42)` then the global stream). Checked against numpy by
//! `scripts/protocol_reference.py` (see `tests/protocol_mt19937.rs`).

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER: u32 = 0x8000_0000;
const LOWER: u32 = 0x7fff_ffff;

/// The MT19937 state of numpy's legacy `RandomState`.
#[derive(Clone)]
pub struct Mt19937 {
    key: [u32; N],
    pos: usize,
}

impl std::fmt::Debug for Mt19937 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mt19937").field("pos", &self.pos).finish()
    }
}

impl Mt19937 {
    /// `np.random.seed(seed)` for a 32-bit seed (`init_genrand`).
    pub fn new(seed: u32) -> Self {
        let mut key = [0u32; N];
        let mut s = seed;
        for (pos, k) in key.iter_mut().enumerate() {
            *k = s;
            s = 1_812_433_253u32
                .wrapping_mul(s ^ (s >> 30))
                .wrapping_add(pos as u32 + 1);
        }
        Mt19937 { key, pos: N }
    }

    /// `np.random.RandomState(np.array(words, dtype=np.uint32))` (`init_by_array`).
    pub fn from_words(words: &[u32]) -> Self {
        assert!(!words.is_empty(), "init_by_array needs at least one word");
        let mut s = Self::new(19_650_218);
        let mt = &mut s.key;
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..N.max(words.len()) {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(words[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if j >= words.len() {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_566_083_941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
        }
        mt[0] = 0x8000_0000;
        s.pos = N;
        s
    }

    /// The generator of a run's data seed: `np.random.seed(seed)` when `seed < 2^32` (the only
    /// seeds numpy's `seed()` accepts), otherwise `init_by_array([low word, high word])`.
    pub fn from_seed(seed: u64) -> Self {
        match u32::try_from(seed) {
            Ok(s) => Self::new(s),
            Err(_) => Self::from_words(&[seed as u32, (seed >> 32) as u32]),
        }
    }

    fn generate(&mut self) {
        for i in 0..N {
            let y = (self.key[i] & UPPER) | (self.key[(i + 1) % N] & LOWER);
            let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
            self.key[i] = self.key[(i + M) % N] ^ (y >> 1) ^ mag;
        }
        self.pos = 0;
    }

    /// The next tempered 32-bit output.
    pub fn next_u32(&mut self) -> u32 {
        if self.pos == N {
            self.generate();
        }
        let mut y = self.key[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// A uniform integer in `0..=max` by masked rejection on 32-bit outputs (numpy's legacy
    /// `random_interval` and legacy bounded `randint`, which agree for ranges below 2^32).
    pub fn interval(&mut self, max: u32) -> u32 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        mask |= mask >> 1;
        mask |= mask >> 2;
        mask |= mask >> 4;
        mask |= mask >> 8;
        mask |= mask >> 16;
        loop {
            let v = self.next_u32() & mask;
            if v <= max {
                return v;
            }
        }
    }

    /// `randint(0, n)` / one draw of `choice(n, replace=True)`.
    pub fn below(&mut self, n: usize) -> usize {
        assert!(
            n > 0 && n - 1 <= u32::MAX as usize,
            "range must be in 1..=2^32"
        );
        self.interval((n - 1) as u32) as usize
    }

    /// `np.random.choice(n, size, replace=True)` (legacy: `randint(0, n, size)`).
    pub fn choice_with_replacement(&mut self, n: usize, size: usize) -> Vec<usize> {
        (0..size).map(|_| self.below(n)).collect()
    }

    /// In-place legacy `shuffle` (Fisher–Yates from the end, `j = random_interval(i)`).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.interval(i as u32) as usize;
            v.swap(i, j);
        }
    }

    /// `np.random.permutation(n)`.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        self.shuffle(&mut v);
        v
    }

    /// [`Mt19937::permutation`] as `u32` (same draws): half the memory for row indices.
    pub fn permutation_u32(&mut self, n: usize) -> Vec<u32> {
        assert!(u32::try_from(n).is_ok(), "at most 2^32 indices");
        let mut v: Vec<u32> = (0..n as u32).collect();
        self.shuffle(&mut v);
        v
    }

    /// `np.random.choice(n, size, replace=False)` (legacy: `permutation(n)[:size]`).
    pub fn choice_without_replacement(&mut self, n: usize, size: usize) -> Vec<usize> {
        assert!(size <= n, "cannot take {size} of {n} without replacement");
        let mut p = self.permutation(n);
        p.truncate(size);
        p
    }
}
