//! Training progress as one line on standard error, rewritten in place
//! while standard error is a terminal (and nothing otherwise, so that
//! scripts and logs stay clean).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use quiver_engine::models::{Progress, ProgressSink, Stage};

/// Redraws at most this often.
const EVERY: Duration = Duration::from_millis(250);

/// A [`ProgressSink`] that draws on the terminal.
#[derive(Debug)]
pub struct TerminalProgress {
    terminal: bool,
    last: Mutex<Option<Instant>>,
}

impl TerminalProgress {
    pub fn new() -> Self {
        Self {
            terminal: std::io::stderr().is_terminal(),
            last: Mutex::new(None),
        }
    }
}

impl Default for TerminalProgress {
    fn default() -> Self {
        Self::new()
    }
}

/// The line for `p`, without the terminal's control codes.
pub fn line(p: &Progress) -> String {
    match p.stage {
        Stage::Reading => format!(
            "{} {}: reading, {} rows  {:.0}s",
            p.model_type, p.model, p.rows, p.elapsed
        ),
        Stage::Training => {
            let mut s = format!("{} {}: training", p.model_type, p.model);
            if p.epochs > 0 {
                s += &format!(
                    " epoch {}/{} {:>3.0}%",
                    p.epoch + 1,
                    p.epochs,
                    p.done * 100.0
                );
            }
            if p.words_per_sec > 0.0 {
                s += &format!("  {:.0}k words/s", p.words_per_sec / 1000.0);
            }
            if let Some(loss) = p.loss {
                s += &format!("  loss {loss:.3}");
            }
            if let Some(eta) = p.eta() {
                s += &format!("  {eta:.0}s left");
            }
            s
        }
        Stage::Finished => String::new(),
    }
}

impl ProgressSink for TerminalProgress {
    fn report(&self, p: &Progress) {
        if !self.terminal {
            return;
        }
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        let mut err = std::io::stderr().lock();
        if p.stage == Stage::Finished {
            *last = None;
            let _ = write!(err, "\r\x1b[2K");
        } else {
            if last.is_some_and(|at| at.elapsed() < EVERY) {
                return;
            }
            *last = Some(Instant::now());
            let _ = write!(err, "\r\x1b[2K{}", line(p));
        }
        let _ = err.flush();
    }
}
