//! A quiver session: DataFusion's `SessionContext` with the warehouse as its
//! default schema, the model store, every quiver function, and the
//! statements quiver adds or persists.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::common::{DataFusionError, Result, ScalarValue, plan_err};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::memory_pool::MemoryPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::TryStreamExt;
use quiver_engine::ModelStore;
use quiver_engine::error::not_found;
use quiver_engine::memory::CappedPool;
use quiver_engine::models::{NoProgress, ProgressSink};

use crate::statement::{self, ddl, model};
use crate::warehouse::policy::PathPolicy;
use crate::warehouse::schemas::WarehouseCatalog;
use crate::warehouse::{Warehouse, WarehouseSchema, external_delta};

pub use crate::warehouse::{CATALOG, SCHEMA};

/// The warehouse used when neither `--warehouse` nor `QUIVER_WAREHOUSE` says.
pub const DEFAULT_WAREHOUSE: &str = "./warehouse";

/// A session over one warehouse.
pub struct QuiverSession {
    ctx: SessionContext,
    schema: Arc<WarehouseSchema>,
    /// Every schema of the warehouse, `schema` (`public`) among them.
    catalog: Arc<WarehouseCatalog>,
    models: Arc<ModelStore>,
    options: SessionOptions,
    policy: Arc<PathPolicy>,
    /// When opening listed the catalog, until the first statement takes
    /// it: a statement that follows at once need not list it again. A
    /// server opens a session per request, and on an object store each
    /// listing is a request of its own.
    just_listed: std::sync::Mutex<Option<std::time::Instant>>,
}

/// Limits on what a session may do (the CLI runs with none, `quiver serve`
/// with the ones its flags set), and where it reports progress.
#[derive(Clone)]
pub struct SessionOptions {
    /// Bytes a session's queries and trainings may hold at once before
    /// they spill or fail with "resources exhausted" (`None`: no limit of
    /// its own).
    pub memory_limit: Option<usize>,
    /// A pool shared with other sessions that this one's memory also
    /// counts against: a server's limit for all its clients together.
    pub memory_pool: Option<Arc<dyn MemoryPool>>,
    /// Whether statements may name paths outside the warehouse: `CREATE
    /// EXTERNAL TABLE`, `COPY ... TO`, `COPY MODEL ... TO` and `CREATE MODEL
    /// ... FROM`. A server refuses them unless told otherwise, since the
    /// paths are the server's, not the client's.
    pub outside_paths: bool,
    /// Where training reports its progress: the CLI draws it on a
    /// terminal, the server logs it. Nothing by default.
    pub progress: Arc<dyn ProgressSink>,
    /// The shortest `VACUUM ... RETAIN` period accepted: a server's
    /// clients cannot know what other clients are writing (an hour there;
    /// none in the CLI).
    pub min_retention: std::time::Duration,
    /// The Ballista scheduler (`df://HOST:PORT`) that runs this session's
    /// queries; `None`: they run in this process.
    pub cluster: Option<String>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            memory_limit: None,
            memory_pool: None,
            outside_paths: true,
            progress: Arc::new(NoProgress),
            min_retention: std::time::Duration::ZERO,
            cluster: None,
        }
    }
}

impl std::fmt::Debug for SessionOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionOptions")
            .field("memory_limit", &self.memory_limit)
            .field("outside_paths", &self.outside_paths)
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

/// How recent the listing made when a session opened must be for its first
/// statement to use it rather than list the catalog again.
const JUST_LISTED: std::time::Duration = std::time::Duration::from_millis(100);

impl QuiverSession {
    /// Opens the warehouse at `location` and builds a session over it.
    pub async fn open(location: &str) -> Result<Self> {
        let warehouse = Warehouse::open(location).await?;
        Self::with_warehouse(warehouse).await
    }

    /// Opens the warehouse at `location` and builds a session over it under
    /// `options`.
    pub async fn open_with(location: &str, options: SessionOptions) -> Result<Self> {
        let warehouse = Warehouse::open(location).await?;
        let models = Arc::new(warehouse.models());
        Self::with_options(warehouse, models, options).await
    }

    pub async fn with_warehouse(warehouse: Arc<Warehouse>) -> Result<Self> {
        let models = Arc::new(warehouse.models());
        Self::with_options(warehouse, models, SessionOptions::default()).await
    }

