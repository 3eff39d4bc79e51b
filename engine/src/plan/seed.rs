//! Seeded top-k thresholds: before a top-k scan reads anything, derive from
//! the Parquet statistics a value that at least k rows reach, and skip every
//! row group, and every page, that cannot reach it.
//!
//! For `ORDER BY x DESC LIMIT k` over a plain Parquet scan, each row group
//! (or, where the file has a page index, each page) guarantees rows: all its
//! non-NULL rows reach its minimum of `x`, and where `x` is a number or a
//! time, whose Parquet bounds are values some row holds, one row reaches its
//! maximum. Sort these guarantees best first and add them up until there
//! are k rows: the bound reached, T, is held by at least k rows, so the k-th
//! best value is at least T and no row below T can be in the answer. Every
//! row group and page whose maximum is below T, and which holds no NULL
//! that sorts first, is left out of the scan's access plan: it is never
//! fetched, where DataFusion's dynamic filter can prune only after the heap
//! has filled from the row groups read first, and only whole row groups.
//! `ASC` is the mirror image. Rows equal to T are kept, so ties resolve as
//! in a full sort. Float bounds are read through [`crate::parquet::nan_safe`], so a
//! column that might hold a NaN has none and gets no seed.
//!
//! Maxima matter most for scattered scores: no row group of a million
//! random scores can be skipped, but of its pages of 20,000 rows the top
//! 100 need only the 100 with the best maxima. Strings are left to their
//! minima, since a writer may truncate a string bound to a value no row
//! holds.
//!
//! The skips go into a file's access plan rather than a predicate: a
//! predicate would select pages by the page index, and DataFusion turns its
//! dynamic row-group pruning off for a file with a page selection. The seed
//! itself selects pages only where that leaves at most half the rows of the
//! row groups it keeps; otherwise it skips whole row groups and leaves the
//! dynamic pruning on. `EXPLAIN ANALYZE` shows the row groups left to scan
//! (`row_groups_pruned_statistics=N total`) and the rows read
//! (`output_rows` of the scan).
//!
//! The seed is planted only where the scan's rows all reach the sort: the
//! `SortExec`'s input is the scan itself, with no filter of its own beyond
//! the top-k's dynamic one, no limit and no row-group selection already (a
//! `TABLESAMPLE`); the key is a column of the files.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, UInt64Array};
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::DataType;
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

use super::rewrite_down;
use crate::parquet::PageAccess;
use crate::parquet::nan_safe::fetch_nan_safe;

