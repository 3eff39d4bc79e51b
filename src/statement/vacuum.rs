//! `VACUUM [[TABLE] t] [RETAIN n HOURS] [DRY RUN]`: removes what
//! interrupted writes left in the warehouse ([`crate::warehouse::vacuum`]),
//! as Delta Lake's `VACUUM` removes files no version refers to. It answers
//! one row per object removed (or, with `DRY RUN`, that would be): `path`,
//! `bytes`, `reason`. Without a table it covers every schema's tables,
//! the models and staging files; `VACUUM t` one table's folder.
//!
//! The retention period (default 24 hours) protects writes in progress in
//! other processes: an object written more recently is kept. A server's
//! sessions refuse a period shorter than an hour
//! ([`crate::session::SessionOptions::min_retention`]); the CLI takes any,
//! `RETAIN 0 HOURS` included, for a warehouse no other process is writing.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{DataFusionError, Result, TableReference, plan_err};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Token;
use quiver_engine::ModelStore;
use quiver_engine::error::not_found;

use super::{leading_words, parse_word};
use crate::statement::ddl::warehouse_object;
use crate::warehouse::schemas::WarehouseCatalog;
use crate::warehouse::vacuum::{Leftover, vacuum, vacuum_table};
use crate::warehouse::{Entry, Warehouse};

/// The retention period when the statement gives none.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// A parsed `VACUUM`.
#[derive(Debug, Clone, PartialEq)]
pub struct Vacuum {
    /// `VACUUM t`: that table alone.
    pub table: Option<TableReference>,
    pub retain: Duration,
    pub dry_run: bool,
}

/// Whether `sql` is a `VACUUM` statement.
pub fn is_vacuum(sql: &str) -> bool {
    leading_words(sql, 1).first().is_some_and(|w| w == "vacuum")
}

/// Parses `VACUUM [[TABLE] t] [RETAIN n HOUR[S]] [DRY RUN]`.
pub fn parse(sql: &str) -> Result<Vacuum> {
    let dialect = GenericDialect {};
    let syntax = |e: datafusion::sql::sqlparser::parser::ParserError| {
        datafusion::common::DataFusionError::Plan(format!("syntax error: {e}"))
    };
    let mut p = Parser::new(&dialect).try_with_sql(sql).map_err(syntax)?;
    if !parse_word(&mut p, "vacuum") {
        return plan_err!("syntax error: expected VACUUM");
    }
    let table = match &p.peek_token().token {
        Token::Word(w)
            if w.quote_style.is_some()
                || !["retain", "dry"]
                    .iter()
                    .any(|k| w.value.eq_ignore_ascii_case(k)) =>
        {
            parse_word(&mut p, "table");
            let name = p.parse_object_name(false).map_err(syntax)?;
            Some(super::alter::table_reference(&name)?)
        }
        _ => None,
    };
    let mut retain = DEFAULT_RETENTION;
    if parse_word(&mut p, "retain") {
        let hours = match p.next_token().token {
            Token::Number(n, _) => n.parse::<f64>().ok(),
            _ => None,
        };
        let Some(hours) = hours.filter(|h| h.is_finite() && *h >= 0.0 && *h < 1e6) else {
            return plan_err!("vacuum: RETAIN takes a number of hours, e.g. RETAIN 48 HOURS");
        };
        if !(parse_word(&mut p, "hours") || parse_word(&mut p, "hour")) {
            return plan_err!("vacuum: RETAIN takes a number of hours, e.g. RETAIN 48 HOURS");
        }
        retain = Duration::from_secs_f64(hours * 3600.0);
    }
    let dry_run = parse_word(&mut p, "dry") && {
        if !parse_word(&mut p, "run") {
            return plan_err!("syntax error: expected RUN after DRY");
        }
        true
    };
    let _ = p.consume_token(&Token::SemiColon);
    if p.peek_token().token != Token::EOF {
        return plan_err!(
            "syntax error: VACUUM [[TABLE] t] [RETAIN n HOURS] [DRY RUN], found {}",
            p.peek_token().token
        );
    }
    Ok(Vacuum {
        table,
        retain,
        dry_run,
    })
}

