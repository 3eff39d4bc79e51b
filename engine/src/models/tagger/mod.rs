//! The cluster tagger: for every k-means cluster of title vectors, the
//! vocabulary words nearest its centre, computed once; a title is tagged with
//! the words of its cluster's list that occur in it.
//!
//! Finding nearest words per title does not scale (a vocabulary scan per
//! row); per cluster it does (one matrix product of the vocabulary with the
//! centroids when the tagger is built). Payload: `candidates.parquet` with
//! columns `cluster_id, rank, word_id, word, similarity`.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float32Array, RecordBatch, StringArray, UInt32Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Float32Type, Schema, UInt32Type};
use datafusion::common::{DataFusionError, Result, plan_err};
use hashbrown::HashMap;
use ndarray::{ArrayView2, linalg::general_mat_mul};
use serde_json::{Value as Json, json};

use crate::models::kmeans::KMeans;
use crate::models::kmeans::kernel::{BLOCK, Centroids};
use crate::models::options::OptionReader;
use crate::models::word2vec::Word2Vec;
use crate::store::Manifest;
use crate::vectors::normalize;

mod create;
pub use create::TaggerType;

/// The file a tagger version keeps its candidate lists in.
pub const CANDIDATES_FILE: &str = "candidates.parquet";

/// Checked tagger options: `embedding` and `clusters` (model names) are
/// required; `candidates` 300, `max_tags` 5, `min_similarity` -1 (none),
/// `stopwords` 'english' (or 'none').
#[derive(Debug, Clone, PartialEq)]
pub struct TaggerOptions {
    pub embedding: String,
    pub clusters: String,
    pub candidates: usize,
    pub max_tags: usize,
    pub min_similarity: f32,
    /// Words that are never tags: English function words ("for", "with")
    /// and tokens made only of digits ("15", "2024"). They sit near every
    /// centre because they go with everything, and say nothing of what a
    /// product is.
    pub stopwords: Stopwords,
}

/// Which words a tagger never proposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopwords {
    English,
    None,
}

/// English function words, as they come out of the tokenizer.
const ENGLISH_STOPWORDS: &[&str] = &[
    "a", "about", "all", "also", "an", "and", "any", "are", "as", "at", "be", "but", "by", "can",
    "do", "for", "from", "has", "have", "in", "into", "is", "it", "its", "more", "my", "no", "not",
    "of", "on", "or", "our", "out", "so", "than", "that", "the", "their", "them", "then", "there",
    "these", "they", "this", "to", "up", "us", "was", "we", "when", "which", "will", "with",
    "without", "you", "your",
];

impl Stopwords {
    pub fn name(self) -> &'static str {
        match self {
            Stopwords::English => "english",
            Stopwords::None => "none",
        }
    }

    /// Whether `word` (a token) is never a tag.
    pub fn excludes(self, word: &str) -> bool {
        match self {
            Stopwords::None => false,
            Stopwords::English => {
                word.bytes().all(|b| b.is_ascii_digit()) || ENGLISH_STOPWORDS.contains(&word)
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
        let max_tags = r.int("max_tags", Some(5), 1, 10_000)?.unwrap_or(5) as usize;
        let min_similarity = r.float("min_similarity", -1.0, -1.0, 1.0)? as f32;
        let stopwords = match r
            .choice("stopwords", "english", &["english", "none"])?
            .as_str()
        {
            "none" => Stopwords::None,
            _ => Stopwords::English,
        };
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
        })
    }

    pub fn to_manifest(&self, dim: usize) -> BTreeMap<String, Json> {
        BTreeMap::from([
            ("embedding".to_string(), json!(self.embedding)),
            ("clusters".to_string(), json!(self.clusters)),
            ("candidates".to_string(), json!(self.candidates)),
            ("max_tags".to_string(), json!(self.max_tags)),
            (
                "min_similarity".to_string(),
                json!(self.min_similarity as f64),
            ),
            ("stopwords".to_string(), json!(self.stopwords.name())),
            ("dim".to_string(), json!(dim)),
        ])
    }

    /// Reads the options back from a tagger's manifest.
    pub fn from_manifest(m: &Manifest) -> Result<Self> {
        let s = |k: &str| {
            m.options
                .get(k)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let n = |k: &str| m.options.get(k).and_then(|v| v.as_f64());
        match (
            s("embedding"),
            s("clusters"),
            n("candidates"),
            n("max_tags"),
            n("min_similarity"),
        ) {
            (Some(embedding), Some(clusters), Some(c), Some(t), Some(ms)) => Ok(Self {
                embedding,
                clusters,
                candidates: c as usize,
                max_tags: t as usize,
                min_similarity: ms as f32,
                // Taggers built before the option existed kept every word.
                stopwords: match s("stopwords").as_deref() {
                    Some("english") => Stopwords::English,
                    _ => Stopwords::None,
                },
            }),
            _ => Err(DataFusionError::Execution(format!(
                "tagger '{}': its manifest lacks the tagger options",
                m.name
            ))),
        }
    }
}

