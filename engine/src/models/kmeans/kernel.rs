//! The blocked assignment kernel shared by training and `cluster_assign`:
//! the distances of a block of points to every centroid at once, as one
//! matrix product (`||x||² - 2 x·c + ||c||²`, or `1 - x·c` for unit
//! vectors), and per-block partial sums of the points of each cluster.
//!
//! A block's partial sums are the unit of work of a Lloyd step: blocks are
//! processed in parallel and their sums added, which is also how a step
//! distributes over partitions of a table.
//!
//! On x86-64 with AVX-512, assignment does not go through a general
//! matrix product. The centroids are kept transposed and padded to
//! whole registers, the dot products of a few points with up to 112
//! centroids are accumulated in registers, and the nearest centroid is
//! picked from them: no packing of each block and no `n x k` matrix
//! written and read back. The answer is the one the general path gives
//! (the first of equal scores), up to the rounding of the dot products.

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
    /// The centroids transposed for the fused kernel: `dim` rows of `kp`
    /// floats (`k` rounded up to 16), zero past `k`.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    packed: Vec<f32>,
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    kp: usize,
    /// Each column's constant term in its score (`||c||²` for Euclidean,
    /// 0 for cosine; infinite for the padding, which never wins).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    bias: Vec<f32>,
}

impl Centroids {
    pub fn new(values: Vec<f32>, dim: usize, cosine: bool) -> Self {
        let k = values.len() / dim.max(1);
        let norms: Vec<f32> = values
            .chunks(dim)
            .map(|c| c.iter().map(|x| x * x).sum())
            .collect();
        let kp = k.div_ceil(LANES) * LANES;
        let mut packed = vec![0.0f32; dim * kp];
        for (j, c) in values.chunks(dim.max(1)).enumerate() {
            for (d, &v) in c.iter().enumerate() {
                packed[d * kp + j] = v;
            }
        }
        let bias = (0..kp)
            .map(|j| match norms.get(j) {
                Some(_) if cosine => 0.0,
                Some(&n) => n,
                None => f32::INFINITY,
            })
            .collect();
        Self {
            k,
            dim,
            values,
            norms,
            cosine,
            packed,
            kp,
            bias,
        }
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }

