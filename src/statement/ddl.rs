//! DDL that persists in the warehouse: DataFusion plans these statements and
//! quiver executes them, so that tables are Parquet under the warehouse and
//! views and external tables are catalog entries, all there after a restart.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, IntervalUnit, Schema};
use datafusion::common::config::ConfigOptions;
use datafusion::common::{
    Constraint, Constraints, DFSchema, DataFusionError, Result, SchemaError, SchemaReference,
    TableReference, plan_err,
};
use datafusion::datasource::sink::DataSink;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{
    CreateExternalTable, CreateMemoryTable, CreateView, DdlStatement, LogicalPlan,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast;
use datafusion::sql::unparser::expr_to_sql;
use futures::StreamExt;
use quiver_engine::error::{already_exists, not_found};

use crate::warehouse::catalog::{create_external, partition_names};
use crate::warehouse::schemas::WarehouseCatalog;
use crate::warehouse::secrets;
use crate::warehouse::table::TableSink;
use crate::warehouse::{Declared, Entry, Key, WarehouseSchema, WriteMode, check_object_name, now};

/// Runs `plan` when it is DDL that persists in the warehouse (`CREATE
/// TABLE`, `VIEW`, `EXTERNAL TABLE`, `DROP` of a warehouse schema's
/// objects; `CREATE SCHEMA`, `DROP SCHEMA` in the `quiver` catalog) and
/// returns `None`; returns the plan for DataFusion to run otherwise (a
/// query, DML, a temporary or another catalog's object).
pub async fn run_in_warehouse(
    ctx: &SessionContext,
    catalog: &WarehouseCatalog,
    text: &str,
    plan: LogicalPlan,
) -> Result<Option<LogicalPlan>> {
    // Names resolve as DataFusion resolves them: a bare or partial name in
    // the session's default catalog and schema, which SET may change.
    let options = ctx.copied_config().options().clone();
    let target = |name: &TableReference| warehouse_object(catalog, name, &options);
    match plan {
        LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(create)) if !create.temporary => {
            if let Some((schema, name)) = target(&create.name) {
                let not_null = declared_not_null(text);
                create_table(ctx, &schema, &name, create, &not_null).await?;
                return Ok(None);
            }
            Ok(Some(LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(
                create,
            ))))
        }
        LogicalPlan::Ddl(DdlStatement::CreateView(create)) if !create.temporary => {
            if let Some((schema, name)) = target(&create.name) {
                create_view(&schema, &name, create, text).await?;
                return Ok(None);
            }
            Ok(Some(LogicalPlan::Ddl(DdlStatement::CreateView(create))))
        }
        LogicalPlan::Ddl(DdlStatement::CreateExternalTable(mut create)) => {
            if !create.temporary
                && let Some((schema, name)) = target(&create.name)
            {
                create_external_table(ctx, &schema, &name, &create, text).await?;
                return Ok(None);
            }
            // DataFusion's own tables show their definition too.
            create.definition = create.definition.as_deref().map(secrets::redact);
            Ok(Some(LogicalPlan::Ddl(DdlStatement::CreateExternalTable(
                create,
            ))))
        }
        LogicalPlan::Ddl(DdlStatement::DropTable(stmt)) => {
            if let Some((schema, name)) = target(&stmt.name) {
                if drop(&schema, &name, false).await? {
                    return Ok(None);
                }
                if !stmt.if_exists && !schema.is_session_table(&name) {
                    return Err(missing(&schema, "table", &name));
                }
            }
            Ok(Some(LogicalPlan::Ddl(DdlStatement::DropTable(stmt))))
        }
        LogicalPlan::Ddl(DdlStatement::DropView(stmt)) => {
            if let Some((schema, name)) = target(&stmt.name) {
                if drop(&schema, &name, true).await? {
                    return Ok(None);
                }
                if !stmt.if_exists && !schema.is_session_table(&name) {
                    return Err(missing(&schema, "view", &name));
                }
            }
            Ok(Some(LogicalPlan::Ddl(DdlStatement::DropView(stmt))))
        }
        LogicalPlan::Ddl(DdlStatement::CreateCatalogSchema(create)) => {
            // DataFusion's own reading of `[catalog.]schema`.
            let (in_catalog, name) = match create.schema_name.split_once('.') {
                Some((c, s)) => (c.to_string(), s.to_string()),
                None => (
                    options.catalog.default_catalog.clone(),
                    create.schema_name.clone(),
                ),
            };
            if in_catalog == crate::warehouse::CATALOG {
                catalog.create(&name, create.if_not_exists).await?;
                return Ok(None);
            }
            Ok(Some(LogicalPlan::Ddl(DdlStatement::CreateCatalogSchema(
                create,
            ))))
        }
        LogicalPlan::Ddl(DdlStatement::DropCatalogSchema(stmt)) => {
            let (in_catalog, name) = match &stmt.name {
                SchemaReference::Bare { schema } => {
                    (options.catalog.default_catalog.as_str(), schema.as_ref())
                }
                SchemaReference::Full { schema, catalog } => (catalog.as_ref(), schema.as_ref()),
            };
            if in_catalog == crate::warehouse::CATALOG {
                catalog.drop(name, stmt.if_exists, stmt.cascade).await?;
                return Ok(None);
            }
            Ok(Some(LogicalPlan::Ddl(DdlStatement::DropCatalogSchema(
                stmt,
            ))))
        }
        other => Ok(Some(other)),
    }
}

