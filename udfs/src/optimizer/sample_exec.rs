//! `SampleExec`: the operator behind `TABLESAMPLE`, and the planner that
//! turns a [`SampleNode`] into it.
//!
//! Every random choice is a hash of the seed, the input partition and the
//! row's (or batch's, or row group's) position in it, never a stream of
//! draws shared between threads. So `REPEATABLE (seed)` gives the same
//! sample for the same files and partitioning, however the partitions are
//! scheduled.
//!
//! - Bernoulli keeps row `i` of partition `p` when its hash falls below the
//!   fraction.
//! - System over a Parquet scan gives every file an access plan that reads
//!   only the chosen pages (each page drawn on its own, where the file has
//!   an offset index) or row groups (where it has none); the rest are never
//!   fetched. Over any other input it keeps or drops whole batches.
//! - `n ROWS` keeps the `n` rows with the smallest hash keys: a bounded
//!   set per partition, compacted as it goes, then merged. The result is a
//!   uniform sample of exactly `min(n, rows)` rows in one pass.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, BooleanArray, RecordBatch, RecordBatchOptions, UInt32Array, UInt64Array,
};
use datafusion::arrow::compute::{concat_batches, filter_record_batch, take_record_batch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::display::{PlanType, StringifiedPlan};
use datafusion::common::format::ExplainFormat;
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, Statistics};
use datafusion::datasource::physical_plan::parquet::ParquetAccessPlan;
use datafusion::datasource::physical_plan::{
    FileGroup, FileScanConfig, FileScanConfigBuilder, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{LogicalPlan, UserDefinedLogicalNode};
use datafusion::parquet::file::metadata::ParquetMetaData;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::displayable;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::explain::ExplainExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, ExecutionPlanProperties,
    Partitioning, PlanProperties,
};
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use futures::{StreamExt, TryStreamExt};

use super::PageAccess;
use super::sample::{SampleMethod, SampleNode};
use crate::nan_safe::fetch_nan_safe;

/// A 64-bit mix (splitmix64's finaliser): every input bit moves every
/// output bit.
#[inline]
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The hash key of item `i` of stream `stream` under `seed`.
#[inline]
fn key(seed: u64, stream: u64, i: u64) -> u64 {
    mix(mix(seed ^ mix(stream)) ^ i)
}

/// Whether a key falls below `fraction` (keys are uniform over u64).
#[inline]
fn below(key: u64, fraction: f64) -> bool {
    ((key >> 11) as f64) < fraction * (1u64 << 53) as f64
}

/// What the operator still has to do to its input.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Bernoulli(f64),
    /// Whole batches, for inputs that are not a Parquet scan.
    Batches(f64),
    /// The scan below already reads only the sampled row groups; the
    /// operator passes rows through and hides the scan's exact statistics.
    Pruned(f64),
    Rows(u64),
}

#[derive(Debug)]
pub struct SampleExec {
    input: Arc<dyn ExecutionPlan>,
    mode: Mode,
    seed: u64,
    properties: Arc<PlanProperties>,
}

impl SampleExec {
    fn new(input: Arc<dyn ExecutionPlan>, mode: Mode, seed: u64) -> Self {
        // Every mode but `n ROWS` keeps rows in their input order (it drops
        // rows, batches or row groups and moves none), so it keeps the
        // input's ordering; a sort below it then still holds above it.
        let (partitioning, equivalence) = match mode {
            Mode::Rows(_) => (
                Partitioning::UnknownPartitioning(1),
                EquivalenceProperties::new(input.schema()),
            ),
            _ => (
                input.output_partitioning().clone(),
                input.equivalence_properties().clone(),
            ),
        };
        let properties = PlanProperties::new(
            equivalence,
            partitioning,
            match mode {
                Mode::Rows(_) => EmissionType::Final,
                _ => EmissionType::Incremental,
            },
            Boundedness::Bounded,
        );
        Self {
            input,
            mode,
            seed,
            properties: Arc::new(properties),
        }
    }
}

impl DisplayAs for SampleExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        match self.mode {
            Mode::Bernoulli(p) => write!(f, "SampleExec: bernoulli={p}, seed={}", self.seed),
            Mode::Batches(p) => write!(f, "SampleExec: system={p} (batches), seed={}", self.seed),
            Mode::Pruned(p) => write!(
                f,
                "SampleExec: system={p} (pages, or row groups without a page index), seed={}",
                self.seed
            ),
            Mode::Rows(n) => write!(f, "SampleExec: rows={n}, seed={}", self.seed),
        }
    }
}

impl ExecutionPlan for SampleExec {
    fn name(&self) -> &'static str {
        "SampleExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::UnspecifiedDistribution]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![!matches!(self.mode, Mode::Rows(_))]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(SampleExec::new(
            children.swap_remove(0),
            self.mode,
            self.seed,
        )))
    }

    fn partition_statistics(&self, _partition: Option<usize>) -> Result<Arc<Statistics>> {
        // A sample's row count is not the input's: never let `count(*)` be
        // answered from the scan's statistics.
        Ok(Arc::new(Statistics::new_unknown(&self.schema())))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let schema = self.schema();
        let seed = self.seed;
        match self.mode {
            Mode::Rows(n) => {
                let input = Arc::clone(&self.input);
                let partitions = input.output_partitioning().partition_count();
                let stream = futures::stream::once(async move {
                    // One task per input partition, so they run on all cores;
                    // dropping the stream aborts them.
                    let mut tasks = Vec::with_capacity(partitions);
                    for p in 0..partitions {
                        let stream = input.execute(p, Arc::clone(&context))?;
                        tasks.push(SpawnedTask::spawn(reservoir(stream, n, seed, p as u64)));
                    }
                    let mut merged = Reservoir::new(n, input.schema());
                    for task in tasks {
                        let (batch, keys) = task.join_unwind().await.map_err(|e| {
                            DataFusionError::Execution(format!(
                                "TABLESAMPLE: a partition failed: {e}"
                            ))
                        })??;
                        merged.push(batch, keys)?;
                    }
                    merged.into_parts().map(|(batch, _)| batch)
                });
                Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
            }
            mode => {
                let stream = self.input.execute(partition, context)?;
                let stream_id = partition as u64;
                let mut row = 0u64;
                let mut batch_index = 0u64;
                let stream = stream.map(move |batch| {
                    let batch = batch?;
                    Ok(match mode {
                        Mode::Bernoulli(p) => {
                            let keep: BooleanArray = (0..batch.num_rows() as u64)
                                .map(|i| Some(below(key(seed, stream_id, row + i), p)))
                                .collect();
                            row += batch.num_rows() as u64;
                            filter_record_batch(&batch, &keep)?
                        }
                        Mode::Batches(p) => {
                            batch_index += 1;
                            if below(key(seed, stream_id, batch_index - 1), p) {
                                batch
                            } else {
                                batch.slice(0, 0)
                            }
                        }
                        _ => batch,
                    })
                });
                Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
            }
        }
    }
}

