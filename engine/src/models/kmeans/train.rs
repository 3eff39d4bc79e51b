//! Training k-means: initialisation (k-means++, from a sample of a large
//! input; random; or k-means||) and Lloyd iterations over the blocked
//! kernel, parallel over blocks with rayon, empty clusters re-seeded from
//! the points farthest from their centroids, and the Davies-Bouldin index
//! of the result.
//!
//! Blocks are summed in a fixed order (a fixed number of ranges, each summed
//! alone, then added in order), so a seed gives the same model whatever the
//! number of threads.

use datafusion::common::{DataFusionError, Result};
use rayon::prelude::*;

use super::kernel::{BLOCK, Centroids, Partial};
use crate::models::stop::Stop;
use crate::random::Rng;
use crate::vectors::normalize;

/// Checked training settings.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansParams {
    pub k: usize,
    pub max_iter: usize,
    pub tol: f64,
    pub init: Init,
    pub cosine: bool,
    pub seed: u64,
    pub threads: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    KMeansPlusPlus,
    Random,
    KMeansParallel,
}

/// What training produced.
#[derive(Debug, Clone)]
pub struct Trained {
    pub centroids: Centroids,
    pub sizes: Vec<u64>,
    /// Inertia at each iteration (with the centroids that iteration started
    /// from), then the final one.
    pub inertia: Vec<f64>,
    pub final_inertia: f64,
    pub iterations: usize,
    pub davies_bouldin: f64,
    pub reseeded: u64,
    pub init_seconds: f64,
}

/// Ranges summed separately and then added in order: fixed, so the result
/// does not depend on how rayon splits the work.
const RANGES: usize = 64;

#[inline(always)]
fn sq_dist(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = a.len() / 8;
    for c in 0..chunks {
        for l in 0..8 {
            let d = a[c * 8 + l] - b[c * 8 + l];
            acc[l] += d * d;
        }
    }
    let mut s: f32 = acc.iter().sum();
    for i in chunks * 8..a.len() {
        let d = a[i] - b[i];
        s += d * d;
    }
    s
}

/// Lowers each point's `d2` to its squared distance to `c` if nearer.
fn update_nearest(points: &[f32], dim: usize, c: &[f32], d2: &mut [f32]) {
    d2.par_chunks_mut(BLOCK)
        .zip(points.par_chunks(BLOCK * dim))
        .for_each(|(d, p)| {
            #[cfg(target_arch = "x86_64")]
            if crate::simd::avx2() {
                #[allow(unsafe_code)]
                // SAFETY: the processor supports AVX2, checked just above.
                return unsafe { nearer_avx2(p, dim, c, d) };
            }
            nearer(p, dim, c, d)
        });
}

/// [`nearer`] with the eight sums of `sq_dist` in one register: the same
/// arithmetic.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn nearer_avx2(points: &[f32], dim: usize, c: &[f32], d2: &mut [f32]) {
    nearer(points, dim, c, d2)
}

/// Four points at a time: each point's distance is summed exactly as
/// `sq_dist` sums it, and the four sums overlap instead of each waiting on
/// its own chain of additions.
#[inline(always)]
fn nearer(points: &[f32], dim: usize, c: &[f32], d2: &mut [f32]) {
    let n = (points.len() / dim).min(d2.len());
    let whole = n / 4 * 4;
    for (d, p) in d2[..whole]
        .chunks_exact_mut(4)
        .zip(points[..whole * dim].chunks_exact(4 * dim))
    {
        for (di, v) in d.iter_mut().zip(sq_dists::<4>(p, dim, c)) {
            if v < *di {
                *di = v;
            }
        }
    }
    for (di, pi) in d2[whole..n]
        .iter_mut()
        .zip(points[whole * dim..].chunks(dim))
    {
        let v = sq_dist(pi, c);
        if v < *di {
            *di = v;
        }
    }
}

/// `sq_dist` of each of `N` points (`N * dim` floats) to `c`, with the
/// same additions in the same order.
#[inline(always)]
fn sq_dists<const N: usize>(points: &[f32], dim: usize, c: &[f32]) -> [f32; N] {
    let mut acc = [[0.0f32; 8]; N];
    let chunks = dim / 8;
    for ch in 0..chunks {
        let q = &c[ch * 8..ch * 8 + 8];
        for (n, acc) in acc.iter_mut().enumerate() {
            let p = &points[n * dim + ch * 8..n * dim + ch * 8 + 8];
            for l in 0..8 {
                let d = p[l] - q[l];
                acc[l] += d * d;
            }
        }
    }
    let mut out = [0.0f32; N];
    for (n, (o, acc)) in out.iter_mut().zip(&acc).enumerate() {
        let mut s: f32 = acc.iter().sum();
        for i in chunks * 8..dim {
            let d = points[n * dim + i] - c[i];
            s += d * d;
        }
        *o = s;
    }
    out
}

