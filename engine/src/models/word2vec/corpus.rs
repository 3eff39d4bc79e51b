//! The training corpus, encoded once: every token as a 4-byte id, sentences
//! as offsets. Built in one streaming pass (ids are given in order of first
//! appearance while counting), then the vocabulary is cut at `min_count` /
//! `max_vocab`, sorted by descending count as gensim does, and the tokens are
//! renumbered in place. Counts are exact: nothing is pruned while scanning.

use datafusion::common::{DataFusionError, Result};
use hashbrown::HashMap;

use super::spill::{Spill, Tokens, memory_budget};
use crate::models::tokenizer::Tokenizer;

/// Sentences longer than this are cut into pieces, as gensim and word2vec
/// do (`MAX_WORDS_IN_BATCH`): a megabyte text must not become one window
/// scan of unbounded length per thread.
pub const MAX_SENTENCE: usize = 10_000;

/// Tokens held in memory between spills once the memory pool has refused
/// more (4 MiB).
pub const SPILL_STEP: usize = 1 << 20;

/// The corpus while it is being read.
pub struct CorpusBuilder {
    tokenizer: Tokenizer,
    ids: HashMap<String, u32>,
    words: Vec<String>,
    counts: Vec<u64>,
    /// The tokens not yet spilled.
    tokens: Vec<u32>,
    /// End offset (into the whole token sequence) of every sentence.
    ends: Vec<u64>,
    buf: String,
    /// Texts that were NULL or had no token.
    pub skipped: u64,
    /// Tokens held in memory before they go to the spill file.
    budget_tokens: usize,
    spill: Option<Spill>,
}

impl CorpusBuilder {
    /// A builder whose encoded corpus spills to disk past
    /// [`memory_budget`] bytes.
    pub fn new(tokenizer: Tokenizer) -> Self {
        Self::with_memory_budget(tokenizer, memory_budget())
    }

    pub fn with_memory_budget(tokenizer: Tokenizer, bytes: usize) -> Self {
        Self {
            tokenizer,
            ids: HashMap::new(),
            words: Vec::new(),
            counts: Vec::new(),
            tokens: Vec::new(),
            ends: Vec::new(),
            buf: String::new(),
            skipped: 0,
            budget_tokens: (bytes / 4).max(1),
            spill: None,
        }
    }

    /// Tokens read so far, spilled or not.
    fn total(&self) -> u64 {
        self.spill.as_ref().map_or(0, |s| s.tokens) + self.tokens.len() as u64
    }

    /// Whether part of the corpus went to disk.
    pub fn spilled(&self) -> bool {
        self.spill.is_some()
    }

    /// About how many bytes the builder holds in memory: the tokens not yet
    /// spilled, the sentence ends, and the vocabulary (its words are kept
    /// twice, as keys and in order, with their counts: about 80 bytes a
    /// word of a few letters).
    pub fn memory_bytes(&self) -> usize {
        self.tokens.capacity() * 4 + self.ends.capacity() * 8 + self.words.len() * 80
    }

    /// Spills the tokens read so far, and from now on keeps at most
    /// [`SPILL_STEP`] tokens in memory: for when the memory pool refuses
    /// more.
    pub fn spill_from_now_on(&mut self) -> Result<()> {
        self.budget_tokens = self.budget_tokens.min(SPILL_STEP);
        if !self.tokens.is_empty() {
            if self.spill.is_none() {
                self.spill = Some(Spill::new()?);
            }
            let spill = self.spill.as_mut().expect("just created");
            spill.write(&self.tokens)?;
            self.tokens = Vec::new();
        }
        Ok(())
    }

    /// Moves the in-memory tokens to the spill file once they pass the
    /// budget.
    fn maybe_spill(&mut self) -> Result<()> {
        if self.tokens.len() < self.budget_tokens {
            return Ok(());
        }
        if self.spill.is_none() {
            self.spill = Some(Spill::new()?);
        }
        let spill = self.spill.as_mut().expect("just created");
        spill.write(&self.tokens)?;
        self.tokens.clear();
        Ok(())
    }

