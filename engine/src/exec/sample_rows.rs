//! `TABLESAMPLE (n ROWS)` in two steps, for a cluster. In one process
//! [`SampleExec`](super::sample::SampleExec) reads every partition of its
//! input in one task and keeps the `n` rows with the smallest keys. A
//! Ballista task reads only its own partitions of a scan, so on a cluster
//! the sample is split as a top-k is: each partition keeps its `n`
//! smallest-key rows with their keys ([`RowsPartialExec`]), and one task
//! keeps the `n` smallest of those ([`RowsFinalExec`]). The keys are the
//! ones the single step draws, so both give the same rows in the same order
//! (smallest key first), whatever order the partitions arrive in.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result, Statistics, internal_err};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, ExecutionPlanProperties,
    Partitioning, PlanProperties,
};
use futures::TryStreamExt;

use super::sample::{Reservoir, reservoir, stream_key};

/// The column that carries each kept row's key from the first step to the
/// second.
pub const KEY_COLUMN: &str = "__quiver_sample_key";

fn properties(schema: SchemaRef, partitioning: Partitioning) -> Arc<PlanProperties> {
    Arc::new(PlanProperties::new(
        EquivalenceProperties::new(schema),
        partitioning,
        EmissionType::Final,
        Boundedness::Bounded,
    ))
}

/// Each partition's `n` smallest-key rows, with their keys in
/// [`KEY_COLUMN`].
#[derive(Debug)]
pub struct RowsPartialExec {
    input: Arc<dyn ExecutionPlan>,
    n: u64,
    seed: u64,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl RowsPartialExec {
    pub fn new(input: Arc<dyn ExecutionPlan>, n: u64, seed: u64) -> Self {
        let mut fields: Vec<Field> = input
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(KEY_COLUMN, DataType::UInt64, false));
        let schema = Arc::new(Schema::new(fields));
        let partitions = input.output_partitioning().partition_count();
        Self {
            properties: properties(
                Arc::clone(&schema),
                Partitioning::UnknownPartitioning(partitions),
            ),
            input,
            n,
            seed,
            schema,
        }
    }

    pub fn n(&self) -> u64 {
        self.n
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }
}

impl DisplayAs for RowsPartialExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "RowsPartialExec: rows={}, seed={}", self.n, self.seed)
    }
}

impl ExecutionPlan for RowsPartialExec {
    fn name(&self) -> &'static str {
        "RowsPartialExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
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
        match (children.pop(), children.is_empty()) {
            (Some(input), true) => Ok(Arc::new(Self::new(input, self.n, self.seed))),
            _ => internal_err!("RowsPartialExec has one child"),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let stream = self.input.execute(partition, context)?;
        let stream_id = stream_key(&self.input, partition);
        let (n, seed, schema) = (self.n, self.seed, Arc::clone(&self.schema));
        let out = futures::stream::once(async move {
            let (batch, keys) = reservoir(stream, n, seed, stream_id).await?;
            let mut columns = batch.columns().to_vec();
            columns.push(Arc::new(UInt64Array::from(keys)));
            Ok(RecordBatch::try_new(schema, columns)?)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            out,
        )))
    }
}

/// The `n` smallest-key rows of all its input's rows, without their keys.
#[derive(Debug)]
pub struct RowsFinalExec {
    input: Arc<dyn ExecutionPlan>,
    n: u64,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl RowsFinalExec {
    pub fn new(input: Arc<dyn ExecutionPlan>, n: u64) -> Result<Self> {
        let full = input.schema();
        let Some((last, fields)) = full.fields().split_last() else {
            return internal_err!("RowsFinalExec over an input without the key column");
        };
        if last.name() != KEY_COLUMN {
            return internal_err!("RowsFinalExec over an input without the key column");
        }
        let schema = Arc::new(Schema::new(fields.to_vec()));
        Ok(Self {
            properties: properties(Arc::clone(&schema), Partitioning::UnknownPartitioning(1)),
            input,
            n,
            schema,
        })
    }

    pub fn n(&self) -> u64 {
        self.n
    }
}

impl DisplayAs for RowsFinalExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "RowsFinalExec: rows={}", self.n)
    }
}

impl ExecutionPlan for RowsFinalExec {
    fn name(&self) -> &'static str {
        "RowsFinalExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::SinglePartition]
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
        match (children.pop(), children.is_empty()) {
            (Some(input), true) => Ok(Arc::new(Self::new(input, self.n)?)),
            _ => internal_err!("RowsFinalExec has one child"),
        }
    }

    fn partition_statistics(&self, _partition: Option<usize>) -> Result<Arc<Statistics>> {
        Ok(Arc::new(Statistics::new_unknown(&self.schema)))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return internal_err!("RowsFinalExec has one partition, not {}", partition + 1);
        }
        let input = Arc::clone(&self.input);
        let (n, schema) = (self.n, Arc::clone(&self.schema));
        let out = futures::stream::once(async move {
            let mut merged = Reservoir::new(n, Arc::clone(&schema));
            let keep: Vec<usize> = (0..schema.fields().len()).collect();
            for p in 0..input.output_partitioning().partition_count() {
                let mut stream = input.execute(p, Arc::clone(&context))?;
                while let Some(batch) = stream.try_next().await? {
                    let keys = batch
                        .column(keep.len())
                        .as_primitive_opt::<UInt64Type>()
                        .map(|k| k.values().to_vec());
                    let Some(keys) = keys else {
                        return internal_err!("RowsFinalExec: the key column is not UInt64");
                    };
                    merged.push(batch.project(&keep)?, keys)?;
                }
            }
            merged.into_parts().map(|(batch, _)| batch)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            out,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::sample::{Mode, SampleExec};
    use datafusion::arrow::array::Int64Array;
    use datafusion::datasource::memory::MemorySourceConfig;
    use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
    use datafusion::physical_plan::collect;
    use datafusion::prelude::SessionContext;

    /// Three partitions of numbered rows, one of them empty.
    fn input() -> Arc<dyn ExecutionPlan> {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        let part = |from: i64, to: i64| {
            vec![
                RecordBatch::try_new(
                    Arc::clone(&schema),
                    vec![Arc::new(Int64Array::from_iter_values(from..to))],
                )
                .expect("batch"),
            ]
        };
        MemorySourceConfig::try_new_exec(
            &[part(0, 500), vec![], part(500, 2000)],
            Arc::clone(&schema),
            None,
        )
        .expect("memory exec")
    }

    #[tokio::test]
    async fn two_steps_draw_the_rows_one_step_draws() {
        let ctx = SessionContext::new().task_ctx();
        for n in [0, 1, 7, 100, 5000] {
            let one = SampleExec::new(input(), Mode::Rows(n), 42);
            let one = collect(Arc::new(one), Arc::clone(&ctx))
                .await
                .expect("one step");
            let partial = Arc::new(RowsPartialExec::new(input(), n, 42));
            let two = RowsFinalExec::new(Arc::new(CoalescePartitionsExec::new(partial)), n)
                .expect("final");
            let two = collect(Arc::new(two), Arc::clone(&ctx))
                .await
                .expect("two steps");
            let rows = |batches: &[RecordBatch]| -> Vec<i64> {
                batches
                    .iter()
                    .flat_map(|b| {
                        b.column(0)
                            .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                            .values()
                            .to_vec()
                    })
                    .collect()
            };
            assert_eq!(rows(&one), rows(&two), "n = {n}");
            assert_eq!(rows(&two).len() as u64, n.min(2000), "n = {n}");
        }
    }
}