/// Every point's squared distance to point `first`: where D² sampling starts.
fn distances_to(points: &[f32], dim: usize, first: usize) -> Vec<f32> {
    let mut d2 = vec![f32::INFINITY; points.len() / dim];
    update_nearest(
        points,
        dim,
        &points[first * dim..(first + 1) * dim],
        &mut d2,
    );
    d2
}

/// Draws an index with probability proportional to `weights`.
fn draw(weights: &[f32], total: f64, rng: &mut Rng) -> usize {
    let target = rng.unit() as f64 * total;
    let mut acc = 0.0f64;
    for (i, &w) in weights.iter().enumerate() {
        acc += w as f64;
        if acc > target {
            return i;
        }
    }
    weights.iter().rposition(|&w| w > 0.0).unwrap_or(0)
}

fn too_few(k: usize, distinct: usize) -> DataFusionError {
    DataFusionError::Plan(format!(
        "kmeans: k = {k} is larger than the number of distinct input vectors ({distinct})"
    ))
}

/// k-means++ (D² sampling) over `points`, optionally weighted, greedy as
/// scikit-learn's: each step draws 2 + ln k candidates by D² and keeps the
/// one that lowers the total (weighted) D² most.
fn plus_plus(
    points: &[f32],
    dim: usize,
    weights: Option<&[f32]>,
    k: usize,
    rng: &mut Rng,
) -> Result<Vec<f32>> {
    let n = points.len() / dim;
    let trials = 2 + (k as f64).ln() as usize;
    let first = match weights {
        Some(w) => draw(w, w.iter().map(|&x| x as f64).sum(), rng),
        None => rng.below(n as u64) as usize,
    };
    let mut centroids = points[first * dim..(first + 1) * dim].to_vec();
    let mut d2 = distances_to(points, dim, first);
    // Each point's squared norm, for the candidates' distances.
    let norms: Vec<f32> = points
        .chunks(dim)
        .map(|p| p.iter().map(|v| v * v).sum())
        .collect();
    for found in 1..k {
        let weighted: Vec<f32> = match weights {
            Some(w) => d2.iter().zip(w).map(|(d, w)| d * w).collect(),
            None => d2.clone(),
        };
        let total: f64 = weighted.iter().map(|&x| x as f64).sum();
        if total <= 0.0 {
            return Err(too_few(k, found));
        }
        let candidates: Vec<usize> = (0..trials).map(|_| draw(&weighted, total, rng)).collect();
        let potentials = potentials(points, dim, &norms, weights, &d2, &candidates);
        let best = (0..trials)
            .min_by(|&a, &b| potentials[a].total_cmp(&potentials[b]))
            .unwrap_or(0);
        let c = &points[candidates[best] * dim..(candidates[best] + 1) * dim];
        update_nearest(points, dim, c, &mut d2);
        centroids.extend_from_slice(c);
    }
    Ok(centroids)
}

/// For each candidate point, the total (weighted) D² if it joined the
/// centroids whose D² is `d2`: a block of points at a time, its distances
/// to all candidates one matrix product. Summed over fixed ranges in order,
/// so the result does not depend on the number of threads.
fn potentials(
    points: &[f32],
    dim: usize,
    norms: &[f32],
    weights: Option<&[f32]>,
    d2: &[f32],
    candidates: &[usize],
) -> Vec<f64> {
    let n = d2.len();
    let per_range = n.div_ceil(RANGES).max(1);
    let values: Vec<f32> = candidates
        .iter()
        .flat_map(|&c| points[c * dim..(c + 1) * dim].iter().copied())
        .collect();
    let rows = Centroids::new(values, dim, false);
    let partials: Vec<Vec<f64>> = points
        .par_chunks(per_range * dim)
        .enumerate()
        .map(|(r, range)| {
            let mut sums = vec![0.0f64; rows.k];
            let mut dots = Vec::new();
            for (b, block) in range.chunks(BLOCK * dim).enumerate() {
                let first = r * per_range + b * BLOCK;
                for (j, dots) in rows.dots(block, &mut dots).chunks(rows.k).enumerate() {
                    let i = first + j;
                    let w = weights.map_or(1.0, |w| w[i]) as f64;
                    let xx = norms[i];
                    for ((sum, dot), cc) in sums.iter_mut().zip(dots).zip(&rows.norms) {
                        let dist = (xx + cc - 2.0 * dot).max(0.0);
                        *sum += w * dist.min(d2[i]) as f64;
                    }
                }
            }
            sums
        })
        .collect();
    let mut total = vec![0.0f64; rows.k];
    for partial in partials {
        for (t, p) in total.iter_mut().zip(partial) {
            *t += p;
        }
    }
    total
}

