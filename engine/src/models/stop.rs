//! A training's stop flag. A statement that is cancelled, runs past its
//! time limit or loses its client is dropped by its host; training runs on
//! threads of its own that a drop cannot reach, so [`crate::models::create`]
//! arms a guard that raises this flag when its future is dropped, and the
//! trainers look at it at least once per block of work (word2vec every
//! 10,000 words a thread trains and every epoch, k-means every iteration,
//! both every input batch, a tagger learning from texts every input
//! batch) and give up with [`Stop::stopped`]'s error. A tagger built from
//! its models alone is one matrix product of a fraction of a second and
//! runs to its end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use datafusion::common::{DataFusionError, Result};

/// Shared by a training's threads; raised once, never lowered.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the training to stop.
    pub fn raise(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether the training was asked to stop: one relaxed load, cheap
    /// enough for a hot loop's block boundary.
    #[inline]
    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// `Err` once the flag is raised: `who` (a model type) names the
    /// training in the message.
    pub fn check(&self, who: &str) -> Result<()> {
        if self.is_raised() {
            Err(Self::stopped(who))
        } else {
            Ok(())
        }
    }

    /// The error a stopped training ends with.
    pub fn stopped(who: &str) -> DataFusionError {
        DataFusionError::Execution(format!(
            "{who}: training stopped (the statement was cancelled, timed out or lost its client)"
        ))
    }

    /// A guard that raises the flag when it is dropped, unless disarmed.
    pub fn raise_on_drop(&self) -> RaiseOnDrop {
        RaiseOnDrop(Some(self.clone()))
    }
}

/// Raises its [`Stop`] when dropped: held by the future that awaits a
/// training, so that dropping the future stops the threads.
#[derive(Debug)]
pub struct RaiseOnDrop(Option<Stop>);

impl RaiseOnDrop {
    /// The training finished: dropping the guard changes nothing.
    pub fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RaiseOnDrop {
    fn drop(&mut self) {
        if let Some(stop) = self.0.take() {
            stop.raise();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_guard_raises_and_a_disarmed_one_does_not() {
        let stop = Stop::new();
        stop.raise_on_drop().disarm();
        assert!(stop.check("x").is_ok());
        drop(stop.raise_on_drop());
        let err = stop.check("word2vec").expect_err("raised");
        assert!(
            err.to_string().contains("word2vec: training stopped"),
            "{err}"
        );
    }
}
