//! `OPTIMIZE [TABLE] t` (#24): compacts a table's files into one, as Delta
//! Lake's OPTIMIZE compacts small files. The rows are read and written
//! again unchanged, and the commit marks its files as no change of data,
//! so other writers' appends do not conflict with it; one that removed a
//! file it read does, and it runs again. A table of one file is left as it
//! is. `ZORDER BY` is refused (not done yet).

use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::{DataFusionError, Result, TableReference, plan_err};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Token;
use quiver_engine::error::not_found;

use super::{leading_words, parse_word, quote_ident};
use crate::statement::ddl::warehouse_object;
use crate::statement::dml::conform;
use crate::warehouse::delta::{self, COMMIT_ATTEMPTS};
use crate::warehouse::schemas::WarehouseCatalog;
use crate::warehouse::table::{Unpublished, WarehouseTable, write_file};

/// A parsed `OPTIMIZE`.
#[derive(Debug, Clone, PartialEq)]
pub struct Optimize {
    pub table: TableReference,
}

/// Whether `sql` is an `OPTIMIZE` statement.
pub fn is_optimize(sql: &str) -> bool {
    leading_words(sql, 1)
        .first()
        .is_some_and(|w| w == "optimize")
}

/// Parses `OPTIMIZE [TABLE] t`.
pub fn parse(sql: &str) -> Result<Optimize> {
    let dialect = GenericDialect {};
    let syntax = |e| DataFusionError::Plan(format!("syntax error: {e}"));
    let mut p = Parser::new(&dialect).try_with_sql(sql).map_err(syntax)?;
    parse_word(&mut p, "optimize");
    parse_word(&mut p, "table");
    let name = p.parse_object_name(false).map_err(syntax)?;
    let table = super::alter::table_reference(&name)?;
    if parse_word(&mut p, "zorder") {
        return plan_err!("OPTIMIZE ... ZORDER BY is not supported yet; OPTIMIZE t compacts");
    }
    let _ = p.consume_token(&Token::SemiColon);
    if p.peek_token().token != Token::EOF {
        return plan_err!(
            "syntax error: OPTIMIZE [TABLE] t, found {}",
            p.peek_token().token
        );
    }
    Ok(Optimize { table })
}

/// Runs `stmt`; one row: the files removed and added.
pub async fn execute(
    ctx: &SessionContext,
    catalog: &WarehouseCatalog,
    stmt: &Optimize,
) -> Result<RecordBatch> {
    let options = ctx.copied_config().options().clone();
    let (schema, name) = warehouse_object(catalog, &stmt.table, &options).ok_or_else(|| {
        DataFusionError::Plan(format!(
            "OPTIMIZE: '{}' is not in the warehouse",
            stmt.table
        ))
    })?;
    let provider = SchemaProvider::table(schema.as_ref(), &name)
        .await?
        .ok_or_else(|| {
            not_found(format!(
                "OPTIMIZE: table '{name}' does not exist ({})",
                schema.listing()
            ))
        })?;
    let Some(table) = provider.downcast_ref::<WarehouseTable>() else {
        return plan_err!("OPTIMIZE: '{name}' is not a table quiver manages");
    };
    let columns = table.schema();
    let warehouse = schema.warehouse();
    let query = format!(
        "SELECT * FROM {}.{}",
        quote_ident(schema.name()),
        quote_ident(&name)
    );
    for _ in 0..COMMIT_ATTEMPTS {
        let delta_table = warehouse.delta_table(&name, &columns).await?;
        let files = delta::data_files(&delta_table, &name)?;
        if files.len() < 2 {
            return counts(0, 0);
        }
        let rows = ctx.sql(&query).await?.execute_stream().await?;
        let rows = conform(rows, Arc::clone(&columns), &name);
        let parquet = ctx.copied_config().options().execution.parquet.clone();
        let written = write_file(warehouse, &name, &columns, rows, &parquet).await?;
        let committed = delta::commit_compaction(&name, &delta_table, &files, &written.file).await;
        if Unpublished::settle(Some(written), committed).await? {
            schema.invalidate(&name);
            return counts(files.len() as u64, 1);
        }
    }
    Err(DataFusionError::Execution(format!(
        "OPTIMIZE {name}: other writers kept removing the files it read; try again"
    )))
}

fn counts(removed: u64, added: u64) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("removed_files", DataType::UInt64, false),
        Field::new("added_files", DataType::UInt64, false),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(UInt64Array::from(vec![removed])),
            Arc::new(UInt64Array::from(vec![added])),
        ],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_optimize() {
        assert_eq!(
            parse("OPTIMIZE s.T;").expect("parse").table,
            TableReference::partial("s", "t")
        );
        assert_eq!(
            parse("optimize table t").expect("parse").table,
            TableReference::bare("t")
        );
        assert!(parse("optimize t zorder by (a)").is_err());
        assert!(parse("optimize").is_err());
        assert!(is_optimize("OPTIMIZE t"));
    }
}
