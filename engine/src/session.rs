//! The one way to build quiver's engine: [`configure`] installs everything
//! quiver adds to a DataFusion session on a `SessionStateBuilder`, and
//! [`register_functions`] puts quiver's functions into any function
//! registry (a Ballista executor's takes them that way). The CLI, the
//! server, the demo, the tests and a cluster's processes call these and add
//! nothing by hand, so a host cannot get the functions without the planner
//! that runs `TABLESAMPLE`, or the scan without its NaN-safe statistics.

use std::sync::Arc;

use datafusion::catalog::TableFunction;
use datafusion::common::Result;
use datafusion::execution::registry::FunctionRegistry;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::SessionConfig;

use crate::functions::{aggregate_functions, scalar_functions, table_functions};
use crate::parquet::nan_safe::NanSafeParquetFormatFactory;
use crate::plan::QuiverQueryPlanner;
use crate::plan::sample::TableSamplePlanner;
use crate::store::ModelStore;

/// Rows per Parquet row group in tables quiver writes, where the session's
/// configuration still has DataFusion's default (1,048,576). A scan splits a
/// file by row group, so the default leaves a million-row table to one
/// core; smaller groups also give top-k and sampling finer statistics to
/// prune by. DuckDB writes 122,880.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// `builder` with everything quiver adds installed:
///
/// - its scalar, aggregate and table functions, loading models from
///   `models`;
/// - the `TABLESAMPLE` relation planner, and [`QuiverQueryPlanner`], which
///   plans its operator and runs the rewrites that read Parquet metadata
///   (top-k seeding, direct scans of vector columns);
/// - physical optimizer rules: DataFusion's, with [`crate::plan::SpreadModelCalls`];
/// - Parquet reading whose float statistics never hide a NaN, in place of
///   DataFusion's Parquet format;
/// - configuration defaults: Parquet row groups of [`ROW_GROUP_ROWS`] rows.
///
/// Call it on a builder that already has DataFusion's defaults
/// (`with_default_features`) and the host's configuration, catalog and
/// runtime; it replaces the query planner and the physical optimizer rules,
/// and adds to the rest.
pub fn configure(
    mut builder: SessionStateBuilder,
    models: &Arc<ModelStore>,
) -> SessionStateBuilder {
    let config = builder.config().get_or_insert_with(SessionConfig::new);
    let parquet = &mut config.options_mut().execution.parquet;
    if parquet.max_row_group_size
        == SessionConfig::new()
            .options()
            .execution
            .parquet
            .max_row_group_size
    {
        parquet.max_row_group_size = ROW_GROUP_ROWS;
    }
    builder
        .scalar_functions()
        .get_or_insert_with(Vec::new)
        .extend(scalar_functions(models));
    builder
        .aggregate_functions()
        .get_or_insert_with(Vec::new)
        .extend(aggregate_functions());
    let tables = builder
        .table_functions()
        .get_or_insert_with(Default::default);
    for f in table_functions(models) {
        tables.insert(
            f.name.to_string(),
            Arc::new(TableFunction::new(f.name.to_string(), f.function)),
        );
    }
    builder
        .relation_planners()
        .get_or_insert_with(Vec::new)
        .push(Arc::new(TableSamplePlanner));
    // DataFusion's Parquet format, whichever the builder has, gives way to
    // the NaN-safe one (the builder would otherwise keep the first of two
    // with one extension).
    let formats = builder.file_formats().get_or_insert_with(Vec::new);
    formats.retain(|f| !f.get_ext().eq_ignore_ascii_case("parquet"));
    formats.push(Arc::new(NanSafeParquetFormatFactory::default()));
    builder
        .with_query_planner(Arc::new(QuiverQueryPlanner::default()))
        .with_physical_optimizer_rules(crate::plan::physical_optimizer_rules())
}

/// Registers quiver's scalar and aggregate functions in `registry`: what a
/// host that receives plans by name (a Ballista executor) needs to run
/// them. A session built with [`configure`] has them already.
pub fn register_functions(
    registry: &mut dyn FunctionRegistry,
    models: &Arc<ModelStore>,
) -> Result<()> {
    for udf in scalar_functions(models) {
        registry.register_udf(udf)?;
    }
    for udaf in aggregate_functions() {
        registry.register_udaf(udaf)?;
    }
    Ok(())
}