/// Per cluster, the candidate words (vocabulary ids) with their cosine
/// similarity to the centre, best first.
pub fn candidate_lists(
    embedding: &Word2Vec,
    clusters: &KMeans,
    n: usize,
    stopwords: Stopwords,
) -> Result<Vec<Vec<(u32, f32)>>> {
    let dim = embedding.dim;
    if clusters.dim() != dim {
        return plan_err!(
            "tagger: the embedding has {dim} dimensions but the clusters have {}",
            clusters.dim()
        );
    }
    let k = clusters.centroids.k;
    let mut centres = clusters.centroids.values.clone();
    centres.chunks_mut(dim).for_each(|c| {
        normalize(c);
    });
    let units = embedding.unit_vectors();
    let v = embedding.len();
    // One product of the vocabulary with the centres: V x k similarities.
    let mut sims = ndarray::Array2::<f32>::zeros((v, k));
    let u = ArrayView2::from_shape((v, dim), units)
        .map_err(|e| DataFusionError::Internal(e.to_string()))?;
    let c = ArrayView2::from_shape((k, dim), &centres)
        .map_err(|e| DataFusionError::Internal(e.to_string()))?;
    general_mat_mul(1.0, &u, &c.t(), 0.0, &mut sims);
    let allowed: Vec<bool> = embedding
        .words
        .iter()
        .map(|w| !stopwords.excludes(w))
        .collect();
    let n = n.min(allowed.iter().filter(|a| **a).count());
    let by_score = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    Ok((0..k)
        .map(|j| {
            let mut col: Vec<(u32, f32)> = sims
                .column(j)
                .iter()
                .enumerate()
                .filter(|(i, _)| allowed[*i])
                .map(|(i, &s)| (i as u32, s))
                .collect();
            if n < col.len() {
                col.select_nth_unstable_by(n, by_score);
                col.truncate(n);
            }
            col.sort_by(by_score);
            col
        })
        .collect())
}

/// A loaded tagger: the pinned embedding and clusters and, per cluster, a
/// map from word id to similarity.
#[derive(Debug)]
pub struct Tagger {
    pub embedding: Arc<Word2Vec>,
    pub clusters: Arc<KMeans>,
    pub options: TaggerOptions,
    pub lists: Vec<Vec<(u32, f32)>>,
    lookup: Vec<HashMap<u32, f32>>,
    /// `V x k`: every word's dot product with every centroid, when that
    /// fits in [`WORD_SCORES_MAX`] floats. A title's vector is the mean of
    /// its words' vectors, so its dot products with the centroids are the
    /// means of its words' rows: summing `k` numbers per word replaces
    /// summing `dim` numbers per word and a `dim x k` product per title.
    word_scores: Option<Vec<f32>>,
}

/// The largest word-by-centroid table a tagger precomputes (64 MiB).
pub const WORD_SCORES_MAX: usize = 16 << 20;

/// One row's tags: (similarity, word id), best first.
pub type Tags = Vec<(f32, u32)>;

