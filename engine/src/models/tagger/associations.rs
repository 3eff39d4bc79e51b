//! What a tagger learns from the texts it is built `AS`: which adjacent
//! words are one phrase ("t-shirt", "screen protector", "euro delight"),
//! how many texts hold each unit (a word or a phrase), and how many hold
//! each pair of units.
//!
//! A text's tags are its units ordered by how strongly each goes with the
//! others: the mean pointwise mutual information of the unit with every
//! other unit of the text. The word that says what a product is goes with
//! its brand, its flavour and its size, which do not go with each other
//! (Otterbox makes cases, pepperoni goes on pizza); words that go with
//! everything ("python", "library", "new") go with nothing in particular,
//! and score near zero. Measured on the demo catalogue, this puts the
//! product type first for 82% of titles, against 24% for ordering by
//! similarity to the cluster centre (docs/models.md).

use hashbrown::HashMap;

/// How many texts' worth of evidence [`Associations::head_share`] takes
/// as given, half of them ending with the unit, before its own counts.
const HEAD_PRIOR_TEXTS: f32 = 5.0;

/// A token that is not in the embedding's vocabulary: it breaks a phrase.
pub const BREAK: u32 = u32::MAX;

/// A text's units past this many are not tagged: pairs grow as the square
/// of the units, and the first units of a title say what it is.
pub const MAX_UNITS: usize = 12;

/// Added to a pair's count and to its expected count before their ratio
/// is taken, so that two rare units seen together once or twice do not
/// outscore units seen together hundreds of times.
const SMOOTHING: f32 = 5.0;

/// Two adjacent words that are one unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phrase {
    pub first: u32,
    pub second: u32,
    /// Written with a hyphen ("t-shirt") in most texts, else a space.
    pub hyphen: bool,
}

/// A key for an ordered pair of ids.
#[inline]
pub fn pair_key(a: u32, b: u32) -> u64 {
    ((a as u64) << 32) | b as u64
}

/// A key for an unordered pair of ids.
#[inline]
pub fn unordered_key(a: u32, b: u32) -> u64 {
    if a < b {
        pair_key(a, b)
    } else {
        pair_key(b, a)
    }
}

/// The learned statistics. Unit ids below `vocabulary` are the embedding's
/// word ids; phrase `i` is unit `vocabulary + i`.
#[derive(Debug, Default)]
pub struct Associations {
    /// How many texts the tagger learned from.
    pub texts: u64,
    pub vocabulary: u32,
    pub phrases: Vec<Phrase>,
    phrase_ids: HashMap<u64, u32>,
    /// Per unit, how many texts hold it.
    pub df: Vec<u32>,
    /// Per unit, how many of the texts holding it have it end a phrase
    /// (see [`Associations::head_share`]); empty for a tagger made before
    /// this was counted.
    pub ends: Vec<u32>,
    /// Per unordered pair of units seen together in at least two texts,
    /// how many texts hold both, by key.
    pub pairs: Vec<(u64, u32)>,
    /// The same pairs' associations, for lookups.
    table: PairTable,
}

/// One slot of [`PairTable`]: the pair's two units (`BREAK` for an empty
/// slot) and its association's bits; 12 bytes.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Slot {
    a: u32,
    b: u32,
    value: f32,
}

/// Pair associations in one open-addressed array (linear probing, at most
/// half full). Scoring a text looks up every pair of its units, and the
/// table is larger than the processor's caches (1.8M pairs on the PyPI
/// summaries): [`Associations::score`] first computes every pair's slot
/// and asks the processor to fetch it, then reads them, so the fetches
/// overlap instead of waiting one by one (measured: `tag` on the PyPI
/// summaries spent 46% of its time in hash map lookups before).
#[derive(Debug, Default)]
struct PairTable {
    slots: Vec<Slot>,
    shift: u32,
}

