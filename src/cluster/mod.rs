//! quiver on an Apache Ballista cluster (#25): `quiver scheduler`, `quiver
//! executor`, and sessions that send their queries to a scheduler
//! (`quiver --cluster df://HOST:PORT`).
//!
//! Every process is built by the same engine configuration
//! ([`quiver_engine::configure`]) and speaks the same codecs:
//! - the client plans SQL with quiver's functions, `TABLESAMPLE` and the
//!   warehouse catalog, and sends the logical plan to the scheduler;
//! - the scheduler plans it physically with quiver's planner (top-k
//!   seeding, `SYSTEM` sampling into row groups, NaN-safe Parquet
//!   statistics), splits it into stages, and sends each task's physical
//!   plan to an executor;
//! - executors run them with quiver's functions, loading models from the
//!   warehouse they were started with.
//!
//! Tables travel as what they are ([`codec`]): a warehouse table as the
//! Parquet files of the snapshot the client opened, so every process reads
//! the same version; the warehouse must be shared storage (an object store,
//! or a folder every process sees at the same path).

pub mod codec;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ballista_core::extension::{
    SessionConfigExt, SessionStateExt, ballista_aggregate_functions, ballista_scalar_functions,
    ballista_window_functions,
};
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use datafusion::catalog::Session;
use datafusion::catalog::default_table_source::{provider_as_source, source_as_provider};
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::{LogicalPlan, WriteOp};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::PhysicalExtensionCodec;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use quiver_engine::ModelStore;
use quiver_engine::functions::{aggregate_functions, scalar_functions};
use quiver_engine::plan::QuiverQueryPlanner;
use quiver_engine::wire::{QuiverLogicalCodec, QuiverPhysicalCodec};

use crate::warehouse::Warehouse;
use crate::warehouse::rows::FileRows;

/// The scheduler port Ballista's clients and executors assume.
pub const DEFAULT_PORT: u16 = 50050;

/// The logical codec every process of a cluster uses: warehouse tables,
/// then quiver's nodes, then Ballista's.
pub fn logical_codec() -> Arc<dyn LogicalExtensionCodec> {
    Arc::new(
        QuiverLogicalCodec::new(Arc::new(BallistaLogicalExtensionCodec::default()))
            .with_tables(Arc::new(codec::WarehouseTables)),
    )
}

/// The physical codec every process of a cluster uses: quiver's nodes,
/// then Ballista's.
pub fn physical_codec() -> Arc<dyn PhysicalExtensionCodec> {
    Arc::new(QuiverPhysicalCodec::new(Arc::new(
        BallistaPhysicalExtensionCodec::default(),
    )))
}

/// `df://host:port` (or `http://`, or `host:port`) as the scheduler's gRPC
/// URL.
pub fn scheduler_url(cluster: &str) -> Result<String> {
    let with_scheme = if cluster.contains("://") {
        cluster.to_string()
    } else {
        format!("df://{cluster}")
    };
    let url = url::Url::parse(&with_scheme).map_err(|e| {
        DataFusionError::Configuration(format!(
            "cluster '{cluster}' is not a scheduler address (df://HOST:PORT): {e}"
        ))
    })?;
    if !matches!(url.scheme(), "df" | "http") {
        return Err(DataFusionError::Configuration(format!(
            "cluster '{cluster}': the scheme must be df:// (or http://), not {}://",
            url.scheme()
        )));
    }
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| {
        DataFusionError::Configuration(format!("cluster '{cluster}' names no host"))
    })?;
    Ok(format!(
        "http://{host}:{}",
        url.port().unwrap_or(DEFAULT_PORT)
    ))
}

/// A client session's `state` sending its queries to the scheduler at
/// `cluster`. Ballista's upgrade replaces the function lists with its own,
/// so quiver's are registered again.
pub fn client_state(
    state: SessionState,
    cluster: &str,
    models: &Arc<ModelStore>,
) -> Result<SessionState> {
    let url = scheduler_url(cluster)?;
    let config = state
        .config()
        .clone()
        .with_ballista_logical_extension_codec(logical_codec())
        .with_ballista_physical_extension_codec(physical_codec());
    let state = SessionStateBuilder::new_from_existing(state)
        .with_config(config)
        .build();
    let state = state.upgrade_for_ballista(url)?;
    let planner = ClientPlanner {
        cluster: Arc::clone(state.query_planner()),
    };
    let mut state = SessionStateBuilder::new_from_existing(state)
        .with_query_planner(Arc::new(planner))
        .build();
    quiver_engine::register_functions(&mut state, models)?;
    Ok(state)
}