    #[inline]
    fn push(
        ids: &mut HashMap<String, u32>,
        words: &mut Vec<String>,
        counts: &mut Vec<u64>,
        tokens: &mut Vec<u32>,
        token: &str,
    ) {
        let id = match ids.get(token) {
            Some(&id) => id,
            None => {
                let id = words.len() as u32;
                ids.insert(token.to_string(), id);
                words.push(token.to_string());
                counts.push(0);
                id
            }
        };
        counts[id as usize] += 1;
        tokens.push(id);
    }

    fn end_sentence(&mut self, start: u64) -> Result<()> {
        let total = self.total();
        if total == start {
            self.skipped += 1;
            return Ok(());
        }
        let mut at = start;
        while total - at > MAX_SENTENCE as u64 {
            at += MAX_SENTENCE as u64;
            self.ends.push(at);
        }
        self.ends.push(total);
        self.maybe_spill()
    }

    /// Adds one text, tokenized.
    pub fn add_text(&mut self, text: &str) -> Result<()> {
        let start = self.total();
        let Self {
            tokenizer,
            ids,
            words,
            counts,
            tokens,
            buf,
            ..
        } = self;
        tokenizer.for_each_token(text, buf, |t| Self::push(ids, words, counts, tokens, t));
        self.end_sentence(start)
    }

    /// Adds one sentence of tokens taken as they are (item ids, say).
    pub fn add_tokens<'a>(&mut self, sentence: impl Iterator<Item = &'a str>) -> Result<()> {
        let start = self.total();
        for t in sentence.filter(|t| !t.is_empty()) {
            Self::push(
                &mut self.ids,
                &mut self.words,
                &mut self.counts,
                &mut self.tokens,
                t,
            );
        }
        self.end_sentence(start)
    }

    /// A NULL input row.
    pub fn skip(&mut self) {
        self.skipped += 1;
    }

    /// Tokens read so far.
    pub fn len(&self) -> usize {
        self.total() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    /// Cuts the vocabulary and renumbers the corpus by descending count.
    pub fn finish(mut self, min_count: u64, max_vocab: Option<usize>) -> Result<Corpus> {
        let mut order: Vec<u32> = (0..self.words.len() as u32)
            .filter(|&i| self.counts[i as usize] >= min_count)
            .collect();
        // Descending count; ties keep first appearance, so the order is
        // deterministic for a given input order.
        order.sort_by(|&a, &b| {
            self.counts[b as usize]
                .cmp(&self.counts[a as usize])
                .then(a.cmp(&b))
        });
        if let Some(max) = max_vocab {
            order.truncate(max);
        }
        if order.is_empty() {
            let distinct = self.words.len();
            return Err(DataFusionError::Plan(if distinct == 0 {
                "word2vec: the input has no words (every text is NULL, empty or without letters \
                 and digits)"
                    .to_string()
            } else {
                let top = self.counts.iter().max().copied().unwrap_or(0);
                format!(
                    "word2vec: no word occurs at least min_count = {min_count} times ({distinct} \
                     distinct words, the most frequent occurs {top} times); use a lower min_count"
                )
            }));
        }
        const DROPPED: u32 = u32::MAX;
        let mut remap = vec![DROPPED; self.words.len()];
        for (new, &old) in order.iter().enumerate() {
            remap[old as usize] = new as u32;
        }
        let (tokens, ends) = match self.spill.take() {
            Some(mut spill) => {
                spill.write(&self.tokens)?;
                self.tokens = Vec::new();
                spill.renumber(&remap, &self.ends)?
            }
            None => {
                // Renumber in place, dropping cut words and keeping sentence
                // ends.
                let mut write = 0usize;
                let mut read = 0usize;
                let mut ends = Vec::with_capacity(self.ends.len());
                for &end in &self.ends {
                    let start_write = write;
                    while read < end as usize {
                        let id = remap[self.tokens[read] as usize];
                        if id != DROPPED {
                            self.tokens[write] = id;
                            write += 1;
                        }
                        read += 1;
                    }
                    if write > start_write {
                        ends.push(write as u64);
                    }
                }
                self.tokens.truncate(write);
                self.tokens.shrink_to_fit();
                (Tokens::Memory(std::mem::take(&mut self.tokens)), ends)
            }
        };
        let mut words = Vec::with_capacity(order.len());
        let mut counts = Vec::with_capacity(order.len());
        let mut old_words = std::mem::take(&mut self.words);
        for &old in &order {
            words.push(std::mem::take(&mut old_words[old as usize]));
            counts.push(self.counts[old as usize]);
        }
        Ok(Corpus {
            words,
            counts,
            tokens,
            ends,
            tokenizer: self.tokenizer,
        })
    }
}

