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
