//! The blocked assignment kernel shared by training and `cluster_assign`:
//! the distances of a block of points to every centroid at once, as one
//! matrix product (`||x||² - 2 x·c + ||c||²`, or `1 - x·c` for unit
//! vectors), and per-block partial sums of the points of each cluster.
//!
//! A block's partial sums are the unit of work of a Lloyd step: blocks are
//! processed in parallel and their sums added, which is also how a step
//! distributes over partitions of a table.

use ndarray::{ArrayView2, ArrayViewMut2, linalg::general_mat_mul};

/// Points per block: the block's dot products with 100 centroids stay in
/// L2 cache.
pub const BLOCK: usize = 1024;

/// Centroids with their squared norms, ready for assignment.
#[derive(Debug, Clone)]
pub struct Centroids {
    pub k: usize,
    pub dim: usize,
    /// `k * dim`, row per centroid.
    pub values: Vec<f32>,
    pub norms: Vec<f32>,
    /// Distances are `1 - cos` (points and centroids are unit vectors).
    pub cosine: bool,
}

impl Centroids {
    pub fn new(values: Vec<f32>, dim: usize, cosine: bool) -> Self {
        let k = values.len() / dim.max(1);
        let norms = values
            .chunks(dim)
            .map(|c| c.iter().map(|x| x * x).sum())
            .collect();
        Self {
            k,
            dim,
            values,
            norms,
            cosine,
        }
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }

    /// The dot products of each of `n` points in `points` (row-major, `n *
    /// dim`) with every centroid, `n * k` in `dots` (one matrix product).
    pub fn dots_block<'a>(&self, points: &[f32], dots: &'a mut Vec<f32>) -> &'a [f32] {
        let n = points.len() / self.dim;
        dots.resize(n * self.k, 0.0);
        let x = ArrayView2::from_shape((n, self.dim), points).expect("points are n x dim");
        let c = ArrayView2::from_shape((self.k, self.dim), &self.values)
            .expect("centroids are k x dim");
        let mut d = ArrayViewMut2::from_shape((n, self.k), &mut dots[..n * self.k])
            .expect("dots are n x k");
        general_mat_mul(1.0, &x, &c.t(), 0.0, &mut d);
        &dots[..n * self.k]
    }

    /// For each of `n` points in `points` (row-major, `n * dim`): the nearest
    /// centroid and its distance in the model's metric (squared Euclidean or
    /// `1 - cos`). `dots` is scratch space of `BLOCK * k`.
    pub fn assign_block(&self, points: &[f32], out: &mut [(u32, f32)], dots: &mut Vec<f32>) {
        for (i, row) in self.dots_block(points, dots).chunks(self.k).enumerate() {
            let (mut best, mut best_score) = (0u32, f32::INFINITY);
            for (j, &dot) in row.iter().enumerate() {
                // The point's own norm is the same for every centroid.
                let score = if self.cosine {
                    -dot
                } else {
                    self.norms[j] - 2.0 * dot
                };
                if score < best_score {
                    best_score = score;
                    best = j as u32;
                }
            }
            let p = &points[i * self.dim..(i + 1) * self.dim];
            let dist = if self.cosine {
                1.0 - (-best_score)
            } else {
                let xx: f32 = p.iter().map(|v| v * v).sum();
                (xx + best_score).max(0.0)
            };
            out[i] = (best, dist);
        }
    }
}

/// Sums of the points of each cluster, their counts and the total distance:
/// one block's share of a Lloyd step, added up across blocks.
#[derive(Debug, Clone)]
pub struct Partial {
    pub sums: Vec<f64>,
    pub counts: Vec<u64>,
    pub inertia: f64,
}

impl Partial {
    pub fn new(k: usize, dim: usize) -> Self {
        Self {
            sums: vec![0.0; k * dim],
            counts: vec![0; k],
            inertia: 0.0,
        }
    }

    pub fn add(&mut self, points: &[f32], assigned: &[(u32, f32)], dim: usize) {
        for (p, &(c, d)) in points.chunks(dim).zip(assigned) {
            let c = c as usize;
            self.counts[c] += 1;
            self.inertia += d as f64;
            for (s, v) in self.sums[c * dim..(c + 1) * dim].iter_mut().zip(p) {
                *s += *v as f64;
            }
        }
    }

    pub fn merge(mut self, other: Partial) -> Partial {
        for (a, b) in self.sums.iter_mut().zip(other.sums) {
            *a += b;
        }
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
        self.inertia += other.inertia;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assigns_to_the_nearest_centroid() {
        let c = Centroids::new(vec![0.0, 0.0, 10.0, 10.0], 2, false);
        let points = [1.0, 1.0, 9.0, 8.0, 6.0, 6.0];
        let mut out = vec![(0, 0.0); 3];
        c.assign_block(&points, &mut out, &mut Vec::new());
        assert_eq!(out[0], (0, 2.0));
        assert_eq!(out[1], (1, 5.0));
        assert_eq!(out[2].0, 1);
        let mut partial = Partial::new(2, 2);
        partial.add(&points, &out, 2);
        assert_eq!(partial.counts, vec![1, 2]);
        assert_eq!(&partial.sums[2..], &[15.0, 14.0]);
        assert!((partial.inertia - (2.0 + 5.0 + 32.0)).abs() < 1e-4);
    }

    #[test]
    fn cosine_uses_the_angle() {
        let c = Centroids::new(vec![1.0, 0.0, 0.0, 1.0], 2, true);
        let mut out = vec![(0, 0.0); 1];
        c.assign_block(&[0.6, 0.8], &mut out, &mut Vec::new());
        assert_eq!(out[0].0, 1);
        assert!((out[0].1 - 0.2).abs() < 1e-6);
    }
}
