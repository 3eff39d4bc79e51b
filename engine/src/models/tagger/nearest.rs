//! The tagger built from its models alone (no `AS` query): each cluster's
//! candidates are the vocabulary words nearest its centre, and a text's
//! tags are its words in its cluster's list, most similar to the centre
//! first. On real text few words of a title are among a centre's few
//! hundred nearest, so most titles get no tag; learning from the texts
//! (`AS SELECT title ...`) is the default the docs show.

use datafusion::common::{DataFusionError, Result, plan_err};
use ndarray::{ArrayView2, linalg::general_mat_mul};

use super::{Candidate, Stopwords};
use crate::models::kmeans::KMeans;
use crate::models::word2vec::Word2Vec;
use crate::vectors::normalize;

/// Per cluster, the candidate words (vocabulary ids) with their cosine
/// similarity to the centre, best first.
pub fn candidate_lists(
    embedding: &Word2Vec,
    clusters: &KMeans,
    n: usize,
    stopwords: Stopwords,
) -> Result<Vec<Vec<Candidate>>> {
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
            col.into_iter()
                .map(|(unit, similarity)| Candidate {
                    unit,
                    similarity,
                    support: 0,
                })
                .collect()
        })
        .collect())
}