    /// The dot products of each of `n` points in `points` (row-major, `n *
    /// dim`) with every centroid, `n * k` in `dots` (one matrix product).
    fn dots_block<'a>(&self, points: &[f32], dots: &'a mut Vec<f32>) -> &'a [f32] {
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

    /// The dot products of each of `n` points in `points` (row-major, `n *
    /// dim`) with every centroid, `n * k` in `dots`: through the fused
    /// kernel's registers where the processor has AVX-512 and one tile
    /// holds every centroid (`k` up to 112), without packing the points;
    /// otherwise one matrix product. The two agree up to rounding.
    pub fn dots<'a>(&self, points: &[f32], dots: &'a mut Vec<f32>) -> &'a [f32] {
        #[cfg(target_arch = "x86_64")]
        if self.dim > 0 && self.k > 0 && self.kp <= TILE && crate::simd::avx512f() {
            let n = points.len() / self.dim;
            dots.resize(n * self.k, 0.0);
            #[allow(unsafe_code)]
            // SAFETY: the processor supports AVX-512F, checked just above.
            unsafe {
                self.dots_avx512(&points[..n * self.dim], &mut dots[..n * self.k])
            };
            return &dots[..n * self.k];
        }
        self.dots_block(points, dots)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn dots_avx512(&self, points: &[f32], out: &mut [f32]) {
        let (dim, k) = (self.dim, self.k);
        let n = points.len() / dim;
        let whole = n / 3 * 3;
        for (pts, out) in points[..whole * dim]
            .chunks_exact(3 * dim)
            .zip(out[..whole * k].chunks_exact_mut(3 * k))
        {
            self.dots_of::<3>(pts, out);
        }
        for (pt, out) in points[whole * dim..]
            .chunks_exact(dim)
            .zip(out[whole * k..].chunks_exact_mut(k))
        {
            self.dots_of::<1>(pt, out);
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn dots_of<const P: usize>(&self, pts: &[f32], out: &mut [f32]) {
        match self.kp / LANES {
            1 => avx512::dots::<P, 1>(self, pts, out),
            2 => avx512::dots::<P, 2>(self, pts, out),
            3 => avx512::dots::<P, 3>(self, pts, out),
            4 => avx512::dots::<P, 4>(self, pts, out),
            5 => avx512::dots::<P, 5>(self, pts, out),
            6 => avx512::dots::<P, 6>(self, pts, out),
            _ => avx512::dots::<P, 7>(self, pts, out),
        }
    }

    /// For each of `n` points in `points` (row-major, `n * dim`): the nearest
    /// centroid and its distance in the model's metric (squared Euclidean or
    /// `1 - cos`). `dots` is scratch space of `BLOCK * k`.
    pub fn assign_block(&self, points: &[f32], out: &mut [(u32, f32)], dots: &mut Vec<f32>) {
        #[cfg(target_arch = "x86_64")]
        if self.dim > 0 && crate::simd::avx512f() {
            #[allow(unsafe_code)]
            // SAFETY: the processor supports AVX-512F, checked just above.
            unsafe {
                self.assign_avx512(points, out)
            };
            return;
        }
        self.assign_general(points, out, dots);
    }

    /// [`Self::assign_block`] through a general matrix product.
    fn assign_general(&self, points: &[f32], out: &mut [(u32, f32)], dots: &mut Vec<f32>) {
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

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn assign_avx512(&self, points: &[f32], out: &mut [(u32, f32)]) {
        let dim = self.dim;
        let n = (points.len() / dim).min(out.len());
        // 3 points x 7 registers of 16 accumulators, 7 of the centroids'
        // values and a broadcast: 29 of the 32 registers.
        let whole = n / 3 * 3;
        for (pts, out) in points[..whole * dim]
            .chunks_exact(3 * dim)
            .zip(out[..whole].chunks_exact_mut(3))
        {
            self.nearest::<3>(pts, out);
        }
        for (pt, out) in points[whole * dim..n * dim]
            .chunks_exact(dim)
            .zip(out[whole..n].chunks_exact_mut(1))
        {
            self.nearest::<1>(pt, out);
        }
    }

    /// The nearest centroids of `P` points (`P * dim` floats): every tile
    /// of up to 112 centroids in turn.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn nearest<const P: usize>(&self, pts: &[f32], out: &mut [(u32, f32)]) {
        let mut best = [(f32::INFINITY, 0u32); P];
        let mut j0 = 0;
        while j0 < self.kp {
            match (self.kp - j0) / LANES {
                1 => avx512::tile::<P, 1>(self, pts, j0, &mut best),
                2 => avx512::tile::<P, 2>(self, pts, j0, &mut best),
                3 => avx512::tile::<P, 3>(self, pts, j0, &mut best),
                4 => avx512::tile::<P, 4>(self, pts, j0, &mut best),
                5 => avx512::tile::<P, 5>(self, pts, j0, &mut best),
                6 => avx512::tile::<P, 6>(self, pts, j0, &mut best),
                _ => avx512::tile::<P, 7>(self, pts, j0, &mut best),
            }
            j0 += TILE.min(self.kp - j0);
        }
        for ((p, o), (score, j)) in pts.chunks_exact(self.dim).zip(out).zip(best) {
            *o = (j, self.distance(p, score));
        }
    }

    /// A point's distance to the centroid of the given score, in the
    /// model's metric.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    #[inline(always)]
    fn distance(&self, p: &[f32], score: f32) -> f32 {
        if self.cosine {
            1.0 - (-score)
        } else {
            let xx: f32 = p.iter().map(|v| v * v).sum();
            (xx + score).max(0.0)
        }
    }
}

/// Lanes per register of the fused kernel's tiles (AVX-512: 16 floats).
const LANES: usize = 16;
/// The most centroids one tile holds in registers.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const TILE: usize = 7 * LANES;

/// The fused kernel's tile, in AVX-512 registers.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{Centroids, LANES};

    /// Columns `j0..j0 + 16 * R`: their dot products with the `P` points
    /// summed in `P * R` registers, then each point's lowest score among
    /// them, kept in `best` if lower than the earlier tiles' (the first of
    /// equal scores wins, as in the general path).
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) fn tile<const P: usize, const R: usize>(
        c: &Centroids,
        pts: &[f32],
        j0: usize,
        best: &mut [(f32, u32); P],
    ) {
        let mut acc = accumulate::<P, R>(c, pts, j0);
        let scale = _mm512_set1_ps(if c.cosine { -1.0 } else { -2.0 });
        let bias = c.bias[j0..j0 + R * LANES].as_ptr();
        for (acc, best) in acc.iter_mut().zip(best.iter_mut()) {
            let mut low = _mm512_set1_ps(f32::INFINITY);
            for (r, a) in acc.iter_mut().enumerate() {
                // SAFETY: 16 * (r + 1) <= 16 * R, the length of the slice
                // `bias` points into.
                let b = unsafe { _mm512_loadu_ps(bias.add(r * LANES)) };
                // Exact: scaling by -1 or -2 does not round, so this is
                // `b + scale * a` rounded once, as the general path has it.
                *a = _mm512_fmadd_ps(scale, *a, b);
                // NaN scores are passed over: `min` returns its second
                // operand when either is NaN.
                low = _mm512_min_ps(*a, low);
            }
            let low = _mm512_reduce_min_ps(low);
            if low < best.0 {
                let target = _mm512_set1_ps(low);
                for (r, a) in acc.iter().enumerate() {
                    let hits = _mm512_cmpeq_ps_mask(*a, target);
                    if hits != 0 {
                        *best = (
                            low,
                            (j0 + r * LANES + hits.trailing_zeros() as usize) as u32,
                        );
                        break;
                    }
                }
            }
        }
    }

    /// The dot products of `P` points with centroids `j0..j0 + 16 * R`,
    /// summed in `P * R` registers.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn accumulate<const P: usize, const R: usize>(
        c: &Centroids,
        pts: &[f32],
        j0: usize,
    ) -> [[__m512; R]; P] {
        let (dim, kp) = (c.dim, c.kp);
        assert!(
            pts.len() >= P * dim && j0 + R * LANES <= kp && c.packed.len() >= dim * kp,
            "a tile lies inside the points and the packed centroids"
        );
        let mut acc = [[_mm512_setzero_ps(); R]; P];
        let packed = c.packed.as_ptr();
        for d in 0..dim {
            let mut col = [_mm512_setzero_ps(); R];
            for (r, col) in col.iter_mut().enumerate() {
                // SAFETY: d * kp + j0 + 16 * (r + 1) <= dim * kp, the
                // length of `packed` (asserted above).
                *col = unsafe { _mm512_loadu_ps(packed.add(d * kp + j0 + r * LANES)) };
            }
            for (p, acc) in acc.iter_mut().enumerate() {
                let x = _mm512_set1_ps(pts[p * dim + d]);
                for (a, &col) in acc.iter_mut().zip(&col) {
                    *a = _mm512_fmadd_ps(x, col, *a);
                }
            }
        }
        acc
    }

    /// The dot products of `P` points with all `k` centroids, where `k`
    /// fits one tile (`16 * R` is `k` rounded up to 16), into `out`
    /// (`P * k`, row per point).
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) fn dots<const P: usize, const R: usize>(
        c: &Centroids,
        pts: &[f32],
        out: &mut [f32],
    ) {
        let k = c.k;
        assert!(
            R * LANES == c.kp && out.len() >= P * k,
            "one tile holds every centroid"
        );
        let acc = accumulate::<P, R>(c, pts, 0);
        for (acc, out) in acc.iter().zip(out.chunks_exact_mut(k)) {
            let mut lanes = [[0.0f32; LANES]; R];
            for (lane, a) in lanes.iter_mut().zip(acc) {
                // SAFETY: `lane` holds 16 floats.
                unsafe { _mm512_storeu_ps(lane.as_mut_ptr(), *a) };
            }
            for (o, v) in out.iter_mut().zip(lanes.iter().flatten()) {
                *o = *v;
            }
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
        #[cfg(target_arch = "x86_64")]
        if crate::simd::avx512f() {
            #[allow(unsafe_code)]
            // SAFETY: the processor supports AVX-512F, checked just above.
            return unsafe { self.add_avx512(points, assigned, dim) };
        }
        self.add_generic(points, assigned, dim)
    }

    /// [`Self::add`] eight sums at a time: the same additions, each sum's
    /// in the same order.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn add_avx512(&mut self, points: &[f32], assigned: &[(u32, f32)], dim: usize) {
        self.add_generic(points, assigned, dim)
    }

    #[inline(always)]
    fn add_generic(&mut self, points: &[f32], assigned: &[(u32, f32)], dim: usize) {
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

    /// The fused kernel (whichever this processor runs) against the general
    /// matrix product: the same centroid for every point whose best two
    /// scores are not within rounding of each other, and the same distance
    /// to rounding; for every tile layout (1, 7, 8, 16 and more centroids
    /// than one tile holds, with and without padding), both metrics, and
    /// points left over after the groups of four.
    #[test]
    fn fused_kernel_agrees_with_the_matrix_product() {
        let mut rng = crate::random::Rng::new(3);
        for &(k, dim) in &[
            (1, 5),
            (7, 3),
            (8, 100),
            (16, 16),
            (100, 100),
            (113, 40),
            (250, 9),
        ] {
            for cosine in [false, true] {
                let mut values: Vec<f32> = (0..k * dim).map(|_| rng.unit() - 0.5).collect();
                // Two equal centroids: the first must win on both paths.
                if k > 2 {
                    let (a, b) = values.split_at_mut(2 * dim);
                    b[..dim].copy_from_slice(&a[dim..2 * dim]);
                }
                if cosine {
                    values.chunks_mut(dim).for_each(|c| {
                        crate::vectors::normalize(c);
                    });
                }
                let c = Centroids::new(values, dim, cosine);
                let n = 1021;
                let mut points: Vec<f32> = (0..n * dim).map(|_| rng.unit() - 0.5).collect();
                // Points sitting on the duplicated centroid.
                for i in 0..3.min(n) {
                    let j = 2.min(k - 1);
                    points[i * dim..(i + 1) * dim].copy_from_slice(c.row(j));
                }
                if cosine {
                    points.chunks_mut(dim).for_each(|p| {
                        crate::vectors::normalize(p);
                    });
                }
                let mut general = vec![(0, 0.0); n];
                c.assign_general(&points, &mut general, &mut Vec::new());
                for fused in fused_paths(&c, &points) {
                    check_against_general(&c, &points, &fused, &general);
                }
            }
        }
    }

    /// What each fused kernel this processor can run gives for `points`.
    fn fused_paths(c: &Centroids, points: &[f32]) -> Vec<Vec<(u32, f32)>> {
        let n = points.len() / c.dim;
        let mut paths = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            #[allow(unsafe_code)]
            if std::arch::is_x86_feature_detected!("avx512f") {
                let mut out = vec![(0, 0.0); n];
                // SAFETY: the processor supports AVX-512F, checked just above.
                unsafe { c.assign_avx512(points, &mut out) };
                paths.push(out);
            }
        }
        let mut out = vec![(0, 0.0); n];
        c.assign_block(points, &mut out, &mut Vec::new());
        paths.push(out);
        paths
    }

    fn check_against_general(
        c: &Centroids,
        points: &[f32],
        fused: &[(u32, f32)],
        general: &[(u32, f32)],
    ) {
        let (k, dim, cosine) = (c.k, c.dim, c.cosine);
        let mut dots = Vec::new();
        let all = c.dots_block(points, &mut dots);
        for (i, (f, g)) in fused.iter().zip(general).enumerate() {
            let scores: Vec<f32> = all[i * k..(i + 1) * k]
                .iter()
                .zip(&c.norms)
                .map(|(&d, &nn)| if cosine { -d } else { nn - 2.0 * d })
                .collect();
            let mut sorted = scores.clone();
            sorted.sort_by(f32::total_cmp);
            let close = k > 1 && sorted[1] - sorted[0] < 1e-4;
            if !close || scores[f.0 as usize] != scores[g.0 as usize] {
                assert!(
                    f.0 == g.0 || close,
                    "k {k} dim {dim} cosine {cosine} point {i}: {f:?} against {g:?}"
                );
            }
            assert!((f.1 - g.1).abs() < 1e-4, "point {i}: {f:?} against {g:?}");
        }
        if k > 2 {
            for (f, g) in fused.iter().zip(general).take(3) {
                assert_eq!((f.0, g.0), (1, 1), "the first of two equal centroids");
            }
        }
    }

    /// `dots` (the fused kernel's registers where one tile holds every
    /// centroid) against `dots_block` (the matrix product): the same
    /// products to rounding, in the same places.
    #[test]
    fn fused_dots_agree_with_the_matrix_product() {
        let mut rng = crate::random::Rng::new(11);
        for &(k, dim) in &[(1, 3), (7, 100), (16, 5), (100, 100), (112, 9), (113, 4)] {
            let values: Vec<f32> = (0..k * dim).map(|_| rng.unit() - 0.5).collect();
            let c = Centroids::new(values, dim, false);
            let n = 1021;
            let points: Vec<f32> = (0..n * dim).map(|_| rng.unit() - 0.5).collect();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let fused = c.dots(&points, &mut a).to_vec();
            let general = c.dots_block(&points, &mut b);
            assert_eq!(fused.len(), n * k);
            for (i, (x, y)) in fused.iter().zip(general).enumerate() {
                assert!(
                    (x - y).abs() < 1e-4,
                    "k {k} dim {dim} at {i}: {x} against {y}"
                );
            }
        }
    }

    #[test]
    fn fused_kernel_keeps_the_general_answer_for_nan() {
        for cosine in [false, true] {
            let c = Centroids::new(vec![0.6, 0.8, 1.0, 0.0], 2, cosine);
            let points = [f32::NAN, 1.0, 0.0, 1.0];
            let mut general = vec![(9, 0.0); 2];
            c.assign_general(&points, &mut general, &mut Vec::new());
            for fused in fused_paths(&c, &points) {
                assert_eq!(fused[0].0, general[0].0);
                assert_eq!(fused[0].1.to_bits(), general[0].1.to_bits());
                assert_eq!(fused[1], general[1]);
            }
        }
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
