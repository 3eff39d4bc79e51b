//! Printing results: `table` for people, `csv`, `json`, `ndjson` and
//! `arrow` (an Arrow IPC stream) for programs. Output goes through a writer
//! so that a closed pipe (`quiver -c ... | head`) surfaces as an
//! `io::Error` the caller can tell apart.
//!
//! Every type the engine returns prints in every format. Where a format has
//! no form for a type (CSV for lists, vectors and structs; JSON for unions),
//! the value is written as the table shows it, `[0.1, 0.2]` or
//! `{cluster_id: 3, distance: 0.12}`, as DuckDB writes lists to CSV.

use std::io::Write;

use clap::ValueEnum;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::json::{ArrayWriter, LineDelimitedWriter};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
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
                    w.write(&as_text_where(b, has_union)?)?;
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
                    w.write(&as_text_where(&batch, DataType::is_nested)?)?;
                } else {
                    let mut w = LineDelimitedWriter::new(&mut buf);
                    w.write(&as_text_where(&batch, has_union)?)?;
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

/// `batch` with each column whose type `unsupported` picks written as text,
/// as the table format shows it; NULL stays NULL.
fn as_text_where(
    batch: &RecordBatch,
    unsupported: impl Fn(&DataType) -> bool,
) -> Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| unsupported(f.data_type())) {
        return Ok(batch.clone());
    }
    let options = FormatOptions::default();
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if !unsupported(field.data_type()) {
            fields.push(Arc::clone(field));
            columns.push(Arc::clone(column));
            continue;
        }
        let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
        let text: StringArray = (0..column.len())
            .map(|i| column.is_valid(i).then(|| formatter.value(i).to_string()))
            .collect();
        fields.push(Arc::new(Field::new(
            field.name(),
            DataType::Utf8,
            field.is_nullable(),
        )));
        columns.push(Arc::new(text));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

/// Whether `data_type` holds a union anywhere: arrow's JSON writer has no
/// form for one.
fn has_union(data_type: &DataType) -> bool {
    match data_type {
        DataType::Union(..) => true,
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => has_union(f.data_type()),
        DataType::Struct(fields) => fields.iter().any(|f| has_union(f.data_type())),
        DataType::Dictionary(_, v) => has_union(v),
        DataType::RunEndEncoded(_, v) => has_union(v.data_type()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{FixedSizeListArray, Float32Array, Int32Array, StructArray};

    /// Vectors, structs and NULLs as a person reads them in the table.
    fn batch() -> RecordBatch {
        let item = Arc::new(Field::new("item", DataType::Float32, true));
        let vectors = FixedSizeListArray::try_new(
            item,
            2,
            Arc::new(Float32Array::from(vec![0.5, 1.0, 0.0, 0.0])),
            Some(vec![true, false].into()),
        )
        .expect("vectors");
        let assigned = StructArray::from(vec![(
            Arc::new(Field::new("cluster_id", DataType::Int32, false)),
            Arc::new(Int32Array::from(vec![3, 4])) as ArrayRef,
        )]);
        RecordBatch::try_from_iter(vec![
            ("id", Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef),
            ("v", Arc::new(vectors) as ArrayRef),
            ("c", Arc::new(assigned) as ArrayRef),
        ])
        .expect("batch")
    }

    #[tokio::test]
    async fn vectors_and_structs_print_in_every_format() {
        for (format, expected) in [
            (
                Format::Csv,
                "id,v,c\n1,\"[0.5, 1.0]\",{cluster_id: 3}\n2,,{cluster_id: 4}\n",
            ),
            (
                Format::Ndjson,
                "{\"id\":1,\"v\":[0.5,1.0],\"c\":{\"cluster_id\":3}}\n{\"id\":2,\"c\":{\"cluster_id\":4}}\n",
            ),
        ] {
            let b = batch();
            let stream = Box::pin(
                datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                    b.schema(),
                    futures::stream::iter(vec![Ok(b)]),
                ),
            );
            let mut out = Vec::new();
            let rows = print_stream(stream, format, &mut out)
                .await
                .expect("printed");
            assert_eq!(rows, 2);
            assert_eq!(String::from_utf8_lossy(&out), expected, "{format:?}");
        }
    }
}
