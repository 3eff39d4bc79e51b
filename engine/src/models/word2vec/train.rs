//! Training word vectors: skip-gram or CBOW with negative sampling, as in
//! word2vec and gensim (frequent-word subsampling, shrinking windows, a
//! linearly decaying learning rate), over the encoded corpus, by several
//! threads that share the weights without locks (Hogwild).
//!
//! Skip-gram draws each sentence's pairs and their negatives first, then
//! trains the pairs in order, fetching the rows of the pair two ahead while
//! it works: the same draws and updates as drawing pair by pair, with the
//! memory loads overlapped.
//!
//! With one thread and a seed, training is bit-for-bit reproducible.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use datafusion::common::Result;

use super::corpus::Corpus;
use super::hogwild::SharedRows;
use crate::models::stop::Stop;
use crate::models::word_index::prefetch_ptr;
use crate::random::Rng;

/// What training needs to know; `Word2VecOptions` checks and fills it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainParams {
    pub dim: usize,
    pub window: usize,
    pub negative: usize,
    pub sample: f64,
    pub epochs: usize,
    pub alpha: f32,
    pub min_alpha: f32,
    pub cbow: bool,
    pub seed: u64,
    pub threads: usize,
}

/// One epoch's figures, kept in the manifest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochStats {
    /// Mean negative-sampling loss per example at the end of the epoch, on
    /// a fixed sample of the corpus with fixed negatives: the same
    /// measurement every epoch, so epochs compare.
    pub loss: f64,
    /// Mean loss per example as training met them (before each update).
    /// On text in a meaningful order (sorted by package, by shop) it can
    /// rise in the last epochs while the model improves: a high learning
    /// rate rewards fitting the last few sentences.
    pub running_loss: f64,
    /// Words trained after subsampling.
    pub effective_words: u64,
    pub seconds: f64,
}

/// A progress report, several per epoch.
#[derive(Debug, Clone, Copy)]
pub struct EpochProgress {
    pub epoch: usize,
    pub epochs: usize,
    /// Share of all epochs done, 0 to 1.
    pub done: f64,
    /// Raw corpus words per second so far.
    pub words_per_sec: f64,
    /// Mean loss so far in this epoch.
    pub loss: f64,
    pub elapsed: f64,
}

const EXP_TABLE_SIZE: usize = 1000;
const MAX_EXP: f32 = 6.0;
/// How many words a thread trains between looks at the global progress.
const REPORT_EVERY: u64 = 10_000;

struct Tables {
    sigmoid: Vec<f32>,
    /// ln(sigmoid(x)) over the same grid, for the loss.
    log_sigmoid: Vec<f32>,
}

impl Tables {
    fn new() -> Self {
        let grid =
            (0..EXP_TABLE_SIZE).map(|i| (i as f32 / EXP_TABLE_SIZE as f32 * 2.0 - 1.0) * MAX_EXP);
        let sigmoid: Vec<f32> = grid.map(|x| 1.0 / (1.0 + (-x).exp())).collect();
        let log_sigmoid = sigmoid.iter().map(|s| s.ln()).collect();
        Self {
            sigmoid,
            log_sigmoid,
        }
    }

    /// The gradient factor `label - sigmoid(f)` and the example's loss.
    #[inline]
    fn step(&self, f: f32, label: f32) -> (f32, f32) {
        if f >= MAX_EXP {
            (label - 1.0, if label > 0.5 { 0.0 } else { f })
        } else if f <= -MAX_EXP {
            (label, if label > 0.5 { -f } else { 0.0 })
        } else {
            let i = ((f + MAX_EXP) * (EXP_TABLE_SIZE as f32 / MAX_EXP / 2.0)) as usize;
            let i = i.min(EXP_TABLE_SIZE - 1);
            let loss = if label > 0.5 {
                -self.log_sigmoid[i]
            } else {
                -self.log_sigmoid[EXP_TABLE_SIZE - 1 - i]
            };
            (label - self.sigmoid[i], loss)
        }
    }
}

/// Draws negative words with probability proportional to count^0.75, in
/// constant time (Vose's alias method): exact, and as small as the
/// vocabulary, where word2vec's table takes 100 million entries.
pub struct AliasTable {
    prob: Vec<f32>,
    alias: Vec<u32>,
}

