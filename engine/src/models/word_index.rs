//! The word-to-id index of a vocabulary, laid out for lookups in a hot loop
//! (`embed` and `tag` look up every token of every row).
//!
//! A general `HashMap<String, u32>` keeps 32-byte buckets and each key in
//! its own heap allocation, so a lookup touches two cold cache lines before
//! it can compare. Here a slot is 32 bytes (24 bits of the hash, the
//! length, the id and the word's first 16 bytes), so a word of up to 16
//! bytes is confirmed from its slot alone; the table is at most two thirds
//! full, and the words sit end to end in id order, which is descending
//! frequency. Linear probing; no deletion (a model's vocabulary is fixed).
//!
//! A word of up to 16 bytes is hashed from those same 16 bytes with one
//! folded multiply. In a hot loop, [`WordIndex::probe`] reads them as two
//! whole loads masked to the word's length, and the hash, the head and the
//! tail it returns serve both the prefetch and the comparison: against
//! 16-byte slots holding 8 bytes of the word (longer words compared in the
//! arena) and a general hash of each token, this saves two dependent loads
//! and a branch per token (measured in docs/benchmarks.md, "embed over
//! every title").

use std::hash::BuildHasher;

use hashbrown::DefaultHashBuilder;

#[derive(Debug, Clone)]
pub struct WordIndex {
    slots: Vec<Slot>,
    mask: usize,
    /// Where each id's word ends in `arena` (it starts where the previous
    /// one ends).
    ends: Vec<usize>,
    arena: Vec<u8>,
    hasher: DefaultHashBuilder,
    /// Per-index seeds of the hash of words of up to 16 bytes.
    seeds: [u64; 2],
}

impl WordIndex {
    /// Indexes `words` by position. Of duplicate words the first keeps its
    /// id (as gensim's loader does); later ones cannot be looked up.
    pub fn new<'a>(words: impl ExactSizeIterator<Item = &'a str>) -> Self {
        let capacity = (words.len() * 3 / 2).max(16).next_power_of_two();
        let hasher = DefaultHashBuilder::default();
        let seeds = [hasher.hash_one(1u64), hasher.hash_one(2u64)];
        let mut index = Self {
            seeds,
            slots: vec![Slot::default(); capacity],
            mask: capacity - 1,
            ends: Vec::with_capacity(words.len()),
            arena: Vec::new(),
            hasher,
        };
        for (id, word) in words.enumerate() {
            let word = word.as_bytes();
            let probe = index.probe_word(word);
            if let Err(slot) = index.find(probe, word) {
                index.slots[slot] = Slot {
                    meta: key(probe.hash, word) | (id as u64 + 1),
                    head: probe.first,
                    tail: probe.second,
                    _pad: 0,
                };
            }
            index.arena.extend_from_slice(word);
            index.ends.push(index.arena.len());
        }
        index
    }

    /// The id of `word`, if it is in the vocabulary.
    #[inline]
    pub fn get(&self, word: &str) -> Option<u32> {
        let word = word.as_bytes();
        self.get_probed(self.probe_word(word), word)
    }

    /// The hash [`Self::prefetch`] takes.
    #[inline(always)]
    pub fn hash(&self, word: &[u8]) -> u64 {
        self.probe_word(word).hash
    }

    /// What a lookup of `word` needs: its [`head`], its [`tail`] and the
    /// hash taken from them.
    #[inline(always)]
    fn probe_word(&self, word: &[u8]) -> Probe {
        self.probe_of(word, head(word), tail(word))
    }

    /// The probe of `word`, whose [`head`] and [`tail`] are `first` and
    /// `second`: a word of up to 16 bytes is hashed from them with one
    /// folded multiply, as foldhash hashes short input; a longer one with
    /// foldhash.
    #[inline(always)]
    fn probe_of(&self, word: &[u8], first: u64, second: u64) -> Probe {
        let hash = if word.len() <= 16 {
            let a = first ^ self.seeds[0];
            let b = second ^ self.seeds[1] ^ ((word.len() as u64) << 56);
            let wide = u128::from(a) * u128::from(b);
            (wide as u64) ^ ((wide >> 64) as u64)
        } else {
            self.hasher.hash_one(word)
        };
        Probe {
            hash,
            first,
            second,
        }
    }

    /// [`Self::probe_word`] of the word `bytes[start..end]`. `bytes` should
    /// have 16 bytes from `start` (padding after the word's end will do):
    /// the head and tail are then two whole loads masked to the word's
    /// length, where [`head`] and [`tail`] branch on it.
    #[inline(always)]
    pub fn probe(&self, bytes: &[u8], start: usize, end: usize) -> Probe {
        let word = &bytes[start..end];
        let n = word.len();
        match bytes.get(start..start + 16) {
            Some(sixteen) if n <= 16 => {
                let load = |at: usize| {
                    u64::from_le_bytes(sixteen[at..at + 8].try_into().expect("8 bytes"))
                };
                let first = load(0) & low_bytes(n.min(8));
                let second = load(8) & low_bytes(n.saturating_sub(8));
                self.probe_of(word, first, second)
            }
            _ => self.probe_word(word),
        }
    }

    /// The id of `word`, whose [`Self::probe`] is `probe`, if it is in the
    /// vocabulary.
    #[inline(always)]
    pub fn get_probed(&self, probe: Probe, word: &[u8]) -> Option<u32> {
        self.find(probe, word).ok()
    }

    /// Starts loading the slot `hash` probes first, to look it up later
    /// without waiting on memory.
    #[inline(always)]
    pub fn prefetch(&self, hash: u64) {
        prefetch(&self.slots[hash as usize & self.mask]);
    }

    /// The id of `word`, whose probe is `probe`, or the empty slot where
    /// it would go. A word of up to 16 bytes is confirmed from its slot
    /// alone.
    #[inline(always)]
    fn find(&self, probe: Probe, word: &[u8]) -> Result<u32, usize> {
        let want = key(probe.hash, word);
        let mut slot = probe.hash as usize & self.mask;
        loop {
            let Slot {
                meta, head, tail, ..
            } = self.slots[slot];
            if meta == 0 {
                return Err(slot);
            }
            if meta & KEY == want && head == probe.first && tail == probe.second {
                let id = (meta as u32) - 1;
                if word.len() <= 16 || self.word(id) == word {
                    return Ok(id);
                }
            }
            slot = (slot + 1) & self.mask;
        }
    }

    #[inline(always)]
    fn word(&self, id: u32) -> &[u8] {
        let id = id as usize;
        let start = if id == 0 { 0 } else { self.ends[id - 1] };
        &self.arena[start..self.ends[id]]
    }
}

