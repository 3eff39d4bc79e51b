//! Building a tagger `AS` a query of texts: one pass reads the texts into
//! token ids, assigns each to its cluster and counts words and adjacent
//! pairs; phrases are the adjacent pairs that occur together far more than
//! chance (normalised PMI, as gensim's `Phrases` scores them); a second
//! pass over the ids cuts each text into units and counts units, unit
//! pairs and units per cluster. A cluster's candidates are the units that
//! at least `min_support` of its texts hold (1% of a small cluster's).

use hashbrown::HashMap;

use super::associations::{Associations, BREAK, MAX_UNITS, Phrase, pair_key, unordered_key};
use super::{Candidate, Scratch, Tagger, TaggerOptions};
use crate::random::Rng;
use crate::vectors::normalize;

/// Texts read so far, as token ids with their clusters.
pub struct Learner<'a> {
    tagger: &'a Tagger,
    options: &'a TaggerOptions,
    /// Token ids of every text, `BREAK` for unknown tokens.
    seq: Vec<u32>,
    /// Per token of `seq`: does punctuation follow it (anything between
    /// two tokens but spaces, hyphens, slashes and apostrophes).
    pause: Vec<bool>,
    offsets: Vec<usize>,
    /// Each text's `nearest` nearest clusters, its own first (`u32::MAX`:
    /// no known word).
    near: Vec<u32>,
    nearest: usize,
    /// Texts holding each word.
    df: Vec<u32>,
    /// Adjacent word pairs: (texts holding them, times written with a hyphen).
    adjacent: HashMap<u64, (u32, u32)>,
    nulls: u64,
    samples: Vec<(usize, String)>,
    rng: Rng,
    // Scratch.
    out: Vec<u8>,
    buf: String,
    seen: Vec<u64>,
    hyphen: Vec<bool>,
    known: Vec<u32>,
    vector: Vec<f32>,
    dots: Vec<f32>,
}

/// What learning produced, and the texts as read, to evaluate the tagger on.
pub struct Learned {
    pub associations: Associations,
    pub lists: Vec<Vec<Candidate>>,
    /// NULL rows read (not texts).
    pub nulls: u64,
    pub texts: Texts,
}

/// The texts read, as token ids, with their nearest clusters and a
/// sample of them as written.
pub struct Texts {
    pub seq: Vec<u32>,
    pub offsets: Vec<usize>,
    /// Each text's `nearest` nearest clusters, its own first (`u32::MAX`:
    /// no known word).
    pub near: Vec<u32>,
    pub nearest: usize,
    /// (index of the text, the text).
    pub samples: Vec<(usize, String)>,
}

/// How many texts of the learned ones a tagger's summary shows.
pub const SAMPLES: usize = 20;

impl<'a> Learner<'a> {
    /// `tagger` is the tagger without associations: it knows the
    /// embedding and the clusters.
    pub fn new(tagger: &'a Tagger, options: &'a TaggerOptions) -> Self {
        Self {
            tagger,
            options,
            seq: Vec::new(),
            pause: Vec::new(),
            offsets: vec![0],
            near: Vec::new(),
            nearest: tagger.learned_nearest(options),
            df: vec![0; tagger.embedding.len()],
            adjacent: HashMap::new(),
            nulls: 0,
            samples: Vec::new(),
            rng: Rng::new(1),
            out: Vec::new(),
            buf: String::new(),
            seen: Vec::new(),
            hyphen: Vec::new(),
            known: Vec::new(),
            vector: Vec::new(),
            dots: Vec::new(),
        }
    }

    /// Bytes held, for the memory pool.
    pub fn memory(&self) -> usize {
        self.seq.capacity() * 4
            + self.pause.capacity()
            + self.offsets.capacity() * 8
            + self.near.capacity() * 4
            + self.adjacent.capacity() * 20
    }

