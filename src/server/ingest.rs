//! `adbc_ingest` (Flight SQL's CommandStatementIngest): the client's
//! batches streamed into a warehouse table through a one-shot table the
//! statement reads from, and the decoding of DoPut streams that ingest and
//! bound parameters share.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use arrow_flight::sql::server::PeekableFlightDataStream;
use arrow_flight::sql::{CommandStatementIngest, TableExistsOption, TableNotExistOption};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use futures::{StreamExt, TryStreamExt};
use tonic::Status;

use super::status::to_status;
use crate::session::QuiverSession;
use crate::session::{CATALOG, SCHEMA};
use crate::statement::quote_ident;

/// The record batches of a DoPut stream. A message that carries only the
/// command (no IPC header; some clients send one) is skipped.
pub(super) fn decode_put(stream: PeekableFlightDataStream) -> FlightRecordBatchStream {
    FlightRecordBatchStream::new_from_flight_data(
        stream
            .into_peekable()
            .try_filter(|data| futures::future::ready(!data.data_header.is_empty()))
            .map_err(FlightError::from),
    )
}

/// Reads bound parameters from a DoPut stream.
pub(super) async fn read_batches(
    stream: PeekableFlightDataStream,
) -> Result<Option<RecordBatch>, Status> {
    let mut decoded = decode_put(stream);
    let mut batches = Vec::new();
    while let Some(batch) = decoded.next().await {
        batches.push(batch.map_err(|e| Status::invalid_argument(e.to_string()))?);
    }
    let Some(schema) = batches
        .first()
        .map(|b| b.schema())
        .or_else(|| decoded.schema().cloned())
    else {
        return Ok(None);
    };
    let batch =
        concat_batches(&schema, &batches).map_err(|e| Status::invalid_argument(e.to_string()))?;
    Ok((batch.num_rows() > 0).then_some(batch))
}

/// A stream of rows sent by a client, read once by the statement that
/// ingests them.
struct OnceStream {
    schema: SchemaRef,
    stream: std::sync::Mutex<Option<SendableRecordBatchStream>>,
}

impl std::fmt::Debug for OnceStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnceStream").finish_non_exhaustive()
    }
}

impl PartitionStream for OnceStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let taken = self.stream.lock().ok().and_then(|mut s| s.take());
        taken.unwrap_or_else(|| {
            Box::pin(RecordBatchStreamAdapter::new(
                Arc::clone(&self.schema),
                futures::stream::once(async {
                    Err(DataFusionError::Execution(
                        "the ingested rows can be read only once".into(),
                    ))
                }),
            ))
        })
    }
}
/// The table an ingest reads the client's batches from.
pub(crate) const INGEST_TABLE: &str = "__quiver_ingest";

/// An ingest ready to run: the statement that reads the client's batches
/// into the table, and the count of rows it has read so far.
pub(super) struct Ingest {
    pub sql: String,
    pub rows: Arc<AtomicU64>,
}

impl Ingest {
    pub(super) fn rows(&self) -> i64 {
        self.rows.load(Ordering::Relaxed) as i64
    }
}

/// `adbc_ingest`: the client's batches into a warehouse table, streamed
/// (the rows are written as they arrive, not gathered first).
pub(super) async fn ingest(
    session: &QuiverSession,
    cmd: CommandStatementIngest,
    stream: PeekableFlightDataStream,
) -> Result<Ingest, Status> {
    if cmd.temporary {
        return Err(Status::invalid_argument(
            "temporary tables do not outlive a request on this server; ingest into a warehouse table",
        ));
    }
    if cmd.catalog.as_deref().is_some_and(|c| c != CATALOG) {
        return Err(Status::not_found(format!(
            "the server's only writable catalog is {CATALOG}; ingest into {CATALOG}.<schema>"
        )));
    }
    if cmd.table.is_empty() {
        return Err(Status::invalid_argument("ingest needs a table name"));
    }
    // Into `public`, or a schema of the warehouse (`CREATE SCHEMA`).
    let in_schema = cmd.schema.as_deref().unwrap_or(SCHEMA);
    if session
        .ctx()
        .catalog(CATALOG)
        .and_then(|c| c.schema(in_schema))
        .is_none()
    {
        return Err(Status::not_found(format!(
            "schema '{in_schema}' does not exist in {CATALOG} (CREATE SCHEMA {} first)",
            quote_ident(in_schema)
        )));
    }
    let options = cmd.table_definition_options.unwrap_or_default();
    let if_missing = TableNotExistOption::try_from(options.if_not_exist)
        .unwrap_or(TableNotExistOption::Unspecified);
    let if_exists =
        TableExistsOption::try_from(options.if_exists).unwrap_or(TableExistsOption::Unspecified);

    let exists = session
        .ctx()
        .table_exist(datafusion::common::TableReference::full(
            CATALOG,
            in_schema,
            cmd.table.as_str(),
        ))
        .map_err(|e| to_status(&e))?;
    let table = format!(
        "{}.{}.{}",
        quote_ident(CATALOG),
        quote_ident(in_schema),
        quote_ident(&cmd.table)
    );

    let mut decoded = decode_put(stream);
    let first = decoded
        .next()
        .await
        .transpose()
        .map_err(|e| Status::invalid_argument(e.to_string()))?;
    let schema = match (&first, decoded.schema()) {
        (Some(b), _) => b.schema(),
        (None, Some(s)) => Arc::clone(s),
        (None, None) => return Err(Status::invalid_argument("ingest sent no schema")),
    };
    let sql = match (exists, if_exists, if_missing) {
        (false, _, TableNotExistOption::Fail) => {
            return Err(Status::not_found(format!(
                "table '{}' does not exist (ingest mode 'append' adds to an existing table)",
                cmd.table
            )));
        }
        (false, _, _) => format!("CREATE TABLE {table} AS SELECT * FROM {INGEST_TABLE}"),
        (true, TableExistsOption::Append, _) => {
            let cols: Vec<String> = schema
                .fields()
                .iter()
                .map(|f| quote_ident(f.name()))
                .collect();
            let cols = cols.join(", ");
            format!("INSERT INTO {table} ({cols}) SELECT {cols} FROM {INGEST_TABLE}")
        }
        (true, TableExistsOption::Replace, _) => {
            format!("CREATE OR REPLACE TABLE {table} AS SELECT * FROM {INGEST_TABLE}")
        }
        (true, _, _) => {
            return Err(Status::already_exists(format!(
                "table '{}' already exists (use ingest mode 'append' or 'replace')",
                cmd.table
            )));
        }
    };

    let rows = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&rows);
    let batches = futures::stream::iter(first.map(Ok))
        .chain(decoded)
        .map(move |b| {
            let b = b.map_err(|e| DataFusionError::External(Box::new(e)))?;
            counter.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
            Ok(b)
        });
    let source = OnceStream {
        schema: Arc::clone(&schema),
        stream: std::sync::Mutex::new(Some(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&schema),
            batches,
        )))),
    };
    let provider = StreamingTable::try_new(Arc::clone(&schema), vec![Arc::new(source)])
        .map_err(|e| to_status(&e))?;
    session
        .ctx()
        .register_table(INGEST_TABLE, Arc::new(provider))
        .map_err(|e| to_status(&e))?;
    Ok(Ingest { sql, rows })
}
