//! Seeded top-k thresholds: before a top-k scan reads anything, derive from
//! the Parquet row-group statistics a value that at least k rows reach, and
//! skip every row group that cannot reach it.
//!
//! For `ORDER BY x DESC LIMIT k` over a plain Parquet scan: sort the row
//! groups by their minimum of `x`, highest first, and add up their non-NULL
//! rows until there are k; the minimum reached, T, is held by at least k
//! rows, so the k-th best value is at least T and no row below T can be in
//! the answer. Every row group whose maximum is below T, and which holds no
//! NULL that sorts first, is left out of the scan's access plan: it is never
//! fetched, where DataFusion's dynamic filter can prune only after the heap
//! has filled from the row groups read first. `ASC` is the mirror image
//! (maxima, lowest first, minima above T). Rows equal to T are kept, so ties
//! resolve as in a full sort. Float bounds are read through
//! [`crate::nan_safe`], so a column that might hold a NaN has none and gets
//! no seed.
//!
//! The skipped row groups are left out of a file's access plan rather than
//! pruned by a predicate: a predicate would also select pages by the page
//! index, and DataFusion turns its dynamic row-group pruning off for a file
//! with a page selection, which costs more than the seed saves when the
//! seed is weak. `EXPLAIN ANALYZE` counts only the row groups left to scan
//! (`row_groups_pruned_statistics=N total`).
//!
//! The seed is planted only where the scan's rows all reach the sort: the
//! `SortExec`'s input is the scan itself, with no filter of its own beyond
//! the top-k's dynamic one, no limit and no row-group selection already (a
//! `TABLESAMPLE`); the key is a column of the files.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::Array;
use datafusion::arrow::compute::SortOptions;
use datafusion::catalog::Session;
use datafusion::common::{Result, ScalarValue};
use datafusion::datasource::physical_plan::FileGroup;
use datafusion::datasource::physical_plan::parquet::ParquetAccessPlan;
use datafusion::datasource::physical_plan::{
    FileScanConfig, FileScanConfigBuilder, FileSource, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use datafusion::physical_expr::expressions::{Column, DynamicFilterPhysicalExpr};
use datafusion::physical_expr::{PhysicalExpr, PhysicalSortExpr};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::execution_plan::replace_children_if_necessary;
use datafusion::physical_plan::sorts::sort::SortExec;
use futures::FutureExt;
use futures::future::BoxFuture;

use crate::nan_safe::fetch_nan_safe;

/// `plan` with a seeded threshold added to every top-k scan that can take
/// one (see the module docs).
pub fn seed_top_k<'a>(
    plan: Arc<dyn ExecutionPlan>,
    state: &'a dyn Session,
) -> BoxFuture<'a, Result<Arc<dyn ExecutionPlan>>> {
    async move {
        if let Some(seeded) = seed_one(&plan, state).await? {
            return Ok(seeded);
        }
        let children: Vec<Arc<dyn ExecutionPlan>> = plan.children().into_iter().cloned().collect();
        if children.is_empty() {
            return Ok(plan);
        }
        let mut new = Vec::with_capacity(children.len());
        for child in &children {
            new.push(seed_top_k(Arc::clone(child), state).await?);
        }
        if new.iter().zip(&children).all(|(a, b)| Arc::ptr_eq(a, b)) {
            return Ok(plan);
        }
        replace_children_if_necessary(plan, new)
    }
    .boxed()
}

