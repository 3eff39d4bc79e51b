//! A tagger's options, checked from `CREATE MODEL ... OPTIONS` and read
//! back from its manifest, and the words it never proposes as tags.

use std::collections::BTreeMap;

use datafusion::common::{DataFusionError, Result, plan_err};
use serde_json::{Value as Json, json};

use super::MAX_NEAREST;
use crate::models::options::OptionReader;
use crate::store::Manifest;

/// Checked tagger options: `embedding` and `clusters` (model names) are
/// required; `max_tags` 3, `stopwords` 'english' (or 'none'). Learned
/// from texts: `min_support` 3, `min_score` 0, `phrase_threshold` 0.5,
/// `phrase_min_count` 5, `spread_penalty` 1, `head_penalty` 1,
/// `nearest_clusters` 5. From the models alone: `candidates` 300,
/// `min_similarity` -1 (none).
#[derive(Debug, Clone, PartialEq)]
pub struct TaggerOptions {
    pub embedding: String,
    pub clusters: String,
    pub candidates: usize,
    pub max_tags: usize,
    pub min_similarity: f32,
    /// Words that are never tags: English function words ("for", "with"),
    /// units of measure and sizes ("inch", "ml", "size"), tokens made
    /// only of digits ("15", "2024") and versions ("v1"). They go with
    /// everything, and say nothing of what a product is.
    pub stopwords: Stopwords,
    /// A unit is a candidate of a cluster when at least this many of the
    /// cluster's texts hold it.
    pub min_support: usize,
    /// Tags after the first must score at least this (a mean PMI: 0 is a
    /// unit that goes with the text's other units no more than chance).
    pub min_score: f32,
    /// Adjacent words are a phrase when their normalised PMI passes this
    /// and they are adjacent in at least `phrase_min_count` texts.
    pub phrase_threshold: f32,
    pub phrase_min_count: usize,
    /// Taken from a tag's score per share of clusters it is a candidate
    /// of, in texts of three units or more: a word every cluster's texts
    /// hold ("data", "new", a colour) says little about any one text.
    pub spread_penalty: f32,
    /// Taken, when ordering a text's tags, from a unit that ends its
    /// phrase in fewer than [`HEAD_SHARE`](super::HEAD_SHARE) of the texts holding it, per
    /// share short: English puts what a thing is last ("Otterbox case",
    /// "crewneck t-shirt"), and the words before it describe it. It
    /// orders tags (and so decides which `max_tags` come first), but
    /// `min_score` is judged without it.
    pub head_penalty: f32,
    /// A text's tags are candidates of any of its this many nearest
    /// clusters: a word too rare in the text's own cluster ("fahrenheit"
    /// among Python modules) is often a candidate of the next.
    pub nearest_clusters: usize,
    /// How many texts the tagger learned from; `None` when it was built
    /// from its models alone.
    pub learned_from: Option<u64>,
}

/// Which words a tagger never proposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopwords {
    English,
    None,
}

/// English function words, as they come out of the tokenizer ("doesn't"
/// is "doesn" and "t"): NLTK's English list, the common choice, without its
/// single letters ("t", "s", "m"), which are never tags but are sizes and
/// start phrases ("t-shirt").
const ENGLISH_STOPWORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "ain",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "aren",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "couldn",
    "did",
    "didn",
    "do",
    "does",
    "doesn",
    "doing",
    "don",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "hadn",
    "has",
    "hasn",
    "have",
    "haven",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "isn",
    "it",
    "its",
    "itself",
    "just",
    "ll",
    "ma",
    "me",
    "mightn",
    "more",
    "most",
    "mustn",
    "my",
    "myself",
    "needn",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "re",
    "same",
    "shan",
    "she",
    "should",
    "shouldn",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "us",
    "ve",
    "very",
    "via",
    "was",
    "wasn",
    "we",
    "were",
    "weren",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "without",
    "won",
    "wouldn",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

