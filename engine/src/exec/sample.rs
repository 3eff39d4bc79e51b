//! `SampleExec`: the operator behind `TABLESAMPLE`. The planner that turns
//! a [`crate::plan::sample::SampleNode`] into it, and pushes `SYSTEM`
//! sampling into a Parquet scan, is [`crate::plan::planner`].
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

use datafusion::arrow::array::{
    Array, BooleanArray, RecordBatch, RecordBatchOptions, UInt32Array, UInt64Array,
};
use datafusion::arrow::compute::{concat_batches, filter_record_batch, take_record_batch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, Statistics};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, ExecutionPlanProperties,
    Partitioning, PlanProperties,
};
use futures::{StreamExt, TryStreamExt};

use crate::random::{below_fraction, key, mix};

/// What the operator still has to do to its input.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
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
    pub fn new(input: Arc<dyn ExecutionPlan>, mode: Mode, seed: u64) -> Self {
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

impl SampleExec {
    pub fn input(&self) -> &Arc<dyn ExecutionPlan> {
        &self.input
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn seed(&self) -> u64 {
        self.seed
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
                        let stream_id = stream_key(&input, p);
                        tasks.push(SpawnedTask::spawn(reservoir(stream, n, seed, stream_id)));
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
                let stream_id = stream_key(&self.input, partition);
                let mut row = 0u64;
                let mut batch_index = 0u64;
                let stream = stream.map(move |batch| {
                    let batch = batch?;
                    Ok(match mode {
                        Mode::Bernoulli(p) => {
                            let keep: BooleanArray = (0..batch.num_rows() as u64)
                                .map(|i| Some(below_fraction(key(seed, stream_id, row + i), p)))
                                .collect();
                            row += batch.num_rows() as u64;
                            filter_record_batch(&batch, &keep)?
                        }
                        Mode::Batches(p) => {
                            batch_index += 1;
                            if below_fraction(key(seed, stream_id, batch_index - 1), p) {
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

/// What numbers the rows of `partition` of `input` for the sample's keys:
/// for a file scan, the files (and byte ranges) it reads there, so that the
/// sample does not depend on the partition's number. A Ballista executor
/// runs its slice of a stage's partitions numbered from 0, and the rows
/// partition 3 drew in one process must be the rows the same files draw
/// there. Other inputs: the partition's number.
pub(crate) fn stream_key(input: &Arc<dyn ExecutionPlan>, partition: usize) -> u64 {
    let group = crate::wire::unshipped(input)
        .downcast_ref::<DataSourceExec>()
        .and_then(|exec| exec.data_source().downcast_ref::<FileScanConfig>())
        .and_then(|config| config.file_groups.get(partition));
    let Some(group) = group else {
        return partition as u64;
    };
    let mut h = mix(group.len() as u64);
    for file in group.iter() {
        for chunk in file.object_meta.location.as_ref().as_bytes().chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            h = mix(h ^ u64::from_le_bytes(word));
        }
        if let Some(range) = &file.range {
            h = mix(h ^ range.start as u64);
            h = mix(h ^ range.end as u64);
        }
        h = mix(h ^ 0xFF);
    }
    h
}

/// The rows with the `n` smallest keys seen so far, with their keys.
pub(crate) struct Reservoir {
    n: u64,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    keys: Vec<u64>,
}

impl Reservoir {
    pub(crate) fn new(n: u64, schema: SchemaRef) -> Self {
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

    pub(crate) fn push(&mut self, batch: RecordBatch, keys: Vec<u64>) -> Result<()> {
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

    pub(crate) fn into_parts(mut self) -> Result<(RecordBatch, Vec<u64>)> {
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
pub(crate) async fn reservoir(
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
