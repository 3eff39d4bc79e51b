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
//! - [`cluster`]: `quiver scheduler`, `quiver executor` and `--cluster`:
//!   the same SQL on an Apache Ballista cluster.

pub mod cli;
pub mod cluster;
pub mod demo;
pub mod message;
pub mod output;
pub mod report;
pub mod server;
pub mod session;
pub mod statement;
pub mod warehouse;

pub use session::{QuiverSession, SessionOptions};

/// Names ring as the process's TLS crypto provider, once. tonic and
/// object_store are built on ring; deltalake's HTTP client builds aws-lc-rs
/// beside it, and with two built in rustls does not choose on its own (a
/// TLS server or client then panics). Every warehouse open calls it.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // An error means a provider is installed already: the host's choice.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
