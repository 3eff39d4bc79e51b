//! The word-to-id index of a vocabulary, laid out for lookups in a hot loop
//! (`embed` and `tag` look up every token of every row).
//!
//! A general `HashMap<String, u32>` keeps 32-byte buckets and each key in
//! its own heap allocation, so a lookup touches two cold cache lines before
//! it can compare. Here a slot is 8 bytes (32 bits of the hash and the id),
//! the table is at most half full, and the words sit end to end in id order,
//! which is descending frequency: the words most text hits share a few
//! cache lines. Linear probing; no deletion (a model's vocabulary is fixed).

use std::hash::BuildHasher;

use hashbrown::DefaultHashBuilder;

#[derive(Debug, Clone)]
pub struct WordIndex {
    /// `(hash >> 32) << 32 | (id + 1)`; 0 is an empty slot.
    slots: Vec<u64>,
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
            slots: vec![0; capacity],
            mask: capacity - 1,
            ends: Vec::with_capacity(words.len()),
            arena: Vec::new(),
            hasher: DefaultHashBuilder::default(),
        };
        for (id, word) in words.enumerate() {
            index.arena.extend_from_slice(word.as_bytes());
            index.ends.push(index.arena.len());
            let hash = index.hash(word);
            let (tag, mut slot) = (hash & TAG, hash as usize & index.mask);
            loop {
                let s = index.slots[slot];
                if s == 0 {
                    index.slots[slot] = tag | (id as u64 + 1);
                    break;
                }
                if s & TAG == tag && index.word((s as u32) - 1) == word.as_bytes() {
                    break;
                }
                slot = (slot + 1) & index.mask;
            }
        }
        index
    }

    /// The id of `word`, if it is in the vocabulary.
    #[inline]
    pub fn get(&self, word: &str) -> Option<u32> {
        self.get_hashed(self.hash(word), word.as_bytes())
    }

    /// The hash [`Self::get_hashed`] and [`Self::prefetch`] take.
    #[inline(always)]
    pub fn hash(&self, word: &str) -> u64 {
        self.hasher.hash_one(word)
    }

    /// Starts loading the slot `hash` probes first, to look it up later
    /// without waiting on memory.
    #[inline(always)]
    pub fn prefetch(&self, hash: u64) {
        prefetch(&self.slots[hash as usize & self.mask]);
    }

    /// [`Self::get`] of a word whose [`Self::hash`] is known.
    #[inline]
    pub fn get_hashed(&self, hash: u64, word: &[u8]) -> Option<u32> {
        let tag = hash & TAG;
        let mut slot = hash as usize & self.mask;
        loop {
            let s = self.slots[slot];
            if s == 0 {
                return None;
            }
            if s & TAG == tag {
                let id = (s as u32) - 1;
                if self.word(id) == word {
                    return Some(id);
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
const TAG: u64 = 0xFFFF_FFFF_0000_0000;

#[cfg(test)]
mod tests {
    use super::*;

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
