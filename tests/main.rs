//! quiver's integration tests: one test binary (every extra one links
//! DataFusion again), one module per area.

mod common;

mod cli;
mod cluster;
mod conformance;
mod dbt;
mod delta;
mod demo;
mod dml;
mod docs;
mod engine;
mod flight;
mod list_scan;
mod parquet_nan;
mod persistence;
mod report;
mod s3;
mod slt;
mod top_k_seed;
mod word2vec;