    /// Reads one text (`None` for NULL).
    pub fn add(&mut self, text: Option<&str>) {
        let Some(text) = text else {
            self.nulls += 1;
            return;
        };
        // A uniform sample of the texts (reservoir sampling, seeded).
        let index = self.offsets.len() - 1;
        if self.samples.len() < SAMPLES {
            self.samples.push((index, text.to_string()));
        } else {
            let j = self.rng.below(index as u64 + 1) as usize;
            if j < SAMPLES {
                self.samples[j] = (index, text.to_string());
            }
        }
        let embedding = &self.tagger.embedding;
        let start = self.seq.len();
        self.out.clear();
        self.hyphen.clear();
        let (seq, hyphen, pause) = (&mut self.seq, &mut self.hyphen, &mut self.pause);
        let mut prev_end: Option<usize> = None;
        let soft = |c: char| c.is_whitespace() || matches!(c, '-' | '/' | '\'');
        // What lies between two tokens says whether a hyphen joined them
        // or punctuation parted them.
        embedding
            .tokenizer
            .cut_at(text, &mut self.out, &mut self.buf, |token, at, end| {
                let token = std::str::from_utf8(token).unwrap_or("");
                let between = prev_end.and_then(|p| text.get(p..at));
                hyphen.push(between == Some("-"));
                if let Some(between) = between {
                    let parted = !between.chars().all(soft);
                    *pause.last_mut().expect("a token came before") = parted;
                }
                prev_end = Some(end);
                pause.push(false);
                seq.push(embedding.lookup(token).unwrap_or(BREAK));
            });
        let ids = &self.seq[start..];
        self.seen.clear();
        for &id in ids {
            if id != BREAK && !self.seen.contains(&(id as u64)) {
                self.seen.push(id as u64);
                self.df[id as usize] += 1;
            }
        }
        self.seen.clear();
        for i in 1..ids.len() {
            let (a, b) = (ids[i - 1], ids[i]);
            if !(self.tagger.part(a) && self.tagger.part(b)) {
                continue;
            }
            let key = pair_key(a, b);
            let first = !self.seen.contains(&key);
            if first {
                self.seen.push(key);
            }
            let e = self.adjacent.entry(key).or_insert((0, 0));
            e.0 += first as u32;
            e.1 += (first && self.hyphen[i]) as u32;
        }
        self.known.clear();
        self.known
            .extend(ids.iter().copied().filter(|&i| i != BREAK));
        if self.known.is_empty() {
            self.near.resize(self.near.len() + self.nearest, u32::MAX);
        } else {
            let g = self.nearest;
            self.tagger.near_of(
                &self.known,
                g,
                &mut self.vector,
                &mut self.dots,
                &mut self.near,
            );
        }
        self.offsets.push(self.seq.len());
    }

    /// Finds the phrases, counts units and pairs, and makes the lists.
    pub fn finish(self) -> Learned {
        let texts = (self.offsets.len() - 1) as u64;
        let n = texts.max(1) as f64;
        let v = self.tagger.embedding.len() as u32;
        let (threshold, min_count) = (
            self.options.phrase_threshold as f64,
            self.options.phrase_min_count as u32,
        );
        // Normalised PMI of each adjacent pair: ln(p_ab / (p_a p_b)) / -ln(p_ab).
        let mut phrases: Vec<(u64, Phrase)> = self
            .adjacent
            .iter()
            .filter(|(_, (count, _))| *count >= min_count)
            .filter_map(|(&key, &(count, hyphens))| {
                let (a, b) = ((key >> 32) as u32, key as u32);
                let p_ab = count as f64 / n;
                let p_a = self.df[a as usize] as f64 / n;
                let p_b = self.df[b as usize] as f64 / n;
                let npmi = if p_ab >= 1.0 {
                    1.0
                } else {
                    (p_ab / (p_a * p_b)).ln() / -p_ab.ln()
                };
                (npmi > threshold).then_some((
                    key,
                    Phrase {
                        first: a,
                        second: b,
                        hyphen: hyphens * 2 > count,
                    },
                ))
            })
            .collect();
        phrases.sort_by_key(|(key, _)| *key);
        let phrases: Vec<Phrase> = phrases.into_iter().map(|(_, p)| p).collect();
        // Without counts yet: enough to cut texts into units.
        let associations = Associations::new(texts, v, phrases, Vec::new(), Vec::new(), Vec::new());
        let units = associations.units();
        let k = self.tagger.clusters.centroids.k;
        let mut df = vec![0u32; units];
        let mut ends = vec![0u32; units];
        let mut pairs: HashMap<u64, u32> = HashMap::new();
        let mut support: Vec<HashMap<u32, u32>> = vec![HashMap::new(); k];
        let mut cut = Vec::with_capacity(MAX_UNITS);
        for (t, &cluster) in self.near.iter().step_by(self.nearest).enumerate() {
            let (start, stop) = (self.offsets[t], self.offsets[t + 1]);
            let (seq, pause) = (&self.seq[start..stop], &self.pause[start..stop]);
            associations.cut_with(seq, &self.tagger.unit_ok, &mut cut, |unit, last| {
                let next = seq.get(last + 1);
                if pause[last] || next.is_none_or(|&w| w != BREAK && !self.tagger.part(w)) {
                    ends[unit as usize] += 1;
                }
            });
            for (i, &a) in cut.iter().enumerate() {
                df[a as usize] += 1;
                if let Some(s) = support.get_mut(cluster as usize)
                    && self.tagger.taggable(&associations, a)
                {
                    *s.entry(a).or_insert(0) += 1;
                }
                for &b in &cut[i + 1..] {
                    *pairs.entry(unordered_key(a, b)).or_insert(0) += 1;
                }
            }
        }
        // A pair seen once says little and would hold most of the memory.
        let pairs: Vec<(u64, u32)> = pairs.into_iter().filter(|&(_, c)| c >= 2).collect();
        let associations = Associations::new(texts, v, associations.phrases, df, ends, pairs);
        let mut sizes = vec![0usize; k];
        for &c in self.near.iter().step_by(self.nearest) {
            if let Some(n) = sizes.get_mut(c as usize) {
                *n += 1;
            }
        }
        let lists = support
            .into_iter()
            .enumerate()
            .map(|(j, s)| {
                // A small cluster needs fewer: 1% of its texts, if that is
                // less than `min_support` (at least 1).
                let need = self.options.min_support.min((sizes[j] / 100).max(1));
                let mut list: Vec<Candidate> = s
                    .into_iter()
                    .filter(|&(_, c)| c as usize >= need)
                    .map(|(unit, support)| Candidate {
                        unit,
                        similarity: self.similarity(&associations, unit, j),
                        support,
                    })
                    .collect();
                list.sort_by(|a, b| b.support.cmp(&a.support).then(a.unit.cmp(&b.unit)));
                list
            })
            .collect();
        let mut samples = self.samples;
        samples.sort_by_key(|(i, _)| *i);
        Learned {
            associations,
            lists,
            nulls: self.nulls,
            texts: Texts {
                seq: self.seq,
                offsets: self.offsets,
                near: self.near,
                nearest: self.nearest,
                samples,
            },
        }
    }

