//! `ALTER TABLE t RENAME TO u`, `ALTER VIEW v RENAME TO w`, `ALTER TABLE t
//! ADD [COLUMN] [IF NOT EXISTS] c TYPE [NOT NULL] [DEFAULT e]` and `ALTER
//! TABLE t DROP [COLUMN] [IF EXISTS] c` on the warehouse's objects (#24),
//! which quiver parses and runs itself (DataFusion plans no ALTER).
//!
//! A table is renamed by copying its folder (log and data, server-side on
//! an object store) to the new name's, then moving its catalog entry; a
//! view or external table by moving its entry. Adding or dropping a column
//! rewrites the table's rows into one file with the new columns, committed
//! with the new schema only if no other commit landed since the rows were
//! read (the statement runs again otherwise), so no write of the old
//! columns slips in under the new.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::{DataFusionError, Result, TableReference, plan_err};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    AlterTableOperation, ColumnOption, Ident, ObjectName, RenameTableNameKind, Statement,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;
use quiver_engine::error::{already_exists, not_found};

use super::{leading_words, parse_word, quote_ident};
use crate::statement::ddl::warehouse_object;
use crate::statement::dml::conform;
use crate::warehouse::delta::{self, COMMIT_ATTEMPTS};
use crate::warehouse::schemas::WarehouseCatalog;
use crate::warehouse::table::{Unpublished, WarehouseTable, write_file};
use crate::warehouse::{Entry, Key, WarehouseSchema, check_object_name, now};

/// A parsed `ALTER`.
#[derive(Debug, Clone, PartialEq)]
pub enum Alter {
    Rename {
        view: bool,
        if_exists: bool,
        from: TableReference,
        to: TableReference,
    },
    AddColumn {
        if_exists: bool,
        table: TableReference,
        if_not_exists: bool,
        column: String,
        /// The type as SQL text.
        data_type: String,
        not_null: bool,
        /// The default as SQL text.
        default: Option<String>,
    },
    DropColumn {
        if_exists: bool,
        table: TableReference,
        if_column_exists: bool,
        columns: Vec<String>,
    },
}

/// Whether `sql` is an `ALTER TABLE` or `ALTER VIEW` statement.
pub fn is_alter(sql: &str) -> bool {
    let words = leading_words(sql, 2);
    words.first().is_some_and(|w| w == "alter")
        && words.get(1).is_some_and(|w| w == "table" || w == "view")
}

fn syntax(e: ParserError) -> DataFusionError {
    DataFusionError::Plan(format!("syntax error: {e}"))
}

