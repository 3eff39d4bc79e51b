//! Which clusters a text is nearest: a tagger's candidates come from its
//! text's nearest few (learned) or its own one (models alone). Finding
//! them is a fifth of tagging the PyPI summaries, so it sums precomputed
//! word-by-centroid rows rather than embedding each text, and chooses
//! the few best of the scores without a branch per score.

use ndarray::{ArrayView2, linalg::general_mat_mul};

use super::{Tagger, TaggerOptions};
use crate::models::kmeans::kernel::Centroids;
use crate::models::word2vec::Word2Vec;
use crate::vectors::normalize;

/// The largest word-by-centroid table a tagger precomputes (64 MiB).
pub const WORD_SCORES_MAX: usize = 16 << 20;

/// The most nearest clusters a text's tags may come from.
pub const MAX_NEAREST: usize = 16;

/// Every word's dot product with every centroid (`V x k`, one matrix
/// product), or `None` when the table would pass [`WORD_SCORES_MAX`].
pub(super) fn word_scores(embedding: &Word2Vec, centroids: &Centroids) -> Option<Vec<f32>> {
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

/// Appends to `out` the indices of the `g` largest of `scores` (`g` at
/// most [`MAX_NEAREST`] and at least 1), largest first, ties to the lower
/// index; NaN is never among them (index 0 fills places nothing can).
///
/// Keeping the `g` best in order while reading every score costs a
/// mispredicted branch for each score that enters (measured: 15% of
/// tagging the PyPI summaries, 100 clusters). So a first pass, without
/// branches, takes the largest score of each of 16 lanes: 16 distinct
/// scores, whose `g`-th largest is at most the `g`-th largest of all. Only
/// the scores that reach it (a few more than `g`) are then ranked (11%).
fn largest(scores: &[f32], g: usize, out: &mut Vec<u32>) {
    const LANES: usize = 16;
    let g = g.clamp(1, MAX_NEAREST);
    let mut bound = f32::NEG_INFINITY;
    if g <= LANES && scores.len() >= 2 * LANES {
        let mut lanes = [f32::NEG_INFINITY; LANES];
        for chunk in scores.chunks_exact(LANES) {
            for (m, &x) in lanes.iter_mut().zip(chunk) {
                *m = if x > *m { x } else { *m };
            }
        }
        // The `g`-th largest of the lanes (never NaN), by a network of
        // maxima and minima: no branches, no sort.
        let mut best = [f32::NEG_INFINITY; LANES];
        for mut x in lanes {
            for b in &mut best[..g] {
                let keep = if x > *b { x } else { *b };
                x = if x > *b { *b } else { x };
                *b = keep;
            }
        }
        bound = best[g - 1];
    }
    let mut top = [(f32::NEG_INFINITY, 0u32); MAX_NEAREST];
    let top = &mut top[..g];
    let mut rank = |j: usize| {
        let score = scores[j];
        if score > top[g - 1].0 {
            let mut at = g - 1;
            while at > 0 && score > top[at - 1].0 {
                top[at] = top[at - 1];
                at -= 1;
            }
            top[at] = (score, j as u32);
        }
    };
    // Which scores of each 16 reach the bound, as the bits of a mask:
    // compared 16 at a time, without branches.
    let chunks = scores.chunks_exact(LANES);
    let rest = chunks.remainder().len();
    for (c, chunk) in chunks.enumerate() {
        let chunk: &[f32; LANES] = chunk.try_into().expect("chunks of LANES");
        let mut mask = 0u32;
        for (i, &x) in chunk.iter().enumerate() {
            mask |= ((x >= bound) as u32) << i;
        }
        while mask != 0 {
            rank(c * LANES + mask.trailing_zeros() as usize);
            mask &= mask - 1;
        }
    }
    for j in scores.len() - rest..scores.len() {
        rank(j);
    }
    out.extend(top.iter().map(|&(_, j)| j));
}

impl Tagger {
    /// The `g` nearest clusters of a text of known word ids (at least
    /// one), as [`Self::tag_all`] finds them, nearest first, appended to
    /// `near`; `scratch` and `dots` are reused space.
    pub(super) fn near_of(
        &self,
        ids: &[u32],
        g: usize,
        scratch: &mut Vec<f32>,
        dots: &mut Vec<f32>,
        near: &mut Vec<u32>,
    ) {
        let centroids = &self.clusters.centroids;
        scratch.clear();
        if let Some(scores) = &self.word_scores {
            let k = centroids.k;
            scratch.resize(k, 0.0);
            for &id in ids {
                for (o, x) in scratch.iter_mut().zip(&scores[id as usize * k..][..k]) {
                    *o += x;
                }
            }
            self.best(scratch, 2.0 / ids.len() as f32, g, near);
            return;
        }
        scratch.resize(self.embedding.dim, 0.0);
        self.mean_vector(ids, scratch);
        let k = centroids.k;
        centroids.dots(scratch, dots);
        self.best(&mut dots[..k], 2.0, g, near);
    }

    /// Adds into `out` (zeros, `dim` long) the mean of the vectors of
    /// word ids `ids` (at least one), normalised for cosine clusters: the
    /// text's vector, as `embed` makes it.
    pub(super) fn mean_vector(&self, ids: &[u32], out: &mut [f32]) {
        for &id in ids {
            for (o, x) in out.iter_mut().zip(self.embedding.vector(id)) {
                *o += x;
            }
        }
        let inv = 1.0 / ids.len() as f32;
        out.iter_mut().for_each(|x| *x *= inv);
        if self.clusters.centroids.cosine {
            normalize(out);
        }
    }

    /// How many nearest clusters a text's tags come from: a tagger built
    /// from its models alone uses the text's own cluster only.
    pub(super) fn nearest_count(&self) -> usize {
        match self.associations {
            Some(_) => self.learned_nearest(&self.options),
            None => 1,
        }
    }

    /// How many nearest clusters a tagger learned with `options` uses.
    pub(super) fn learned_nearest(&self, options: &TaggerOptions) -> usize {
        let k = self.clusters.centroids.k.max(1);
        options.nearest_clusters.clamp(1, MAX_NEAREST).min(k)
    }

    /// Appends to `near` the `g` nearest clusters (at most
    /// [`MAX_NEAREST`], nearest first) of a text whose dot products with
    /// the centroids are `dots`, times `scale / 2` for a sum of words'
    /// rows of `word_scores`: for cosine the largest dot products (the
    /// text's own norm does not change the order), for Euclidean the
    /// smallest `||c||² - scale x·c` (`dots` then holds its negation).
    /// Ties go to the lower cluster.
    pub(super) fn best(&self, dots: &mut [f32], scale: f32, g: usize, near: &mut Vec<u32>) {
        let centroids = &self.clusters.centroids;
        if !centroids.cosine {
            for (d, n) in dots.iter_mut().zip(&centroids.norms) {
                *d = scale * *d - n;
            }
        }
        largest(dots, g, near);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::tests::tagger;
    use crate::models::kmeans::KMeans;
    use crate::models::kmeans::kernel::Centroids;
    use crate::random::Rng;

    /// The `g` best clusters come nearest first, as sorting every score
    /// gives them, for both metrics, any `g`, few clusters and many (past
    /// one chunk of ranked scores), and ties (to the lower cluster).
    #[test]
    fn best_finds_the_nearest_clusters_in_order() {
        let mut rng = Rng::new(4);
        for cosine in [true, false] {
            let mut t = tagger(cosine);
            for k in [5, 40, 150] {
                let values: Vec<f32> = (0..k * 8).map(|_| rng.unit() - 0.5).collect();
                t.clusters = Arc::new(KMeans {
                    centroids: Centroids::new(values, 8, cosine),
                    sizes: vec![1; k],
                });
                for g in [1, 3, 16] {
                    for round in 0..50 {
                        // Every other round, scores of few values: ties.
                        let levels = if round % 2 == 0 { 1e6 } else { 4.0 };
                        let dots: Vec<f32> = (0..k)
                            .map(|_| (rng.unit() * levels).floor() / levels - 0.5)
                            .collect();
                        let score = |j: usize| {
                            if cosine {
                                dots[j]
                            } else {
                                dots[j] - t.clusters.centroids.norms[j]
                            }
                        };
                        let mut want: Vec<u32> = (0..k as u32).collect();
                        want.sort_by(|&a, &b| score(b as usize).total_cmp(&score(a as usize)));
                        // Fewer clusters than `g`: the rest are cluster 0.
                        want.resize(want.len().max(g), 0);
                        let mut near = vec![99];
                        t.best(&mut dots.clone(), 1.0, g, &mut near);
                        assert_eq!(near[0], 99);
                        assert_eq!(&near[1..], &want[..g], "cosine {cosine} k {k} g {g}");
                    }
                }
            }
        }
    }
}