/// The rows with the `n` smallest keys seen so far, with their keys.
struct Reservoir {
    n: u64,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    keys: Vec<u64>,
}

impl Reservoir {
    fn new(n: u64, schema: SchemaRef) -> Self {
        Self {
            n,
            schema,
            batches: Vec::new(),
            keys: Vec::new(),
        }
    }

    /// The largest key that can still enter, once `n` rows are held.
    fn bound(&self) -> Option<u64> {
        (self.keys.len() as u64 >= self.n && self.batches.len() == 1)
            .then(|| self.keys.iter().copied().max().unwrap_or(0))
    }

    fn push(&mut self, batch: RecordBatch, keys: Vec<u64>) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.batches.push(batch);
        self.keys.extend(keys);
        if self.keys.len() as u64 > self.n.max(1024).saturating_mul(2) {
            self.compact()?;
        }
        Ok(())
    }

    /// Keeps only the `n` rows with the smallest keys, in key order.
    fn compact(&mut self) -> Result<()> {
        let all = concat_batches(&self.schema, &self.batches)?;
        let mut order: Vec<u32> = (0..self.keys.len() as u32).collect();
        let n = (self.n as usize).min(order.len());
        if n < order.len() {
            order.select_nth_unstable_by_key(n, |&i| self.keys[i as usize]);
            order.truncate(n);
        }
        order.sort_unstable_by_key(|&i| self.keys[i as usize]);
        let kept = take_rows(&all, &UInt32Array::from(order.clone()))?;
        self.keys = order.iter().map(|&i| self.keys[i as usize]).collect();
        self.batches = vec![kept];
        Ok(())
    }

    fn into_parts(mut self) -> Result<(RecordBatch, Vec<u64>)> {
        self.compact()?;
        let batch = self
            .batches
            .pop()
            .unwrap_or_else(|| RecordBatch::new_empty(Arc::clone(&self.schema)));
        Ok((batch, self.keys))
    }
}

/// The rows of `batch` at `indices`; a batch without columns (as for
/// `count(*)`) keeps just the row count.
fn take_rows(batch: &RecordBatch, indices: &dyn Array) -> Result<RecordBatch> {
    if batch.num_columns() == 0 {
        let options = RecordBatchOptions::new().with_row_count(Some(indices.len()));
        return Ok(RecordBatch::try_new_with_options(
            batch.schema(),
            vec![],
            &options,
        )?);
    }
    Ok(take_record_batch(batch, indices)?)
}

/// One partition's `n` smallest-key rows.
async fn reservoir(
    mut stream: SendableRecordBatchStream,
    n: u64,
    seed: u64,
    stream_id: u64,
) -> Result<(RecordBatch, Vec<u64>)> {
    let mut res = Reservoir::new(n, stream.schema());
    let mut row = 0u64;
    while let Some(batch) = stream.try_next().await? {
        let bound = res.bound();
        let keys: Vec<u64> = (0..batch.num_rows() as u64)
            .map(|i| key(seed, stream_id, row + i))
            .collect();
        row += batch.num_rows() as u64;
        let picked: Vec<u64> = (0..keys.len() as u64)
            .filter(|&i| n > 0 && bound.is_none_or(|b| keys[i as usize] < b))
            .collect();
        if picked.is_empty() {
            continue;
        }
        let rows = take_rows(&batch, &UInt64Array::from(picked.clone()))?;
        res.push(rows, picked.iter().map(|&i| keys[i as usize]).collect())?;
    }
    res.into_parts()
}

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
        let input = Arc::clone(&physical_inputs[0]);
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
                        let keep =
                            (0..pages.len()).map(|j| below(key(seed, stream, j as u64), fraction));
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
                        if below(key(seed, path, i as u64), fraction) {
                            plan.scan(i);
                        }
                    }
                }
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
pub struct QuiverQueryPlanner;

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
        {
            // DataFusion rendered the physical plan before quiver's steps
            // below: render the plan that would run instead.
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
        super::list_scan::direct_list_scans(plan, state).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_uniform_enough_for_fractions() {
        let kept = (0..100_000u64)
            .filter(|&i| below(key(7, 0, i), 0.1))
            .count();
        assert!((9_500..10_500).contains(&kept), "{kept}");
        assert!((0..1000u64).all(|i| !below(key(7, 0, i), 0.0)));
        assert!((0..1000u64).all(|i| below(key(7, 0, i), 1.0)));
        assert_ne!(key(1, 0, 5), key(2, 0, 5));
        assert_ne!(key(1, 0, 5), key(1, 1, 5));
    }
}
