//! Seeded randomness, shared by every part of quiver that draws: the
//! trainers (word2vec's negative samples, k-means' seeding), the sampling
//! operator and the demo's catalogue. Two kinds:
//!
//! - [`Rng`], a stream of draws for one thread;
//! - [`mix`] and [`key`], a pure hash of a position, for choices that must
//!   not depend on the order in which threads or partitions run
//!   (`TABLESAMPLE ... REPEATABLE`).

/// A small, fast generator (wyrand); one per thread, seeded from the seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xA076_1D64_78BD_642F);
        let t = (self.0 as u128).wrapping_mul((self.0 ^ 0xE703_7ED1_A0B4_28DB) as u128);
        ((t >> 64) ^ t) as u64
    }

    /// Uniform in `[0, n)`.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() >> 32) * n) >> 32
    }

    /// Uniform in `[0, 1)`.
    #[inline]
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// A 64-bit mix (splitmix64's finaliser): every input bit moves every
/// output bit.
#[inline]
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The hash key of item `i` of stream `stream` under `seed`.
#[inline]
pub fn key(seed: u64, stream: u64, i: u64) -> u64 {
    mix(mix(seed ^ mix(stream)) ^ i)
}

/// Whether a key falls below `fraction` (keys are uniform over u64).
#[inline]
pub fn below_fraction(key: u64, fraction: f64) -> bool {
    ((key >> 11) as f64) < fraction * (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_uniform_enough_for_fractions() {
        let kept = (0..100_000u64)
            .filter(|&i| below_fraction(key(7, 0, i), 0.1))
            .count();
        assert!((9_500..10_500).contains(&kept), "{kept}");
        assert!((0..1000u64).all(|i| !below_fraction(key(7, 0, i), 0.0)));
        assert!((0..1000u64).all(|i| below_fraction(key(7, 0, i), 1.0)));
        assert_ne!(key(1, 0, 5), key(2, 0, 5));
        assert_ne!(key(1, 0, 5), key(1, 1, 5));
    }
}