impl AliasTable {
    pub fn new(counts: &[u64], power: f64) -> Self {
        let n = counts.len();
        let weights: Vec<f64> = counts.iter().map(|&c| (c as f64).powf(power)).collect();
        let total: f64 = weights.iter().sum();
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut prob = vec![1.0f32; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            prob[s] = scaled[s] as f32;
            alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        Self { prob, alias }
    }

    #[inline]
    pub fn sample(&self, rng: &mut Rng) -> u32 {
        let i = rng.below(self.prob.len() as u64) as usize;
        if rng.unit() < self.prob[i] {
            i as u32
        } else {
            self.alias[i]
        }
    }
}

/// Per-word probabilities of keeping a word under subsampling, as gensim
/// computes them, scaled to `u32` (always kept: `u32::MAX`).
fn keep_thresholds(counts: &[u64], total: u64, sample: f64) -> Vec<u32> {
    counts
        .iter()
        .map(|&c| {
            if sample <= 0.0 {
                return u32::MAX;
            }
            let threshold = sample * total as f64;
            let p = ((c as f64 / threshold).sqrt() + 1.0) * (threshold / c as f64);
            if p >= 1.0 {
                u32::MAX
            } else {
                (p * u32::MAX as f64) as u32
            }
        })
        .collect()
}

/// Trains and returns the input vectors (`dim` floats per vocabulary word)
/// and each epoch's figures. `report` is called a few times a second;
/// `stop` is looked at as often, and once it is raised the threads give
/// up and training ends with its error.
pub fn train(
    corpus: &Corpus,
    p: &TrainParams,
    report: &(dyn Fn(EpochProgress) + Sync),
    stop: &Stop,
) -> Result<(Vec<f32>, Vec<EpochStats>)> {
    let vocab = corpus.words.len();
    let dim = p.dim;
    let mut init = Rng::new(p.seed);
    let mut syn0 = super::hogwild::weight_matrix(vocab * dim);
    syn0.iter_mut()
        .for_each(|x| *x = (init.unit() - 0.5) / dim as f32);
    let mut syn1 = super::hogwild::weight_matrix(vocab * dim);
    let tables = Tables::new();
    let negatives = AliasTable::new(&corpus.counts, 0.75);
    let keep = keep_thresholds(&corpus.counts, corpus.total_words(), p.sample);
    let threads = p.threads.max(1);
    // Sentences split into one contiguous shard per thread, by word count.
    let total = corpus.total_words();
    let mut bounds = vec![0usize];
    for t in 1..threads {
        let target = total * t as u64 / threads as u64;
        let at = corpus.ends.partition_point(|&e| e <= target);
        bounds.push(at.max(*bounds.last().unwrap_or(&0)));
    }
    bounds.push(corpus.ends.len());

    let processed = AtomicU64::new(0);
    let all_words = total * p.epochs as u64;
    let start = Instant::now();
    let mut stats = Vec::with_capacity(p.epochs);
    {
        let w_in = SharedRows::new(&mut syn0, dim);
        let w_out = SharedRows::new(&mut syn1, dim);
        for epoch in 0..p.epochs {
            let epoch_start = Instant::now();
            let epoch_loss = std::sync::Mutex::new((0.0f64, 0u64, 0u64));
            std::thread::scope(|s| {
                for t in 0..threads {
                    let (from, to) = (bounds[t], bounds[t + 1]);
                    let (w_in, w_out, tables, negatives, keep) =
                        (&w_in, &w_out, &tables, &negatives, &keep);
                    let (processed, epoch_loss) = (&processed, &epoch_loss);
                    let shard = Shard {
                        p,
                        corpus,
                        keep,
                        w_in,
                        w_out,
                        tables,
                        negatives,
                        processed,
                        all_words,
                        start: &start,
                        report,
                        stop,
                        epoch,
                        thread: t,
                        threads,
                        from,
                        to,
                    };
                    s.spawn(move || {
                        let (loss, examples, effective) = shard.run();
                        if let Ok(mut e) = epoch_loss.lock() {
                            e.0 += loss;
                            e.1 += examples;
                            e.2 += effective;
                        }
                    });
                }
            });
            stop.check("word2vec")?;
            let (loss, examples, effective) = epoch_loss.into_inner().unwrap_or_default();
            stats.push(EpochStats {
                loss: evaluate(corpus, p, &w_in, &w_out, &tables, &negatives),
                running_loss: loss / examples.max(1) as f64,
                effective_words: effective,
                seconds: epoch_start.elapsed().as_secs_f64(),
            });
        }
    }
    Ok((syn0, stats))
}

/// One thread's share of one epoch: sentences `from..to`.
struct Shard<'a> {
    p: &'a TrainParams,
    corpus: &'a Corpus,
    keep: &'a [u32],
    w_in: &'a SharedRows<'a>,
    w_out: &'a SharedRows<'a>,
    tables: &'a Tables,
    negatives: &'a AliasTable,
    processed: &'a AtomicU64,
    all_words: u64,
    start: &'a Instant,
    report: &'a (dyn Fn(EpochProgress) + Sync),
    stop: &'a Stop,
    epoch: usize,
    thread: usize,
    threads: usize,
    from: usize,
    to: usize,
}

