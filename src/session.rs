//! A quiver session: DataFusion's `SessionContext` with the warehouse as its
//! default schema, the model store, every quiver function, and the
//! statements quiver adds or persists.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::Schema;
use datafusion::catalog::CatalogProvider;
use datafusion::catalog::MemoryCatalogProvider;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::TryStreamExt;
use quiver_udfs::ModelStore;

use crate::statement::{self, ddl, model};
use crate::warehouse::{Warehouse, WarehouseSchema};

/// The catalog and schema a session's unqualified names resolve in.
pub const CATALOG: &str = "quiver";
pub const SCHEMA: &str = "public";

/// The warehouse used when neither `--warehouse` nor `QUIVER_WAREHOUSE` says.
pub const DEFAULT_WAREHOUSE: &str = "./warehouse";

/// A session over one warehouse.
pub struct QuiverSession {
    ctx: SessionContext,
    schema: Arc<WarehouseSchema>,
    models: Arc<ModelStore>,
}

/// Rows per Parquet row group in tables quiver writes.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

impl QuiverSession {
    /// Opens the warehouse at `location` and builds a session over it.
    pub async fn open(location: &str) -> Result<Self> {
        let warehouse = Warehouse::open(location).await?;
        Self::with_warehouse(warehouse).await
    }

    pub async fn with_warehouse(warehouse: Arc<Warehouse>) -> Result<Self> {
        let runtime = RuntimeEnvBuilder::new().build_arc()?;
        warehouse.register_store(&runtime);
        let mut config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema(CATALOG, SCHEMA)
            .with_create_default_catalog_and_schema(false);
        // Row groups of 128k rows (DuckDB writes 122,880): a scan splits a
        // file by row group, so the 1M-row default leaves a million-row table
        // to one core. Smaller groups also give top-k and sampling finer
        // statistics to prune by.
        config.options_mut().execution.parquet.max_row_group_size = ROW_GROUP_ROWS;
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_query_planner(Arc::new(quiver_udfs::optimizer::QuiverQueryPlanner))
            .build();
        let ctx = SessionContext::new_with_state(state);
        let schema = Arc::new(WarehouseSchema::new(Arc::clone(&warehouse)));
        let catalog = MemoryCatalogProvider::new();
        catalog.register_schema(SCHEMA, Arc::clone(&schema) as _)?;
        ctx.register_catalog(CATALOG, Arc::new(catalog));
        let models = Arc::new(warehouse.models());
        quiver_udfs::register_all(&ctx, Arc::clone(&models))?;
        schema.attach(ctx.state());
        schema.refresh().await?;
        Ok(Self {
            ctx,
            schema,
            models,
        })
    }

    pub fn ctx(&self) -> &SessionContext {
        &self.ctx
    }

    pub fn models(&self) -> &Arc<ModelStore> {
        &self.models
    }

    pub fn warehouse(&self) -> &Arc<Warehouse> {
        self.schema.warehouse()
    }

    pub fn schema(&self) -> &Arc<WarehouseSchema> {
        &self.schema
    }