impl PairTable {
    fn new(pairs: impl ExactSizeIterator<Item = (u32, u32, f32)>) -> Self {
        let n = pairs.len();
        if n == 0 {
            return Self::default();
        }
        let bits = (2 * n).next_power_of_two().trailing_zeros().max(4);
        let mut slots = vec![
            Slot {
                a: BREAK,
                b: BREAK,
                value: 0.0,
            };
            1 << bits
        ];
        let shift = 64 - bits;
        let mask = slots.len() - 1;
        for (a, b, value) in pairs {
            let mut i = Self::home(a, b, shift);
            while slots[i].a != BREAK && (slots[i].a, slots[i].b) != (a, b) {
                i = (i + 1) & mask;
            }
            slots[i] = Slot { a, b, value };
        }
        Self { slots, shift }
    }

    #[inline]
    fn home(a: u32, b: u32, shift: u32) -> usize {
        (pair_key(a, b).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize
    }

    /// Asks the processor to fetch the home slot of `a, b` (`a < b`).
    #[inline]
    fn prefetch(&self, a: u32, b: u32) {
        #[cfg(target_arch = "x86_64")]
        if !self.slots.is_empty() {
            let i = Self::home(a, b, self.shift);
            #[allow(unsafe_code)]
            // SAFETY: `i` is within `slots` (the hash keeps its top bits,
            // fewer than the slots'); a prefetch reads nothing.
            unsafe {
                use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
                _mm_prefetch::<_MM_HINT_T0>(self.slots.as_ptr().add(i) as *const i8);
            }
        }
    }

    /// The association of `a, b` (`a < b`), if the pair is stored.
    #[inline]
    fn get(&self, a: u32, b: u32) -> Option<f32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = Self::home(a, b, self.shift);
        loop {
            let s = self.slots[i];
            if s.a == a && s.b == b {
                return Some(s.value);
            }
            if s.a == BREAK {
                return None;
            }
            i = (i + 1) & mask;
        }
    }
}

impl Associations {
    pub fn new(
        texts: u64,
        vocabulary: u32,
        phrases: Vec<Phrase>,
        df: Vec<u32>,
        ends: Vec<u32>,
        mut pairs: Vec<(u64, u32)>,
    ) -> Self {
        let phrase_ids = phrases
            .iter()
            .enumerate()
            .map(|(i, p)| (pair_key(p.first, p.second), vocabulary + i as u32))
            .collect();
        pairs.sort_unstable();
        let mut a = Self {
            texts,
            vocabulary,
            phrases,
            phrase_ids,
            df,
            ends,
            pairs,
            table: PairTable::default(),
        };
        a.table = PairTable::new(a.pairs.iter().map(|&(key, n)| {
            let (x, y) = ((key >> 32) as u32, key as u32);
            (x, y, a.smoothed(n, x, y))
        }));
        a
    }

    /// `ln((n_ab + s) / (n_a n_b / N + s))` for a pair held by `together`
    /// texts.
    #[inline]
    fn smoothed(&self, together: u32, a: u32, b: u32) -> f32 {
        let expected = self.df(a) as f32 * self.df(b) as f32 / self.texts.max(1) as f32;
        ((together as f32 + SMOOTHING) / (expected + SMOOTHING)).ln()
    }

    /// How many units there are: words and phrases.
    pub fn units(&self) -> usize {
        self.vocabulary as usize + self.phrases.len()
    }

    /// The phrase unit of adjacent words `a b`, if they are one.
    #[inline]
    pub fn phrase(&self, a: u32, b: u32) -> Option<u32> {
        if self.phrase_ids.is_empty() {
            return None;
        }
        self.phrase_ids.get(&pair_key(a, b)).copied()
    }

    /// How many texts hold unit `u`.
    #[inline]
    pub fn df(&self, u: u32) -> u32 {
        self.df.get(u as usize).copied().unwrap_or(0)
    }