/// Every word's dot product with every centroid (`V x k`, one matrix
/// product), or `None` when the table would pass [`WORD_SCORES_MAX`].
fn word_scores(embedding: &Word2Vec, centroids: &Centroids) -> Option<Vec<f32>> {
    let (v, k, dim) = (embedding.len(), centroids.k, embedding.dim);
    if v.checked_mul(k)? > WORD_SCORES_MAX || centroids.dim != dim {
        return None;
    }
    let words = ArrayView2::from_shape((v, dim), &embedding.vectors).ok()?;
    let c = ArrayView2::from_shape((k, dim), &centroids.values).ok()?;
    let mut out = vec![0.0f32; v * k];
    let mut o = ndarray::ArrayViewMut2::from_shape((v, k), &mut out).ok()?;
    general_mat_mul(1.0, &words, &c.t(), 0.0, &mut o);
    Some(out)
}

impl Tagger {
    pub fn new(
        embedding: Arc<Word2Vec>,
        clusters: Arc<KMeans>,
        options: TaggerOptions,
        lists: Vec<Vec<(u32, f32)>>,
    ) -> Self {
        let lookup = lists.iter().map(|l| l.iter().copied().collect()).collect();
        let word_scores = word_scores(&embedding, &clusters.centroids);
        Self {
            embedding,
            clusters,
            options,
            lists,
            lookup,
            word_scores,
        }
    }

    /// The nearest cluster of the title whose words' rows of `word_scores`
    /// sum to `sums` (over `n` words): for cosine the largest dot product
    /// (the title's own norm does not change the order), for Euclidean the
    /// smallest `||c||² - 2 x·c`.
    fn nearest(&self, sums: &[f32], n: usize) -> u32 {
        let centroids = &self.clusters.centroids;
        let scale = 2.0 / n as f32;
        let (mut best, mut best_score) = (0u32, f32::NEG_INFINITY);
        for (j, &dot) in sums.iter().enumerate() {
            let score = if centroids.cosine {
                dot
            } else {
                scale * dot - centroids.norms[j]
            };
            if score > best_score {
                best_score = score;
                best = j as u32;
            }
        }
        best
    }