/// Units of measure and size words: "12 inch", "Size M", "250 ml", "Pack
/// of 2" say how much of a thing, never what it is, and go with every
/// product of their kind.
const MEASURES: &[&str] = &[
    "cm", "count", "ct", "feet", "fl", "ft", "gal", "gallon", "gallons", "inch", "inches", "kg",
    "lb", "lbs", "litre", "liter", "liters", "litres", "mg", "ml", "mm", "oz", "pack", "pc", "pcs",
    "piece", "pieces", "qt", "size", "xl", "xs", "xxl", "xxxl", "yd",
];

impl Stopwords {
    pub fn name(self) -> &'static str {
        match self {
            Stopwords::English => "english",
            Stopwords::None => "none",
        }
    }

    /// Whether `word` (a token) is never a tag: a function word, a
    /// number or a unit of measure.
    pub fn excludes(self, word: &str) -> bool {
        self.is_function_word(word) || (self == Stopwords::English && MEASURES.contains(&word))
    }

    /// Whether `word` says nothing at all: a function word, a number or a
    /// version ("v1", "v2" of "v2.0"). A unit of measure is no tag, but
    /// says something of its text ("25 ft" goes with ladders), so a
    /// learned tagger keeps it as context.
    pub fn is_function_word(self, word: &str) -> bool {
        let digits = |w: &str| w.bytes().all(|b| b.is_ascii_digit());
        match self {
            Stopwords::None => false,
            Stopwords::English => {
                digits(word)
                    || word
                        .strip_prefix('v')
                        .is_some_and(|n| !n.is_empty() && digits(n))
                    || ENGLISH_STOPWORDS.contains(&word)
            }
        }
    }
}

impl TaggerOptions {
    pub fn from_options(options: &[(String, Json)]) -> Result<Self> {
        let mut r = OptionReader::new("tagger", options);
        let embedding = r.string("embedding")?;
        let clusters = r.string("clusters")?;
        let candidates = r.int("candidates", Some(300), 1, 1_000_000)?.unwrap_or(300) as usize;
        let max_tags = r.int("max_tags", Some(3), 1, 10_000)?.unwrap_or(3) as usize;
        let min_similarity = r.float("min_similarity", -1.0, -1.0, 1.0)? as f32;
        let stopwords = match r
            .choice("stopwords", "english", &["english", "none"])?
            .as_str()
        {
            "none" => Stopwords::None,
            _ => Stopwords::English,
        };
        let min_support = r.int("min_support", Some(3), 1, 1 << 31)?.unwrap_or(3) as usize;
        let min_score = r.float("min_score", 0.0, -100.0, 100.0)? as f32;
        let phrase_threshold = r.float("phrase_threshold", 0.5, 0.0, 1.0)? as f32;
        let phrase_min_count =
            r.int("phrase_min_count", Some(5), 1, 1 << 31)?.unwrap_or(5) as usize;
        let spread_penalty = r.float("spread_penalty", 1.0, 0.0, 100.0)? as f32;
        let head_penalty = r.float("head_penalty", 1.0, 0.0, 100.0)? as f32;
        let nearest_clusters = r
            .int("nearest_clusters", Some(5), 1, MAX_NEAREST as i64)?
            .unwrap_or(5) as usize;
        r.finish()?;
        let (Some(embedding), Some(clusters)) = (embedding, clusters) else {
            return plan_err!(
                "tagger: options 'embedding' (a word2vec model) and 'clusters' (a kmeans model) are required"
            );
        };
        Ok(Self {
            embedding: embedding.to_lowercase(),
            clusters: clusters.to_lowercase(),
            candidates,
            max_tags,
            min_similarity,
            stopwords,
            min_support,
            min_score,
            phrase_threshold,
            phrase_min_count,
            spread_penalty,
            head_penalty,
            nearest_clusters,
            learned_from: None,
        })
    }