    /// The share of the texts holding unit `u` in which it ends a phrase:
    /// the token after it is a function word or a number, or punctuation,
    /// or the text ends. English puts what a thing is last in its phrase
    /// ("Otterbox case for ...", "stripe crewneck t-shirt"); a word that
    /// describes or names something else ("stainless", "otterbox",
    /// "converting") is followed by more words. A unit held by few texts
    /// counts as if [`HEAD_PRIOR_TEXTS`] more texts held it, half of them
    /// ending with it. `None` when the tagger did not count ends.
    pub fn head_share(&self, u: u32) -> Option<f32> {
        let ends = *self.ends.get(u as usize)?;
        let half = HEAD_PRIOR_TEXTS / 2.0;
        Some((ends as f32 + half) / (self.df(u) as f32 + HEAD_PRIOR_TEXTS))
    }

    /// Pointwise mutual information of units `a` and `b`, smoothed:
    /// `ln((n_ab + s) / (n_a n_b / N + s))`.
    #[inline]
    pub fn association(&self, a: u32, b: u32) -> f32 {
        let (a, b) = if a < b { (a, b) } else { (b, a) };
        self.table.get(a, b).unwrap_or_else(|| self.unseen(a, b))
    }

    /// The association of two units never seen together (or once):
    /// `ln(s / (e + s)) = -ln(1 + e / s)` for `e = n_a n_b / N` expected
    /// texts. Most pairs of a text are such pairs and `e / s` is then
    /// small, so three terms of the series stand in for the logarithm
    /// below 1/4 (off by less than 0.001).
    #[inline]
    fn unseen(&self, a: u32, b: u32) -> f32 {
        let x = self.df(a) as f32 * self.df(b) as f32 / (self.texts.max(1) as f32 * SMOOTHING);
        if x < 0.25 {
            -(x - x * x * (0.5 - x / 3.0))
        } else {
            -x.ln_1p()
        }
    }

    /// Cuts a token sequence (`BREAK` for unknown tokens) into units, in
    /// order, without repeats, at most [`MAX_UNITS`]: adjacent words that
    /// are a phrase become one unit, read left to right; a word that is
    /// not `unit_ok` (a function word, a number) is no unit and no part
    /// of a phrase.
    pub fn cut(&self, seq: &[u32], unit_ok: &[bool], out: &mut Vec<u32>) {
        self.cut_with(seq, unit_ok, out, |_, _| {});
    }

    /// [`Self::cut`], calling `at` with each unit as it is found and the
    /// index in `seq` of its last word.
    pub fn cut_with(
        &self,
        seq: &[u32],
        unit_ok: &[bool],
        out: &mut Vec<u32>,
        mut at: impl FnMut(u32, usize),
    ) {
        out.clear();
        let ok = |id: u32| id != BREAK && unit_ok[id as usize];
        let mut i = 0;
        while i < seq.len() && out.len() < MAX_UNITS {
            let a = seq[i];
            let joined = (i + 1 < seq.len() && ok(a) && ok(seq[i + 1]))
                .then(|| self.phrase(a, seq[i + 1]))
                .flatten();
            let unit = match joined {
                Some(p) => {
                    i += 2;
                    p
                }
                None => {
                    i += 1;
                    if !ok(a) {
                        continue;
                    }
                    a
                }
            };
            if !out.contains(&unit) {
                out.push(unit);
                at(unit, i - 1);
            }
        }
    }

