//! Planning that quiver adds to DataFusion's: `TABLESAMPLE` (a relation
//! planner, a logical node and a sampling operator), and spreading model
//! function calls evenly over the cores ([`SpreadModelCalls`]: a session
//! plans with [`physical_optimizer_rules`], DataFusion's with it added).
//!
//! A session that runs quiver's SQL registers [`sample::TableSamplePlanner`]
//! (done by [`crate::register_all`]) and plans with [`QuiverQueryPlanner`]
//! (`SessionStateBuilder::with_query_planner`), which knows the operators of
//! quiver's logical nodes.

use std::sync::Arc;

use datafusion::catalog::Session;
use datafusion::common::Result;
use datafusion::parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::execution_plan::replace_children_if_necessary;
use futures::FutureExt;
use futures::future::BoxFuture;

pub mod balance;
mod list_pages;
pub mod list_scan;
pub mod sample;
pub mod sample_exec;
pub mod seed;

pub use balance::{SpreadModelCalls, physical_optimizer_rules};
pub use sample_exec::QuiverQueryPlanner;

/// A rewrite of one node of a physical plan, which may read files
/// (footers) to decide: `None` leaves the node as it is.
pub(crate) type NodeRewrite = for<'a> fn(
    &'a Arc<dyn ExecutionPlan>,
    &'a dyn Session,
) -> BoxFuture<'a, Result<Option<Arc<dyn ExecutionPlan>>>>;

/// `plan` with `rewrite` applied from the root down: where it replaces a
/// node, the replacement is kept as it is; elsewhere the children are
/// rewritten.
pub(crate) fn rewrite_down<'a>(
    plan: Arc<dyn ExecutionPlan>,
    state: &'a dyn Session,
    rewrite: NodeRewrite,
) -> BoxFuture<'a, Result<Arc<dyn ExecutionPlan>>> {
    async move {
        if let Some(new) = rewrite(&plan, state).await? {
            return Ok(new);
        }
        let children: Vec<Arc<dyn ExecutionPlan>> = plan.children().into_iter().cloned().collect();
        if children.is_empty() {
            return Ok(plan);
        }
        let mut new = Vec::with_capacity(children.len());
        for child in &children {
            new.push(rewrite_down(Arc::clone(child), state, rewrite).await?);
        }
        if new.iter().zip(&children).all(|(a, b)| Arc::ptr_eq(a, b)) {
            return Ok(plan);
        }
        replace_children_if_necessary(plan, new)
    }
    .boxed()
}

/// What a scan reads of a row group: nothing, all of it, or the rows of
/// some of its pages (with their count).
pub(crate) enum PageAccess {
    Skip,
    All,
    Pages(RowSelection, u64),
}

impl PageAccess {
    /// The access that reads the pages of a row group, given in order as
    /// (rows, kept), that are kept: none, all, or a selection of their rows.
    pub(crate) fn of_pages(pages: impl IntoIterator<Item = (u64, bool)>) -> Self {
        let (mut selectors, mut kept, mut all) = (Vec::new(), 0u64, true);
        for (rows, keep) in pages {
            let n = rows as usize;
            if keep {
                kept += rows;
                selectors.push(RowSelector::select(n));
            } else {
                all = false;
                selectors.push(RowSelector::skip(n));
            }
        }
        match (kept, all) {
            (_, true) => PageAccess::All,
            (0, false) => PageAccess::Skip,
            _ => PageAccess::Pages(RowSelection::from(selectors), kept),
        }
    }
}