    pub fn to_manifest(&self, dim: usize) -> BTreeMap<String, Json> {
        let mut m = BTreeMap::from([
            ("embedding".to_string(), json!(self.embedding)),
            ("clusters".to_string(), json!(self.clusters)),
            ("max_tags".to_string(), json!(self.max_tags)),
            ("stopwords".to_string(), json!(self.stopwords.name())),
            ("dim".to_string(), json!(dim)),
        ]);
        match self.learned_from {
            Some(texts) => m.extend([
                ("method".to_string(), json!("texts")),
                ("learned_from".to_string(), json!(texts)),
                ("min_support".to_string(), json!(self.min_support)),
                ("min_score".to_string(), json!(self.min_score as f64)),
                (
                    "phrase_threshold".to_string(),
                    json!(self.phrase_threshold as f64),
                ),
                ("phrase_min_count".to_string(), json!(self.phrase_min_count)),
                (
                    "spread_penalty".to_string(),
                    json!(self.spread_penalty as f64),
                ),
                ("head_penalty".to_string(), json!(self.head_penalty as f64)),
                ("nearest_clusters".to_string(), json!(self.nearest_clusters)),
            ]),
            None => m.extend([
                ("method".to_string(), json!("nearest")),
                ("candidates".to_string(), json!(self.candidates)),
                (
                    "min_similarity".to_string(),
                    json!(self.min_similarity as f64),
                ),
            ]),
        }
        m
    }

    /// Reads the options back from a tagger's manifest. Taggers made
    /// before learning from texts existed have no `method`: they are
    /// `nearest` taggers.
    pub fn from_manifest(m: &Manifest) -> Result<Self> {
        let s = |k: &str| {
            m.options
                .get(k)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let n = |k: &str| m.options.get(k).and_then(|v| v.as_f64());
        let (Some(embedding), Some(clusters), Some(max_tags)) =
            (s("embedding"), s("clusters"), n("max_tags"))
        else {
            return Err(DataFusionError::Execution(format!(
                "tagger '{}': its manifest lacks the tagger options",
                m.name
            )));
        };
        let learned_from = match s("method").as_deref() {
            Some("texts") => Some(n("learned_from").ok_or_else(|| {
                DataFusionError::Execution(format!(
                    "tagger '{}': its manifest does not say how many texts it learned from",
                    m.name
                ))
            })? as u64),
            _ => None,
        };
        Ok(Self {
            embedding,
            clusters,
            candidates: n("candidates").unwrap_or(300.0) as usize,
            max_tags: max_tags as usize,
            min_similarity: n("min_similarity").unwrap_or(-1.0) as f32,
            // Taggers built before the option existed kept every word.
            stopwords: match s("stopwords").as_deref() {
                Some("english") => Stopwords::English,
                _ => Stopwords::None,
            },
            min_support: n("min_support").unwrap_or(3.0) as usize,
            min_score: n("min_score").unwrap_or(0.0) as f32,
            phrase_threshold: n("phrase_threshold").unwrap_or(0.5) as f32,
            phrase_min_count: n("phrase_min_count").unwrap_or(5.0) as usize,
            spread_penalty: n("spread_penalty").unwrap_or(1.0) as f32,
            // Taggers made before it counted no ends to order by.
            head_penalty: n("head_penalty").unwrap_or(0.0) as f32,
            // Learned taggers made before the option tagged from the
            // text's own cluster only.
            nearest_clusters: (n("nearest_clusters").unwrap_or(1.0) as usize).clamp(1, MAX_NEAREST),
            learned_from,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_versions_say_nothing_measures_are_context() {
        let english = Stopwords::English;
        for word in ["for", "the", "2024", "15", "v1", "v2", "v10"] {
            assert!(english.is_function_word(word), "{word}");
            assert!(english.excludes(word), "{word}");
        }
        for word in ["v", "v2x", "vim", "2d", "v4l2", "ed25519", "pizza"] {
            assert!(!english.is_function_word(word), "{word}");
        }
        // A unit of measure is no tag, but context.
        assert!(english.excludes("ft") && !english.is_function_word("ft"));
        assert!(!Stopwords::None.excludes("v1") && !Stopwords::None.excludes("for"));
    }
}
