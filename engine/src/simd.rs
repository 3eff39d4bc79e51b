//! Which vector instructions the kernels may use: the processor's, capped
//! by the host.
//!
//! Every kernel with a SIMD path (k-means assignment and sums, word2vec
//! training and embedding, the tokenizer) asks here, not the processor,
//! so that a cap forces the slower paths on a machine that has the faster
//! ones: `QUIVER_SIMD=portable` or `avx2` runs the whole engine test suite
//! again on those paths (scripts/test does), and a host may pass the same
//! cap with [`limit`] to rule a faulty path out in production.

use std::sync::atomic::{AtomicU8, Ordering};

/// A set of vector instructions, in order: each includes those before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Plain Rust, whatever the compiler makes of it.
    Portable = 0,
    Avx2 = 1,
    Avx512 = 2,
}

impl Level {
    /// `portable`, `avx2` or `avx512`.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "portable" | "none" | "off" => Some(Self::Portable),
            "avx2" => Some(Self::Avx2),
            "avx512" | "avx-512" => Some(Self::Avx512),
            _ => None,
        }
    }
}

/// The cap: a [`Level`] as a number, or `UNSET`.
static CAP: AtomicU8 = AtomicU8::new(UNSET);
const UNSET: u8 = u8::MAX;

/// Caps the level every kernel uses from now on.
pub fn limit(level: Level) {
    CAP.store(level as u8, Ordering::Relaxed);
}

fn cap() -> Level {
    match CAP.load(Ordering::Relaxed) {
        0 => Level::Portable,
        1 => Level::Avx2,
        2 => Level::Avx512,
        _ => {
            // The engine's own tests take the cap from the environment
            // (a host passes it with `limit`).
            #[cfg(test)]
            if let Some(level) = std::env::var("QUIVER_SIMD")
                .ok()
                .and_then(|v| Level::parse(&v))
            {
                limit(level);
                return level;
            }
            Level::Avx512
        }
    }
}

/// Whether the kernels may use AVX-512F.
#[inline]
pub fn avx512f() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        cap() >= Level::Avx512 && std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Whether the kernels may use AVX-512BW with BMI2 (the tokenizer's scan).
#[inline]
pub fn avx512bw_bmi2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        cap() >= Level::Avx512
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("bmi2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Whether the kernels may use AVX2.
#[inline]
pub fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        cap() >= Level::Avx2 && std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The best level the kernels use here, for logs and test output.
pub fn level() -> Level {
    if avx512f() {
        Level::Avx512
    } else if avx2() {
        Level::Avx2
    } else {
        Level::Portable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cap the test run was started with holds (scripts/test runs the
    /// suite under `QUIVER_SIMD=portable` and `avx2`).
    #[test]
    fn the_cap_holds() {
        let cap = std::env::var("QUIVER_SIMD")
            .ok()
            .and_then(|v| Level::parse(&v));
        println!("kernels at {:?} (cap {cap:?})", level());
        if let Some(cap) = cap {
            assert!(level() <= cap, "{:?} above the cap {cap:?}", level());
        }
        assert_eq!(Level::parse("AVX2"), Some(Level::Avx2));
        assert_eq!(Level::parse("sse"), None);
    }
}