/// `plan` with a seeded threshold added to every top-k scan that can take
/// one (see the module docs).
pub fn seed_top_k<'a>(
    plan: Arc<dyn ExecutionPlan>,
    state: &'a dyn Session,
) -> BoxFuture<'a, Result<Arc<dyn ExecutionPlan>>> {
    fn seed<'a>(
        node: &'a Arc<dyn ExecutionPlan>,
        state: &'a dyn Session,
    ) -> BoxFuture<'a, Result<Option<Arc<dyn ExecutionPlan>>>> {
        seed_one(node, state).boxed()
    }
    rewrite_down(plan, state, seed)
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
    // Each file's row groups, and their pages where the file has a page
    // index, as (best bound, worst bound, NULLs, rows); read once per file
    // (a file may be split over several partitions).
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
        let nulls = converter.row_group_null_counts(row_groups)?;
        let rows: Vec<u64> = row_groups.iter().map(|g| g.num_rows() as u64).collect();
        let mut groups = bounds(&mins, &maxes, &nulls, &rows, first.options)?
            .into_iter()
            .map(|group| RowGroupBounds { group, pages: None })
            .collect::<Vec<_>>();
        if let (Some(columns), Some(offsets)) = (metadata.column_index(), metadata.offset_index()) {
            for (i, g) in groups.iter_mut().enumerate() {
                let at = [i];
                let (Ok(mins), Ok(maxes), Ok(nulls), Ok(Some(rows))) = (
                    converter.data_page_mins(columns, offsets, &at),
                    converter.data_page_maxes(columns, offsets, &at),
                    converter.data_page_null_counts(columns, offsets, &at),
                    converter.data_page_row_counts(offsets, row_groups, &at),
                ) else {
                    continue;
                };
                let rows: Vec<u64> = rows.iter().map(|r| r.unwrap_or(0)).collect();
                if rows.iter().sum::<u64>() == g.group.rows {
                    g.pages = Some(bounds(&mins, &maxes, &nulls, &rows, first.options)?);
                }
            }
        }
        stats.insert(location.clone(), groups);
    }
    // A row group is counted by its pages when they are known (finer
    // bounds), else as a whole.
    let exact = attained(file_schema.field_with_name(key.name())?.data_type());
    let mut guaranteed = Vec::new();
    for g in stats.values().flatten() {
        match &g.pages {
            Some(pages) => pages
                .iter()
                .for_each(|p| p.guarantees(exact, &mut guaranteed)),
            None => g.group.guarantees(exact, &mut guaranteed),
        }
    }
    let Some(threshold) = threshold(guaranteed, k, first.options) else {
        return Ok(None);
    };
    // Skip the row groups none of whose rows reaches the threshold, and
    // within the others the pages none of whose rows does.
    let cannot_reach = |g: &Bounds| {
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
    let access = |g: &RowGroupBounds| match &g.pages {
        _ if cannot_reach(&g.group) => PageAccess::Skip,
        None => PageAccess::All,
        Some(pages) => PageAccess::of_pages(pages.iter().map(|p| (p.rows, !cannot_reach(p)))),
    };
    // A page selection turns DataFusion's dynamic row-group pruning off for
    // the file, so it is used only where it leaves at most half the rows of
    // the row groups kept; otherwise whole row groups are skipped, as before.
    let mut plans = HashMap::new();
    let (mut kept_rows, mut selected_rows) = (0u64, 0u64);
    for (location, groups) in &stats {
        let access: Vec<PageAccess> = groups.iter().map(access).collect();
        for (g, a) in groups.iter().zip(&access) {
            let selected = match a {
                PageAccess::Skip => continue,
                PageAccess::All => g.group.rows,
                PageAccess::Pages(_, n) => *n,
            };
            kept_rows += g.group.rows;
            selected_rows += selected;
        }
        plans.insert(location.clone(), access);
    }
    let by_page = selected_rows * 2 <= kept_rows;
    let mut changed = false;
    let mut groups = Vec::with_capacity(config.file_groups.len());
    for group in &config.file_groups {
        let mut files = Vec::with_capacity(group.len());
        for file in group.iter() {
            let access = &plans[&file.object_meta.location];
            let mut plan = ParquetAccessPlan::new_all(access.len());
            for (i, a) in access.iter().enumerate() {
                match a {
                    PageAccess::Skip => {
                        plan.skip(i);
                        changed = true;
                    }
                    PageAccess::Pages(selection, _) if by_page => {
                        plan.scan_selection(i, selection.clone());
                        changed = true;
                    }
                    PageAccess::All | PageAccess::Pages(..) => {}
                }
            }
            files.push(file.clone().with_extension(plan));
        }
        groups.push(FileGroup::new(files));
    }
    if !changed {
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

/// Bounds on the sort key of a row group or a page, in the sort's
/// direction: `best` is the bound its best row can reach (the maximum for
/// `DESC`), `worst` the one every non-NULL row reaches.
struct Bounds {
    best: Option<ScalarValue>,
    worst: Option<ScalarValue>,
    nulls: Option<u64>,
    rows: u64,
}

impl Bounds {
    /// Adds to `out` the (bound, rows) pairs these bounds guarantee: every
    /// non-NULL row reaches `worst`; where the statistics are `exact`
    /// values of the column (see [`attained`]), one row also holds `best`.
    fn guarantees(&self, exact: bool, out: &mut Vec<(ScalarValue, u64)>) {
        let non_null = self.nulls.and_then(|n| self.rows.checked_sub(n));
        match (&self.best, exact) {
            (Some(best), true) => {
                out.push((best.clone(), 1));
                if let (Some(worst), Some(n)) = (&self.worst, non_null)
                    && n > 1
                {
                    out.push((worst.clone(), n - 1));
                }
            }
            _ => {
                if let (Some(worst), Some(n)) = (&self.worst, non_null) {
                    out.push((worst.clone(), n));
                }
            }
        }
    }
}

/// A row group's bounds, and its pages' where the file has a page index.
struct RowGroupBounds {
    group: Bounds,
    pages: Option<Vec<Bounds>>,
}

/// The [`Bounds`] of each entry of parallel statistics arrays.
fn bounds(
    mins: &dyn Array,
    maxes: &dyn Array,
    nulls: &UInt64Array,
    rows: &[u64],
    options: SortOptions,
) -> Result<Vec<Bounds>> {
    let (best, worst) = if options.descending {
        (maxes, mins)
    } else {
        (mins, maxes)
    };
    let scalar = |a: &dyn Array, i| {
        (!a.is_null(i))
            .then(|| ScalarValue::try_from_array(a, i))
            .transpose()
    };
    rows.iter()
        .enumerate()
        .map(|(i, &rows)| {
            Ok(Bounds {
                best: scalar(best, i)?,
                worst: scalar(worst, i)?,
                nulls: (!nulls.is_null(i)).then(|| nulls.value(i)),
                rows,
            })
        })
        .collect()
}

/// Whether Parquet minima and maxima of `data_type` are values some row
/// holds. Numbers and times are stored whole; strings and binaries may be
/// truncated to a bound no row holds, so only their bound on every row is
/// used.
fn attained(data_type: &DataType) -> bool {
    data_type.is_numeric() || data_type.is_temporal()
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

    #[test]
    fn a_page_guarantees_its_best_row_where_bounds_are_exact() {
        let int = |v| Some(ScalarValue::Int64(Some(v)));
        let page = |nulls| Bounds {
            best: int(90),
            worst: int(10),
            nulls,
            rows: 100,
        };
        let pairs = |b: &Bounds, exact| {
            let mut out = Vec::new();
            b.guarantees(exact, &mut out);
            out
        };
        // 98 non-NULL rows reach 10, and one of them holds 90.
        assert_eq!(
            pairs(&page(Some(2)), true),
            vec![
                (ScalarValue::Int64(Some(90)), 1),
                (ScalarValue::Int64(Some(10)), 97)
            ]
        );
        // A bound that may be truncated guarantees only the worst.
        assert_eq!(
            pairs(&page(Some(2)), false),
            vec![(ScalarValue::Int64(Some(10)), 98)]
        );
        // Unknown NULLs: only the row holding the best.
        assert_eq!(
            pairs(&page(None), true),
            vec![(ScalarValue::Int64(Some(90)), 1)]
        );
        assert!(pairs(&page(None), false).is_empty());
        assert!(attained(&DataType::Float64) && attained(&DataType::Date32));
        assert!(!attained(&DataType::Utf8) && !attained(&DataType::Binary));
    }
}
