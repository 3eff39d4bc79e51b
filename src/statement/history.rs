//! A table's history (#24): `DESCRIBE HISTORY t [LIMIT n]` lists its
//! commits, newest first; `RESTORE [TABLE] t TO VERSION AS OF n` (or `TO
//! TIMESTAMP AS OF '...'`) makes an earlier version current again, in one
//! new commit; `SELECT ... FROM t VERSION AS OF n` (or `TIMESTAMP AS OF
//! '...'`) reads an earlier version. Each version's files stay until
//! VACUUM's retention period has passed since they were replaced.
//!
//! DataFusion's SQL dialect has no `AS OF` clause, so [`rewrite_as_of`]
//! opens each table a statement reads at a version, registers it for the
//! statement under a name of quiver's own, and names that in the text.

use std::sync::Arc;

use datafusion::arrow::array::{
    Int64Array, RecordBatch, StringArray, TimestampMillisecondArray, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::catalog::SchemaProvider;
use datafusion::common::{DataFusionError, Result, TableReference, plan_err};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Word};
use quiver_engine::error::not_found;

use super::{leading_words, parse_word, quote_ident};
use crate::statement::ddl::warehouse_object;
use crate::warehouse::delta;
use crate::warehouse::schemas::WarehouseCatalog;
use crate::warehouse::table::WarehouseTable;
use crate::warehouse::{Entry, WarehouseSchema};

/// Which version of a table: by number or by time.
#[derive(Debug, Clone, PartialEq)]
pub enum AsOf {
    Version(i64),
    Timestamp(chrono::DateTime<chrono::Utc>),
}

/// A parsed `DESCRIBE HISTORY` or `RESTORE`.
#[derive(Debug, Clone, PartialEq)]
pub enum History {
    Describe { table: TableReference, limit: usize },
    Restore { table: TableReference, to: AsOf },
}

/// Whether `sql` is `DESCRIBE HISTORY` or `RESTORE`.
pub fn is_history(sql: &str) -> bool {
    let words = leading_words(sql, 2);
    match words.first().map(String::as_str) {
        Some("restore") => true,
        Some("describe") => words.get(1).is_some_and(|w| w == "history"),
        _ => false,
    }
}

fn syntax(e: ParserError) -> DataFusionError {
    DataFusionError::Plan(format!("syntax error: {e}"))
}

/// A timestamp as `TIMESTAMP AS OF` takes it: RFC 3339, or a date and
/// time without a zone (read as UTC), or a date.
fn parse_timestamp(text: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(Utc.from_utc_datetime(&t));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN)));
    }
    plan_err!(
        "TIMESTAMP AS OF '{text}': expected a time such as '2026-12-03 10:00:00' (UTC) or RFC 3339"
    )
}

/// Parses `VERSION AS OF n` or `TIMESTAMP AS OF '...'`, the first word
/// already read as `kind`.
fn parse_as_of(p: &mut Parser, kind: &str) -> Result<AsOf> {
    if !(parse_word(p, "as") && parse_word(p, "of")) {
        return plan_err!("syntax error: expected AS OF after {}", kind.to_uppercase());
    }
    let token = p.next_token().token;
    match (kind, token) {
        ("version", Token::Number(n, _)) => n.parse::<i64>().map(AsOf::Version).map_err(|_| {
            DataFusionError::Plan(format!("VERSION AS OF {n}: expected a version number"))
        }),
        ("timestamp", Token::SingleQuotedString(s)) => parse_timestamp(&s).map(AsOf::Timestamp),
        (_, other) => plan_err!(
            "syntax error: {} AS OF takes {}, found {other}",
            kind.to_uppercase(),
            if kind == "version" {
                "a version number"
            } else {
                "a quoted time"
            }
        ),
    }
}

fn table_name(p: &mut Parser) -> Result<TableReference> {
    let name = p.parse_object_name(false).map_err(syntax)?;
    super::alter::table_reference(&name)
}