    /// Each `wanted` unit's mean association with the other units of its
    /// text (0 for a text of one unit), into `scores`; the other units
    /// are context only, and their scores are meaningless. Pairs of two
    /// units that are not wanted are never looked up.
    pub fn score(&self, units: &[u32], wanted: &[bool], scores: &mut Vec<f32>) {
        scores.clear();
        scores.resize(units.len(), 0.0);
        if units.len() < 2 {
            return;
        }
        let n = units.len();
        // Fetch every pair's slot first, so the fetches overlap.
        for i in 0..n {
            for j in i + 1..n {
                if wanted[i] || wanted[j] {
                    self.table
                        .prefetch(units[i].min(units[j]), units[i].max(units[j]));
                }
            }
        }
        for i in 0..n {
            for j in i + 1..n {
                if wanted[i] || wanted[j] {
                    let a = self.association(units[i], units[j]);
                    scores[i] += a;
                    scores[j] += a;
                }
            }
        }
        let inv = 1.0 / (units.len() - 1) as f32;
        scores.iter_mut().for_each(|s| *s *= inv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assoc() -> Associations {
        // Words 0..6; phrase 6 = "1 2". 100 texts.
        let df = vec![10, 20, 20, 50, 50, 5, 20];
        let pairs = vec![(unordered_key(0, 6), 10), (unordered_key(3, 4), 20)];
        Associations::new(
            100,
            6,
            vec![Phrase {
                first: 1,
                second: 2,
                hyphen: true,
            }],
            df,
            vec![1, 2, 20, 40, 40, 0, 2],
            pairs,
        )
    }

    #[test]
    fn cuts_phrases_breaks_and_repeats() {
        let a = assoc();
        let ok = [true, true, true, true, false, true];
        let mut out = Vec::new();
        a.cut(&[0, 1, 2, 4, 0, BREAK, 1, 2], &ok, &mut out);
        assert_eq!(out, vec![0, 6]);
        // A break between the words: no phrase.
        a.cut(&[1, BREAK, 2], &ok, &mut out);
        assert_eq!(out, vec![1, 2]);
        // A word that is no unit is no part of a phrase either.
        a.cut(&[1, 2], &[true, false, true, true, true, true], &mut out);
        assert_eq!(out, vec![2]);
        let many: Vec<u32> = (0..40).map(|i| i % 6).collect();
        a.cut(&many, &[true; 6], &mut out);
        assert!(out.len() <= MAX_UNITS && out.contains(&6) && out.contains(&5));
    }

    #[test]
    fn the_unit_that_goes_with_the_others_scores_highest() {
        let a = assoc();
        let mut s = Vec::new();
        a.score(&[0, 6, 5], &[true; 3], &mut s);
        // 0 and 6 were seen together 10 times against 2 expected.
        assert!(s[0] > 0.0 && s[1] > 0.0, "{s:?}");
        assert!(s[2] < s[0] && s[2] < s[1], "{s:?}");
        // A unit that is not wanted is context: the others score the same.
        let all = s.clone();
        a.score(&[0, 6, 5], &[true, false, true], &mut s);
        assert_eq!((s[0], s[2]), (all[0], all[2]));
        a.score(&[3], &[true], &mut s);
        assert_eq!(s, vec![0.0]);
        a.score(&[], &[], &mut s);
        assert!(s.is_empty());
        // Never-seen pairs of common units are negative; of rare units, near 0.
        assert!(a.association(3, 1) < 0.0);
        assert!(a.association(5, 0).abs() < 0.2);
        // The series stands in for the logarithm of unseen pairs.
        for (x, y) in [(5, 0), (3, 1), (3, 4), (0, 5)] {
            let exact = a.smoothed(0, x.min(y), x.max(y));
            assert!(
                (a.unseen(x.min(y), x.max(y)) - exact).abs() < 1e-3,
                "{x} {y}"
            );
        }
        assert_eq!(a.association(3, 1), a.unseen(1, 3));
        assert_eq!(a.association(6, 0), a.association(0, 6));
    }

    /// The table finds every stored pair among many, and no other.
    #[test]
    fn the_pair_table_finds_what_it_holds() {
        let pairs: Vec<(u32, u32, f32)> = (0..5000u32).map(|i| (i, i * 7 + 1, i as f32)).collect();
        let t = PairTable::new(pairs.iter().copied());
        for &(a, b, v) in &pairs {
            assert_eq!(t.get(a, b), Some(v));
            assert_eq!(t.get(a, b + 1), None);
        }
        assert_eq!(PairTable::default().get(1, 2), None);
    }
}