/// A client's planner: plans go to the cluster (Ballista's planner), but
/// - an `INSERT` is written here: its rows are computed by the cluster, and
///   the write commits to the warehouse table where the statement runs, as
///   every write does (a cluster reads a table's files, never commits);
/// - a plan that reads where each row of a table lives (`UPDATE`, `DELETE`
///   and `MERGE` rewrite files by row position, [`FileRows`]) runs here.
#[derive(Debug)]
struct ClientPlanner {
    cluster: Arc<dyn QueryPlanner + Send + Sync>,
}

/// `plan` as a cluster receives it: its external tables of Parquet files
/// marked for the table codec ([`codec::ExternalFiles`]).
fn for_the_cluster(plan: &LogicalPlan) -> Result<LogicalPlan> {
    plan.clone()
        .transform_up_with_subqueries(|node| {
            let LogicalPlan::TableScan(scan) = &node else {
                return Ok(Transformed::no(node));
            };
            let Some(marked) = codec::ExternalFiles::mark(&source_as_provider(&scan.source)?)?
            else {
                return Ok(Transformed::no(node));
            };
            let mut scan = scan.clone();
            scan.source = provider_as_source(Arc::new(marked));
            Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
        })
        .data()
}

/// Whether `plan` reads a table by row position ([`FileRows`]), which only
/// the statement's own process can.
fn reads_row_positions(plan: &LogicalPlan) -> Result<bool> {
    let mut found = false;
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && source_as_provider(&scan.source)?.is::<FileRows>()
        {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(found)
}

#[async_trait::async_trait]
impl QueryPlanner for ClientPlanner {
    async fn create_physical_plan(
        &self,
        plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if let LogicalPlan::Dml(dml) = plan
            && let WriteOp::Insert(op) = dml.op
        {
            let table = source_as_provider(&dml.target)?;
            let input = self
                .cluster
                .create_physical_plan(&for_the_cluster(&dml.input)?, session)
                .await?;
            return table.insert_into(session, input, op).await;
        }
        if reads_row_positions(plan)? {
            return QuiverQueryPlanner::default()
                .create_physical_plan(plan, session)
                .await;
        }
        self.cluster
            .create_physical_plan(&for_the_cluster(plan)?, session)
            .await
    }
}

/// What a scheduler plans with: Ballista's session, with quiver's
/// configuration and the cluster's planner, reading the warehouse's store.
fn scheduler_session(
    config: SessionConfig,
    warehouse: &Warehouse,
    models: &Arc<ModelStore>,
) -> Result<SessionState> {
    let runtime = RuntimeEnvBuilder::new().build_arc()?;
    warehouse.register_store(&runtime);
    let builder = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_optimizer_rules(ballista_core::optimizer::ballista_default_optimizer_rules())
        .with_scalar_functions(ballista_scalar_functions())
        .with_aggregate_functions(ballista_aggregate_functions())
        .with_window_functions(ballista_window_functions());
    Ok(quiver_engine::configure(builder, models)
        .with_query_planner(Arc::new(QuiverQueryPlanner::for_cluster()))
        .build())
}

/// `--cluster`, for each front door that runs queries (`quiver`, `quiver
/// serve`, `quiver demo`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClusterArg {
    /// Run queries on this Apache Ballista cluster (its scheduler,
    /// df://HOST:PORT) instead of in this process; the warehouse must be
    /// storage the cluster's processes share.
    #[arg(long, env = "QUIVER_CLUSTER", value_name = "df://HOST:PORT")]
    pub cluster: Option<String>,
}

/// `quiver scheduler`.
#[derive(Debug, clap::Args)]
pub struct SchedulerArgs {
    /// Where to listen for clients and executors (port 0: a free port,
    /// printed once listening).
    #[arg(long, default_value = "127.0.0.1:50050", value_name = "HOST:PORT")]
    pub bind: SocketAddr,
}

/// Runs a scheduler until the process is stopped.
pub async fn run_scheduler(warehouse: &str, args: &SchedulerArgs) -> Result<()> {
    let warehouse = Warehouse::open(warehouse).await?;
    let models = Arc::new(warehouse.models());
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .map_err(|e| {
            DataFusionError::Configuration(format!("cannot listen on {}: {e}", args.bind))
        })?;
    let bound = listener.local_addr()?;
    let builder_warehouse = Arc::clone(&warehouse);
    let mut config = SchedulerConfig::default()
        .with_hostname(bound.ip().to_string())
        .with_port(bound.port())
        .with_override_session_builder(Arc::new(move |config: SessionConfig| {
            scheduler_session(config, &builder_warehouse, &models)
        }));
    config.bind_host = bound.ip().to_string();
    config.override_logical_codec = Some(logical_codec());
    config.override_physical_codec = Some(physical_codec());
    let config = Arc::new(config);
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(ballista_error)?;
    let scheduler = create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, config)
        .await
        .map_err(ballista_error)?;
    println!(
        "quiver scheduler listening on {bound} (warehouse {})",
        warehouse.url()
    );
    start_grpc_service_with_listener(listener, scheduler)
        .await
        .map_err(ballista_error)
}

