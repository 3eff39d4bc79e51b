//! quiver-engine: everything of quiver that runs inside a query plan, on any
//! host (the CLI, the Flight SQL server, a Ballista executor, a test).
//!
//! [`configure`] is the one way in: it installs quiver's functions, planner
//! and Parquet reading on a DataFusion `SessionStateBuilder`. The layers,
//! each importing only those below it:
//!
//! - [`functions`], [`plan`] and [`exec`]: the SQL functions (one file
//!   each), the planning steps quiver adds, and their execution nodes;
//! - [`models`]: the model types, their training and payloads;
//! - [`store`], [`parquet`], [`random`]: the versioned model store over an
//!   object store, Parquet reading, and seeded randomness.
//!
//! This crate depends on DataFusion and never on quiver's CLI or server.

pub mod error;
pub mod exec;
pub mod functions;
pub mod memory;
pub mod models;
pub mod parquet;
pub mod plan;
pub mod random;
pub mod session;
pub mod simd;
pub mod store;
pub mod vectors;
pub mod wire;

pub use session::{ROW_GROUP_ROWS, configure, register_functions};
pub use store::{Manifest, ModelStore};