fn missing(schema: &WarehouseSchema, kind: &str, name: &str) -> DataFusionError {
    not_found(format!(
        "{kind} '{name}' does not exist ({})",
        schema.listing()
    ))
}

/// The warehouse schema and name of `table` when it names an object of a
/// schema of the warehouse: a name in the `quiver` catalog (`t`, `s.t`,
/// `quiver.s.t`, a bare or partial name in the session's default catalog
/// and schema) whose schema the warehouse has. Otherwise `None`, and the
/// statement is DataFusion's alone (another catalog, or a bare name after
/// `SET datafusion.catalog.default_schema` to a schema quiver lacks).
pub fn warehouse_object(
    catalog: &WarehouseCatalog,
    table: &TableReference,
    options: &ConfigOptions,
) -> Option<(Arc<WarehouseSchema>, String)> {
    let in_catalog = table
        .catalog()
        .unwrap_or(options.catalog.default_catalog.as_str());
    let schema = table
        .schema()
        .unwrap_or(options.catalog.default_schema.as_str());
    if in_catalog != crate::warehouse::CATALOG {
        return None;
    }
    catalog
        .get(schema)
        .map(|schema| (schema, table.table().to_string()))
}

/// What `name` already is in the warehouse, if anything.
fn existing(schema: &WarehouseSchema, name: &str) -> Option<&'static str> {
    if schema.is_session_table(name) {
        return Some("session table");
    }
    schema
        .entries()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, e)| e.map(|e| e.kind()).unwrap_or("table"))
}

/// Decides whether a `CREATE` may go ahead: `Ok(false)` to skip it (`IF NOT
/// EXISTS` and it exists), an error when it exists and may not be replaced.
fn may_create(
    schema: &WarehouseSchema,
    name: &str,
    kind: &str,
    or_replace: bool,
    if_not_exists: bool,
) -> Result<bool> {
    check_object_name(kind, name)?;
    if or_replace && if_not_exists && existing(schema, name).is_some() {
        // DataFusion's word and rule: only an existing object is refused.
        return plan_err!("'IF NOT EXISTS' cannot coexist with 'REPLACE'");
    }
    match existing(schema, name) {
        None => Ok(true),
        Some(_) if if_not_exists => Ok(false),
        Some(what) if what != kind => Err(already_exists(format!(
            "'{name}' already exists as a {what}; drop it before creating a {kind} of that name"
        ))),
        Some(what) if !or_replace => Err(already_exists(format!(
            "{what} '{name}' already exists (use CREATE OR REPLACE to replace it)"
        ))),
        Some(_) => Ok(true),
    }
}