/// Asks the processor to start loading the cache line of `value` (a hint:
/// it never faults and changes nothing).
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    prefetch_ptr(value as *const T);
}

/// [`prefetch`] of an address (for memory that no reference may name,
/// such as training rows other threads write).
#[inline(always)]
pub fn prefetch_ptr<T>(at: *const T) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: a prefetch is a hint: it never faults, whatever the address,
    // and has no effect beyond the cache.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(at.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// The hash bits a slot keeps.
const TAG: u64 = 0xFFFF_FF00_0000_0000;
/// The bits [`key`] sets: the tag and the length.
const KEY: u64 = 0xFFFF_FFFF_0000_0000;

/// A slot's tag and length bits for `word` of hash `hash`.
#[inline(always)]
fn key(hash: u64, word: &[u8]) -> u64 {
    (hash & TAG) | ((word.len().min(255) as u64) << 32)
}

/// A slot of the table: `meta` is `[tag | length | id + 1]`, 24 bits of
/// the hash, the word's length (255 for 255 bytes or more) and its id;
/// `head` and `tail` are its bytes 0 to 8 and 8 to 16, zero-padded. A word
/// of up to 16 bytes (all but 1 in 6,500 known tokens of the PyPI titles)
/// is compared from its slot alone, without touching `arena`. A `meta` of
/// 0 is an empty slot. Two slots share a cache line.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(32))]
struct Slot {
    meta: u64,
    head: u64,
    tail: u64,
    _pad: u64,
}

/// What [`WordIndex::probe`] finds of a word.
#[derive(Debug, Clone, Copy, Default)]
pub struct Probe {
    pub hash: u64,
    first: u64,
    second: u64,
}

