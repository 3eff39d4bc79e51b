//! quiver's physical planner ([`QuiverQueryPlanner`]): DataFusion's, plus
//! the operators of quiver's own logical nodes (`TABLESAMPLE`), and the
//! rewrites that read Parquet metadata before a plan runs: top-k seeding
//! ([`super::seed`]) and direct scans of vector columns
//! ([`crate::exec::list_scan`]).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::Result;
use datafusion::common::display::{PlanType, StringifiedPlan};
use datafusion::common::format::ExplainFormat;
use datafusion::datasource::physical_plan::parquet::ParquetAccessPlan;
use datafusion::datasource::physical_plan::{
    FileGroup, FileScanConfig, FileScanConfigBuilder, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{LogicalPlan, UserDefinedLogicalNode};
use datafusion::parquet::file::metadata::ParquetMetaData;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::displayable;
use datafusion::physical_plan::explain::ExplainExec;
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};

use super::sample::{SampleMethod, SampleNode};
use crate::exec::sample::{Mode, SampleExec};
use crate::parquet::PageAccess;
use crate::parquet::nan_safe::fetch_nan_safe;
use crate::random::{below_fraction, key, mix};

/// Plans a [`SampleNode`] into a [`SampleExec`], pushing `SYSTEM` sampling
/// into a Parquet scan as row-group access plans.
#[derive(Debug, Default)]
pub struct SampleExtensionPlanner;

#[async_trait]
impl ExtensionPlanner for SampleExtensionPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        state: &dyn Session,
        _planning: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(sample) = node.as_any().downcast_ref::<SampleNode>() else {
            return Ok(None);
        };
        let input = in_file_order(&physical_inputs[0]);
        let (input, mode) = match sample.method {
            SampleMethod::Bernoulli(p) => (input, Mode::Bernoulli(p)),
            SampleMethod::Rows(n) => (input, Mode::Rows(n)),
            SampleMethod::System(p) => {
                match sample_row_groups(&input, p, sample.seed, state).await? {
                    Some(pruned) => (pruned, Mode::Pruned(p)),
                    None => (input, Mode::Batches(p)),
                }
            }
        };
        Ok(Some(Arc::new(SampleExec::new(input, mode, sample.seed))))
    }
}

/// `input`, when a file scan, reading each file in the partition it is
/// grouped under. A sample numbers a partition's rows in the order its
/// files are read, and DataFusion's scans otherwise let an idle partition
/// take another's files (work stealing): the same seed would draw other
/// rows from one run to the next.
fn in_file_order(input: &Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
    match input
        .downcast_ref::<DataSourceExec>()
        .and_then(|exec| exec.data_source().downcast_ref::<FileScanConfig>())
    {
        Some(config) if !config.preserve_order => DataSourceExec::from_data_source(
            FileScanConfigBuilder::from(config.clone())
                .with_preserve_order(true)
                .build(),
        ),
        _ => Arc::clone(input),
    }
}

/// When `input` is a Parquet scan: the same scan reading only a sample of
/// each file's row groups (chosen by the file's path and the group's
/// index), or `None` for any other input.
async fn sample_row_groups(
    input: &Arc<dyn ExecutionPlan>,
    fraction: f64,
    seed: u64,
    state: &dyn Session,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(exec) = input.downcast_ref::<DataSourceExec>() else {
        return Ok(None);
    };
    let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>() else {
        return Ok(None);
    };
    if config
        .file_source()
        .downcast_ref::<ParquetSource>()
        .is_none()
    {
        return Ok(None);
    }
    let store = state.runtime_env().object_store(&config.object_store_url)?;
    let mut groups = Vec::with_capacity(config.file_groups.len());
    for group in &config.file_groups {
        let mut files = Vec::with_capacity(group.len());
        for file in group.iter() {
            let metadata = fetch_nan_safe(state, &store, &file.object_meta, None).await?;
            let count = metadata.num_row_groups();
            let path = mix(file
                .object_meta
                .location
                .as_ref()
                .bytes()
                .fold(0xCBF2_9CE4_8422_2325u64, |h, b| {
                    (h ^ b as u64).wrapping_mul(0x0100_0000_01B3)
                }));
            let mut plan = ParquetAccessPlan::new_none(count);
            for i in 0..count {
                match page_rows(&metadata, i) {
                    // Pages, each drawn on its own (a stream per row group).
                    Some(pages) if pages.len() > 1 => {
                        let stream = mix(path ^ mix(i as u64));
                        let keep = (0..pages.len())
                            .map(|j| below_fraction(key(seed, stream, j as u64), fraction));
                        match PageAccess::of_pages(pages.iter().copied().zip(keep)) {
                            PageAccess::Skip => {}
                            PageAccess::All => plan.scan(i),
                            PageAccess::Pages(selection, _) => {
                                plan.scan(i);
                                plan.scan_selection(i, selection);
                            }
                        }
                    }
                    _ => {
                        if below_fraction(key(seed, path, i as u64), fraction) {
                            plan.scan(i);
                        }
                    }
                }
            }
            // A plan the scan already has (rows a Delta deletion vector
            // deletes) still holds: the sample is drawn from what it reads.
            if let Some(existing) = file.extension::<ParquetAccessPlan>() {
                plan = intersect(existing, plan)?;
            }
            files.push(file.clone().with_extension(plan));
        }
        groups.push(FileGroup::new(files));
    }
    let config = FileScanConfigBuilder::from(config.clone())
        .with_file_groups(groups)
        .build();
    Ok(Some(DataSourceExec::from_data_source(config)))
}

