//! What the front doors show a person or a program: results in each output
//! format ([`print_stream`]) and training progress on a terminal
//! ([`TerminalProgress`]). The CLI and the demo both use it; the engine and
//! the statements never draw anything themselves.

mod print;
mod progress;

pub use print::{Format, PrintError, print_stream};
pub use progress::TerminalProgress;

/// The session options of a front door at a terminal: no limits, progress
/// drawn on standard error.
pub fn terminal_options() -> crate::session::SessionOptions {
    crate::session::SessionOptions {
        progress: std::sync::Arc::new(TerminalProgress::new()),
        ..Default::default()
    }
}