/// An identifier as DataFusion normalizes it: unquoted is lower case.
fn normalized(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

pub(crate) fn table_reference(name: &ObjectName) -> Result<TableReference> {
    let parts = name
        .0
        .iter()
        .map(|part| {
            part.as_ident()
                .map(normalized)
                .ok_or_else(|| DataFusionError::Plan(format!("syntax error: {name} is not a name")))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(match parts.as_slice() {
        [table] => TableReference::bare(table.as_str()),
        [schema, table] => TableReference::partial(schema.as_str(), table.as_str()),
        [catalog, schema, table] => {
            TableReference::full(catalog.as_str(), schema.as_str(), table.as_str())
        }
        _ => return plan_err!("syntax error: {name} has too many parts"),
    })
}

/// Parses one `ALTER TABLE` or `ALTER VIEW` statement.
pub fn parse(sql: &str) -> Result<Alter> {
    let dialect = GenericDialect {};
    if leading_words(sql, 2).get(1).is_some_and(|w| w == "view") {
        // ALTER VIEW [IF EXISTS] v RENAME TO w
        let mut p = Parser::new(&dialect).try_with_sql(sql).map_err(syntax)?;
        parse_word(&mut p, "alter");
        parse_word(&mut p, "view");
        let if_exists = parse_word(&mut p, "if") && {
            if !parse_word(&mut p, "exists") {
                return plan_err!("syntax error: expected EXISTS after IF");
            }
            true
        };
        let from = table_reference(&p.parse_object_name(false).map_err(syntax)?)?;
        if !(parse_word(&mut p, "rename") && parse_word(&mut p, "to")) {
            return plan_err!("ALTER VIEW takes RENAME TO new_name, and nothing else yet");
        }
        let to = table_reference(&p.parse_object_name(false).map_err(syntax)?)?;
        let _ = p.consume_token(&Token::SemiColon);
        if p.peek_token().token != Token::EOF {
            return plan_err!("syntax error: unexpected {}", p.peek_token().token);
        }
        return Ok(Alter::Rename {
            view: true,
            if_exists,
            from,
            to,
        });
    }
    let statement = Parser::new(&dialect)
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statement())
        .map_err(syntax)?;
    let Statement::AlterTable(alter) = statement else {
        return plan_err!("syntax error: expected ALTER TABLE");
    };
    let table = table_reference(&alter.name)?;
    let [operation] = alter.operations.as_slice() else {
        return plan_err!("ALTER TABLE takes one change at a time");
    };
    Ok(match operation {
        AlterTableOperation::RenameTable { table_name } => {
            let (RenameTableNameKind::To(to) | RenameTableNameKind::As(to)) = table_name;
            Alter::Rename {
                view: false,
                if_exists: alter.if_exists,
                from: table,
                to: table_reference(to)?,
            }
        }
        AlterTableOperation::AddColumn {
            if_not_exists,
            column_def,
            column_position: None,
            ..
        } => {
            let mut not_null = false;
            let mut default = None;
            for option in &column_def.options {
                match &option.option {
                    ColumnOption::NotNull => not_null = true,
                    ColumnOption::Null => not_null = false,
                    ColumnOption::Default(e) => default = Some(e.to_string()),
                    other => {
                        return plan_err!(
                            "ALTER TABLE ... ADD COLUMN: {other} is not supported (NOT NULL, \
                             NULL and DEFAULT are)"
                        );
                    }
                }
            }
            Alter::AddColumn {
                if_exists: alter.if_exists,
                table,
                if_not_exists: *if_not_exists,
                column: normalized(&column_def.name),
                data_type: column_def.data_type.to_string(),
                not_null,
                default,
            }
        }
        AlterTableOperation::DropColumn {
            column_names,
            if_exists,
            ..
        } => Alter::DropColumn {
            if_exists: alter.if_exists,
            table,
            if_column_exists: *if_exists,
            columns: column_names.iter().map(normalized).collect(),
        },
        other => {
            return plan_err!(
                "ALTER TABLE ... {other} is not supported (RENAME TO, ADD COLUMN and DROP \
                 COLUMN are)"
            );
        }
    })
}

/// Runs `stmt` against the warehouse's schemas.
pub async fn execute(ctx: &SessionContext, catalog: &WarehouseCatalog, stmt: &Alter) -> Result<()> {
    let options = ctx.copied_config().options().clone();
    let resolve = |table: &TableReference| {
        warehouse_object(catalog, table, &options).ok_or_else(|| {
            DataFusionError::Plan(format!(
                "'{table}' is not in the warehouse: ALTER changes the warehouse's objects"
            ))
        })
    };
    let (table, if_exists) = match stmt {
        Alter::Rename {
            from, if_exists, ..
        }
        | Alter::AddColumn {
            table: from,
            if_exists,
            ..
        }
        | Alter::DropColumn {
            table: from,
            if_exists,
            ..
        } => (from, *if_exists),
    };
    let (schema, name) = resolve(table)?;
    let Some(entry) = schema.warehouse().read_entry(&name).await? else {
        if if_exists {
            return Ok(());
        }
        return Err(not_found(format!(
            "'{name}' does not exist ({})",
            schema.listing()
        )));
    };
    match stmt {
        Alter::Rename { view, to, .. } => {
            let (to_schema, to_name) = match to.schema() {
                None => (Arc::clone(&schema), to.table().to_string()),
                Some(_) => resolve(to)?,
            };
            rename(&schema, &name, entry, *view, &to_schema, &to_name).await?;
        }
        Alter::AddColumn { .. } | Alter::DropColumn { .. } => {
            change_columns(ctx, &schema, &name, &entry, stmt).await?;
        }
    }
    catalog.refresh().await
}

async fn rename(
    schema: &WarehouseSchema,
    name: &str,
    entry: Entry,
    view: bool,
    to_schema: &WarehouseSchema,
    to_name: &str,
) -> Result<()> {
    let statement = if view { "ALTER VIEW" } else { "ALTER TABLE" };
    match (&entry, view) {
        (Entry::View { .. }, false) => {
            return plan_err!("'{name}' is a view: ALTER VIEW {name} RENAME TO ... renames it");
        }
        (Entry::View { .. }, true) => {}
        (_, true) => return plan_err!("'{name}' is a {}, not a view", entry.kind()),
        _ => {}
    }
    check_object_name(if view { "view" } else { "table" }, to_name)?;
    let from = schema.warehouse();
    let to = to_schema.warehouse();
    if to_schema.is_session_table(to_name) || to.read_entry(to_name).await?.is_some() {
        return Err(already_exists(format!(
            "{statement} '{name}' RENAME TO '{to_name}': '{to_name}' already exists"
        )));
    }
    let entry = match entry {
        Entry::Table { .. } => {
            let Some(provider) = SchemaProvider::table(schema, name).await? else {
                return Err(not_found(format!("table '{name}' does not exist")));
            };
            from.delta_table(name, &provider.schema()).await?;
            from.read_entry(name).await?.ok_or_else(|| {
                DataFusionError::Execution(format!("table '{name}' went away while renamed"))
            })?
        }
        other => other,
    };
    if let Entry::Delta { .. } = &entry {
        // The copy must hold the newest version: a write that lands during
        // it is copied again.
        let mut copied = false;
        for _ in 0..COMMIT_ATTEMPTS {
            let before = delta::latest_version(from, name, 0).await?;
            from.copy_table(name, to, to_name).await?;
            if delta::latest_version(from, name, before.unwrap_or(0)).await? == before {
                copied = true;
                break;
            }
        }
        if !copied {
            return Err(DataFusionError::Execution(format!(
                "table '{name}' could not be renamed: other writers kept committing to it"
            )));
        }
    }
    let moved = match entry {
        Entry::Delta { declared, .. } => Entry::Delta {
            declared,
            updated: now(),
        },
        Entry::View { definition, .. } => Entry::View {
            definition,
            updated: now(),
        },
        Entry::External {
            definition,
            partitions,
            ..
        } => Entry::External {
            definition,
            partitions,
            updated: now(),
        },
        Entry::Table { .. } => {
            return Err(DataFusionError::Internal(format!(
                "table '{name}' was not converted before its rename"
            )));
        }
    };
    to.put_entry(to_name, &moved).await?;
    // The old entry, and for a table its folder (copied above).
    from.drop_entry(name).await?;
    schema.invalidate(name);
    to_schema.invalidate(to_name);
    Ok(())
}

async fn change_columns(
    ctx: &SessionContext,
    schema: &WarehouseSchema,
    name: &str,
    entry: &Entry,
    stmt: &Alter,
) -> Result<()> {
    if !matches!(entry, Entry::Delta { .. } | Entry::Table { .. }) {
        return plan_err!(
            "'{name}' is a {}: only tables quiver manages add or drop columns",
            entry.kind()
        );
    }
    let provider = SchemaProvider::table(schema, name)
        .await?
        .ok_or_else(|| not_found(format!("table '{name}' does not exist")))?;
    let Some(table) = provider.downcast_ref::<WarehouseTable>() else {
        return plan_err!("'{name}' is not a table quiver manages");
    };
    let old = table.schema();
    let (Entry::Delta { declared, .. } | Entry::Table { declared, .. }) = entry else {
        unreachable!("checked above");
    };
    let mut declared = declared.clone();
    let qualified = format!("{}.{}", quote_ident(schema.name()), quote_ident(name));
    let mut select: Vec<String> = Vec::new();
    let mut fields: Vec<Arc<Field>> = Vec::new();
    match stmt {
        Alter::AddColumn {
            if_not_exists,
            column,
            data_type,
            not_null,
            default,
            ..
        } => {
            if old.field_with_name(column).is_ok() {
                if *if_not_exists {
                    return Ok(());
                }
                return Err(already_exists(format!(
                    "table '{name}' already has a column '{column}'"
                )));
            }
            if *not_null && default.is_none() {
                return plan_err!(
                    "ALTER TABLE {name} ADD COLUMN {column} NOT NULL needs a DEFAULT for the \
                     rows the table has"
                );
            }
            let value = format!(
                "CAST({} AS {data_type}) AS {}",
                default.as_deref().unwrap_or("NULL"),
                quote_ident(column)
            );
            let typed = ctx.sql(&format!("SELECT {value}")).await?;
            let data_type = typed.schema().field(0).data_type().clone();
            for field in old.fields() {
                select.push(quote_ident(field.name()));
                fields.push(Arc::clone(field));
            }
            select.push(value);
            let field = Field::new(column, data_type, !not_null);
            declared
                .types
                .extend(crate::warehouse::table::declared_types(&Schema::new(vec![
                    field.clone(),
                ])));
            fields.push(Arc::new(field));
            if let Some(default) = default {
                declared.defaults.insert(column.clone(), default.clone());
            }
        }
        Alter::DropColumn {
            if_column_exists,
            columns,
            ..
        } => {
            let missing: Vec<&String> = columns
                .iter()
                .filter(|c| old.field_with_name(c).is_err())
                .collect();
            if !missing.is_empty() && !if_column_exists {
                return Err(not_found(format!(
                    "table '{name}' has no column '{}'",
                    missing[0]
                )));
            }
            for key in &declared.keys {
                let (Key::PrimaryKey { columns: k } | Key::Unique { columns: k }) = key;
                if let Some(c) = k.iter().find(|c| columns.contains(c)) {
                    return plan_err!(
                        "table '{name}': column '{c}' is part of a key and cannot be dropped"
                    );
                }
            }
            for field in old.fields() {
                if !columns.contains(field.name()) {
                    select.push(quote_ident(field.name()));
                    fields.push(Arc::clone(field));
                }
            }
            if fields.len() == old.fields().len() {
                return Ok(());
            }
            if fields.is_empty() {
                return plan_err!("table '{name}' cannot drop its every column");
            }
            for c in columns {
                declared.defaults.remove(c);
                declared.types.remove(c);
            }
        }
        Alter::Rename { .. } => unreachable!("renames go elsewhere"),
    }
    let new_schema = Arc::new(Schema::new_with_metadata(fields, old.metadata().clone()));
    let query = format!("SELECT {} FROM {qualified}", select.join(", "));
    let warehouse = schema.warehouse();
    for _ in 0..COMMIT_ATTEMPTS {
        let delta_table = warehouse.delta_table(name, &old).await?;
        let files = delta::data_files(&delta_table, name)?;
        let rows = ctx.sql(&query).await?.execute_stream().await?;
        let rows = conform(rows, Arc::clone(&new_schema), name);
        let options = ctx.copied_config().options().execution.parquet.clone();
        let written = write_file(warehouse, name, &new_schema, rows, &options).await?;
        let committed =
            delta::commit_new_schema(name, &delta_table, &files, &written.file, &new_schema).await;
        if Unpublished::settle(Some(written), committed).await? {
            let entry = Entry::Delta {
                declared,
                updated: now(),
            };
            warehouse.put_entry(name, &entry).await?;
            schema.invalidate(name);
            return Ok(());
        }
    }
    Err(DataFusionError::Execution(format!(
        "ALTER TABLE {name}: other writers kept committing to it; try again"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_renames_and_column_changes() {
        assert_eq!(
            parse("ALTER TABLE s.T RENAME TO \"U\"").expect("parse"),
            Alter::Rename {
                view: false,
                if_exists: false,
                from: TableReference::partial("s", "t"),
                to: TableReference::bare("U"),
            }
        );
        assert_eq!(
            parse("alter view if exists v rename to w;").expect("parse"),
            Alter::Rename {
                view: true,
                if_exists: true,
                from: TableReference::bare("v"),
                to: TableReference::bare("w"),
            }
        );
        assert_eq!(
            parse("alter table t add column if not exists C int not null default 3")
                .expect("parse"),
            Alter::AddColumn {
                if_exists: false,
                table: TableReference::bare("t"),
                if_not_exists: true,
                column: "c".into(),
                data_type: "INT".into(),
                not_null: true,
                default: Some("3".into()),
            }
        );
        assert_eq!(
            parse("alter table if exists t drop column if exists a").expect("parse"),
            Alter::DropColumn {
                if_exists: true,
                table: TableReference::bare("t"),
                if_column_exists: true,
                columns: vec!["a".into()],
            }
        );
        for bad in [
            "alter table t add column a int, add column b int",
            "alter table t rename column a to b",
            "alter view v as select 1",
            "alter table t add column a int unique",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(is_alter(" ALTER TABLE t RENAME TO u"));
        assert!(!is_alter("alter system set x = 1"));
    }
}
