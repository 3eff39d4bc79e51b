//! Planning that quiver adds to DataFusion's: `TABLESAMPLE` (a relation
//! planner, a logical node and a sampling operator).
//!
//! A session that runs quiver's SQL registers [`sample::TableSamplePlanner`]
//! (done by [`crate::register_all`]) and plans with [`QuiverQueryPlanner`]
//! (`SessionStateBuilder::with_query_planner`), which knows the operators of
//! quiver's logical nodes.

pub mod sample;
pub mod sample_exec;

pub use sample_exec::QuiverQueryPlanner;
