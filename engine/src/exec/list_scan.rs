//! [`ListScanExec`]: a Parquet scan that decodes columns of float lists
//! (embeddings) itself, with [`crate::parquet::list_pages`], and everything
//! else with arrow-rs, exactly as DataFusion's scan would read them. From a
//! page `list_pages` does not take (a NULL or empty list, another
//! encoding), arrow-rs reads the rest of that chunk, so the fast path
//! changes speed, never results. The rewrite that puts it in a plan is
//! [`crate::plan::list_scan`]. `EXPLAIN ANALYZE` shows, per scan, how many
//! list chunks were decoded directly and how many by arrow-rs.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use datafusion::arrow::compute::concat;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result, Statistics, exec_err};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder, RowSelection,
    RowSelector,
};
use datafusion::parquet::file::serialized_reader::SerializedPageReader;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet, RecordOutput,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectMeta;

use crate::parquet::fetched::Fetched;
use crate::parquet::list_pages::{ListColumn, chunk_qualifies, float_list_item};

/// How one output column is read from one file.
#[derive(Debug, Clone)]
pub(crate) struct FileColumn {
    /// The column's index among the file's top-level fields.
    pub(crate) root: usize,
    /// For a float-list column, its (only) leaf.
    pub(crate) leaf: Option<usize>,
}

/// One file of a partition and the row groups it reads.
#[derive(Debug, Clone)]
pub(crate) struct FileTask {
    pub(crate) object: ObjectMeta,
    pub(crate) metadata: ArrowReaderMetadata,
    pub(crate) columns: Vec<FileColumn>,
    pub(crate) row_groups: Vec<usize>,
}

