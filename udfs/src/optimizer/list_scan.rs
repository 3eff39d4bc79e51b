//! Scans that decode columns of float lists (embeddings) themselves.
//!
//! [`direct_list_scans`] runs after DataFusion's planner. It replaces a
//! Parquet scan (no partition columns, no declared order, no access plan,
//! no dynamic filter, rows not filtered in the scan) that reads a column of
//! `List`, `LargeList` or `FixedSizeList` of `Float32`/`Float64` with a
//! [`ListScanExec`] (and a projection, where the scan evaluated
//! expressions). A static predicate skips row groups by their statistics,
//! decided at planning; the filter above the scan drops rows as before.
//! For each row group, [`ListScanExec`] fetches the column chunks it needs,
//! decodes the list columns with [`super::list_pages`] and everything else
//! with arrow-rs, exactly as DataFusion's scan would read them. From a page
//! `list_pages` does not take (a NULL or empty list, another encoding),
//! arrow-rs reads the rest of that chunk, so the fast path changes speed,
//! never results.
//!
//! The rewrite happens only where every file reads to the table's types
//! without a cast (the footers are read at planning, as for the seeded
//! top-k); otherwise DataFusion's scan stays. `EXPLAIN ANALYZE` shows, per
//! scan, how many list chunks were decoded directly and how many by arrow-rs.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use datafusion::arrow::compute::concat;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNode;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result, Statistics, exec_err};
use datafusion::datasource::physical_plan::parquet::{
    ParquetAccessPlan, ParquetFileMetrics, RowGroupAccessPlanFilter,
    apply_file_schema_type_coercions,
};
use datafusion::datasource::physical_plan::{FileScanConfig, FileSource, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
};
use datafusion::parquet::basic::Type as PhysicalType;
use datafusion::parquet::file::serialized_reader::SerializedPageReader;
use datafusion::physical_expr::expressions::{Column, DynamicFilterPhysicalExpr};
use datafusion::physical_expr::utils::reassign_expr_columns;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_optimizer::pruning::PruningPredicateBuilder;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet, RecordOutput,
};
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt};
use object_store::ObjectMeta;

use super::list_pages::{Fetched, ListColumn, chunk_qualifies, float_list_item};
use super::rewrite_down;
use crate::nan_safe::fetch_nan_safe;

/// `plan` with every scan that qualifies (see the module docs) reading its
/// float-list columns through [`ListScanExec`].
pub fn direct_list_scans<'a>(
    plan: Arc<dyn ExecutionPlan>,
    state: &'a dyn Session,
) -> BoxFuture<'a, Result<Arc<dyn ExecutionPlan>>> {
    fn scan<'a>(
        node: &'a Arc<dyn ExecutionPlan>,
        state: &'a dyn Session,
    ) -> BoxFuture<'a, Result<Option<Arc<dyn ExecutionPlan>>>> {
        async move {
            match node.downcast_ref::<DataSourceExec>() {
                Some(scan) => list_scan(scan, state).await,
                None => Ok(None),
            }
        }
        .boxed()
    }
    rewrite_down(plan, state, scan)
}

/// How one output column is read from one file.
#[derive(Debug, Clone)]
struct FileColumn {
    /// The column's index among the file's top-level fields.
    root: usize,
    /// For a float-list column, its (only) leaf.
    leaf: Option<usize>,
}

/// One file of a partition and the row groups it reads.
#[derive(Debug, Clone)]
struct FileTask {
    object: ObjectMeta,
    metadata: ArrowReaderMetadata,
    columns: Vec<FileColumn>,
    row_groups: Vec<usize>,
}

