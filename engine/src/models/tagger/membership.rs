//! Which clusters each unit of a learned tagger is a candidate of: the
//! gate a text's units pass (a candidate of one of the text's nearest
//! clusters) and the share the spread penalty counts.

use super::Candidate;

/// Per unit, the clusters it is a candidate of, ascending, all in one
/// array; and, when it takes at most [`MEMBERSHIP_BITS_MAX`], the same as
/// one bit per unit and cluster, so that gating a unit is one cache line
/// (measured: the binary searches took 9% of tagging the PyPI
/// summaries).
#[derive(Debug, Default)]
pub(super) struct Membership {
    offsets: Vec<u32>,
    clusters: Vec<u32>,
    /// `words` 64-bit words per unit, or none.
    bits: Vec<u64>,
    words: usize,
}

/// The largest unit-by-cluster bit table a tagger keeps (64 MiB).
const MEMBERSHIP_BITS_MAX: usize = 64 << 20;

impl Membership {
    pub(super) fn new(lists: &[Vec<Candidate>], units: usize) -> Self {
        let mut m = Self::runs(lists, units);
        let words = lists.len().div_ceil(64);
        if units.saturating_mul(words).saturating_mul(8) <= MEMBERSHIP_BITS_MAX {
            m.bits = vec![0; units * words];
            m.words = words;
            for u in 0..units {
                let (a, b) = (m.offsets[u] as usize, m.offsets[u + 1] as usize);
                for &c in &m.clusters[a..b] {
                    m.bits[u * words + c as usize / 64] |= 1 << (c % 64);
                }
            }
        }
        m
    }

    /// [`Membership`] without the bits.
    pub(super) fn runs(lists: &[Vec<Candidate>], units: usize) -> Self {
        let mut offsets = vec![0u32; units + 1];
        for c in lists.iter().flatten() {
            if let Some(n) = offsets.get_mut(c.unit as usize + 1) {
                *n += 1;
            }
        }
        for i in 1..offsets.len() {
            offsets[i] += offsets[i - 1];
        }
        let mut next = offsets.clone();
        let mut clusters = vec![0u32; offsets[units] as usize];
        // Clusters in order, so each unit's run is ascending.
        for (j, list) in lists.iter().enumerate() {
            for c in list {
                if let Some(at) = next
                    .get_mut(c.unit as usize)
                    .filter(|_| (c.unit as usize) < units)
                {
                    clusters[*at as usize] = j as u32;
                    *at += 1;
                }
            }
        }
        Self {
            offsets,
            clusters,
            bits: Vec::new(),
            words: 0,
        }
    }

    /// The clusters unit `u` is a candidate of, ascending.
    #[inline]
    pub(super) fn of(&self, u: u32) -> &[u32] {
        match (
            self.offsets.get(u as usize),
            self.offsets.get(u as usize + 1),
        ) {
            (Some(&a), Some(&b)) => &self.clusters[a as usize..b as usize],
            _ => &[],
        }
    }

    /// Whether unit `u` is a candidate of any of `near`.
    #[inline]
    pub(super) fn any(&self, u: u32, near: &[u32]) -> bool {
        if self.words > 0 {
            let Some(row) = self
                .bits
                .get(u as usize * self.words..(u as usize + 1) * self.words)
            else {
                return false;
            };
            return near.iter().any(|&c| {
                row.get(c as usize / 64)
                    .is_some_and(|w| w >> (c % 64) & 1 == 1)
            });
        }
        let of = self.of(u);
        !of.is_empty() && near.iter().any(|c| of.binary_search(c).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::Rng;

    /// The bit table and the runs agree on which units are candidates of
    /// which clusters.
    #[test]
    fn membership_bits_agree_with_the_runs() {
        let mut rng = Rng::new(6);
        let (units, k) = (50u32, 70);
        let lists: Vec<Vec<Candidate>> = (0..k)
            .map(|_| {
                (0..units)
                    .filter(|_| rng.below(4) == 0)
                    .map(|unit| Candidate {
                        unit,
                        similarity: 0.0,
                        support: 3,
                    })
                    .collect()
            })
            .collect();
        let with_bits = Membership::new(&lists, units as usize);
        let runs = Membership::runs(&lists, units as usize);
        assert!(with_bits.words == 2 && runs.words == 0);
        for u in 0..units + 2 {
            for _ in 0..20 {
                let near: Vec<u32> = (0..1 + rng.below(4))
                    .map(|_| rng.below(k as u64) as u32)
                    .collect();
                let truth = near
                    .iter()
                    .any(|&c| lists[c as usize].iter().any(|x| x.unit == u));
                assert_eq!(with_bits.any(u, &near), truth);
                assert_eq!(runs.any(u, &near), truth);
            }
        }
    }
}
