//! Statements: splitting a script into statements, and the statements
//! quiver adds to DataFusion's SQL (`CREATE MODEL`, `DROP MODEL`, `SHOW
//! MODELS`, `DESCRIBE MODEL`) or executes itself so that they persist
//! (`CREATE TABLE ... AS`, `CREATE VIEW`, `CREATE EXTERNAL TABLE`, `DROP`).

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, Tokenizer};

use crate::warehouse::policy::PathPolicy;

pub mod alter;
pub mod create;
pub mod ddl;
pub mod dml;
pub mod history;
pub mod model;
pub mod optimize;
pub mod params;
pub mod vacuum;

/// Plans one statement of quiver's SQL ([`quiver_engine::plan::sql`]) and
/// checks every location it reads or writes against the session's path
/// policy: the one way SQL text becomes a plan in quiver.
pub async fn plan(state: &SessionState, sql: &str) -> Result<LogicalPlan> {
    let plan = quiver_engine::plan::sql::plan_sql(state, sql).await?;
    if let Some(policy) = PathPolicy::of(state) {
        policy.check_plan(&plan)?;
    }
    Ok(plan)
}

/// Whether running `plan` changes something (DDL, DML, COPY, SET), so that
/// it must run exactly once, rather than be planned for its schema and run
/// later.
pub fn has_effects(plan: &LogicalPlan) -> bool {
    matches!(
        plan,
        LogicalPlan::Ddl(_)
            | LogicalPlan::Dml(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::Statement(_)
    ) || matches!(plan, LogicalPlan::Analyze(a) if has_effects(&a.input))
}

/// `name` as a quoted SQL identifier: `"name"`, with `"` doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Splits `sql` into statements at top-level semicolons, keeping each
/// statement's text as the user wrote it. Blank and comment-only pieces are
/// dropped.
pub fn split(sql: &str) -> Result<Vec<String>> {
    let tokens = Tokenizer::new(&GenericDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| DataFusionError::Plan(format!("syntax error: {e}")))?;
    let lines = line_starts(sql);
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for t in &tokens {
        match &t.token {
            Token::SemiColon => {
                if let Some(s) = start.take() {
                    let end = byte_offset(sql, &lines, t.span.start);
                    out.push(sql[s..end].trim().to_string());
                }
            }
            Token::Whitespace(_) | Token::EOF => {}
            _ => {
                if start.is_none() {
                    start = Some(byte_offset(sql, &lines, t.span.start));
                }
            }
        }
    }
    if let Some(s) = start {
        out.push(sql[s..].trim().to_string());
    }
    Ok(out)
}

/// Whether `sql` ends a statement: its last token that is not white space
/// or a comment is a semicolon. The shell reads lines until this holds.
pub fn is_complete(sql: &str) -> bool {
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize() else {
        // An unterminated string or comment: keep reading.
        return false;
    };
    tokens
        .iter()
        .rev()
        .find(|t| !matches!(t, Token::Whitespace(_) | Token::EOF))
        .is_some_and(|t| *t == Token::SemiColon)
}

/// Consumes the word `word` (case-insensitive) if it comes next.
pub(crate) fn parse_word(p: &mut Parser, word: &str) -> bool {
    if let Token::Word(w) = &p.peek_token().token
        && w.value.eq_ignore_ascii_case(word)
    {
        p.next_token();
        return true;
    }
    false
}

/// The first words of a statement, lower-cased (comments skipped).
pub fn leading_words(sql: &str, n: usize) -> Vec<String> {
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize() else {
        return Vec::new();
    };
    tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .take(n)
        .map(|t| match t {
            Token::Word(w) => w.value.to_lowercase(),
            other => other.to_string(),
        })
        .collect()
}

fn line_starts(sql: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// The byte offset of a tokenizer location (1-based line, 1-based column
/// counted in characters).
fn byte_offset(sql: &str, lines: &[usize], loc: Location) -> usize {
    let line = (loc.line.max(1) - 1) as usize;
    let Some(&start) = lines.get(line) else {
        return sql.len();
    };
    let col = (loc.column.max(1) - 1) as usize;
    sql[start..]
        .char_indices()
        .nth(col)
        .map(|(i, _)| start + i)
        .unwrap_or(sql.len())
}

/// The byte offset in `sql` of a tokenizer location.
pub(crate) fn location_offset(sql: &str, loc: Location) -> usize {
    byte_offset(sql, &line_starts(sql), loc)
}

/// The text of `sql` from the location of a token onwards.
pub(crate) fn text_from(sql: &str, loc: Location) -> &str {
    let lines = line_starts(sql);
    &sql[byte_offset(sql, &lines, loc)..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_top_level_semicolons_only() {
        let sql = "select 'a;b';\n-- a comment; still a comment\nselect 2 ;;\n  select 3";
        assert_eq!(
            split(sql).expect("split"),
            vec!["select 'a;b'", "select 2", "select 3"]
        );
        assert!(split("  -- nothing\n").expect("split").is_empty());
        assert_eq!(split("select 'é';select 1").expect("split")[1], "select 1");
    }

    #[test]
    fn completeness_ignores_trailing_comments() {
        assert!(is_complete("select 1; -- done"));
        assert!(!is_complete("select 1"));
        assert!(!is_complete("select ';"));
    }

    #[test]
    fn leading_words_skip_comments() {
        assert_eq!(
            leading_words("/* x */ CREATE or Replace MODEL m", 4),
            vec!["create", "or", "replace", "model"]
        );
    }
}