/// `node` with its scan seeded, if it is a top-k directly over a Parquet
/// scan that qualifies and the statistics give a threshold.
async fn seed_one(
    node: &Arc<dyn ExecutionPlan>,
    state: &dyn Session,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(sort) = node.downcast_ref::<SortExec>() else {
        return Ok(None);
    };
    let (Some(k), Some(scan)) = (sort.fetch(), sort.input().downcast_ref::<DataSourceExec>())
    else {
        return Ok(None);
    };
    let Some(config) = scan.data_source().downcast_ref::<FileScanConfig>() else {
        return Ok(None);
    };
    let Some(source) = config.file_source().downcast_ref::<ParquetSource>() else {
        return Ok(None);
    };
    let only_dynamic = match &source.filter() {
        None => true,
        Some(p) => p.downcast_ref::<DynamicFilterPhysicalExpr>().is_some(),
    };
    let files: Vec<_> = config.file_groups.iter().flat_map(|g| g.iter()).collect();
    if k == 0
        || !only_dynamic
        || config.limit.is_some()
        || files.is_empty()
        || files.iter().any(|f| !f.extensions.is_empty())
    {
        return Ok(None);
    }
    let first: &PhysicalSortExpr = sort.expr().first();
    let Some(column) = first.expr.downcast_ref::<Column>() else {
        return Ok(None);
    };
    // The key as a column of the table (the scan may project).
    let mut key: Arc<dyn PhysicalExpr> = Arc::new(column.clone());
    if let Some(projection) = source.projection() {
        key = projection.unproject_expr(&key)?;
    }
    let Some(key) = key.downcast_ref::<Column>() else {
        return Ok(None);
    };
    let file_schema = config.file_schema();
    if file_schema.index_of(key.name()).is_err() {
        return Ok(None);
    }
    let store = state
        .runtime_env()
        .object_store(config.object_store_url.clone())?;
    // Each file's row groups: (best bound, worst bound, NULLs, rows), read
    // once per file (a file may be split over several partitions).
    let mut stats = HashMap::new();
    for file in &files {
        let location = &file.object_meta.location;
        if stats.contains_key(location) {
            continue;
        }
        let metadata = fetch_nan_safe(state, &store, &file.object_meta, None).await?;
        let Ok(converter) = StatisticsConverter::try_new(
            key.name(),
            file_schema,
            metadata.file_metadata().schema_descr(),
        ) else {
            return Ok(None);
        };
        let row_groups = metadata.row_groups();
        let (mins, maxes) = (
            converter.row_group_mins(row_groups)?,
            converter.row_group_maxes(row_groups)?,
        );
        let (best, worst) = if first.options.descending {
            (maxes, mins)
        } else {
            (mins, maxes)
        };
        let nulls = converter.row_group_null_counts(row_groups)?;
        let scalar = |a: &dyn Array, i| {
            (!a.is_null(i))
                .then(|| ScalarValue::try_from_array(a, i))
                .transpose()
        };
        let mut groups = Vec::with_capacity(row_groups.len());
        for (i, row_group) in row_groups.iter().enumerate() {
            groups.push(RowGroupBounds {
                best: scalar(&best, i)?,
                worst: scalar(&worst, i)?,
                nulls: (!nulls.is_null(i)).then(|| nulls.value(i)),
                rows: row_group.num_rows() as u64,
            });
        }
        stats.insert(location.clone(), groups);
    }
    let guaranteed = stats.values().flatten().filter_map(|g| {
        let rows = g.rows.checked_sub(g.nulls?)?;
        Some((g.worst.clone()?, rows))
    });
    let Some(threshold) = threshold(guaranteed.collect(), k, first.options) else {
        return Ok(None);
    };
    // Skip the row groups none of whose rows reaches the threshold.
    let cannot_reach = |g: &RowGroupBounds| {
        let nulls_rank = first.options.nulls_first && g.nulls != Some(0);
        let below = g.best.as_ref().is_some_and(|best| {
            let order = best.partial_cmp(&threshold);
            if first.options.descending {
                order == Some(Ordering::Less)
            } else {
                order == Some(Ordering::Greater)
            }
        });
        below && !nulls_rank
    };
    let mut skipped = 0;
    let mut groups = Vec::with_capacity(config.file_groups.len());
    for group in &config.file_groups {
        let mut files = Vec::with_capacity(group.len());
        for file in group.iter() {
            let bounds = &stats[&file.object_meta.location];
            let mut plan = ParquetAccessPlan::new_all(bounds.len());
            for (i, g) in bounds.iter().enumerate() {
                if cannot_reach(g) {
                    plan.skip(i);
                    skipped += 1;
                }
            }
            files.push(file.clone().with_extension(plan));
        }
        groups.push(FileGroup::new(files));
    }
    if skipped == 0 {
        return Ok(None);
    }
    let scan = DataSourceExec::from_data_source(
        FileScanConfigBuilder::from(config.clone())
            .with_file_groups(groups)
            .build(),
    );
    Ok(Some(replace_children_if_necessary(
        Arc::clone(node),
        vec![scan],
    )?))
}

/// A row group's bounds on the sort key, in the sort's direction: `best`
/// is the bound its best row can reach (the maximum for `DESC`), `worst`
/// the one every non-NULL row reaches.
struct RowGroupBounds {
    best: Option<ScalarValue>,
    worst: Option<ScalarValue>,
    nulls: Option<u64>,
    rows: u64,
}

/// The seed for `groups` of (bound, non-NULL rows): the best bound such
/// that the groups whose bound is at least as good hold k rows. None when
/// all of them together hold fewer, or a bound does not compare.
fn threshold(
    mut groups: Vec<(ScalarValue, u64)>,
    k: usize,
    options: SortOptions,
) -> Option<ScalarValue> {
    let mut incomparable = false;
    groups.sort_by(|a, b| {
        let order = a.0.partial_cmp(&b.0).unwrap_or_else(|| {
            incomparable = true;
            Ordering::Equal
        });
        if options.descending {
            order.reverse()
        } else {
            order
        }
    });
    if incomparable {
        return None;
    }
    let mut rows = 0u64;
    for (bound, n) in groups {
        rows += n;
        if rows >= k as u64 {
            return Some(bound);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(bounds: &[(i64, u64)]) -> Vec<(ScalarValue, u64)> {
        bounds
            .iter()
            .map(|&(b, n)| (ScalarValue::Int64(Some(b)), n))
            .collect()
    }

    const DESC: SortOptions = SortOptions {
        descending: true,
        nulls_first: true,
    };
    const ASC: SortOptions = SortOptions {
        descending: false,
        nulls_first: false,
    };

    #[test]
    fn the_threshold_is_the_bound_where_k_rows_are_guaranteed() {
        // Minima 90 (10 rows), 50 (10 rows), 70 (5 rows): 10 rows reach
        // 90, 15 reach 70, 25 reach 50.
        let g = groups(&[(90, 10), (50, 10), (70, 5)]);
        assert_eq!(
            threshold(g.clone(), 10, DESC),
            Some(ScalarValue::Int64(Some(90)))
        );
        assert_eq!(
            threshold(g.clone(), 12, DESC),
            Some(ScalarValue::Int64(Some(70)))
        );
        assert_eq!(
            threshold(g.clone(), 25, DESC),
            Some(ScalarValue::Int64(Some(50)))
        );
        assert_eq!(threshold(g.clone(), 26, DESC), None);
        // Ascending, the bounds are maxima, lowest first.
        assert_eq!(
            threshold(g.clone(), 12, ASC),
            Some(ScalarValue::Int64(Some(70)))
        );
        assert_eq!(threshold(g, 1, ASC), Some(ScalarValue::Int64(Some(50))));
    }
}