    /// Runs every statement of `sql` and returns the last one's rows.
    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let mut last = Vec::new();
        for stmt in statement::split(sql)? {
            last = self.execute(&stmt).await?.try_collect().await?;
        }
        Ok(last)
    }

    /// Runs one statement and streams its result.
    pub async fn execute(&self, text: &str) -> Result<SendableRecordBatchStream> {
        self.schema.refresh().await?;
        if model::is_model_statement(text) {
            let batches = model::execute(&self.ctx, &self.models, model::parse(text)?).await?;
            return Ok(batches_stream(batches));
        }
        let plan = statement::plan(&self.ctx.state(), text)
            .await
            .map_err(|e| self.hint_missing_table(e))?;
        match plan {
            LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(create)) if !create.temporary => {
                if let Some(name) = ddl::warehouse_name(&create.name).map(str::to_string) {
                    ddl::create_table(&self.ctx, &self.schema, &name, create).await?;
                    return Ok(batches_stream(vec![]));
                }
                self.run_plan(LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(create)))
                    .await
            }
            LogicalPlan::Ddl(DdlStatement::CreateView(create)) if !create.temporary => {
                if let Some(name) = ddl::warehouse_name(&create.name).map(str::to_string) {
                    ddl::create_view(&self.schema, &name, create, text).await?;
                    return Ok(batches_stream(vec![]));
                }
                self.run_plan(LogicalPlan::Ddl(DdlStatement::CreateView(create)))
                    .await
            }
            LogicalPlan::Ddl(DdlStatement::CreateExternalTable(create)) if !create.temporary => {
                if let Some(name) = ddl::warehouse_name(&create.name).map(str::to_string) {
                    ddl::create_external_table(&self.ctx, &self.schema, &name, &create, text)
                        .await?;
                    return Ok(batches_stream(vec![]));
                }
                self.run_plan(LogicalPlan::Ddl(DdlStatement::CreateExternalTable(create)))
                    .await
            }
            LogicalPlan::Ddl(DdlStatement::DropTable(drop)) => {
                if let Some(name) = ddl::warehouse_name(&drop.name)
                    && ddl::drop(&self.schema, name, false).await?
                {
                    return Ok(batches_stream(vec![]));
                }
                if !drop.if_exists && !self.schema.is_session_table(drop.name.table()) {
                    return Err(self.missing("table", drop.name.table()));
                }
                self.run_plan(LogicalPlan::Ddl(DdlStatement::DropTable(drop)))
                    .await
            }
            LogicalPlan::Ddl(DdlStatement::DropView(drop)) => {
                if let Some(name) = ddl::warehouse_name(&drop.name)
                    && ddl::drop(&self.schema, name, true).await?
                {
                    return Ok(batches_stream(vec![]));
                }
                if !drop.if_exists && !self.schema.is_session_table(drop.name.table()) {
                    return Err(self.missing("view", drop.name.table()));
                }
                self.run_plan(LogicalPlan::Ddl(DdlStatement::DropView(drop)))
                    .await
            }
            other => self.run_plan(other).await,
        }
    }

    async fn run_plan(&self, plan: LogicalPlan) -> Result<SendableRecordBatchStream> {
        self.ctx
            .execute_logical_plan(plan)
            .await?
            .execute_stream()
            .await
    }

    /// What the warehouse holds, for error messages: `tables: a, b; views: v`.
    pub fn listing(&self) -> String {
        let mut tables = Vec::new();
        let mut views = Vec::new();
        for (name, entry) in self.schema.entries() {
            match entry {
                Ok(crate::warehouse::Entry::View { .. }) => views.push(name),
                _ => tables.push(name),
            }
        }
        let mut parts = Vec::new();
        if !tables.is_empty() {
            parts.push(format!("tables: {}", tables.join(", ")));
        }
        if !views.is_empty() {
            parts.push(format!("views: {}", views.join(", ")));
        }
        if parts.is_empty() {
            "the warehouse has no tables yet".to_string()
        } else {
            parts.join("; ")
        }
    }

    fn missing(&self, kind: &str, name: &str) -> DataFusionError {
        DataFusionError::Plan(format!(
            "{kind} '{name}' does not exist ({})",
            self.listing()
        ))
    }

    /// Adds what exists to DataFusion's "table 'x' not found".
    fn hint_missing_table(&self, e: DataFusionError) -> DataFusionError {
        let message = e.strip_backtrace();
        if message.contains("table '") && message.contains("' not found") {
            DataFusionError::Plan(format!(
                "{} ({})",
                message.trim_start_matches("Error during planning: "),
                self.listing()
            ))
        } else {
            e
        }
    }
}

fn batches_stream(batches: Vec<RecordBatch>) -> SendableRecordBatchStream {
    let schema = batches
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(|| Arc::new(Schema::empty()));
    Box::pin(RecordBatchStreamAdapter::new(
        schema,
        futures::stream::iter(batches.into_iter().map(Ok)),
    ))
}

/// An error as a person should read it: one line, lower-case, without
/// DataFusion's "Error during planning: " prefixes or a backtrace.
pub fn user_message(e: &DataFusionError) -> String {
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