/// Points per cluster that k-means++ seeds from: above `INIT_SAMPLE_PER_K
/// * k` points it seeds from a uniform sample of that many.
pub const INIT_SAMPLE_PER_K: usize = 1000;

/// k-means++ over a uniform sample of `INIT_SAMPLE_PER_K * k` points (all of
/// them when there are fewer). Each of k-means++'s k steps reads every
/// point it seeds from, so over all of a large input it is bound by memory
/// (100 passes over 333 MB for the PyPI titles); the sample's D² draws
/// follow the data's, and the Lloyd steps that follow use every point. A
/// sample with fewer than k distinct points falls back to all of them.
fn sampled_plus_plus(points: &[f32], dim: usize, k: usize, rng: &mut Rng) -> Result<Vec<f32>> {
    let n = points.len() / dim;
    let m = INIT_SAMPLE_PER_K.saturating_mul(k);
    if n <= m {
        return plus_plus(points, dim, None, k, rng);
    }
    // The first m of a partial Fisher-Yates shuffle, in input order.
    let mut order: Vec<usize> = (0..n).collect();
    for i in 0..m {
        let j = i + rng.below((n - i) as u64) as usize;
        order.swap(i, j);
    }
    order.truncate(m);
    order.sort_unstable();
    let sample: Vec<f32> = order
        .iter()
        .flat_map(|&i| points[i * dim..(i + 1) * dim].iter().copied())
        .collect();
    plus_plus(&sample, dim, None, k, rng).or_else(|_| plus_plus(points, dim, None, k, rng))
}

/// k-means|| (Bahmani et al.): a few rounds that each keep every point with
/// probability proportional to its D², then k-means++ over those candidates
/// weighted by how many points each is nearest to.
fn parallel_init(points: &[f32], dim: usize, k: usize, rng: &mut Rng) -> Result<Vec<f32>> {
    let n = points.len() / dim;
    let oversample = 2.0 * k as f64;
    let first = rng.below(n as u64) as usize;
    let mut candidates: Vec<usize> = vec![first];
    let mut d2 = distances_to(points, dim, first);
    for _ in 0..5 {
        let total: f64 = d2.iter().map(|&x| x as f64).sum();
        if total <= 0.0 {
            break;
        }
        let picked: Vec<usize> = (0..n)
            .filter(|&i| (rng.unit() as f64) < oversample * d2[i] as f64 / total)
            .collect();
        if picked.is_empty() {
            continue;
        }
        // The round's candidates lower every point's D² in one blocked pass
        // (one matrix product per block), not one pass each.
        let round = Centroids::new(
            picked
                .iter()
                .flat_map(|&i| points[i * dim..(i + 1) * dim].iter().copied())
                .collect(),
            dim,
            false,
        );
        d2.par_chunks_mut(BLOCK)
            .zip(points.par_chunks(BLOCK * dim))
            .for_each(|(d, block)| {
                let mut out = vec![(0u32, 0.0f32); d.len()];
                let mut dots = Vec::new();
                round.assign_block(block, &mut out, &mut dots);
                for (di, &(_, dist)) in d.iter_mut().zip(&out) {
                    *di = di.min(dist);
                }
            });
        candidates.extend(picked);
    }
    candidates.sort_unstable();
    candidates.dedup();
    let cand: Vec<f32> = candidates
        .iter()
        .flat_map(|&i| points[i * dim..(i + 1) * dim].iter().copied())
        .collect();
    if candidates.len() <= k {
        // Too few candidates to choose from: fall back to plain k-means++.
        return plus_plus(points, dim, None, k, rng);
    }
    let centroids = Centroids::new(cand.clone(), dim, false);
    let mut weights = vec![0.0f32; candidates.len()];
    let mut out = vec![(0u32, 0.0f32); BLOCK];
    let mut dots = Vec::new();
    for block in points.chunks(BLOCK * dim) {
        let m = block.len() / dim;
        centroids.assign_block(block, &mut out[..m], &mut dots);
        for &(c, _) in &out[..m] {
            weights[c as usize] += 1.0;
        }
    }
    plus_plus(&cand, dim, Some(&weights), k, rng)
}