    /// Tags every text of `texts` (`None` for NULL), calling `emit` with each
    /// row's tags in order. Per block of rows: tokenize once into ids, embed,
    /// assign the block with one matrix product, then intersect each row's
    /// ids with its cluster's candidates.
    pub fn tag_all<'a>(
        &self,
        texts: impl Iterator<Item = Option<&'a str>>,
        mut emit: impl FnMut(Option<&Tags>),
    ) {
        let dim = self.embedding.dim;
        let cosine = self.clusters.centroids.cosine;
        let centroids: &Centroids = &self.clusters.centroids;
        let mut buf = String::new();
        let mut ids: Vec<u32> = Vec::new();
        let mut offsets: Vec<usize> = vec![0];
        let mut state: Vec<u8> = Vec::new(); // 0 NULL, 1 no known token, 2 embedded
        let mut block: Vec<f32> = Vec::new();
        let mut rows_in_block: Vec<usize> = Vec::new();
        let mut assigned = vec![(0u32, 0.0f32); BLOCK];
        let mut dots = Vec::new();
        let mut tags: Tags = Vec::new();
        let mut texts = texts.peekable();
        while texts.peek().is_some() {
            ids.clear();
            offsets.truncate(1);
            state.clear();
            block.clear();
            rows_in_block.clear();
            for text in texts.by_ref().take(BLOCK) {
                let row = state.len();
                match text {
                    None => state.push(0),
                    Some(t) => {
                        let start = ids.len();
                        self.embedding.tokenizer.for_each_token(t, &mut buf, |tok| {
                            if let Some(id) = self.embedding.lookup(tok) {
                                ids.push(id);
                            }
                        });
                        if ids.len() == start {
                            state.push(1);
                        } else if let Some(scores) = &self.word_scores {
                            let k = centroids.k;
                            let at = block.len();
                            block.resize(at + k, 0.0);
                            let v = &mut block[at..];
                            for &id in &ids[start..] {
                                let row = &scores[id as usize * k..(id as usize + 1) * k];
                                for (o, x) in v.iter_mut().zip(row) {
                                    *o += x;
                                }
                            }
                            let cluster = self.nearest(v, ids.len() - start);
                            block.truncate(at);
                            assigned[rows_in_block.len()].0 = cluster;
                            rows_in_block.push(row);
                            state.push(2);
                        } else {
                            let at = block.len();
                            block.resize(at + dim, 0.0);
                            let v = &mut block[at..];
                            for &id in &ids[start..] {
                                for (o, x) in v.iter_mut().zip(self.embedding.vector(id)) {
                                    *o += x;
                                }
                            }
                            let inv = 1.0 / (ids.len() - start) as f32;
                            v.iter_mut().for_each(|x| *x *= inv);
                            if cosine {
                                normalize(v);
                            }
                            rows_in_block.push(row);
                            state.push(2);
                        }
                    }
                }
                offsets.push(ids.len());
            }
            let m = rows_in_block.len();
            if m > 0 && self.word_scores.is_none() {
                centroids.assign_block(&block, &mut assigned[..m], &mut dots);
            }
            let mut next = 0;
            for row in 0..state.len() {
                match state[row] {
                    0 => emit(None),
                    1 => {
                        tags.clear();
                        emit(Some(&tags));
                    }
                    _ => {
                        let cluster = assigned[next].0 as usize;
                        next += 1;
                        tags.clear();
                        let candidates = &self.lookup[cluster];
                        for &id in &ids[offsets[row]..offsets[row + 1]] {
                            if let Some(&s) = candidates.get(&id)
                                && s >= self.options.min_similarity
                                && !tags.iter().any(|&(_, t)| t == id)
                            {
                                tags.push((s, id));
                            }
                        }
                        tags.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                        tags.truncate(self.options.max_tags);
                        emit(Some(&tags));
                    }
                }
            }
        }
    }

    /// The candidate lists as Parquet.
    pub fn lists_to_parquet(embedding: &Word2Vec, lists: &[Vec<(u32, f32)>]) -> Result<Vec<u8>> {
        let (mut cluster, mut rank, mut word_id, mut word, mut sim) =
            (vec![], vec![], vec![], vec![], vec![]);
        for (c, list) in lists.iter().enumerate() {
            for (r, &(id, s)) in list.iter().enumerate() {
                cluster.push(c as u32);
                rank.push(r as u32 + 1);
                word_id.push(id);
                word.push(embedding.words[id as usize].as_str());
                sim.push(s);
            }
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("cluster_id", DataType::UInt32, false),
            Field::new("rank", DataType::UInt32, false),
            Field::new("word_id", DataType::UInt32, false),
            Field::new("word", DataType::Utf8, false),
            Field::new("similarity", DataType::Float32, false),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(UInt32Array::from(cluster)) as ArrayRef,
                Arc::new(UInt32Array::from(rank)),
                Arc::new(UInt32Array::from(word_id)),
                Arc::new(StringArray::from(word)),
                Arc::new(Float32Array::from(sim)),
            ],
        )?;
        crate::store::objects::parquet_bytes(&batch)
    }

    /// Reads candidate lists written by [`Self::lists_to_parquet`].
    pub fn lists_from_parquet(
        bytes: bytes::Bytes,
        k: usize,
        vocabulary: usize,
        file: &str,
    ) -> Result<Vec<Vec<(u32, f32)>>> {
        let bad =
            |why: String| DataFusionError::Execution(format!("tagger model file {file}: {why}"));
        let batches =
            crate::store::objects::parquet_batches(bytes).map_err(|e| bad(e.to_string()))?;
        let mut lists = vec![Vec::new(); k];
        for batch in batches {
            let col = |name: &str| {
                batch
                    .column_by_name(name)
                    .cloned()
                    .ok_or_else(|| bad(format!("no column {name}")))
            };
            let (c, id, s) = (col("cluster_id")?, col("word_id")?, col("similarity")?);
            let (Some(c), Some(id), Some(s)) = (
                c.as_primitive_opt::<UInt32Type>(),
                id.as_primitive_opt::<UInt32Type>(),
                s.as_primitive_opt::<Float32Type>(),
            ) else {
                return Err(bad(
                    "columns cluster_id, word_id, similarity have the wrong types".into(),
                ));
            };
            for i in 0..batch.num_rows() {
                let (c, id) = (c.value(i) as usize, id.value(i));
                if c >= k || id as usize >= vocabulary {
                    return Err(bad(format!(
                        "row {i} names cluster {c} or word {id}, beyond the models"
                    )));
                }
                lists[c].push((id, s.value(i)));
            }
        }
        Ok(lists)
    }
}