/// The rows both plans read, row group by row group.
fn intersect(a: &ParquetAccessPlan, b: ParquetAccessPlan) -> Result<ParquetAccessPlan> {
    use datafusion::datasource::physical_plan::parquet::RowGroupAccess;
    if a.len() != b.len() {
        return datafusion::common::exec_err!(
            "TABLESAMPLE: two access plans of {} and {} row groups for one file",
            a.len(),
            b.len()
        );
    }
    let groups = a
        .inner()
        .iter()
        .zip(b.into_inner())
        .map(|pair| match pair {
            (RowGroupAccess::Skip, _) | (_, RowGroupAccess::Skip) => RowGroupAccess::Skip,
            (RowGroupAccess::Scan, other) => other,
            (other, RowGroupAccess::Scan) => other.clone(),
            (RowGroupAccess::Selection(x), RowGroupAccess::Selection(y)) => {
                RowGroupAccess::Selection(x.intersection(&y))
            }
        })
        .collect();
    Ok(ParquetAccessPlan::new(groups))
}

/// The row counts of the pages of row group `row_group`, by the leaf column
/// split into the most pages (the finest grain every column can be read
/// at), when the file has an offset index; `None` otherwise.
fn page_rows(metadata: &ParquetMetaData, row_group: usize) -> Option<Vec<u64>> {
    let columns = metadata.offset_index()?.get(row_group)?;
    let rows = metadata.row_group(row_group).num_rows() as u64;
    let finest = columns.iter().max_by_key(|c| c.page_locations().len())?;
    let starts: Vec<u64> = finest
        .page_locations()
        .iter()
        .map(|p| p.first_row_index as u64)
        .collect();
    if starts.first() != Some(&0) || starts.windows(2).any(|w| w[0] >= w[1]) {
        return None;
    }
    let ends = starts.iter().skip(1).copied().chain([rows]);
    let counts: Vec<u64> = starts
        .iter()
        .zip(ends)
        .map(|(s, e)| e.saturating_sub(*s))
        .collect();
    (counts.iter().sum::<u64>() == rows).then_some(counts)
}

/// quiver's physical planner: DataFusion's, plus the operators of quiver's
/// own logical nodes.
#[derive(Debug, Default)]
pub struct QuiverQueryPlanner {
    cluster: bool,
}

impl QuiverQueryPlanner {
    /// The planner of a cluster's scheduler, whose plans run on other
    /// processes: it leaves vector columns to the Parquet scan, and wraps
    /// each Parquet scan so that what DataFusion's wire form of it drops
    /// travels with it ([`crate::wire`]).
    pub fn for_cluster() -> Self {
        Self { cluster: true }
    }
}

#[async_trait]
impl QueryPlanner for QuiverQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        state: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan =
            DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(SampleExtensionPlanner)])
                .create_physical_plan(logical_plan, state)
                .await?;
        if let (Some(explain), LogicalPlan::Explain(e)) =
            (plan.downcast_ref::<ExplainExec>(), logical_plan)
            && e.explain_format == ExplainFormat::Indent
            && explain.stringified_plans().iter().any(|p| {
                matches!(
                    p.plan_type,
                    PlanType::FinalPhysicalPlan
                        | PlanType::FinalPhysicalPlanWithStats
                        | PlanType::FinalPhysicalPlanWithSchema
                )
            })
        {
            // DataFusion rendered the physical plan before quiver's steps
            // below: render the plan that would run instead. Where it shows
            // no physical plan (`logical_plan_only`, a statement with none,
            // a plan its physical optimizer refused) there is none to
            // replace, and planning one anyway would fail (#28).
            let runs = self.create_physical_plan(&e.plan, state).await?;
            let config = &state.config_options().explain;
            let show = |stats: bool, schema: bool| {
                displayable(runs.as_ref())
                    .set_show_statistics(stats)
                    .set_show_schema(schema)
                    .indent(e.verbose)
                    .to_string()
            };
            let stats = e.show_statistics.unwrap_or(config.show_statistics);
            let plans = explain
                .stringified_plans()
                .iter()
                .map(|p| {
                    // (statistics, schema) as DataFusion shows each final plan.
                    let shown = match p.plan_type {
                        PlanType::FinalPhysicalPlan => (stats, config.show_schema),
                        PlanType::FinalPhysicalPlanWithStats => (true, false),
                        PlanType::FinalPhysicalPlanWithSchema => (false, true),
                        _ => return p.clone(),
                    };
                    StringifiedPlan::new(p.plan_type.clone(), show(shown.0, shown.1))
                })
                .collect();
            return Ok(Arc::new(ExplainExec::new(
                explain.schema(),
                plans,
                explain.verbose(),
            )));
        }
        let plan = super::seed::seed_top_k(plan, state).await?;
        if self.cluster {
            crate::wire::ship_scans(plan)
        } else {
            super::list_scan::direct_list_scans(plan, state).await
        }
    }
}
