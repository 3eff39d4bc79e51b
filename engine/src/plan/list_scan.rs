//! Scans that decode columns of float lists (embeddings) themselves.
//!
//! [`direct_list_scans`] runs after DataFusion's planner. It replaces a
//! Parquet scan (no partition columns, no declared order, no access plan,
//! no dynamic filter, rows not filtered in the scan) that reads a column of
//! `List`, `LargeList` or `FixedSizeList` of `Float32`/`Float64` with a
//! [`ListScanExec`] (and a projection, where the scan evaluated
//! expressions). A static predicate skips row groups by their statistics,
//! decided at planning; the filter above the scan drops rows as before.
//!
//! The rewrite happens only where every file reads to the table's types
//! without a cast (the footers are read at planning, as for the seeded
//! top-k); otherwise DataFusion's scan stays.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::catalog::Session;
use datafusion::common::Result;
use datafusion::common::tree_node::TreeNode;
use datafusion::datasource::physical_plan::parquet::{
    ParquetAccessPlan, ParquetFileMetrics, RowGroupAccessPlanFilter,
    apply_file_schema_type_coercions,
};
use datafusion::datasource::physical_plan::{FileScanConfig, FileSource, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use datafusion::parquet::basic::Type as PhysicalType;
use datafusion::physical_expr::expressions::{Column, DynamicFilterPhysicalExpr};
use datafusion::physical_expr::utils::reassign_expr_columns;
use datafusion::physical_optimizer::pruning::PruningPredicateBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};
use futures::FutureExt;
use futures::future::BoxFuture;

use super::rewrite_down;
use crate::exec::list_scan::{FileColumn, FileTask, ListScanExec};
use crate::parquet::list_pages::float_list_item;
use crate::parquet::nan_safe::fetch_nan_safe;

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