/// Checks an array is text, for `tag` and `tag_scores`.
pub fn text_rows(array: &ArrayRef) -> Result<Box<dyn Iterator<Item = Option<&str>> + '_>> {
    Ok(match array.data_type() {
        DataType::Utf8 => Box::new(array.as_string::<i32>().iter()),
        DataType::LargeUtf8 => Box::new(array.as_string::<i64>().iter()),
        DataType::Utf8View => Box::new(array.as_string_view().iter()),
        DataType::Null => Box::new((0..array.len()).map(|_| None)),
        other => {
            return Err(DataFusionError::Execution(format!(
                "tag: expected text, got {other}"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::tokenizer::Tokenizer;
    use crate::random::Rng;

    fn tagger(cosine: bool) -> Tagger {
        let (v, dim, k) = (60, 8, 5);
        let mut rng = Rng::new(3);
        let words: Vec<String> = (0..v).map(|i| format!("w{i}")).collect();
        let vectors: Vec<f32> = (0..v * dim).map(|_| rng.unit() - 0.5).collect();
        let embedding =
            Word2Vec::new(words, vec![5; v], vectors, dim, Tokenizer::default()).expect("model");
        let mut values: Vec<f32> = (0..k * dim).map(|_| rng.unit() - 0.5).collect();
        if cosine {
            values.chunks_mut(dim).for_each(|c| {
                normalize(c);
            });
        }
        let clusters = KMeans {
            centroids: Centroids::new(values, dim, cosine),
            sizes: vec![1; k],
        };
        let options = TaggerOptions {
            embedding: "e".into(),
            clusters: "c".into(),
            candidates: 20,
            max_tags: 3,
            min_similarity: -1.0,
            stopwords: Stopwords::English,
        };
        let lists = candidate_lists(&embedding, &clusters, 20, Stopwords::English).expect("lists");
        Tagger::new(Arc::new(embedding), Arc::new(clusters), options, lists)
    }

    fn tag_texts(t: &Tagger, texts: &[Option<String>]) -> Vec<Option<Tags>> {
        let mut out = Vec::new();
        t.tag_all(texts.iter().map(|s| s.as_deref()), |tags| {
            out.push(tags.cloned())
        });
        out
    }

    /// Assigning by summed word-centroid scores gives the clusters that
    /// embedding each title and assigning its vector gives.
    #[test]
    fn word_scores_assign_as_the_embedded_title_does() {
        let mut rng = Rng::new(9);
        let texts: Vec<Option<String>> = (0..3000)
            .map(|i| match i % 50 {
                0 => None,
                1 => Some("nothing known".to_string()),
                _ => Some(
                    (0..1 + rng.below(6))
                        .map(|_| format!("w{}", rng.below(70)))
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
            })
            .collect();
        for cosine in [true, false] {
            let fast = tagger(cosine);
            assert!(fast.word_scores.is_some());
            let mut slow = tagger(cosine);
            slow.word_scores = None;
            let (a, b) = (tag_texts(&fast, &texts), tag_texts(&slow, &texts));
            assert_eq!(a.len(), texts.len());
            assert!(a.iter().any(|t| t.as_ref().is_some_and(|t| !t.is_empty())));
            assert_eq!(a, b, "cosine = {cosine}");
        }
    }
}
