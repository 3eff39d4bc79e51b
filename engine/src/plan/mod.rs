//! Planning that quiver adds to DataFusion's, all installed by
//! [`crate::configure`]:
//!
//! - `TABLESAMPLE`: a relation planner and a logical node ([`sample`]);
//! - [`QuiverQueryPlanner`] ([`planner`]): DataFusion's physical planner,
//!   plus the operators of quiver's logical nodes and the rewrites that read
//!   Parquet metadata before a plan runs: top-k seeding ([`seed`]) and
//!   direct scans of vector columns ([`list_scan`]);
//! - [`SpreadModelCalls`] ([`balance`]): a physical optimizer rule that
//!   spreads model function calls evenly over the cores.

use std::sync::Arc;

use datafusion::catalog::Session;
use datafusion::common::Result;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::execution_plan::replace_children_if_necessary;
use futures::FutureExt;
use futures::future::BoxFuture;

pub mod balance;
pub mod list_scan;
pub mod planner;
pub mod sample;
pub mod seed;
pub mod sql;

pub use balance::{SpreadModelCalls, physical_optimizer_rules};
pub use planner::QuiverQueryPlanner;

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