/// Reads Parquet files decoding float-list columns directly (see the
/// module docs). One partition per file group of the scan it replaces,
/// reading the same row groups in the same order.
#[derive(Debug)]
pub struct ListScanExec {
    store: ObjectStoreUrl,
    schema: SchemaRef,
    partitions: Vec<Vec<FileTask>>,
    limit: Option<usize>,
    batch_size: Option<usize>,
    /// Row groups the scan's predicate skipped by their statistics.
    pruned: usize,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl ListScanExec {
    pub(crate) fn new(
        store: ObjectStoreUrl,
        schema: SchemaRef,
        partitions: Vec<Vec<FileTask>>,
        limit: Option<usize>,
        batch_size: Option<usize>,
        pruned: usize,
    ) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(partitions.len()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Self {
            store,
            schema,
            partitions,
            limit,
            batch_size,
            pruned,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for ListScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let names = |lists: bool| {
            self.schema
                .fields()
                .iter()
                .filter(|f| float_list_item(f.data_type()).is_some() == lists)
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let files: usize = self.partitions.iter().map(Vec::len).sum();
        write!(
            f,
            "ListScanExec: {} partitions, {files} file ranges, lists=[{}], other=[{}]",
            self.partitions.len(),
            names(true),
            names(false)
        )?;
        if self.pruned > 0 {
            write!(f, ", row_groups_pruned_statistics={}", self.pruned)?;
        }
        if let Some(limit) = self.limit {
            write!(f, ", limit={limit}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for ListScanExec {
    fn name(&self) -> &'static str {
        "ListScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if !children.is_empty() {
            return exec_err!("ListScanExec has no children");
        }
        Ok(self)
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn partition_statistics(&self, _partition: Option<usize>) -> Result<Arc<Statistics>> {
        Ok(Arc::new(Statistics::new_unknown(&self.schema)))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let Some(tasks) = self.partitions.get(partition) else {
            return exec_err!("ListScanExec has no partition {partition}");
        };
        let store = context.runtime_env().object_store(&self.store)?;
        let batch_size = self
            .batch_size
            .unwrap_or_else(|| context.session_config().batch_size());
        let metrics = ScanMetrics {
            baseline: BaselineMetrics::new(&self.metrics, partition),
            bytes: MetricBuilder::new(&self.metrics).counter("bytes_scanned", partition),
            direct: MetricBuilder::new(&self.metrics).counter("list_chunks_direct", partition),
            arrow: MetricBuilder::new(&self.metrics).counter("list_chunks_arrow", partition),
        };
        let schema = Arc::clone(&self.schema);
        let units: Vec<(Arc<FileTask>, usize)> = tasks
            .iter()
            .flat_map(|t| {
                let task = Arc::new(t.clone());
                t.row_groups.iter().map(move |&g| (Arc::clone(&task), g))
            })
            .collect();
        let read_schema = Arc::clone(&schema);
        let read_metrics = metrics.clone();
        let batches =
            futures::stream::iter(units)
                .then(move |(task, group)| {
                    let (store, schema, metrics) = (
                        Arc::clone(&store),
                        Arc::clone(&read_schema),
                        read_metrics.clone(),
                    );
                    async move {
                        read_row_group(&*store, &task, group, schema, batch_size, &metrics).await
                    }
                })
                .map_ok(futures::stream::iter)
                .try_flatten();
        // Stops reading once the limit's rows are out (errors pass).
        let baseline = metrics.baseline;
        let limited = batches.scan(self.limit.unwrap_or(usize::MAX), move |left, batch| {
            if *left == 0 {
                return futures::future::ready(None);
            }
            let batch = batch.map(|batch| {
                let batch = batch.slice(0, batch.num_rows().min(*left));
                *left -= batch.num_rows();
                batch.record_output(&baseline)
            });
            futures::future::ready(Some(batch))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, limited)))
    }
}

#[derive(Clone)]
struct ScanMetrics {
    baseline: BaselineMetrics,
    bytes: Count,
    direct: Count,
    arrow: Count,
}

/// Fetches the column chunks of one row group that the scan needs and
/// returns its batches, made as they are asked for.
async fn read_row_group(
    store: &dyn object_store::ObjectStore,
    task: &FileTask,
    group: usize,
    schema: SchemaRef,
    batch_size: usize,
    metrics: &ScanMetrics,
) -> Result<RowGroupBatches> {
    let parquet = task.metadata.metadata();
    let row_group = parquet.row_group(group);
    let descr = parquet.file_metadata().schema_descr();
    let leaves: Vec<usize> = (0..descr.num_columns())
        .filter(|&l| {
            task.columns
                .iter()
                .any(|c| descr.get_column_root_idx(l) == c.root)
        })
        .collect();
    let ranges: Vec<std::ops::Range<u64>> = leaves
        .iter()
        .map(|&l| {
            let (start, len) = row_group.column(l).byte_range();
            start..start + len
        })
        .collect();
    let bytes = store.get_ranges(&task.object.location, &ranges).await?;
    metrics
        .bytes
        .add(ranges.iter().map(|r| (r.end - r.start) as usize).sum());
    let fetched = Fetched::new(ranges.iter().map(|r| r.start), bytes, task.object.size);
    let rows = row_group.num_rows() as usize;
    let reader = ColumnReaders {
        fetched,
        metadata: task.metadata.clone(),
        group,
        batch_size,
    };
    let mut lists = Vec::with_capacity(task.columns.len());
    let mut by_arrow = Vec::new();
    for (field, column) in schema.fields().iter().zip(&task.columns) {
        let direct = column.leaf.and_then(|leaf| {
            let chunk = row_group.column(leaf);
            let item = float_list_item(field.data_type())?;
            chunk_qualifies(chunk, item).then_some(chunk)
        });
        let source = match direct {
            Some(chunk) => {
                let pages =
                    SerializedPageReader::new(Arc::new(reader.fetched.clone()), chunk, rows, None)?;
                ListColumn::new(Box::new(pages), chunk.column_descr_ptr(), rows)
                    .map(ListSource::Direct)
            }
            None => None,
        };
        if source.is_none() {
            if column.leaf.is_some() {
                metrics.arrow.add(1);
            }
            by_arrow.push(column.root);
        }
        lists.push(source);
    }
    let other = if by_arrow.is_empty() {
        None
    } else {
        Some(reader.build(by_arrow, 0, rows)?)
    };
    Ok(RowGroupBatches {
        schema,
        reader,
        roots: task.columns.iter().map(|c| c.root).collect(),
        other,
        lists,
        rows,
        next: 0,
        metrics: metrics.clone(),
    })
}

/// What arrow-rs needs to read columns of one fetched row group.
struct ColumnReaders {
    fetched: Fetched,
    metadata: ArrowReaderMetadata,
    group: usize,
    batch_size: usize,
}

impl ColumnReaders {
    /// A reader of the top-level columns `roots` from row `from` on.
    fn build(
        &self,
        roots: Vec<usize>,
        from: usize,
        rows: usize,
    ) -> Result<ParquetRecordBatchReader> {
        let descr = self.metadata.metadata().file_metadata().schema_descr();
        let mut builder = ParquetRecordBatchReaderBuilder::new_with_metadata(
            self.fetched.clone(),
            self.metadata.clone(),
        )
        .with_row_groups(vec![self.group])
        .with_projection(ProjectionMask::roots(descr, roots))
        .with_batch_size(self.batch_size);
        if from > 0 {
            builder = builder.with_row_selection(RowSelection::from(vec![
                RowSelector::skip(from),
                RowSelector::select(rows - from),
            ]));
        }
        Ok(builder.build()?)
    }
}

/// Where a list column's rows come from: decoded directly, or (from the
/// first page [`ListColumn`] does not take) by arrow-rs.
enum ListSource {
    Direct(ListColumn),
    Arrow(ArrowRows),
}

/// One column as arrow-rs reads it, taken `n` rows at a time whatever the
/// sizes of its batches.
struct ArrowRows {
    reader: ParquetRecordBatchReader,
    left: Option<ArrayRef>,
}

impl ArrowRows {
    fn take(&mut self, n: usize) -> Result<ArrayRef> {
        let mut parts: Vec<ArrayRef> = self.left.take().into_iter().collect();
        let mut have: usize = parts.iter().map(|a| a.len()).sum();
        while have < n {
            let Some(batch) = self.reader.next() else {
                return exec_err!("Parquet row group ended early");
            };
            let column = Arc::clone(batch?.column(0));
            have += column.len();
            parts.push(column);
        }
        let all = match &parts[..] {
            [one] => Arc::clone(one),
            _ => concat(&parts.iter().map(|a| a.as_ref()).collect::<Vec<_>>())?,
        };
        if all.len() > n {
            self.left = Some(all.slice(n, all.len() - n));
        }
        Ok(all.slice(0, n))
    }
}

/// The batches of one row group, made as they are asked for: arrow-rs's
/// batch of the other columns, and the same rows of each list column.
struct RowGroupBatches {
    schema: SchemaRef,
    reader: ColumnReaders,
    /// Each output column's top-level column in the file.
    roots: Vec<usize>,
    other: Option<ParquetRecordBatchReader>,
    /// Per output column, where its rows come from if it is a list column
    /// not in `other`.
    lists: Vec<Option<ListSource>>,
    rows: usize,
    next: usize,
    metrics: ScanMetrics,
}

impl RowGroupBatches {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if self.next >= self.rows {
            return Ok(None);
        }
        let _timer = self.metrics.baseline.elapsed_compute().timer();
        let other = match self.other.as_mut() {
            Some(reader) => match reader.next() {
                Some(batch) => Some(batch?),
                None => return exec_err!("Parquet row group ended before its {} rows", self.rows),
            },
            None => None,
        };
        let len = other
            .as_ref()
            .map_or(self.reader.batch_size.min(self.rows - self.next), |b| {
                b.num_rows()
            });
        let range = self.next..self.next + len;
        if range.end > self.rows {
            return exec_err!("Parquet row group yielded more than its {} rows", self.rows);
        }
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.lists.len());
        for (i, field) in self.schema.fields().iter().enumerate() {
            let column = match &mut self.lists[i] {
                Some(ListSource::Direct(list)) => {
                    match list.take(range.clone(), field.data_type())? {
                        Some(array) => array,
                        None => {
                            // From here on arrow-rs reads this column.
                            self.metrics.arrow.add(1);
                            let reader =
                                self.reader
                                    .build(vec![self.roots[i]], range.start, self.rows)?;
                            let mut rows = ArrowRows { reader, left: None };
                            let array = rows.take(len)?;
                            self.lists[i] = Some(ListSource::Arrow(rows));
                            array
                        }
                    }
                }
                Some(ListSource::Arrow(rows)) => rows.take(len)?,
                None => match other.as_ref().and_then(|b| b.column_by_name(field.name())) {
                    Some(column) => Arc::clone(column),
                    None => {
                        return exec_err!("Parquet reader did not return column {}", field.name());
                    }
                },
            };
            columns.push(column);
        }
        self.next = range.end;
        if self.next == self.rows {
            let direct = self
                .lists
                .iter()
                .filter(|l| matches!(l, Some(ListSource::Direct(_))))
                .count();
            self.metrics.direct.add(direct);
        }
        let options = RecordBatchOptions::new().with_row_count(Some(len));
        Ok(Some(RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            columns,
            &options,
        )?))
    }
}

impl Iterator for RowGroupBatches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_batch().transpose()
    }
}
