//! quiver: a SQL engine that brings machine learning into the warehouse
//! layer. DataFusion, extended with a persistent warehouse, a model store,
//! model statements and quiver's functions.
//!
//! - [`session`]: the `SessionContext` every front door uses.
//! - [`warehouse`]: tables, views and models under one root URL.
//! - [`statement`]: the statements quiver adds or persists.
//! - [`cli`]: the `quiver` shell and script runner.
//! - [`demo`]: `quiver demo`, the tagging job end to end.
//! - [`output`]: results and progress as the front doors show them.
//! - [`server`]: `quiver serve`, the Arrow Flight SQL server.

pub mod cli;
pub mod demo;
pub mod message;
pub mod output;
pub mod server;
pub mod session;
pub mod statement;
pub mod warehouse;

pub use session::{QuiverSession, SessionOptions};