    /// Cosine similarity of a unit (a phrase: the mean of its words) to
    /// centre `j`, for display.
    fn similarity(&self, associations: &Associations, unit: u32, j: usize) -> f32 {
        let embedding = &self.tagger.embedding;
        let words = match unit.checked_sub(associations.vocabulary) {
            None => vec![unit],
            Some(p) => {
                let p = associations.phrases[p as usize];
                vec![p.first, p.second]
            }
        };
        let mut v = vec![0.0f32; embedding.dim];
        for w in words {
            for (o, x) in v.iter_mut().zip(embedding.vector(w)) {
                *o += x;
            }
        }
        let mut c = self.tagger.clusters.centroids.row(j).to_vec();
        if !normalize(&mut v) || !normalize(&mut c) {
            return 0.0;
        }
        v.iter().zip(&c).map(|(a, b)| a * b).sum()
    }
}

/// How a learned tagger tags the texts it learned from.
#[derive(Debug, Default)]
pub struct Evaluation {
    /// Texts read (not NULL) and those with at least one tag.
    pub texts: u64,
    /// NULL rows read.
    pub nulls: u64,
    pub tagged: u64,
    pub tags: u64,
    /// The commonest tags: (tag, texts), most first.
    pub top_tags: Vec<(String, u64)>,
    /// Per cluster: its texts and its commonest tags.
    pub clusters: Vec<(u64, Vec<(String, u64)>)>,
    /// Sample texts with their tags.
    pub samples: Vec<(String, Vec<String>)>,
}

/// The `n` commonest of `counts`, most first (ties by unit id).
fn commonest(counts: &HashMap<u32, u64>, n: usize, tagger: &Tagger) -> Vec<(String, u64)> {
    let mut all: Vec<(u32, u64)> = counts.iter().map(|(&u, &c)| (u, c)).collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    all.into_iter()
        .take(n)
        .map(|(u, c)| (tagger.unit_text(u).to_string(), c))
        .collect()
}

/// Tags every learned text with the finished `tagger`.
pub fn evaluate(tagger: &Tagger, texts: &Texts) -> Evaluation {
    let Some(a) = &tagger.associations else {
        return Evaluation::default();
    };
    let k = tagger.clusters.centroids.k;
    let mut overall: HashMap<u32, u64> = HashMap::new();
    let mut per: Vec<HashMap<u32, u64>> = vec![HashMap::new(); k];
    let mut sizes = vec![0u64; k];
    let mut e = Evaluation {
        texts: (texts.offsets.len() - 1) as u64,
        ..Default::default()
    };
    let (mut scratch, mut tags) = (Scratch::default(), Vec::new());
    let mut sample = texts.samples.iter().peekable();
    for (t, &cluster) in texts.near.iter().step_by(texts.nearest).enumerate() {
        tags.clear();
        if (cluster as usize) < k {
            let seq = &texts.seq[texts.offsets[t]..texts.offsets[t + 1]];
            let near = &texts.near[t * texts.nearest..(t + 1) * texts.nearest];
            tagger.tag_seq(a, seq, near, &mut scratch, &mut tags);
            sizes[cluster as usize] += 1;
            for &(_, u) in &tags {
                *overall.entry(u).or_insert(0) += 1;
                *per[cluster as usize].entry(u).or_insert(0) += 1;
            }
        }
        e.tagged += !tags.is_empty() as u64;
        e.tags += tags.len() as u64;
        if sample.peek().is_some_and(|(i, _)| *i == t) {
            let (_, text) = sample.next().expect("peeked");
            let words = tags.iter().map(|&(_, u)| tagger.unit_text(u).to_string());
            e.samples.push((text.clone(), words.collect()));
        }
    }
    e.top_tags = commonest(&overall, 20, tagger);
    e.clusters = per
        .iter()
        .zip(sizes)
        .map(|(counts, size)| (size, commonest(counts, 5, tagger)))
        .collect();
    e
}
