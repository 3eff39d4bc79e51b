//! Printing results: `table` for people, `csv`, `json`, `ndjson` and
//! `arrow` (an Arrow IPC stream) for programs. Output goes through a writer so that a closed pipe (`quiver -c
//! ... | head`) surfaces as an `io::Error` the caller can tell apart.

use std::io::Write;

use clap::ValueEnum;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use datafusion::arrow::json::{ArrayWriter, LineDelimitedWriter};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::common::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// An aligned table with a header.
    #[default]
    Table,
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// An Arrow IPC stream per statement (read with pyarrow.ipc.open_stream).
    Arrow,
}

/// Why printing stopped: the query failed, or the output did.
#[derive(Debug)]
pub enum PrintError {
    Query(DataFusionError),
    Output(std::io::Error),
}

impl From<DataFusionError> for PrintError {
    fn from(e: DataFusionError) -> Self {
        PrintError::Query(e)
    }
}

impl From<std::io::Error> for PrintError {
    fn from(e: std::io::Error) -> Self {
        PrintError::Output(e)
    }
}

impl From<datafusion::arrow::error::ArrowError> for PrintError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        PrintError::Query(e.into())
    }
}

/// Prints a statement's result and returns how many rows it had. Statements
/// without result columns (DDL) print nothing.
pub async fn print_stream(
    mut stream: SendableRecordBatchStream,
    format: Format,
    out: &mut dyn Write,
) -> Result<usize, PrintError> {
    let no_columns = stream.schema().fields().is_empty();
    let mut rows = 0;
    match format {
        Format::Table | Format::Json => {
            // Both need every row before the first line can be written.
            let mut batches: Vec<RecordBatch> = Vec::new();
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows();
                batches.push(batch);
            }
            if no_columns || batches.iter().all(|b| b.num_columns() == 0) {
                return Ok(rows);
            }
            let mut buf = Vec::new();
            if format == Format::Table {
                if batches.is_empty() {
                    batches.push(RecordBatch::new_empty(stream.schema()));
                }
                writeln!(buf, "{}", pretty_format_batches(&batches)?)?;
            } else {
                let mut w = ArrayWriter::new(&mut buf);
                for b in &batches {
                    w.write(b)?;
                }
                w.finish()?;
                if rows == 0 {
                    buf = b"[]".to_vec();
                }
                buf.push(b'\n');
            }
            out.write_all(&buf)?;
        }
        Format::Arrow => {
            if no_columns {
                return Ok(rows);
            }
            let schema = stream.schema();
            let mut w = datafusion::arrow::ipc::writer::StreamWriter::try_new(&mut *out, &schema)?;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows();
                w.write(&batch)?;
            }
            w.finish()?;
        }
        Format::Csv | Format::Ndjson => {
            let mut first = true;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                if batch.num_columns() == 0 {
                    continue;
                }
                rows += batch.num_rows();
                let mut buf = Vec::new();
                if format == Format::Csv {
                    let mut w = CsvWriterBuilder::new().with_header(first).build(&mut buf);
                    w.write(&batch)?;
                } else {
                    let mut w = LineDelimitedWriter::new(&mut buf);
                    w.write(&batch)?;
                    w.finish()?;
                }
                first = false;
                out.write_all(&buf)?;
            }
        }
    }
    out.flush()?;
    Ok(rows)
}