impl Shard<'_> {
    /// Trains the shard, with AVX-512 code when the processor has it and
    /// rows are at most 128 floats (the same steps with fused
    /// multiply-adds, so rounded differently), else with AVX2 code where
    /// there is AVX2 (the portable arithmetic, eight floats at a time):
    /// returns the summed loss, the examples and the effective words.
    fn run(&self) -> (f64, u64, u64) {
        #[cfg(target_arch = "x86_64")]
        if self.p.dim <= 8 * avx512::LANES && crate::simd::avx512f() {
            #[allow(unsafe_code)]
            // SAFETY: the processor supports AVX-512F, checked just above.
            return unsafe { self.run_avx512() };
        }
        #[cfg(target_arch = "x86_64")]
        if crate::simd::avx2() {
            #[allow(unsafe_code)]
            // SAFETY: the processor supports AVX2, checked just above.
            return unsafe { self.run_avx2() };
        }
        self.train(targets_step)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn run_avx2(&self) -> (f64, u64, u64) {
        // A closure takes on the function's features; `targets_step` passed
        // as it is would be called through a shim compiled without them
        // (17% slower training, measured).
        #[allow(clippy::redundant_closure)]
        self.train(|i, t, a, e, w, tb| targets_step(i, t, a, e, w, tb))
    }

    /// Training with each example's dot products and updates in AVX-512
    /// registers, the input row held in registers throughout.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[allow(unsafe_code)]
    fn run_avx512(&self) -> (f64, u64, u64) {
        let step = avx512::step_for(self.p.dim);
        // SAFETY: `run` calls this only on a processor with AVX-512F, and
        // `step_for` picks a step whose registers hold `dim` floats.
        self.train(|i, t, a, e, w, tb| unsafe { step(i, t, a, e, w, tb) })
    }

    #[inline(always)]
    fn train<S>(&self, targets_step: S) -> (f64, u64, u64)
    where
        S: Fn(&[f32], &[u32], f32, &mut [f32], &SharedRows, &Tables) -> (f64, u64),
    {
        let Shard {
            p,
            corpus,
            keep,
            w_in,
            w_out,
            tables,
            negatives,
            processed,
            all_words,
            start,
            report,
            stop,
            epoch,
            thread: t,
            threads,
            from,
            to,
        } = *self;
        let dim = p.dim;
        let seed = p
            .seed
            .wrapping_add(((epoch * threads + t) as u64).wrapping_mul(0x5851_F42D_4C95_7F2D));
        let mut rng = Rng::new(seed);
        let mut neu1 = vec![0.0f32; dim];
        let mut neu1e = vec![0.0f32; dim];
        let mut input = vec![0.0f32; dim];
        let mut kept: Vec<u32> = Vec::with_capacity(1024);
        let (mut loss, mut examples, mut effective) = (0.0f64, 0u64, 0u64);
        let mut since_report = 0u64;
        let mut alpha = p.alpha;
        let mut pairs: Vec<(u32, usize, usize)> = Vec::new();
        let mut drawn: Vec<u32> = Vec::new();
        for si in from..to {
            let sentence = corpus.sentence(si);
            kept.clear();
            for &w in sentence {
                let k = keep[w as usize];
                if k == u32::MAX || k > (rng.next_u64() >> 32) as u32 {
                    kept.push(w);
                }
            }
            effective += kept.len() as u64;
            if p.cbow {
                for i in 0..kept.len() {
                    let b = rng.below(p.window as u64) as usize;
                    let reach = p.window - b;
                    let lo = i.saturating_sub(reach);
                    let hi = (i + reach + 1).min(kept.len());
                    neu1.iter_mut().for_each(|x| *x = 0.0);
                    let mut count = 0usize;
                    for (j, &ctx) in kept.iter().enumerate().take(hi).skip(lo) {
                        if j != i {
                            w_in.row(ctx as usize).add_to(1.0, &mut neu1);
                            count += 1;
                        }
                    }
                    if count == 0 {
                        continue;
                    }
                    let inv = 1.0 / count as f32;
                    neu1.iter_mut().for_each(|x| *x *= inv);
                    drawn.clear();
                    draw_targets(kept[i], &mut drawn, &mut rng, negatives, p.negative);
                    let (l, e) = targets_step(&neu1, &drawn, alpha, &mut neu1e, w_out, tables);
                    loss += l;
                    examples += e;
                    for (j, &ctx) in kept.iter().enumerate().take(hi).skip(lo) {
                        if j != i {
                            w_in.row(ctx as usize).add(1.0, &neu1e);
                        }
                    }
                }
            } else {
                // Every pair of the sentence and its targets, drawn first,
                // so that each pair's rows can be fetched a few pairs ahead.
                pairs.clear();
                drawn.clear();
                for i in 0..kept.len() {
                    let b = rng.below(p.window as u64) as usize;
                    let reach = p.window - b;
                    let lo = i.saturating_sub(reach);
                    let hi = (i + reach + 1).min(kept.len());
                    for j in (lo..hi).filter(|&j| j != i) {
                        let start = drawn.len();
                        draw_targets(kept[i], &mut drawn, &mut rng, negatives, p.negative);
                        pairs.push((kept[j], start, drawn.len()));
                    }
                }
                for k in 0..pairs.len() {
                    if let Some(&(ctx, from, to)) = pairs.get(k + PAIRS_AHEAD) {
                        prefetch_row(w_in, ctx);
                        for &w in &drawn[from..to] {
                            prefetch_row(w_out, w);
                        }
                    }
                    let (ctx, from, to) = pairs[k];
                    // The input row is read once per target: this thread's
                    // own copy (other threads may write the row meanwhile).
                    let row = w_in.row(ctx as usize);
                    row.copy_to(&mut input);
                    let (l, e) =
                        targets_step(&input, &drawn[from..to], alpha, &mut neu1e, w_out, tables);
                    loss += l;
                    examples += e;
                    row.add(1.0, &neu1e);
                }
            }
            since_report += sentence.len() as u64;
            if since_report >= REPORT_EVERY || si + 1 == to {
                if stop.is_raised() {
                    break;
                }
                let done = processed.fetch_add(since_report, Ordering::Relaxed) + since_report;
                since_report = 0;
                let frac = done as f64 / all_words.max(1) as f64;
                alpha = (p.alpha - (p.alpha - p.min_alpha) * frac as f32).max(p.min_alpha);
                if t == 0 {
                    let elapsed = start.elapsed().as_secs_f64();
                    report(EpochProgress {
                        epoch,
                        epochs: p.epochs,
                        done: frac,
                        words_per_sec: done as f64 / elapsed.max(1e-9),
                        loss: loss / examples.max(1) as f64,
                        elapsed,
                    });
                }
            }
        }
        (loss, examples, effective)
    }
}