/// The mask of the low `n` bytes of a `u64`, `n` at most 8.
#[inline(always)]
fn low_bytes(n: usize) -> u64 {
    u64::MAX.checked_shr(64 - 8 * n as u32).unwrap_or(0)
}

/// Bytes 8 to 16 of `word`, zero-padded, as one number (0 for a word of
/// up to 8 bytes).
#[inline(always)]
fn tail(word: &[u8]) -> u64 {
    let n = word.len();
    match n {
        0..=8 => 0,
        9..=15 => u64::from_le_bytes(word[n - 8..].try_into().expect("8 bytes")) >> (8 * (16 - n)),
        _ => u64::from_le_bytes(word[8..16].try_into().expect("8 bytes")),
    }
}

/// The first 8 bytes of `word`, zero-padded, as one number. Built from
/// whole loads (two overlapping ones for 4 to 7 bytes), where copying a
/// variable number of bytes was a call to `memcpy` for every token looked
/// up (docs/benchmarks.md, "embed over every title").
#[inline(always)]
fn head(word: &[u8]) -> u64 {
    let n = word.len();
    if n >= 8 {
        return u64::from_le_bytes(word[..8].try_into().expect("8 bytes"));
    }
    if n >= 4 {
        let lo = u64::from(u32::from_le_bytes(word[..4].try_into().expect("4 bytes")));
        let hi = u64::from(u32::from_le_bytes(
            word[n - 4..].try_into().expect("4 bytes"),
        ));
        // The two loads overlap by 8 - n bytes, which hold the same bytes
        // in the same places.
        return lo | (hi << (8 * (n - 4)));
    }
    match n {
        0 => 0,
        _ => {
            let (a, b, c) = (word[0], word[n / 2], word[n - 1]);
            u64::from(a) | (u64::from(b) << (8 * (n / 2))) | (u64::from(c) << (8 * (n - 1)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_is_the_zero_padded_first_eight_bytes() {
        let text = b"abcdefghij\0\xff";
        for start in 0..text.len() {
            for end in start..=text.len() {
                let word = &text[start..end];
                let mut bytes = [0u8; 8];
                let n = word.len().min(8);
                bytes[..n].copy_from_slice(&word[..n]);
                assert_eq!(head(word), u64::from_le_bytes(bytes), "{word:?}");
            }
        }
    }

    /// Words that agree on their first 8 bytes, their length, or both, and
    /// words with NUL bytes (which the zero padding must not confuse).
    #[test]
    fn long_words_and_padding_are_told_apart() {
        let long = "a".repeat(300);
        let longer = "a".repeat(301);
        let words = [
            "abcdefgh",
            "abcdefghi",
            "abcdefghj",
            "abcdefghijkl",
            "abcdefghijklmnop",
            "abcdefghijklmnopq",
            "abc",
            "abc\0",
            "\0",
            &long,
            &longer,
        ];
        let index = WordIndex::new(words.iter().copied());
        for (i, w) in words.iter().enumerate() {
            assert_eq!(index.get(w), Some(i as u32), "{w:?}");
        }
        // A full hash collision: each probe below uses the hash of a word in
        // the index, so only the length, the head and the arena can refuse.
        let collide = |as_if: &str, word: &[u8]| {
            let probe = Probe {
                hash: index.hash(as_if.as_bytes()),
                ..index.probe_word(word)
            };
            index.get_probed(probe, word)
        };
        assert_eq!(collide("abc", b"abc"), Some(6));
        assert_eq!(collide("abc", b"abc\0"), None); // same head, longer
        // Past the head, words of 9 to 16 bytes are told apart by their
        // tail in the slot, longer ones whole in the arena.
        assert_eq!(collide("abcdefghijkl", b"abcdefghijkm"), None);
        assert_eq!(collide("abcdefghijkl", b"abcdefghXjkl"), None);
        assert_eq!(collide("abcdefghijklmnop", b"abcdefghijklmnoq"), None);
        assert_eq!(collide("abcdefghijklmnop", b"abcdefghiXklmnop"), None);
        assert_eq!(collide("abcdefghijklmnopq", b"abcdefghiXklmnopq"), None);
        assert_eq!(collide("abcdefghijklmnopq", b"abcdefghijklmnopq"), Some(5));
        assert_eq!(collide("abc", b"abd"), None); // same length, other head
        assert_eq!(collide("abcdefghi", b"abcdefghj"), None); // both agree; the arena refuses
        assert_eq!(collide(&long, "a".repeat(302).as_bytes()), None); // lengths past 255
        let other = "a".repeat(299) + "b";
        for miss in [
            "abcdefgi",
            "abcdefghk",
            "abc\0\0",
            "ab",
            "\0\0",
            "",
            other.as_str(),
        ] {
            assert_eq!(index.get(miss), None, "{miss:?}");
        }
    }

    #[test]
    fn finds_every_word_and_nothing_else() {
        let words: Vec<String> = (0..5000).map(|i| format!("w{i}")).collect();
        let index = WordIndex::new(words.iter().map(String::as_str));
        for (i, w) in words.iter().enumerate() {
            assert_eq!(index.get(w), Some(i as u32), "{w}");
        }
        for miss in ["", "w", "w5000", "W1", "w1 ", "x0"] {
            assert_eq!(index.get(miss), None, "{miss:?}");
        }
    }

    /// `probe` reads a word's head and tail with whole loads when 16 bytes
    /// follow its start and with `head` and `tail` when they do not; both
    /// must give the hash and the id that `hash` and `get` give.
    #[test]
    fn probes_agree_with_plain_lookups() {
        let words: Vec<String> = (0..40)
            .map(|n| {
                (0..n)
                    .map(|i| (b'a' + (i * 7 % 26) as u8) as char)
                    .collect()
            })
            .collect();
        let index = WordIndex::new(words.iter().map(String::as_str));
        for (i, w) in words.iter().enumerate() {
            // The word followed by other letters, then at the very end of
            // the buffer (no 16 bytes after its start), then one letter
            // short (the word before it) and one letter changed (unknown).
            let padded = format!("{w}xyzxyzxyzxyzxyzxyz");
            let mut changed = w.clone().into_bytes();
            if let Some(last) = changed.last_mut() {
                *last = b'Z';
            }
            let cases = [
                (padded.as_bytes(), w.len(), Some(i as u32)),
                (w.as_bytes(), w.len(), Some(i as u32)),
                (
                    padded.as_bytes(),
                    w.len().saturating_sub(1),
                    Some(i.saturating_sub(1) as u32),
                ),
                (
                    &changed[..],
                    w.len(),
                    if w.is_empty() { Some(0) } else { None },
                ),
            ];
            for (bytes, end, want) in cases {
                let probe = index.probe(bytes, 0, end);
                assert_eq!(probe.hash, index.hash(&bytes[..end]), "{w:?} {end}");
                assert_eq!(index.get_probed(probe, &bytes[..end]), want, "{w:?} {end}");
            }
        }
    }

    /// The short-word hash spreads words that differ in a few bytes (ids,
    /// numbers, versions) over the table: with it at most two thirds full,
    /// a lookup reads about two slots on average, not a long run.
    #[test]
    fn similar_words_spread_over_the_table() {
        let words: Vec<String> = (0..40_000)
            .map(|i| match i % 4 {
                0 => format!("{i}"),
                1 => format!("w{i}"),
                2 => format!("package-{i:07}"),
                _ => format!("v{}.{}.{}", i % 10, i / 10 % 100, i / 1000),
            })
            .collect();
        let index = WordIndex::new(words.iter().map(String::as_str));
        let mut probed = 0;
        for (i, w) in words.iter().enumerate() {
            let hash = index.hash(w.as_bytes());
            let mut slot = hash as usize & index.mask;
            probed += 1;
            while index.slots[slot].meta as u32 != i as u32 + 1 {
                slot = (slot + 1) & index.mask;
                probed += 1;
            }
        }
        let mean = probed as f64 / words.len() as f64;
        assert!(mean < 2.5, "{mean} slots read per lookup");
    }

    #[test]
    fn the_first_of_duplicates_wins_and_empty_words_index() {
        let index = WordIndex::new(["a", "", "b", "a", ""].into_iter());
        assert_eq!(index.get("a"), Some(0));
        assert_eq!(index.get(""), Some(1));
        assert_eq!(index.get("b"), Some(2));
        assert_eq!(index.get("c"), None);
        let empty = WordIndex::new(std::iter::empty());
        assert_eq!(empty.get("a"), None);
    }
}