/// Parses `DESCRIBE HISTORY t [LIMIT n]` or `RESTORE [TABLE] t TO VERSION
/// AS OF n | TO TIMESTAMP AS OF '...'`.
pub fn parse(sql: &str) -> Result<History> {
    let dialect = GenericDialect {};
    let mut p = Parser::new(&dialect).try_with_sql(sql).map_err(syntax)?;
    let statement = if parse_word(&mut p, "describe") {
        parse_word(&mut p, "history");
        let table = table_name(&mut p)?;
        let mut limit = usize::MAX;
        if parse_word(&mut p, "limit") {
            limit = match p.next_token().token {
                Token::Number(n, _) => n.parse::<usize>().ok(),
                _ => None,
            }
            .ok_or_else(|| {
                DataFusionError::Plan("DESCRIBE HISTORY ... LIMIT takes a number of commits".into())
            })?;
        }
        History::Describe { table, limit }
    } else {
        parse_word(&mut p, "restore");
        parse_word(&mut p, "table");
        let table = table_name(&mut p)?;
        if !parse_word(&mut p, "to") {
            return plan_err!(
                "syntax error: RESTORE TABLE t TO VERSION AS OF n | TO TIMESTAMP AS OF '...'"
            );
        }
        let to = if parse_word(&mut p, "version") {
            parse_as_of(&mut p, "version")?
        } else if parse_word(&mut p, "timestamp") {
            parse_as_of(&mut p, "timestamp")?
        } else {
            return plan_err!(
                "syntax error: RESTORE TABLE t TO VERSION AS OF n | TO TIMESTAMP AS OF '...'"
            );
        };
        History::Restore { table, to }
    };
    let _ = p.consume_token(&Token::SemiColon);
    if p.peek_token().token != Token::EOF {
        return plan_err!("syntax error: unexpected {}", p.peek_token().token);
    }
    Ok(statement)
}

/// The warehouse table `table` names: its schema and name; an error for
/// anything else.
fn resolve(
    ctx: &SessionContext,
    catalog: &WarehouseCatalog,
    table: &TableReference,
    what: &str,
) -> Result<(Arc<WarehouseSchema>, String)> {
    let options = ctx.copied_config().options().clone();
    let (schema, name) = warehouse_object(catalog, table, &options).ok_or_else(|| {
        DataFusionError::Plan(format!("{what}: '{table}' is not in the warehouse"))
    })?;
    match schema.entries().into_iter().find(|(n, _)| *n == name) {
        Some((_, Ok(Entry::Delta { .. } | Entry::Table { .. }))) => Ok((schema, name)),
        Some((_, Ok(entry))) => plan_err!(
            "{what}: '{name}' is a {}, which has no history",
            entry.kind()
        ),
        Some((_, Err(why))) => plan_err!("{what}: '{name}' cannot be read: {why}"),
        None => Err(not_found(format!(
            "{what}: table '{name}' does not exist ({})",
            schema.listing()
        ))),
    }
}

