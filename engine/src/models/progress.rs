//! Progress of a model's training, reported to a sink the host provides:
//! the CLI draws it on a terminal, the server writes it to its log, a test
//! collects it. The engine never draws anything itself.

use std::sync::Arc;

/// Where a training is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading the `AS` query's rows.
    Reading,
    /// Training over what was read: `epoch` of `epochs` (k-means: its
    /// iterations).
    Training,
    /// Built; the version is being written.
    Finished,
}

/// One report, several a second at most.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// The model being built, and its type.
    pub model: Arc<str>,
    pub model_type: &'static str,
    pub stage: Stage,
    /// Input rows read so far.
    pub rows: u64,
    /// The epoch under way (from 0), of `epochs`.
    pub epoch: usize,
    pub epochs: usize,
    /// Share of the training done, 0 to 1.
    pub done: f64,
    /// word2vec: corpus words trained per second so far.
    pub words_per_sec: f64,
    /// Mean loss so far in this epoch, where the type has one.
    pub loss: Option<f64>,
    /// Seconds since the statement started.
    pub elapsed: f64,
}

impl Progress {
    /// A report for `model` at `stage`, with nothing counted yet.
    pub fn new(model: &Arc<str>, model_type: &'static str, stage: Stage) -> Self {
        Self {
            model: Arc::clone(model),
            model_type,
            stage,
            rows: 0,
            epoch: 0,
            epochs: 0,
            done: 0.0,
            words_per_sec: 0.0,
            loss: None,
            elapsed: 0.0,
        }
    }

    /// Seconds the training should still take, from its pace so far.
    pub fn eta(&self) -> Option<f64> {
        (self.stage == Stage::Training && self.done > 0.0)
            .then(|| self.elapsed * (1.0 - self.done) / self.done)
    }
}

/// Takes progress reports. Called from training threads: keep it cheap and
/// never block on I/O that can stall.
pub trait ProgressSink: Send + Sync {
    fn report(&self, progress: &Progress);
}

/// A sink that drops every report.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn report(&self, _: &Progress) {}
}

impl<F: Fn(&Progress) + Send + Sync> ProgressSink for F {
    fn report(&self, progress: &Progress) {
        self(progress)
    }
}
