//! The wording every front door gives an error: one line, lower-case,
//! without DataFusion's prefixes or a backtrace. The CLI prints it, the
//! server sends it as the status message, the tests compare against it.

use datafusion::common::DataFusionError;

/// An error as a person should read it: one line, lower-case, without
/// DataFusion's "Error during planning: " prefixes or a backtrace.
pub fn user_message(e: &DataFusionError) -> String {
    use datafusion::sql::sqlparser::parser::ParserError;
    if let DataFusionError::SQL(parse, _) = e.find_root() {
        return match parse.as_ref() {
            ParserError::ParserError(m) | ParserError::TokenizerError(m) => {
                format!("syntax error: {m}")
            }
            ParserError::RecursionLimitExceeded => {
                "syntax error: the statement is nested too deeply".to_string()
            }
        };
    }
    let text = e.strip_backtrace();
    let mut s = text.as_str();
    for prefix in [
        "Error during planning: ",
        "Execution error: ",
        "This feature is not implemented: ",
        "Invalid or Unsupported Configuration: ",
        "External error: ",
        "Arrow error: ",
        "Object Store error: ",
        "SQL error: ",
        "Schema error: ",
    ] {
        while let Some(rest) = s.strip_prefix(prefix) {
            s = rest;
        }
        s = s.trim_start();
    }
    s.to_string()
}

/// A statement panicked (in quiver, or in a library under it such as
/// parquet-rs meeting a corrupt file): a fault of the program, never of the
/// statement (the server answers `INTERNAL`), and never a complete result.
#[derive(Debug)]
pub struct TaskPanicked(pub String);

impl std::fmt::Display for TaskPanicked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the statement failed: a task panicked ({})", self.0)
    }
}

impl std::error::Error for TaskPanicked {}

impl From<TaskPanicked> for DataFusionError {
    fn from(e: TaskPanicked) -> Self {
        DataFusionError::External(Box::new(e))
    }
}

/// Where the last panic happened, when [`quiet_panics`] is on.
static LAST_PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Panics say where they happened in the error that reports them instead
/// of on standard error (unless `RUST_BACKTRACE` asks for the trace): the
/// CLI contains a statement's panic and prints it as one error line.
pub fn quiet_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::env::var_os("RUST_BACKTRACE").is_some() {
            previous(info);
        }
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(format!("{}{at}", payload_text(info.payload())));
        }
    }));
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_string())
}

/// What a panic said (and where, under [`quiet_panics`]), for the error
/// that reports it.
pub fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    LAST_PANIC
        .lock()
        .ok()
        .and_then(|mut last| last.take())
        .unwrap_or_else(|| payload_text(payload.as_ref()))
}