/// One pass over all points with `centroids`: partial sums added in a fixed
/// order, and every point's assignment.
fn pass(points: &[f32], dim: usize, centroids: &Centroids, assigned: &mut [(u32, f32)]) -> Partial {
    let n = points.len() / dim;
    let per_range = n.div_ceil(RANGES).max(1);
    let partials: Vec<Partial> = points
        .par_chunks(per_range * dim)
        .zip(assigned.par_chunks_mut(per_range))
        .map(|(range, out)| {
            let mut partial = Partial::new(centroids.k, dim);
            let mut dots = Vec::new();
            for (block, out) in range.chunks(BLOCK * dim).zip(out.chunks_mut(BLOCK)) {
                centroids.assign_block(block, out, &mut dots);
                partial.add(block, out, dim);
            }
            partial
        })
        .collect();
    partials
        .into_iter()
        .reduce(Partial::merge)
        .unwrap_or_else(|| Partial::new(centroids.k, dim))
}

/// Trains on `points` (`n * dim`, already unit length for cosine).
/// `stop` is looked at after the seeding and before every iteration.
pub fn train(points: &[f32], dim: usize, p: &KMeansParams, stop: &Stop) -> Result<Trained> {
    let n = points.len() / dim;
    if p.k > n {
        return Err(DataFusionError::Plan(format!(
            "kmeans: k = {} is larger than the number of input rows ({n})",
            p.k
        )));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(p.threads.max(1))
        .build()
        .map_err(|e| DataFusionError::Execution(format!("kmeans: cannot start threads: {e}")))?;
    pool.install(|| train_in_pool(points, dim, p, stop))
}

fn train_in_pool(points: &[f32], dim: usize, p: &KMeansParams, stop: &Stop) -> Result<Trained> {
    let n = points.len() / dim;
    let started = std::time::Instant::now();
    let mut rng = Rng::new(p.seed);
    let mut values = match p.init {
        Init::KMeansPlusPlus => sampled_plus_plus(points, dim, p.k, &mut rng)?,
        Init::KMeansParallel => parallel_init(points, dim, p.k, &mut rng)?,
        Init::Random => {
            let mut chosen: Vec<usize> = Vec::with_capacity(p.k);
            let mut tries = 0;
            while chosen.len() < p.k {
                let i = rng.below(n as u64) as usize;
                let row = &points[i * dim..(i + 1) * dim];
                if !chosen
                    .iter()
                    .any(|&j| &points[j * dim..(j + 1) * dim] == row)
                {
                    chosen.push(i);
                }
                tries += 1;
                if tries > 100 * p.k + 1000 {
                    return Err(too_few(p.k, chosen.len()));
                }
            }
            chosen
                .iter()
                .flat_map(|&i| points[i * dim..(i + 1) * dim].iter().copied())
                .collect()
        }
    };
    if p.cosine {
        values.chunks_mut(dim).for_each(|v| {
            normalize(v);
        });
    }
    let mut centroids = Centroids::new(values, dim, p.cosine);
    let init_seconds = started.elapsed().as_secs_f64();
    let mut assigned = vec![(0u32, 0.0f32); n];
    let mut inertia = Vec::new();
    let mut reseeded = 0u64;
    let mut iterations = 0;
    for _ in 0..p.max_iter {
        stop.check("kmeans")?;
        iterations += 1;
        let partial = pass(points, dim, &centroids, &mut assigned);
        let previous = inertia.last().copied();
        inertia.push(partial.inertia);
        let mut values = vec![0.0f32; p.k * dim];
        let mut empty = Vec::new();
        for c in 0..p.k {
            let count = partial.counts[c];
            if count == 0 {
                empty.push(c);
                values[c * dim..(c + 1) * dim].copy_from_slice(centroids.row(c));
                continue;
            }
            for (v, s) in values[c * dim..(c + 1) * dim]
                .iter_mut()
                .zip(&partial.sums[c * dim..(c + 1) * dim])
            {
                *v = (*s / count as f64) as f32;
            }
        }
        if !empty.is_empty() {
            // Re-seed empty clusters from the points farthest from their
            // centroids, farthest first.
            let mut far: Vec<usize> = (0..n).collect();
            let take = empty.len().min(n);
            far.select_nth_unstable_by(take.saturating_sub(1), |&a, &b| {
                assigned[b].1.total_cmp(&assigned[a].1)
            });
            far.truncate(take);
            far.sort_by(|&a, &b| assigned[b].1.total_cmp(&assigned[a].1).then(a.cmp(&b)));
            for (&c, &i) in empty.iter().zip(&far) {
                values[c * dim..(c + 1) * dim].copy_from_slice(&points[i * dim..(i + 1) * dim]);
                reseeded += 1;
            }
        }
        if p.cosine {
            values.chunks_mut(dim).for_each(|v| {
                normalize(v);
            });
        }
        centroids = Centroids::new(values, dim, p.cosine);
        if let Some(prev) = previous
            && empty.is_empty()
            && prev > 0.0
            && ((prev - partial.inertia) / prev).abs() < p.tol
        {
            break;
        }
    }
    // A final pass with the final centroids: sizes, inertia and the
    // clusters' spreads for the Davies-Bouldin index.
    let last = pass(points, dim, &centroids, &mut assigned);
    let mut spread = vec![0.0f64; p.k];
    for &(c, d) in &assigned {
        spread[c as usize] += if p.cosine {
            d as f64
        } else {
            (d as f64).sqrt()
        };
    }
    for (s, &count) in spread.iter_mut().zip(&last.counts) {
        if count > 0 {
            *s /= count as f64;
        }
    }
    let davies_bouldin = davies_bouldin(&centroids, &spread);
    Ok(Trained {
        sizes: last.counts.clone(),
        final_inertia: last.inertia,
        inertia,
        iterations,
        davies_bouldin,
        reseeded,
        init_seconds,
        centroids,
    })
}

/// The Davies-Bouldin index: the mean over clusters of the worst ratio of
/// summed spreads to centroid distance. Lower is better.
fn davies_bouldin(c: &Centroids, spread: &[f64]) -> f64 {
    if c.k < 2 {
        return 0.0;
    }
    let mut total = 0.0;
    for i in 0..c.k {
        let mut worst = 0.0f64;
        for j in 0..c.k {
            if i == j {
                continue;
            }
            let d = (sq_dist(c.row(i), c.row(j)) as f64).sqrt();
            if d > 0.0 {
                worst = worst.max((spread[i] + spread[j]) / d);
            }
        }
        total += worst;
    }
    total / c.k as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_distances_at_a_time_sum_like_one() {
        let mut rng = Rng::new(5);
        for dim in [1, 7, 8, 19, 100] {
            let points: Vec<f32> = (0..4 * dim).map(|_| rng.unit() * 3.0 - 1.5).collect();
            let c: Vec<f32> = (0..dim).map(|_| rng.unit() - 0.5).collect();
            let four = sq_dists::<4>(&points, dim, &c);
            for (n, v) in four.iter().enumerate() {
                let one = sq_dist(&points[n * dim..(n + 1) * dim], &c);
                assert_eq!(v.to_bits(), one.to_bits(), "dim {dim} point {n}");
            }
            // nearer over 7 points: four at a time, then three alone.
            let points: Vec<f32> = (0..7 * dim).map(|_| rng.unit()).collect();
            let mut d2 = vec![f32::INFINITY; 7];
            nearer(&points, dim, &c, &mut d2);
            for (n, d) in d2.iter().enumerate() {
                let one = sq_dist(&points[n * dim..(n + 1) * dim], &c);
                assert_eq!(d.to_bits(), one.to_bits(), "dim {dim} point {n} of 7");
            }
        }
    }

    /// Three well separated blobs in 4 dimensions.
    fn blobs(n_per: usize) -> Vec<f32> {
        let centers = [
            [0.0, 0.0, 0.0, 0.0],
            [10.0, 10.0, 0.0, 0.0],
            [0.0, 10.0, 10.0, 5.0],
        ];
        let mut rng = Rng::new(3);
        let mut out = Vec::new();
        for i in 0..n_per * 3 {
            for c in centers[i % 3] {
                out.push(c + rng.unit() - 0.5);
            }
        }
        out
    }

    fn params(init: Init) -> KMeansParams {
        KMeansParams {
            k: 3,
            max_iter: 20,
            tol: 1e-6,
            init,
            cosine: false,
            seed: 5,
            threads: 2,
        }
    }

    #[test]
    fn finds_the_blobs_with_every_init() {
        let points = blobs(500);
        for init in [Init::KMeansPlusPlus, Init::Random, Init::KMeansParallel] {
            let t = train(&points, 4, &params(init), &Stop::new()).expect("train");
            let mut sizes = t.sizes.clone();
            sizes.sort();
            assert_eq!(sizes, vec![500, 500, 500], "{init:?}");
            // Uniform noise in [-0.5, 0.5) on 4 axes: 1/12 per axis.
            assert!(
                t.final_inertia / 1500.0 < 0.4,
                "{init:?}: {}",
                t.final_inertia
            );
            assert!(t.davies_bouldin < 0.2, "{init:?}: {}", t.davies_bouldin);
            for w in t.inertia.windows(2) {
                assert!(
                    w[1] <= w[0] * 1.0001,
                    "{init:?}: inertia rose {:?}",
                    t.inertia
                );
            }
        }
    }

    #[test]
    fn a_seed_gives_the_same_model_for_any_thread_count() {
        let points = blobs(300);
        let mut p = params(Init::KMeansPlusPlus);
        p.threads = 1;
        let a = train(&points, 4, &p, &Stop::new()).expect("train");
        p.threads = 3;
        let b = train(&points, 4, &p, &Stop::new()).expect("train");
        assert_eq!(a.centroids.values, b.centroids.values);
        assert_eq!(a.inertia, b.inertia);
    }

    /// A raised stop flag ends training at its next iteration (issue 23).
    #[test]
    fn a_raised_stop_ends_training() {
        let points = blobs(50);
        let stop = Stop::new();
        stop.raise();
        let err = train(&points, 4, &params(Init::Random), &stop).expect_err("stopped");
        assert!(
            err.to_string().contains("kmeans: training stopped"),
            "{err}"
        );
    }

    #[test]
    fn k_beyond_the_input_is_an_error() {
        let points = [1.0f32, 1.0, 1.0, 1.0, 2.0, 2.0];
        let mut p = params(Init::KMeansPlusPlus);
        p.k = 4;
        let err = train(&points, 2, &p, &Stop::new())
            .expect_err("too few rows")
            .to_string();
        assert!(
            err.contains("k = 4 is larger than the number of input rows (3)"),
            "{err}"
        );
        p.k = 3;
        let err = train(&points, 2, &p, &Stop::new())
            .expect_err("too few distinct")
            .to_string();
        assert!(
            err.contains("number of distinct input vectors (2)"),
            "{err}"
        );
    }

    /// Past INIT_SAMPLE_PER_K * k points k-means++ seeds from a sample: its
    /// seeds are input points, the same for the same seed, and a sample
    /// that missed the only other distinct point falls back to all points.
    #[test]
    fn large_inputs_seed_from_a_sample() {
        let k = 2;
        let n = INIT_SAMPLE_PER_K * k * 5 / 2;
        let dim = 3;
        // All points equal but one: a sample of 2 in 5 misses it for most
        // seeds.
        let mut points = vec![1.0f32; n * dim];
        points[(n / 3) * dim..(n / 3 + 1) * dim].copy_from_slice(&[7.0, 8.0, 9.0]);
        for seed in 1..=10 {
            let seeds = sampled_plus_plus(&points, dim, k, &mut Rng::new(seed)).expect("seeds");
            let mut rows: Vec<&[f32]> = seeds.chunks(dim).collect();
            rows.sort_by(|a, b| a[0].total_cmp(&b[0]));
            assert_eq!(
                rows,
                vec![&[1.0, 1.0, 1.0][..], &[7.0, 8.0, 9.0][..]],
                "seed {seed}"
            );
        }
        let blobs = blobs(INIT_SAMPLE_PER_K * 2);
        let a = sampled_plus_plus(&blobs, 4, 3, &mut Rng::new(9)).expect("seeds");
        let b = sampled_plus_plus(&blobs, 4, 3, &mut Rng::new(9)).expect("seeds");
        assert_eq!(a, b);
        for row in a.chunks(4) {
            assert!(blobs.chunks(4).any(|p| p == row));
        }
    }
}