/// The encoded corpus over its final vocabulary.
pub struct Corpus {
    /// The vocabulary, by descending count.
    pub words: Vec<String>,
    pub counts: Vec<u64>,
    /// In memory, or mapped from a spill file past the memory budget.
    pub tokens: Tokens,
    /// End offsets of sentences in `tokens`.
    pub ends: Vec<u64>,
    pub tokenizer: Tokenizer,
}

impl Corpus {
    /// Bytes of the corpus held in memory (a spilled corpus is mapped from
    /// its file, which the kernel pages in and out as it likes).
    pub fn tokens_bytes(&self) -> usize {
        let tokens = match &self.tokens {
            Tokens::Memory(t) => t.len() * 4,
            Tokens::Mapped(_) => 0,
        };
        tokens + self.ends.len() * 8 + self.words.len() * 40
    }

    /// The tokens of sentence `i`.
    pub fn sentence(&self, i: usize) -> &[u32] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.tokens[start..self.ends[i] as usize]
    }

    pub fn total_words(&self) -> u64 {
        self.tokens.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_sorts_and_renumbers() {
        let mut b = CorpusBuilder::new(Tokenizer::default());
        b.add_text("the cat sat on the mat").expect("add");
        b.skip();
        b.add_text("   ").expect("add");
        b.add_text("the dog sat").expect("add");
        b.add_text("rare").expect("add");
        let c = b.finish(2, None).expect("words left");
        assert_eq!(c.words, vec!["the", "sat"]);
        assert_eq!(c.counts, vec![3, 2]);
        assert_eq!(
            c.ends.len(),
            2,
            "'rare' leaves an empty sentence, which is dropped"
        );
        assert_eq!(c.sentence(0), &[0, 1, 0]);
        assert_eq!(c.sentence(1), &[0, 1]);
    }

    #[test]
    fn empty_vocabulary_says_why() {
        let mut b = CorpusBuilder::new(Tokenizer::default());
        b.add_text("a b c").expect("add");
        let err = b.finish(5, None).err().expect("nothing left").to_string();
        assert!(err.contains("use a lower min_count"), "{err}");
        let err = CorpusBuilder::new(Tokenizer::default())
            .finish(1, None)
            .err()
            .expect("nothing")
            .to_string();
        assert!(err.contains("the input has no words"), "{err}");
    }

    #[test]
    fn long_texts_are_cut_into_sentences() {
        let mut b = CorpusBuilder::new(Tokenizer::default());
        b.add_text(&"w ".repeat(MAX_SENTENCE * 2 + 5)).expect("add");
        let c = b.finish(1, Some(10)).expect("ok");
        assert_eq!(
            c.ends,
            vec![
                MAX_SENTENCE as u64,
                2 * MAX_SENTENCE as u64,
                2 * MAX_SENTENCE as u64 + 5
            ]
        );
    }

    /// A corpus spilled to disk (a budget of a few tokens) renumbers and
    /// reads back exactly as one kept in memory.
    #[test]
    fn spilled_corpus_equals_the_one_in_memory() {
        let texts: Vec<String> = (0..500)
            .map(|i| format!("w{} w{} x{} rare{i} w{}", i % 7, i % 13, i % 3, i % 5))
            .collect();
        let build = |budget: usize| {
            let mut b = CorpusBuilder::with_memory_budget(Tokenizer::default(), budget);
            for t in &texts {
                b.add_text(t).expect("add");
            }
            b.add_text(&"w1 ".repeat(MAX_SENTENCE + 3)).expect("add");
            let spilled = b.spilled();
            (spilled, b.finish(2, None).expect("corpus"))
        };
        let (kept, memory) = build(1 << 30);
        let (spilled, disk) = build(64);
        assert!(!kept && spilled);
        assert!(matches!(disk.tokens, Tokens::Mapped(_)));
        assert_eq!(memory.words, disk.words);
        assert_eq!(memory.counts, disk.counts);
        assert_eq!(memory.ends, disk.ends);
        assert_eq!(&memory.tokens[..], &disk.tokens[..]);
        assert_eq!(memory.total_words(), disk.total_words());
        assert_eq!(memory.sentence(3), disk.sentence(3));
    }
}