/// `CREATE [OR REPLACE] TABLE t AS query` (and `CREATE TABLE t (cols)`):
/// streams the query into Parquet under the warehouse, then publishes.
pub async fn create_table(
    ctx: &SessionContext,
    schema: &WarehouseSchema,
    name: &str,
    create: CreateMemoryTable,
    not_null: &HashSet<String>,
) -> Result<()> {
    if !may_create(
        schema,
        name,
        "table",
        create.or_replace,
        create.if_not_exists,
    )? {
        return Ok(());
    }
    unique_column_names(create.input.schema())?;
    storable_columns(name, create.input.schema())?;
    let defaults = create
        .column_defaults
        .iter()
        .map(|(column, expr)| Ok((column.clone(), expr_to_sql(expr)?.to_string())))
        .collect::<Result<BTreeMap<_, _>>>()?;
    let keys = keys(&create.constraints, create.input.schema());
    let df = ctx
        .execute_logical_plan(create.input.as_ref().clone())
        .await?;
    let mut stream = df.execute_stream().await?;
    if !matches!(create.input.as_ref(), LogicalPlan::EmptyRelation(_)) {
        // As in DuckDB and BigQuery, a table made from a query takes its
        // columns' types but not their NOT NULL: a later INSERT of a NULL
        // into `CREATE TABLE t AS SELECT 'x' AS s` must work. A NOT NULL
        // the statement declares stays.
        stream = nullable(stream, not_null);
    }
    let sink = TableSink::new(
        Arc::clone(schema.warehouse()),
        name,
        stream.schema(),
        WriteMode::Replace,
    )
    .with_declared(Declared {
        defaults,
        keys,
        types: crate::warehouse::table::declared_types(&stream.schema()),
    });
    sink.write_all(stream, &ctx.task_ctx()).await?;
    schema.invalidate(name);
    Ok(())
}

/// The columns `CREATE TABLE t (a INT NOT NULL, ...) AS ...` declares NOT
/// NULL, by their names as planned (unquoted names in lower case).
fn declared_not_null(text: &str) -> HashSet<String> {
    let Ok(statements) = DFParser::parse_sql(text) else {
        return HashSet::new();
    };
    let mut out = HashSet::new();
    for statement in statements {
        if let DfStatement::Statement(s) = statement
            && let ast::Statement::CreateTable(create) = *s
        {
            for column in create.columns {
                if column
                    .options
                    .iter()
                    .any(|o| matches!(o.option, ast::ColumnOption::NotNull))
                {
                    let name = match column.name.quote_style {
                        Some(_) => column.name.value,
                        None => column.name.value.to_lowercase(),
                    };
                    out.insert(name);
                }
            }
        }
    }
    out
}

/// Refuses a table or view whose columns repeat a name, as DataFusion
/// does: names must be unique once their qualifiers are gone (`SELECT
/// a.x, b.x FROM a, b`).
fn unique_column_names(schema: &DFSchema) -> Result<()> {
    let mut seen = HashSet::with_capacity(schema.fields().len());
    for field in schema.fields() {
        if !seen.insert(field.name().as_str()) {
            return Err(DataFusionError::SchemaError(
                Box::new(SchemaError::DuplicateUnqualifiedField {
                    name: field.name().to_string(),
                }),
                Box::new(None),
            ));
        }
    }
    Ok(())
}

/// The PRIMARY KEY and UNIQUE keys of a CREATE TABLE, by column name.
fn keys(constraints: &Constraints, schema: &DFSchema) -> Vec<Key> {
    let names = |positions: &[usize]| {
        positions
            .iter()
            .map(|&i| schema.field(i).name().clone())
            .collect()
    };
    constraints
        .iter()
        .map(|c| match c {
            Constraint::PrimaryKey(positions) => Key::PrimaryKey {
                columns: names(positions),
            },
            Constraint::Unique(positions) => Key::Unique {
                columns: names(positions),
            },
        })
        .collect()
}

/// Refuses, before anything runs or is written, a column whose type a
/// table's Parquet files or Delta log cannot hold, rather than failing part-way with
/// Parquet's "not yet implemented" (#28: never drop what cannot be kept).
fn storable_columns(name: &str, schema: &DFSchema) -> Result<()> {
    for field in schema.fields() {
        if let Some(why) = unstorable(field.data_type()) {
            return plan_err!(
                "table '{name}': column '{}' is {}, which a quiver table cannot store: {why}",
                field.name(),
                field.data_type()
            );
        }
    }
    // And what the table's Delta log cannot describe.
    crate::warehouse::delta::delta_schema(name, schema.as_arrow()).map(|_| ())
}

/// Why Parquet cannot hold `data_type`, looking inside nested types.
fn unstorable(data_type: &DataType) -> Option<&'static str> {
    match data_type {
        DataType::RunEndEncoded(_, values) => unstorable_inside(values.data_type()),
        other => unstorable_inside(other),
    }
}

