//! quiver-udfs: everything of quiver that runs inside a query plan.
//!
//! The SQL functions (one file each under [`functions`]), the model store that
//! functions and statements load models from ([`store`]), and the model types.
//! This crate depends on DataFusion and never on quiver's CLI or server, so a
//! Ballista executor or any other DataFusion host can call [`register_all`].

pub mod functions;
pub mod model;
pub mod nan_safe;
pub mod objects;
pub mod optimizer;
pub mod store;

pub use functions::register_all;
pub use store::{Manifest, ModelStore};
