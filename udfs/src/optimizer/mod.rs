//! Planning that quiver adds to DataFusion's: `TABLESAMPLE` (a relation
//! planner, a logical node and a sampling operator), and spreading model
//! function calls evenly over the cores ([`SpreadModelCalls`]: a session
//! plans with [`physical_optimizer_rules`], DataFusion's with it added).
//!
//! A session that runs quiver's SQL registers [`sample::TableSamplePlanner`]
//! (done by [`crate::register_all`]) and plans with [`QuiverQueryPlanner`]
//! (`SessionStateBuilder::with_query_planner`), which knows the operators of
//! quiver's logical nodes.

pub mod balance;
pub mod sample;
pub mod sample_exec;
pub mod seed;

pub use balance::{SpreadModelCalls, physical_optimizer_rules};
pub use sample_exec::QuiverQueryPlanner;