/// Runs `stmt`, refusing a retention period below `min_retention`.
pub async fn execute(
    ctx: &SessionContext,
    catalog: &WarehouseCatalog,
    models: &ModelStore,
    stmt: &Vacuum,
    min_retention: Duration,
) -> Result<RecordBatch> {
    if stmt.retain < min_retention {
        return plan_err!(
            "vacuum: RETAIN {} HOURS is below this server's minimum of {} hours: a shorter \
             period could remove the files of a write still in progress",
            stmt.retain.as_secs_f64() / 3600.0,
            min_retention.as_secs_f64() / 3600.0
        );
    }
    let warehouse = catalog.warehouse();
    let mut removed = match &stmt.table {
        Some(table) => one_table(ctx, catalog, table, stmt).await?,
        None => {
            let mut removed = vacuum(warehouse, Some(models), stmt.retain, stmt.dry_run).await?;
            for name in warehouse.schema_names().await? {
                let dir = Warehouse::schema_dir(&name);
                let in_schema =
                    vacuum(&warehouse.in_schema(&name), None, stmt.retain, stmt.dry_run).await?;
                removed.extend(in_in_schema(&dir, in_schema));
            }
            removed
        }
    };
    removed.sort_by(|a, b| a.path.cmp(&b.path));
    let schema = Arc::new(Schema::new(vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("bytes", DataType::UInt64, false),
        Field::new("reason", DataType::Utf8, false),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(
                removed.iter().map(|r| r.path.as_str()),
            )),
            Arc::new(UInt64Array::from_iter_values(
                removed.iter().map(|r| r.bytes),
            )),
            Arc::new(StringArray::from_iter_values(
                removed.iter().map(|r| r.reason),
            )),
        ],
    )?)
}

/// `rows` of a schema's warehouse, with paths from the root.
fn in_in_schema(dir: &str, rows: Vec<Leftover>) -> impl Iterator<Item = Leftover> + '_ {
    rows.into_iter().map(move |mut r| {
        r.path = format!("{dir}/{}", r.path);
        r
    })
}

/// `VACUUM t`: the table's folder alone.
async fn one_table(
    ctx: &SessionContext,
    catalog: &WarehouseCatalog,
    table: &TableReference,
    stmt: &Vacuum,
) -> Result<Vec<Leftover>> {
    let options = ctx.copied_config().options().clone();
    let (schema, name) = warehouse_object(catalog, table, &options).ok_or_else(|| {
        DataFusionError::Plan(format!("VACUUM: '{table}' is not in the warehouse"))
    })?;
    match schema.warehouse().read_entry(&name).await? {
        Some(Entry::Table { .. } | Entry::Delta { .. }) => {}
        Some(other) => {
            return plan_err!(
                "VACUUM: '{name}' is {}; VACUUM t cleans a table quiver manages",
                other.a_kind()
            );
        }
        None => {
            return Err(not_found(format!(
                "VACUUM: table '{name}' does not exist ({})",
                schema.listing()
            )));
        }
    }
    let removed = vacuum_table(schema.warehouse(), &name, stmt.retain, stmt.dry_run).await?;
    Ok(if schema.name() == crate::warehouse::SCHEMA {
        removed
    } else {
        in_in_schema(&Warehouse::schema_dir(schema.name()), removed).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_retention_and_dry_run() {
        assert_eq!(
            parse("vacuum").expect("parse"),
            Vacuum {
                table: None,
                retain: DEFAULT_RETENTION,
                dry_run: false
            }
        );
        assert_eq!(
            parse("VACUUM RETAIN 0 HOURS DRY RUN;").expect("parse"),
            Vacuum {
                table: None,
                retain: Duration::ZERO,
                dry_run: true
            }
        );
        assert_eq!(
            parse("vacuum retain 1.5 hours").expect("parse").retain,
            Duration::from_secs(5400)
        );
        let one = parse("VACUUM TABLE s.T RETAIN 2 HOURS").expect("parse");
        assert_eq!(one.table, Some(TableReference::partial("s", "t")));
        assert_eq!(one.retain, Duration::from_secs(7200));
        assert_eq!(
            parse("vacuum \"retain\" dry run").expect("parse").table,
            Some(TableReference::bare("retain")),
            "a quoted name is a table's"
        );
        for bad in [
            "vacuum retain -1 hours",
            "vacuum retain 2",
            "vacuum t u",
            "vacuum dry",
            "vacuum table",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(is_vacuum("  Vacuum retain 0 hours"));
        assert!(!is_vacuum("select 'vacuum'"));
    }
}
