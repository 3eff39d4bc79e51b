//! Execution nodes quiver adds to DataFusion's: the `TABLESAMPLE` operator
//! ([`sample::SampleExec`]) and a Parquet scan that decodes vector columns
//! itself ([`list_scan::ListScanExec`]). The planning steps that put them
//! into a plan are in [`crate::plan`].

pub mod list_scan;
pub mod sample;
pub mod sample_rows;