/// Appends an example's targets to `drawn`: the centre word, then
/// `negative` draws from the noise distribution, leaving out draws of the
/// centre word itself, as word2vec and gensim do.
#[inline(always)]
fn draw_targets(
    center: u32,
    drawn: &mut Vec<u32>,
    rng: &mut Rng,
    negatives: &AliasTable,
    negative: usize,
) {
    drawn.push(center);
    for _ in 0..negative {
        let n = negatives.sample(rng);
        if n != center {
            drawn.push(n);
        }
    }
}

/// How many pairs ahead skip-gram fetches a pair's rows.
const PAIRS_AHEAD: usize = 2;

/// Asks for row `i` to be brought into cache, a line (16 floats) at a time,
/// as `embed` does with the rows it is about to sum.
#[inline(always)]
fn prefetch_row(w: &SharedRows, i: u32) {
    let row = w.row(i as usize);
    for k in (0..row.len()).step_by(16) {
        // SAFETY: `k` is inside the row.
        #[allow(unsafe_code)]
        prefetch_ptr(unsafe { row.as_ptr().add(k) });
    }
}

/// One positive example (`input` predicts `targets[0]`) and its negatives
/// (the rest of `targets`): all the dot products are taken before any
/// update, so that the rows they read are fetched from memory together
/// rather than one after the other. Sets `neu1e` to the input's gradient
/// and updates the output rows; returns the summed loss and the number of
/// examples.
#[inline(always)]
fn targets_step(
    input: &[f32],
    targets: &[u32],
    alpha: f32,
    neu1e: &mut [f32],
    w_out: &SharedRows,
    tables: &Tables,
) -> (f64, u64) {
    let mut f = [0.0f32; 128];
    let m = targets.len().min(f.len());
    for (fi, &target) in f.iter_mut().zip(targets) {
        *fi = w_out.row(target as usize).dot(input);
    }
    neu1e.iter_mut().for_each(|x| *x = 0.0);
    let mut loss = 0.0f64;
    for (i, (&fi, &target)) in f[..m].iter().zip(targets).enumerate() {
        let (g, l) = tables.step(fi, if i == 0 { 1.0 } else { 0.0 });
        loss += l as f64;
        let g = g * alpha;
        let out = w_out.row(target as usize);
        out.add_to(g, neu1e);
        out.add(g, input);
    }
    (loss, m as u64)
}