/// `quiver executor`.
#[derive(Debug, clap::Args)]
pub struct ExecutorArgs {
    /// The scheduler to register with.
    #[arg(long, default_value = "127.0.0.1:50050", value_name = "HOST:PORT")]
    pub scheduler: String,
    /// Where to serve shuffle data to other executors (port 0: a free port).
    #[arg(long, default_value = "127.0.0.1:50051", value_name = "HOST:PORT")]
    pub bind: SocketAddr,
    /// Where the scheduler sends tasks (port 0: a free port).
    #[arg(long, default_value_t = 0, value_name = "PORT")]
    pub grpc_port: u16,
    /// Tasks run at once (0: one per core).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub concurrent_tasks: usize,
    /// Where shuffle files go (default: a temporary folder).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<String>,
}

/// A free port on `host`: the executor tells the scheduler its ports, so
/// port 0 is resolved before it starts. Another process could take the
/// port in between; the executor then fails to start, saying so.
fn free_port(host: std::net::IpAddr) -> Result<u16> {
    let listener = std::net::TcpListener::bind((host, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Runs an executor until the process is stopped.
pub async fn run_executor(warehouse: &str, args: &ExecutorArgs) -> Result<()> {
    let warehouse = Warehouse::open(warehouse).await?;
    let models = Arc::new(warehouse.models());
    let scheduler = scheduler_url(&args.scheduler)?;
    let scheduler =
        url::Url::parse(&scheduler).map_err(|e| DataFusionError::Configuration(e.to_string()))?;
    // Every function a client's session has: Ballista's registry lacks
    // some of DataFusion's own (the nested-type ones, `cardinality`,
    // `array_has`), and quiver's.
    let mut registry = BallistaFunctionRegistry::default();
    let defaults = SessionStateBuilder::new().with_default_features().build();
    for (name, udf) in defaults.scalar_functions() {
        registry
            .scalar_functions
            .insert(name.clone(), Arc::clone(udf));
    }
    for (name, udaf) in defaults.aggregate_functions() {
        registry
            .aggregate_functions
            .insert(name.clone(), Arc::clone(udaf));
    }
    for (name, udwf) in defaults.window_functions() {
        registry
            .window_functions
            .insert(name.clone(), Arc::clone(udwf));
    }
    for udf in scalar_functions(&models) {
        registry
            .scalar_functions
            .insert(udf.name().to_string(), udf);
    }
    for udaf in aggregate_functions() {
        registry
            .aggregate_functions
            .insert(udaf.name().to_string(), udaf);
    }
    let port = match args.bind.port() {
        0 => free_port(args.bind.ip())?,
        p => p,
    };
    let grpc_port = match args.grpc_port {
        0 => free_port(args.bind.ip())?,
        p => p,
    };
    let work_dir = args.work_dir.clone();
    let runtime_warehouse = Arc::clone(&warehouse);
    let temp = match &work_dir {
        Some(dir) => std::path::PathBuf::from(dir),
        None => std::env::temp_dir(),
    };
    let config = ExecutorProcessConfig {
        bind_host: args.bind.ip().to_string(),
        external_host: Some(args.bind.ip().to_string()),
        port,
        grpc_port,
        scheduler_host: scheduler.host_str().unwrap_or("127.0.0.1").to_string(),
        scheduler_port: scheduler.port().unwrap_or(DEFAULT_PORT),
        scheduler_connect_timeout_seconds: 10,
        vcores: args.concurrent_tasks,
        work_dir,
        override_function_registry: Some(Arc::new(registry)),
        override_logical_codec: Some(logical_codec()),
        override_physical_codec: Some(physical_codec()),
        override_runtime_producer: Some(Arc::new(move |_config: &SessionConfig| {
            let runtime = RuntimeEnvBuilder::new()
                .with_temp_file_path(temp.clone())
                .build_arc()?;
            runtime_warehouse.register_store(&runtime);
            Ok(runtime)
        })),
        ..Default::default()
    };
    let health = config.health.clone();
    let id = config.executor_id.clone();
    let announce = async move {
        // Readiness is the scheduler's answer to the first heartbeat, kept
        // in this process: print it once, for scripts waiting on it.
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            if health.is_ready() {
                println!(
                    "quiver executor {id} registered with {scheduler}, serving on port {port}"
                );
                return;
            }
        }
    };
    let run = start_executor_process(Arc::new(config));
    tokio::pin!(run);
    tokio::select! {
        result = &mut run => return result.map_err(ballista_error),
        () = announce => {}
    }
    run.await.map_err(ballista_error)
}

fn ballista_error(e: ballista_core::error::BallistaError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}