/// Why Parquet cannot hold `data_type` at any depth: a run-end encoded
/// type is kept (in the table's entry) only as a top-level column.
fn unstorable_inside(data_type: &DataType) -> Option<&'static str> {
    match data_type {
        DataType::Interval(IntervalUnit::MonthDayNano) => Some(
            "Parquet's INTERVAL has milliseconds, not nanoseconds (cast it to a string, or keep its parts as numbers)",
        ),
        DataType::Dictionary(_, value) if matches!(value.as_ref(), DataType::Dictionary(..)) => {
            Some("Parquet has no dictionary of dictionaries (cast it to one dictionary)")
        }
        DataType::Dictionary(_, value) => unstorable_inside(value),
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => unstorable_inside(f.data_type()),
        DataType::RunEndEncoded(..) => Some(
            "a run-end encoded type inside a list, struct or dictionary would come back \
             decoded (decode it with arrow_cast, or make it a top-level column)",
        ),
        DataType::Struct(fields) => fields.iter().find_map(|f| unstorable_inside(f.data_type())),
        _ => None,
    }
}

/// `stream` with every top-level column declared nullable, but those in
/// `not_null`.
fn nullable(
    stream: SendableRecordBatchStream,
    not_null: &HashSet<String>,
) -> SendableRecordBatchStream {
    let fields: Vec<Field> = stream
        .schema()
        .fields()
        .iter()
        .map(|f| {
            let keep = not_null.contains(f.name()) && !f.is_nullable();
            f.as_ref().clone().with_nullable(!keep)
        })
        .collect();
    let schema = Arc::new(Schema::new_with_metadata(
        fields,
        stream.schema().metadata().clone(),
    ));
    let out = Arc::clone(&schema);
    Box::pin(RecordBatchStreamAdapter::new(
        out,
        stream.map(move |batch| Ok(batch?.with_schema(Arc::clone(&schema))?)),
    ))
}

/// `CREATE [OR REPLACE] VIEW v AS query`: stores the statement.
pub async fn create_view(
    schema: &WarehouseSchema,
    name: &str,
    create: CreateView,
    text: &str,
) -> Result<()> {
    if !may_create(schema, name, "view", create.or_replace, false)? {
        return Ok(());
    }
    unique_column_names(create.input.schema())?;
    let entry = Entry::View {
        definition: text.to_string(),
        updated: now(),
    };
    schema.warehouse().put_entry(name, &entry).await?;
    schema.invalidate(name);
    Ok(())
}

/// `CREATE EXTERNAL TABLE`: opens it once (so a wrong location or format is
/// an error now, not at the next start) and stores the statement.
pub async fn create_external_table(
    ctx: &SessionContext,
    schema: &WarehouseSchema,
    name: &str,
    create: &CreateExternalTable,
    text: &str,
) -> Result<()> {
    let kind = "external table";
    if !may_create(schema, name, kind, create.or_replace, create.if_not_exists)? {
        return Ok(());
    }
    let table = create_external(&ctx.state(), create, None).await?;
    let entry = Entry::External {
        definition: text.to_string(),
        partitions: partition_names(table.as_ref()),
        updated: now(),
    };
    schema.warehouse().put_entry(name, &entry).await?;
    schema.invalidate(name);
    Ok(())
}

/// `DROP TABLE` / `DROP VIEW` of a warehouse entry. Returns `false` when
/// `name` is not in the warehouse (DataFusion then handles the statement).
pub async fn drop(schema: &WarehouseSchema, name: &str, view: bool) -> Result<bool> {
    let Some(kind) = existing(schema, name) else {
        return Ok(false);
    };
    if kind == "session table" {
        return Ok(false);
    }
    let statement = if view { "DROP VIEW" } else { "DROP TABLE" };
    if view != (kind == "view") {
        let a = if kind.starts_with('e') { "an" } else { "a" };
        return plan_err!(
            "{statement}: '{name}' is {a} {kind}, not a {}",
            if view { "view" } else { "table" }
        );
    }
    schema
        .warehouse()
        .drop_entry(name)
        .await
        .map_err(|e| DataFusionError::Execution(format!("{statement} {name}: {e}")))?;
    schema.invalidate(name);
    Ok(true)
}