async fn list_scan(
    scan: &DataSourceExec,
    state: &dyn Session,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(config) = scan.data_source().downcast_ref::<FileScanConfig>() else {
        return Ok(None);
    };
    let Some(source) = config.file_source().downcast_ref::<ParquetSource>() else {
        return Ok(None);
    };
    let table = source.table_schema();
    let files: Vec<_> = config.file_groups.iter().flat_map(|g| g.iter()).collect();
    // A predicate is used only to skip row groups by their statistics: a
    // filter above still filters rows, unless the scan was told to
    // (`pushdown_filters`); a dynamic one (a top-k's, a join's) changes as
    // the query runs, which only DataFusion's scan follows.
    let predicate = source.filter();
    let dynamic = match &predicate {
        Some(p) => p.exists(|e| Ok(e.downcast_ref::<DynamicFilterPhysicalExpr>().is_some()))?,
        None => false,
    };
    if (predicate.is_some() && source.table_parquet_options().global.pushdown_filters)
        || dynamic
        || !table.table_partition_cols().is_empty()
        || !table.virtual_columns().is_empty()
        || !config.output_ordering.is_empty()
        || config.output_partitioning.is_some()
        || config.expr_adapter_factory.is_some()
        || source
            .table_parquet_options()
            .crypto
            .file_decryption
            .is_some()
        || files.is_empty()
        || files
            .iter()
            .any(|f| !f.extensions.is_empty() || !f.partition_values.is_empty())
    {
        return Ok(None);
    }
    let file_schema = Arc::clone(table.file_schema());
    // The table columns the scan reads, in table order.
    let mut read: Vec<usize> = match source.projection() {
        Some(projection) => projection.column_indices(),
        None => (0..file_schema.fields().len()).collect(),
    };
    read.sort_unstable();
    read.dedup();
    if read.iter().any(|&i| i >= file_schema.fields().len())
        || !read
            .iter()
            .any(|&i| float_list_item(file_schema.field(i).data_type()).is_some())
    {
        return Ok(None);
    }
    let output = Arc::new(file_schema.project(&read)?);

    let store = state
        .runtime_env()
        .object_store(config.object_store_url.clone())?;
    let mut layouts: HashMap<_, (ArrowReaderMetadata, Vec<FileColumn>, Vec<bool>)> = HashMap::new();
    let mut pruned = 0;
    for file in &files {
        let location = &file.object_meta.location;
        if layouts.contains_key(location) {
            continue;
        }
        let metadata =
            fetch_nan_safe(state, &store, &file.object_meta, file.metadata_size_hint).await?;
        // The schema DataFusion's scan would read this file with.
        let mut options = ArrowReaderOptions::new();
        if let Some(schema) = &file.arrow_schema {
            options = options.with_schema(Arc::clone(schema));
        }
        let Ok(mut reader) = ArrowReaderMetadata::try_new(Arc::clone(&metadata), options.clone())
        else {
            return Ok(None);
        };
        if let Some(merged) = apply_file_schema_type_coercions(&file_schema, reader.schema()) {
            options = options.with_schema(Arc::new(merged));
            let Ok(coerced) = ArrowReaderMetadata::try_new(Arc::clone(&metadata), options) else {
                return Ok(None);
            };
            reader = coerced;
        }
        let descr = metadata.file_metadata().schema_descr();
        let mut columns = Vec::with_capacity(output.fields().len());
        for field in output.fields() {
            // Read as is, no cast, no INT96 (DataFusion may coerce those).
            let Ok(root) = reader.schema().index_of(field.name()) else {
                return Ok(None);
            };
            if reader.schema().field(root).data_type() != field.data_type() {
                return Ok(None);
            }
            let leaves: Vec<usize> = (0..descr.num_columns())
                .filter(|&l| descr.get_column_root_idx(l) == root)
                .collect();
            if leaves
                .iter()
                .any(|&l| descr.column(l).physical_type() == PhysicalType::INT96)
            {
                return Ok(None);
            }
            let leaf = match (float_list_item(field.data_type()), &leaves[..]) {
                (None, _) => None,
                (Some(_), [leaf]) if descr.column(*leaf).max_rep_level() == 1 => Some(*leaf),
                (Some(_), _) => return Ok(None),
            };
            columns.push(FileColumn { root, leaf });
        }
        let groups = metadata.row_groups();
        let mut access = RowGroupAccessPlanFilter::new(ParquetAccessPlan::new_all(groups.len()));
        let pruning = predicate.as_ref().and_then(|p| {
            let p = reassign_expr_columns(Arc::clone(p), reader.schema()).ok()?;
            PruningPredicateBuilder::new()
                .with_file_schema(Arc::clone(reader.schema()))
                .try_build(p)
                .ok()
        });
        if let Some(pruning) = pruning {
            let scratch = ExecutionPlanMetricsSet::new();
            let metrics = ParquetFileMetrics::new(0, location.as_ref(), &scratch);
            access.prune_by_statistics(reader.schema(), descr, groups, &pruning, &metrics);
        }
        let access = access.build();
        let kept: Vec<bool> = (0..groups.len()).map(|i| access.should_scan(i)).collect();
        pruned += kept.iter().filter(|k| !**k).count();
        layouts.insert(location.clone(), (reader, columns, kept));
    }

    let mut partitions = Vec::with_capacity(config.file_groups.len());
    for group in &config.file_groups {
        let mut tasks = Vec::new();
        for file in group.iter() {
            let (metadata, columns, kept) = &layouts[&file.object_meta.location];
            // A split file's row groups are those whose first page lies in
            // its range, as DataFusion assigns them.
            let row_groups = metadata
                .metadata()
                .row_groups()
                .iter()
                .enumerate()
                .filter(|(i, g)| {
                    kept[*i]
                        && file.range.as_ref().is_none_or(|range| {
                            let first = g.column(0);
                            range.contains(
                                first
                                    .dictionary_page_offset()
                                    .unwrap_or_else(|| first.data_page_offset()),
                            )
                        })
                })
                .map(|(i, _)| i)
                .collect();
            tasks.push(FileTask {
                object: file.object_meta.clone(),
                metadata: metadata.clone(),
                columns: columns.clone(),
                row_groups,
            });
        }
        partitions.push(tasks);
    }
    let exec: Arc<dyn ExecutionPlan> = Arc::new(ListScanExec::new(
        config.object_store_url.clone(),
        output,
        partitions,
        config.limit,
        config.batch_size,
        pruned,
    ));
    let Some(projection) = source.projection() else {
        return Ok((exec.schema() == scan.schema()).then_some(exec));
    };
    // The scan evaluated the projection's expressions over the table's
    // columns: evaluate them over ours.
    let exprs = projection
        .iter()
        .map(|p| {
            Ok(ProjectionExpr::new(
                reassign_expr_columns(Arc::clone(&p.expr), &exec.schema())?,
                p.alias.clone(),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    // Columns as they are, in order: no projection needed.
    let identity = exprs.len() == exec.schema().fields().len()
        && exprs.iter().enumerate().all(|(i, p)| {
            p.expr
                .downcast_ref::<Column>()
                .is_some_and(|c| c.index() == i && c.name() == p.alias)
        });
    if identity {
        return Ok((exec.schema() == scan.schema()).then_some(exec));
    }
    let plan = Arc::new(ProjectionExec::try_new(exprs, exec)?);
    if plan.schema() != scan.schema() {
        return Ok(None);
    }
    Ok(Some(plan))
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
    fn new(
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