/// Runs `stmt`: the history's rows, or RESTORE's one row.
pub async fn execute(
    ctx: &SessionContext,
    catalog: &WarehouseCatalog,
    stmt: &History,
) -> Result<RecordBatch> {
    match stmt {
        History::Describe { table, limit } => {
            let (schema, name) = resolve(ctx, catalog, table, "DESCRIBE HISTORY")?;
            let commits = delta::history(schema.warehouse(), &name, *limit).await?;
            let out = Arc::new(Schema::new(vec![
                Field::new("version", DataType::Int64, false),
                Field::new(
                    "timestamp",
                    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                    true,
                ),
                Field::new("operation", DataType::Utf8, true),
                Field::new("parameters", DataType::Utf8, true),
            ]));
            Ok(RecordBatch::try_new(
                out,
                vec![
                    Arc::new(Int64Array::from_iter_values(
                        commits.iter().map(|c| c.version),
                    )),
                    Arc::new(
                        TimestampMillisecondArray::from(
                            commits.iter().map(|c| c.timestamp).collect::<Vec<_>>(),
                        )
                        .with_timezone("UTC"),
                    ),
                    Arc::new(StringArray::from(
                        commits
                            .iter()
                            .map(|c| c.operation.clone())
                            .collect::<Vec<_>>(),
                    )),
                    Arc::new(StringArray::from(
                        commits
                            .iter()
                            .map(|c| c.parameters.clone())
                            .collect::<Vec<_>>(),
                    )),
                ],
            )?)
        }
        History::Restore { table, to } => {
            let (schema, name) = resolve(ctx, catalog, table, "RESTORE")?;
            let (version, at) = match to {
                AsOf::Version(v) => (Some(*v), None),
                AsOf::Timestamp(t) => (None, Some(*t)),
            };
            let (removed, restored) =
                delta::restore(schema.warehouse(), &name, version, at).await?;
            schema.invalidate(&name);
            let out = Arc::new(Schema::new(vec![
                Field::new("removed_files", DataType::UInt64, false),
                Field::new("restored_files", DataType::UInt64, false),
            ]));
            Ok(RecordBatch::try_new(
                out,
                vec![
                    Arc::new(UInt64Array::from(vec![removed])),
                    Arc::new(UInt64Array::from(vec![restored])),
                ],
            )?)
        }
    }
}

/// Tables a statement reads `AS OF` a version, registered for it under
/// names of quiver's own; [`AsOfTables::release`] removes them once the
/// statement is planned (its plan holds them).
#[derive(Default)]
pub struct AsOfTables(Vec<(Arc<WarehouseSchema>, String)>);

impl AsOfTables {
    pub fn release(self) {
        for (schema, name) in self.0 {
            let _ = schema.deregister_table(&name);
        }
    }
}

/// A name part as DataFusion normalizes it: unquoted is lower case.
fn word_value(word: &Word) -> String {
    match word.quote_style {
        Some(_) => word.value.clone(),
        None => word.value.to_lowercase(),
    }
}