    /// A session over `warehouse` that shares `models` (and so its cache of
    /// loaded models) with other sessions, under `options`.
    pub async fn with_options(
        warehouse: Arc<Warehouse>,
        models: Arc<ModelStore>,
        options: SessionOptions,
    ) -> Result<Self> {
        let mut runtime = RuntimeEnvBuilder::new();
        runtime = match (&options.memory_pool, options.memory_limit) {
            (Some(shared), Some(cap)) => {
                runtime.with_memory_pool(Arc::new(CappedPool::new(Arc::clone(shared), cap)))
            }
            (Some(shared), None) => runtime.with_memory_pool(Arc::clone(shared)),
            (None, Some(limit)) => runtime.with_memory_limit(limit, 1.0),
            (None, None) => runtime,
        };
        let runtime = runtime.build_arc()?;
        warehouse.register_store(&runtime);
        let policy = Arc::new(PathPolicy::new(warehouse.url(), options.outside_paths)?);
        let config = SessionConfig::new()
            .with_extension(Arc::clone(&policy))
            .with_information_schema(true)
            .with_default_catalog_and_schema(CATALOG, SCHEMA)
            .with_create_default_catalog_and_schema(false);
        let builder = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features();
        let mut builder = quiver_engine::configure(builder, &models);
        builder
            .table_factories()
            .get_or_insert_with(Default::default)
            .insert(
                external_delta::FILE_TYPE.to_string(),
                Arc::new(external_delta::DeltaTableFactory),
            );
        let state = builder.build();
        let state = match &options.cluster {
            Some(cluster) => crate::cluster::client_state(state, cluster, &models)?,
            None => state,
        };
        let ctx = SessionContext::new_with_state(state);
        let schema = Arc::new(WarehouseSchema::new(Arc::clone(&warehouse)));
        let catalog = Arc::new(WarehouseCatalog::new(
            Arc::clone(&warehouse),
            Arc::clone(&schema),
        ));
        ctx.register_catalog(CATALOG, Arc::clone(&catalog) as _);
        catalog.attach(&ctx);
        catalog.refresh().await?;
        Ok(Self {
            ctx,
            schema,
            catalog,
            models,
            options,
            policy,
            just_listed: std::sync::Mutex::new(Some(std::time::Instant::now())),
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
        self.execute_with(text, &[]).await
    }

    /// Runs one statement with its placeholders (`$1`, `$2`, ...) bound to
    /// `params`, and streams its result.
    pub async fn execute_with(
        &self,
        text: &str,
        params: &[ScalarValue],
    ) -> Result<SendableRecordBatchStream> {
        let prepared = self.prepare(text, params).await?;
        self.run_prepared(text, prepared).await
    }

    /// Runs a statement planned by [`Self::prepare`] from `text`.
    pub async fn run_prepared(
        &self,
        text: &str,
        prepared: Planned,
    ) -> Result<SendableRecordBatchStream> {
        match prepared {
            Planned::Model(stmt) => {
                let progress = Arc::clone(&self.options.progress);
                let batches = model::execute(&self.ctx, &self.models, stmt, progress).await?;
                Ok(batches_stream(batches))
            }
            Planned::Vacuum(stmt) => {
                let batch = statement::vacuum::execute(
                    &self.ctx,
                    &self.catalog,
                    &self.models,
                    &stmt,
                    self.options.min_retention,
                )
                .await?;
                Ok(batches_stream(vec![batch]))
            }
            Planned::History(stmt) => {
                let batch = statement::history::execute(&self.ctx, &self.catalog, &stmt).await?;
                Ok(batches_stream(vec![batch]))
            }
            Planned::Optimize(stmt) => {
                let batch = statement::optimize::execute(&self.ctx, &self.catalog, &stmt).await?;
                Ok(batches_stream(vec![batch]))
            }
            Planned::Alter(stmt) => {
                statement::alter::execute(&self.ctx, &self.catalog, &stmt).await?;
                Ok(batches_stream(vec![]))
            }
            Planned::Plan(plan) => self.run(text, plan).await,
        }
    }

    /// Plans one statement with `params` bound, without running it.
    pub async fn prepare(&self, text: &str, params: &[ScalarValue]) -> Result<Planned> {
        let listed = self.just_listed.lock().ok().and_then(|mut l| l.take());
        if listed.is_none_or(|at| at.elapsed() >= JUST_LISTED) {
            self.catalog.refresh().await?;
        }
        if model::is_model_statement(text) {
            if !params.is_empty() {
                return plan_err!("model statements take no parameters");
            }
            let stmt = model::parse(text)?;
            match &stmt {
                model::ModelStatement::Copy { to, .. } => self.check_location("COPY MODEL", to)?,
                model::ModelStatement::Create(create) => {
                    create.check()?;
                    if let Some(from) = &create.from {
                        self.check_location("CREATE MODEL ... FROM", from)?;
                    }
                }
                _ => {}
            }
            return Ok(Planned::Model(stmt));
        }
        if statement::vacuum::is_vacuum(text) {
            if !params.is_empty() {
                return plan_err!("VACUUM takes no parameters");
            }
            return Ok(Planned::Vacuum(statement::vacuum::parse(text)?));
        }
        if statement::history::is_history(text) {
            if !params.is_empty() {
                return plan_err!("DESCRIBE HISTORY and RESTORE take no parameters");
            }
            return Ok(Planned::History(statement::history::parse(text)?));
        }
        if statement::optimize::is_optimize(text) {
            if !params.is_empty() {
                return plan_err!("OPTIMIZE takes no parameters");
            }
            return Ok(Planned::Optimize(statement::optimize::parse(text)?));
        }
        if statement::alter::is_alter(text) {
            if !params.is_empty() {
                return plan_err!("ALTER takes no parameters");
            }
            return Ok(Planned::Alter(statement::alter::parse(text)?));
        }
        // `t VERSION AS OF n`: the version, registered for this statement.
        let as_of = statement::history::rewrite_as_of(&self.ctx, &self.catalog, text).await?;
        let read = as_of.as_ref().map_or(text, |(t, _)| t.as_str());
        let planned = match statement::params::typed_placeholders(read, params) {
            Ok(typed) => statement::plan(&self.ctx.state(), &typed)
                .await
                .and_then(|plan| {
                    if params.is_empty() {
                        Ok(plan)
                    } else {
                        plan.with_param_values(params.to_vec())
                    }
                })
                .map_err(|e| self.hint_missing_table(e)),
            Err(e) => Err(e),
        };
        let reads_a_version = as_of.is_some();
        if let Some((_, tables)) = as_of {
            tables.release();
        }
        let plan = planned?;
        if reads_a_version && matches!(plan, LogicalPlan::Ddl(DdlStatement::CreateView(_))) {
            return plan_err!(
                "VERSION AS OF and TIMESTAMP AS OF cannot be stored in a view's definition (it \
                 is planned again when used); CREATE TABLE ... AS keeps that version's rows"
            );
        }
        if !params.is_empty()
            && matches!(
                &plan,
                LogicalPlan::Ddl(
                    DdlStatement::CreateView(_) | DdlStatement::CreateExternalTable(_)
                )
            )
        {
            return plan_err!(
                "parameters cannot be bound in CREATE VIEW or CREATE EXTERNAL TABLE (the statement is stored as written)"
            );
        }
        Ok(Planned::Plan(plan))
    }

    /// Refuses `location` when the session's path policy does.
    fn check_location(&self, what: &str, location: &str) -> Result<()> {
        self.policy.check(what, location)
    }

    /// Runs `plan`: warehouse DDL through the warehouse
    /// ([`ddl::run_in_warehouse`]), everything else through DataFusion.
    async fn run(&self, text: &str, plan: LogicalPlan) -> Result<SendableRecordBatchStream> {
        if let LogicalPlan::Dml(dml) = &plan
            && statement::dml::changes_in_place(&dml.op)
        {
            let options = self.ctx.copied_config().options().clone();
            if let Some((schema, name)) =
                ddl::warehouse_object(&self.catalog, &dml.table_name, &options)
                && let Some(count) = statement::dml::run(&self.ctx, &schema, &name, dml).await?
            {
                return Ok(batches_stream(vec![count]));
            }
        }
        match ddl::run_in_warehouse(&self.ctx, &self.catalog, text, plan).await? {
            Some(plan) => self.run_plan(plan).await,
            None => Ok(batches_stream(vec![])),
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
        self.schema.listing()
    }

    /// DataFusion's "table 'x' not found" (which it gives only as text), as
    /// quiver's typed not-found error, with what exists added.
    fn hint_missing_table(&self, e: DataFusionError) -> DataFusionError {
        let message = e.strip_backtrace();
        if message.contains("table '") && message.contains("' not found") {
            not_found(format!(
                "{} ({})",
                message.trim_start_matches("Error during planning: "),
                self.listing_for(&message)
            ))
        } else {
            e
        }
    }

    /// What the schema of the table named in `message` (`table
    /// 'quiver.s.t' not found`) holds; the `public` schema's for a name
    /// without one, or one that is not a warehouse schema.
    fn listing_for(&self, message: &str) -> String {
        let name = message
            .split_once("table '")
            .and_then(|(_, rest)| rest.split_once("' not found"))
            .map(|(name, _)| name);
        let schema = match name.map(|n| n.split('.').collect::<Vec<_>>()).as_deref() {
            Some([catalog, schema, _]) if *catalog == CATALOG => Some(schema.to_string()),
            _ => None,
        };
        match schema.and_then(|s| self.catalog.get(&s)) {
            Some(schema) => schema.listing(),
            None => self.listing(),
        }
    }
}

/// A statement planned by [`QuiverSession::prepare`].
pub enum Planned {
    /// A model statement, which quiver parses and runs itself.
    Model(model::ModelStatement),
    /// `VACUUM`, which quiver parses and runs itself.
    Vacuum(statement::vacuum::Vacuum),
    /// `ALTER TABLE` / `ALTER VIEW`, which quiver parses and runs itself.
    Alter(statement::alter::Alter),
    /// `DESCRIBE HISTORY` / `RESTORE`, which quiver parses and runs itself.
    History(statement::history::History),
    /// `OPTIMIZE`, which quiver parses and runs itself.
    Optimize(statement::optimize::Optimize),
    Plan(LogicalPlan),
}

impl Planned {
    /// The columns of the result, when they are known without running the
    /// statement: a query's, not a model statement's or DDL's.
    pub fn query_schema(&self) -> Option<SchemaRef> {
        match self {
            Planned::Plan(plan) if !has_effects(plan) => Some(Arc::clone(plan.schema().inner())),
            _ => None,
        }
    }
}

pub use crate::statement::has_effects;

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

pub use crate::message::user_message;