/// [`targets_step`] in AVX-512 registers, for rows of at most `16 * R`
/// floats: the input row is loaded once, the dot products are taken with
/// fused multiply-adds (so they round differently from the portable
/// code's), and each output row is read once for both its updates.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{SharedRows, Tables};

    pub const LANES: usize = 16;

    /// A training step, as [`super::targets_step`] takes its arguments.
    pub type Step = unsafe fn(&[f32], &[u32], f32, &mut [f32], &SharedRows, &Tables) -> (f64, u64);

    /// The step whose registers hold rows of `dim` floats (at most 128).
    pub fn step_for(dim: usize) -> Step {
        match dim.div_ceil(LANES) {
            0 | 1 => step::<1>,
            2 => step::<2>,
            3 => step::<3>,
            4 => step::<4>,
            5 => step::<5>,
            6 => step::<6>,
            7 => step::<7>,
            _ => step::<8>,
        }
    }

    /// Register `r` of a row of `dim` floats: loads past the end are masked.
    #[inline(always)]
    fn mask(dim: usize, r: usize) -> __mmask16 {
        let left = dim.saturating_sub(r * LANES).min(LANES);
        ((1u32 << left) - 1) as __mmask16
    }

    /// # Safety
    /// The processor must support AVX-512F, and `input`, `neu1e` and every
    /// row of `w_out` must hold at most `16 * R` floats.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub unsafe fn step<const R: usize>(
        input: &[f32],
        targets: &[u32],
        alpha: f32,
        neu1e: &mut [f32],
        w_out: &SharedRows,
        tables: &Tables,
    ) -> (f64, u64) {
        let dim = input.len();
        assert!(
            dim <= R * LANES && neu1e.len() == dim,
            "rows fit the registers"
        );
        let masks: [__mmask16; R] = std::array::from_fn(|r| mask(dim, r));
        let mut x = [_mm512_setzero_ps(); R];
        for (r, x) in x.iter_mut().enumerate() {
            // SAFETY: the mask keeps the load inside `input`.
            *x = unsafe { _mm512_maskz_loadu_ps(masks[r], input.as_ptr().add(r * LANES)) };
        }
        let mut f = [0.0f32; 128];
        let m = targets.len().min(f.len());
        for (fi, &target) in f.iter_mut().zip(targets) {
            let out = w_out.row(target as usize);
            assert!(out.len() == dim, "output rows are as long as the input");
            let mut acc = _mm512_setzero_ps();
            for (r, &x) in x.iter().enumerate() {
                // SAFETY: the mask keeps the load inside `out`.
                let o = unsafe { _mm512_maskz_loadu_ps(masks[r], out.as_ptr().add(r * LANES)) };
                acc = _mm512_fmadd_ps(x, o, acc);
            }
            *fi = _mm512_reduce_add_ps(acc);
        }
        let mut e = [_mm512_setzero_ps(); R];
        let mut loss = 0.0f64;
        for (i, (&fi, &target)) in f[..m].iter().zip(targets).enumerate() {
            let (g, l) = tables.step(fi, if i == 0 { 1.0 } else { 0.0 });
            loss += l as f64;
            let g = _mm512_set1_ps(g * alpha);
            let out = w_out.row(target as usize);
            assert!(out.len() == dim, "output rows are as long as the input");
            for (r, (e, &x)) in e.iter_mut().zip(&x).enumerate() {
                // SAFETY: the mask keeps the load and the store inside
                // `out`.
                unsafe {
                    let p = out.as_ptr().add(r * LANES);
                    let o = _mm512_maskz_loadu_ps(masks[r], p);
                    *e = _mm512_fmadd_ps(g, o, *e);
                    _mm512_mask_storeu_ps(p, masks[r], _mm512_fmadd_ps(g, x, o));
                }
            }
        }
        for (r, e) in e.iter().enumerate() {
            // SAFETY: the mask keeps the store inside `neu1e`.
            unsafe { _mm512_mask_storeu_ps(neu1e.as_mut_ptr().add(r * LANES), masks[r], *e) };
        }
        (loss, m as u64)
    }
}