/// `sql` with each `name VERSION AS OF n` / `name TIMESTAMP AS OF '...'`
/// replaced by a table registered for the statement, that version of
/// table `name` (aliased as `name` unless the statement gives an alias);
/// `None` when `sql` has no such clause.
pub async fn rewrite_as_of(
    ctx: &SessionContext,
    catalog: &WarehouseCatalog,
    sql: &str,
) -> Result<Option<(String, AsOfTables)>> {
    if !sql.to_ascii_lowercase().contains(" as of") {
        return Ok(None);
    }
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize_with_location() else {
        return Ok(None);
    };
    let sig: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_) | Token::EOF))
        .collect();
    let word = |k: usize, w: &str| {
        sig.get(k)
            .is_some_and(|&i| matches!(&tokens[i].token, Token::Word(x) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w)))
    };
    let state = ctx.state();
    let options = ctx.copied_config().options().clone();
    let mut tables = AsOfTables::default();
    // (start, end) byte ranges and their replacements, in order.
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let result: Result<()> = async {
        for k in 1..sig.len() {
            let kind = if word(k, "version") {
                "version"
            } else if word(k, "timestamp") {
                "timestamp"
            } else {
                continue;
            };
            if !(word(k + 1, "as") && word(k + 2, "of")) {
                continue;
            }
            let Some(&value_at) = sig.get(k + 3) else {
                continue;
            };
            let as_of = match (kind, &tokens[value_at].token) {
                ("version", Token::Number(n, _)) => {
                    AsOf::Version(n.parse::<i64>().map_err(|_| {
                        DataFusionError::Plan(format!(
                            "VERSION AS OF {n}: expected a version number"
                        ))
                    })?)
                }
                ("timestamp", Token::SingleQuotedString(s)) => AsOf::Timestamp(parse_timestamp(s)?),
                _ => continue,
            };
            // The table's name: words joined by dots, before the clause.
            let mut first = k - 1;
            let mut parts = Vec::new();
            match &tokens[sig[first]].token {
                Token::Word(w) => parts.push(word_value(w)),
                _ => continue,
            }
            while first >= 2
                && tokens[sig[first - 1]].token == Token::Period
                && let Token::Word(w) = &tokens[sig[first - 2]].token
            {
                parts.insert(0, word_value(w));
                first -= 2;
            }
            let reference = match parts.as_slice() {
                [t] => TableReference::bare(t.as_str()),
                [s, t] => TableReference::partial(s.as_str(), t.as_str()),
                [c, s, t] => TableReference::full(c.as_str(), s.as_str(), t.as_str()),
                _ => continue,
            };
            let (schema, name) =
                warehouse_object(catalog, &reference, &options).ok_or_else(|| {
                    DataFusionError::Plan(format!(
                        "{} AS OF: '{reference}' is not a table of the warehouse",
                        kind.to_uppercase()
                    ))
                })?;
            let declared = match schema.warehouse().read_entry(&name).await? {
                Some(Entry::Delta { declared, .. }) => declared,
                Some(other) => {
                    return plan_err!(
                        "{} AS OF: '{name}' is a {}, which has no versions",
                        kind.to_uppercase(),
                        other.kind()
                    );
                }
                None => {
                    return Err(not_found(format!(
                        "table '{name}' does not exist ({})",
                        schema.listing()
                    )));
                }
            };
            let (version, at) = match as_of {
                AsOf::Version(v) => (Some(v), None),
                AsOf::Timestamp(t) => (None, Some(t)),
            };
            let at_version = delta::load_as_of(schema.warehouse(), &name, version, at).await?;
            let files = delta::files(&at_version, &name)?;
            let table = WarehouseTable::open(
                &state,
                Arc::clone(schema.warehouse()),
                &name,
                &files,
                &declared,
            )
            .await?;
            let registered = format!(
                "{}as_of_{}",
                quiver_engine::store::objects::RESERVED_PREFIX,
                tables.0.len()
            );
            schema.register_table(registered.clone(), Arc::new(table))?;
            tables.0.push((Arc::clone(&schema), registered.clone()));
            let aliased = match sig.get(k + 4).map(|&i| &tokens[i].token) {
                Some(Token::Word(w)) => w.keyword == Keyword::AS || w.keyword == Keyword::NoKeyword,
                _ => false,
            };
            let mut text = format!(
                "{}.{}.{}",
                quote_ident(crate::warehouse::CATALOG),
                quote_ident(schema.name()),
                quote_ident(&registered)
            );
            if !aliased {
                text.push_str(&format!(" AS {}", quote_ident(reference.table())));
            }
            let start = super::location_offset(sql, tokens[sig[first]].span.start);
            let end = super::location_offset(sql, tokens[value_at].span.end);
            edits.push((start, end, text));
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        tables.release();
        return Err(e);
    }
    if edits.is_empty() {
        return Ok(None);
    }
    let mut out = String::with_capacity(sql.len());
    let mut at = 0;
    for (start, end, text) in edits {
        out.push_str(&sql[at..start]);
        out.push_str(&text);
        at = end;
    }
    out.push_str(&sql[at..]);
    Ok(Some((out, tables)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_history_and_restore() {
        assert_eq!(
            parse("DESCRIBE HISTORY s.T limit 5;").expect("parse"),
            History::Describe {
                table: TableReference::partial("s", "t"),
                limit: 5
            }
        );
        assert_eq!(
            parse("restore t to version as of 3").expect("parse"),
            History::Restore {
                table: TableReference::bare("t"),
                to: AsOf::Version(3)
            }
        );
        let AsOf::Timestamp(at) = (match parse("RESTORE TABLE t TO TIMESTAMP AS OF '2026-12-03'") {
            Ok(History::Restore { to, .. }) => to,
            other => panic!("{other:?}"),
        }) else {
            panic!("a timestamp");
        };
        assert_eq!(at.to_rfc3339(), "2026-12-03T00:00:00+00:00");
        for bad in [
            "restore t",
            "restore t to version as of x",
            "describe history t limit",
            "restore t to timestamp as of 3",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(is_history("describe history t"));
        assert!(!is_history("describe t"));
    }
}
