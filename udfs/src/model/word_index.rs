//! The word-to-id index of a vocabulary, laid out for lookups in a hot loop
//! (`embed` and `tag` look up every token of every row).
//!
//! A general `HashMap<String, u32>` keeps 32-byte buckets and each key in
//! its own heap allocation, so a lookup touches two cold cache lines before
//! it can compare. Here a slot is 16 bytes (24 bits of the hash, the
//! length, the id and the word's first 8 bytes), so most words are
//! confirmed from the slot alone; the table is at most half full, and the
//! words sit end to end in id order, which is descending frequency.
//! Linear probing; no deletion (a model's vocabulary is fixed).

use std::hash::BuildHasher;

use hashbrown::DefaultHashBuilder;

#[derive(Debug, Clone)]
pub struct WordIndex {
    /// `[tag | length | id + 1, head]`: 24 bits of the hash, the word's
    /// length (255 for 255 bytes or more) and its id, then its first 8
    /// bytes, zero-padded. A word of up to 8 bytes is compared from its
    /// slot alone, without touching `arena`. `[0, _]` is an empty slot.
    slots: Vec<[u64; 2]>,
    mask: usize,
    /// Where each id's word ends in `arena` (it starts where the previous
    /// one ends).
    ends: Vec<usize>,
    arena: Vec<u8>,
    hasher: DefaultHashBuilder,
}

impl WordIndex {
    /// Indexes `words` by position. Of duplicate words the first keeps its
    /// id (as gensim's loader does); later ones cannot be looked up.
    pub fn new<'a>(words: impl ExactSizeIterator<Item = &'a str>) -> Self {
        let capacity = (words.len() * 2).max(16).next_power_of_two();
        let mut index = Self {
            slots: vec![[0, 0]; capacity],
            mask: capacity - 1,
            ends: Vec::with_capacity(words.len()),
            arena: Vec::new(),
            hasher: DefaultHashBuilder::default(),
        };
        for (id, word) in words.enumerate() {
            let word = word.as_bytes();
            let hash = index.hash(word);
            if let Err(slot) = index.find(hash, word) {
                index.slots[slot] = [key(hash, word) | (id as u64 + 1), head(word)];
            }
            index.arena.extend_from_slice(word);
            index.ends.push(index.arena.len());
        }
        index
    }

    /// The id of `word`, if it is in the vocabulary.
    #[inline]
    pub fn get(&self, word: &str) -> Option<u32> {
        self.get_hashed(self.hash(word.as_bytes()), word.as_bytes())
    }

    /// The hash [`Self::get_hashed`] and [`Self::prefetch`] take.
    #[inline(always)]
    pub fn hash(&self, word: &[u8]) -> u64 {
        self.hasher.hash_one(word)
    }

    /// Starts loading the slot `hash` probes first, to look it up later
    /// without waiting on memory.
    #[inline(always)]
    pub fn prefetch(&self, hash: u64) {
        prefetch(&self.slots[hash as usize & self.mask]);
    }

    /// [`Self::get`] of a word whose [`Self::hash`] is known.
    #[inline(always)]
    pub fn get_hashed(&self, hash: u64, word: &[u8]) -> Option<u32> {
        self.find(hash, word).ok()
    }

    /// The id of `word`, or the empty slot where it would go.
    #[inline(always)]
    fn find(&self, hash: u64, word: &[u8]) -> Result<u32, usize> {
        let (want, first) = (key(hash, word), head(word));
        let mut slot = hash as usize & self.mask;
        loop {
            let [s, h] = self.slots[slot];
            if s == 0 {
                return Err(slot);
            }
            if s & KEY == want && h == first {
                let id = (s as u32) - 1;
                if word.len() <= 8 || same_after_head(self.word(id), word) {
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
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: a prefetch of a valid reference's address has no effect
    // beyond the cache.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
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

/// Whether `stored` and `word`, whose lengths (below 255) and first 8
/// bytes are known to match, are the same: words of up to 16 bytes by
/// their last 8 (one load each, no call to `memcmp`), longer ones whole.
#[inline(always)]
fn same_after_head(stored: &[u8], word: &[u8]) -> bool {
    let n = word.len();
    if (9..=16).contains(&n) && stored.len() == n {
        let last = |w: &[u8]| u64::from_le_bytes(w[n - 8..].try_into().expect("8 bytes"));
        return last(stored) == last(word);
    }
    stored == word
}

/// The first 8 bytes of `word`, zero-padded, as one number. Built from
/// whole loads (two overlapping ones for 4 to 7 bytes), where copying a
/// variable number of bytes was a call to `memcpy` for every token looked
/// up: 4% of `embed`'s time.
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
        let collide =
            |as_if: &str, word: &[u8]| index.get_hashed(index.hash(as_if.as_bytes()), word);
        assert_eq!(collide("abc", b"abc"), Some(6));
        assert_eq!(collide("abc", b"abc\0"), None); // same head, longer
        // Past the head, words of 9 to 16 bytes are told apart by their
        // last 8 bytes, longer ones whole.
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