/// Sentences in the fixed evaluation sample.
const EVAL_SENTENCES: usize = 5_000;

/// The mean loss over a fixed sample of the corpus (evenly spaced
/// sentences, every pair within the full window, no subsampling) with
/// negatives from a fixed seed, without updating anything.
fn evaluate(
    corpus: &Corpus,
    p: &TrainParams,
    w_in: &SharedRows,
    w_out: &SharedRows,
    tables: &Tables,
    negatives: &AliasTable,
) -> f64 {
    let sentences = corpus.ends.len();
    let step = (sentences / EVAL_SENTENCES).max(1);
    let mut rng = Rng::new(p.seed ^ 0xE7A1);
    let mut neu1 = vec![0.0f32; p.dim];
    let (mut loss, mut examples) = (0.0f64, 0u64);
    let mut drawn = Vec::with_capacity(p.negative + 1);
    let mut score = |input: &[f32], center: u32, rng: &mut Rng| {
        drawn.clear();
        draw_targets(center, &mut drawn, rng, negatives, p.negative);
        for (i, &target) in drawn.iter().enumerate() {
            let label = if i == 0 { 1.0 } else { 0.0 };
            let (_, l) = tables.step(w_out.row(target as usize).dot(input), label);
            loss += l as f64;
            examples += 1;
        }
    };
    for si in (0..sentences).step_by(step) {
        let s = corpus.sentence(si);
        for (i, &center) in s.iter().enumerate() {
            let lo = i.saturating_sub(p.window);
            let hi = (i + p.window + 1).min(s.len());
            if p.cbow {
                neu1.iter_mut().for_each(|x| *x = 0.0);
                let count = (lo..hi).filter(|&j| j != i).count();
                if count == 0 {
                    continue;
                }
                for j in (lo..hi).filter(|&j| j != i) {
                    w_in.row(s[j] as usize)
                        .add_to(1.0 / count as f32, &mut neu1);
                }
                score(&neu1, center, &mut rng);
            } else {
                for j in (lo..hi).filter(|&j| j != i) {
                    w_in.row(s[j] as usize).copy_to(&mut neu1);
                    score(&neu1, center, &mut rng);
                }
            }
        }
    }
    loss / examples.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_table_matches_the_distribution() {
        let counts = [1000u64, 100, 10, 1];
        let table = AliasTable::new(&counts, 0.75);
        let mut rng = Rng::new(7);
        let mut seen = [0u64; 4];
        let n = 400_000;
        for _ in 0..n {
            seen[table.sample(&mut rng) as usize] += 1;
        }
        let weights: Vec<f64> = counts.iter().map(|&c| (c as f64).powf(0.75)).collect();
        let total: f64 = weights.iter().sum();
        for i in 0..4 {
            let expected = weights[i] / total;
            let got = seen[i] as f64 / n as f64;
            assert!(
                (got - expected).abs() < 0.01,
                "word {i}: {got} vs {expected}"
            );
        }
    }

    #[test]
    fn subsampling_keeps_rare_words() {
        let keep = keep_thresholds(&[1_000_000, 10], 2_000_000, 1e-3);
        assert!(
            keep[0] < u32::MAX / 10,
            "a very frequent word is mostly dropped"
        );
        assert_eq!(keep[1], u32::MAX);
        assert_eq!(keep_thresholds(&[5], 5, 0.0), vec![u32::MAX]);
    }

    #[test]
    fn sigmoid_step_is_a_gradient() {
        let t = Tables::new();
        let (g, loss) = t.step(0.0, 1.0);
        assert!((g - 0.5).abs() < 0.01 && (loss - std::f32::consts::LN_2).abs() < 0.01);
        assert_eq!(t.step(10.0, 1.0), (0.0, 0.0));
        assert_eq!(t.step(-10.0, 0.0), (0.0, 0.0));
    }

    /// The AVX-512 step against the portable one, for rows that fill,
    /// part-fill and overfill registers: the same loss, gradient and
    /// updated output rows, to the rounding of fused multiply-adds.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_step_agrees_with_the_portable_step() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            eprintln!("skipped: this processor has no AVX-512F");
            return;
        }
        let tables = Tables::new();
        let mut rng = Rng::new(11);
        for dim in [1usize, 7, 16, 17, 31, 100, 128] {
            let rows = 9;
            let fresh: Vec<f32> = (0..rows * dim).map(|_| rng.unit() - 0.5).collect();
            let input: Vec<f32> = (0..dim).map(|_| 2.0 * rng.unit() - 1.0).collect();
            // The centre word, negatives, and a row drawn twice.
            let targets = [3u32, 0, 8, 5, 0, 2];
            let run = |simd: bool| {
                let mut out = fresh.clone();
                let mut neu1e = vec![0.0f32; dim];
                let (loss, examples) = {
                    let w_out = SharedRows::new(&mut out, dim);
                    if simd {
                        #[allow(unsafe_code)]
                        // SAFETY: AVX-512F checked above; the step is the
                        // one for `dim`.
                        unsafe {
                            avx512::step_for(dim)(
                                &input, &targets, 0.025, &mut neu1e, &w_out, &tables,
                            )
                        }
                    } else {
                        targets_step(&input, &targets, 0.025, &mut neu1e, &w_out, &tables)
                    }
                };
                (loss, examples, neu1e, out)
            };
            let (l1, e1, g1, o1) = run(false);
            let (l2, e2, g2, o2) = run(true);
            assert_eq!(e1, e2, "dim {dim}");
            assert!((l1 - l2).abs() < 0.05, "dim {dim}: loss {l1} vs {l2}");
            for (a, b) in g1.iter().zip(&g2).chain(o1.iter().zip(&o2)) {
                assert!((a - b).abs() < 2e-4, "dim {dim}: {a} vs {b}");
            }
            // (Fused rounding can move f across a step of the sigmoid
            // table, hence the tolerances.) Rows that are not targets are
            // left alone, bit for bit.
            for row in [1usize, 4, 6, 7] {
                assert_eq!(
                    o2[row * dim..(row + 1) * dim],
                    fresh[row * dim..(row + 1) * dim]
                );
            }
        }
    }
}
