//! The Flight SQL protocol: each RPC decodes to a command and is answered
//! by a fresh [`QuiverSession`] over the shared warehouse and model store.
//!
//! A query's FlightInfo is planned (for its schema) and its ticket names
//! pending work that runs at DoGet, streaming. A statement with effects
//! (DDL, DML, `CREATE MODEL`, COPY) runs once, when its FlightInfo is asked
//! for, and its ticket fetches the result: clients such as ADBC send every
//! statement through GetFlightInfo.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionCancelQueryRequest, ActionCancelQueryResult, ActionClosePreparedStatementRequest,
    ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult, Any, Command,
    CommandGetCatalogs, CommandGetCrossReference, CommandGetDbSchemas, CommandGetExportedKeys,
    CommandGetImportedKeys, CommandGetPrimaryKeys, CommandGetSqlInfo, CommandGetTableTypes,
    CommandGetTables, CommandGetXdbcTypeInfo, CommandPreparedStatementQuery,
    CommandPreparedStatementUpdate, CommandStatementIngest, CommandStatementQuery,
    CommandStatementUpdate, DoPutPreparedStatementResult, ProstMessageExt, SqlInfo,
    TableExistsOption, TableNotExistOption, TicketStatementQuery,
};
use arrow_flight::{
    Action, CancelFlightInfoRequest, CancelFlightInfoResult, CancelStatus, FlightDescriptor,
    FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, IpcMessage, SchemaAsIpc,
    Ticket,
};
use datafusion::arrow::array::{Array, ArrayRef, RecordBatch};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use quiver_engine::ModelStore;
use tonic::metadata::MetadataValue;
use tonic::{Code, Request, Response, Status, Streaming};

use super::auth::{Auth, User};
use super::log;
use super::metadata;
use super::state::{Pending, QueryStream, State, TicketHandle};
use crate::session::{CATALOG, Prepared, QuiverSession, SCHEMA, SessionOptions, user_message};
use crate::statement::params;
use crate::warehouse::Warehouse;

type DoGetStream = <QuiverFlightService as FlightService>::DoGetStream;

/// The table an ingest reads the client's batches from.
const INGEST_TABLE: &str = "__quiver_ingest";

/// quiver's Flight SQL service.
pub struct QuiverFlightService {
    warehouse: Arc<Warehouse>,
    models: Arc<ModelStore>,
    options: SessionOptions,
    auth: Arc<Auth>,
    timeout: Option<Duration>,
    state: Arc<State>,
    cpu: CpuRuntime,
}

/// The runtime queries and statements run on, apart from the one that
/// serves gRPC: DataFusion's tasks keep a core busy for as long as they
/// have rows, and on the serving runtime they held up every other client's
/// requests and the responses' own encoding (a top-k scan ran 30% slower
/// in the server than in the CLI until this split).
struct CpuRuntime(Option<tokio::runtime::Runtime>);

impl CpuRuntime {
    fn new() -> std::io::Result<Self> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("quiver-cpu")
            .enable_all()
            .build()?;
        Ok(Self(Some(rt)))
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.0
            .as_ref()
            .map(|rt| rt.handle())
            .expect("the runtime lives until the service is dropped")
    }

    /// Runs `fut` on this runtime; dropping the returned future stops it.
    async fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, Status>> + Send + 'static,
    ) -> Result<T, Status> {
        let task = self.handle().spawn(fut);
        let _guard = AbortOnDrop(task.abort_handle());
        task.await.unwrap_or_else(|e| {
            Err(Status::internal(format!(
                "the statement's task failed: {e}"
            )))
        })
    }

    /// Opens a result stream with `open` on this runtime and polls it
    /// there, handing its batches over a short channel. Dropping the
    /// returned stream (a client that went away) stops the query.
    async fn stream(
        &self,
        open: impl Future<Output = Result<SendableRecordBatchStream, Status>> + Send + 'static,
    ) -> Result<SendableRecordBatchStream, Status> {
        let (first_tx, first_rx) = tokio::sync::oneshot::channel();
        let (tx, rx) = tokio::sync::mpsc::channel::<datafusion::common::Result<RecordBatch>>(2);
        let task = self.handle().spawn(async move {
            let mut stream = match open.await {
                Ok(s) => s,
                Err(status) => {
                    let _ = first_tx.send(Err(status));
                    return;
                }
            };
            if first_tx.send(Ok(stream.schema())).is_err() {
                return;
            }
            while let Some(batch) = stream.next().await {
                if tx.send(batch).await.is_err() {
                    return;
                }
            }
        });
        let guard = AbortOnDrop(task.abort_handle());
        let schema = first_rx
            .await
            .map_err(|_| Status::internal("the query's task ended before it started"))??;
        let batches = futures::stream::unfold((rx, guard), |(mut rx, guard)| async move {
            rx.recv().await.map(|b| (b, (rx, guard)))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
    }
}

impl Drop for CpuRuntime {
    fn drop(&mut self) {
        // Dropping a runtime from async code would panic; let its threads
        // wind down on their own.
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Stops a task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl QuiverFlightService {
    pub fn new(
        warehouse: Arc<Warehouse>,
        options: SessionOptions,
        auth: Arc<Auth>,
        timeout: Option<Duration>,
    ) -> std::io::Result<Self> {
        Ok(Self {
            models: Arc::new(warehouse.models()),
            warehouse,
            options,
            auth,
            timeout,
            state: Arc::new(State::new()),
            cpu: CpuRuntime::new()?,
        })
    }

    pub fn auth(&self) -> &Arc<Auth> {
        &self.auth
    }

    pub fn warehouse_url(&self) -> &str {
        self.warehouse.url()
    }

    /// A count of the queries streaming results now, to watch from
    /// outside (tests, shutdown).
    pub fn running_counter(&self) -> impl Fn() -> usize + Send + Sync + 'static {
        let state = Arc::clone(&self.state);
        move || state.running()
    }

    async fn session(&self) -> Result<QuiverSession, Status> {
        QuiverSession::with_options(
            Arc::clone(&self.warehouse),
            Arc::clone(&self.models),
            self.options.clone(),
        )
        .await
        .map_err(|e| to_status(&e))
    }

    /// Runs `fut` under the query time limit.
    async fn limited<T>(&self, fut: impl Future<Output = Result<T, Status>>) -> Result<T, Status> {
        match self.timeout {
            None => fut.await,
            Some(limit) => tokio::time::timeout(limit, fut).await.unwrap_or_else(|_| {
                Err(Status::deadline_exceeded(format!(
                    "the statement ran longer than the server's limit of {} s (quiver serve --query-timeout)",
                    limit.as_secs_f64()
                )))
            }),
        }
    }

    /// The FlightInfo for `sql` (planned as `prepared` with the first row
    /// of `params`): a query becomes pending work for its DoGet; anything
    /// else runs now, once per parameter row.
    #[allow(clippy::too_many_arguments)]
    async fn describe(
        &self,
        session: Arc<QuiverSession>,
        sql: String,
        prepared: Prepared,
        params: Option<RecordBatch>,
        user: &str,
        rpc: &str,
        started: Instant,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let kind = log::kind(&sql);
        let result = async {
            if let Some(schema) = prepared.query_schema() {
                let schema = plain_schema(&schema);
                let id = self.state.put_pending(Pending::Query {
                    sql,
                    params,
                    user: user.to_string(),
                    schema: Arc::clone(&schema),
                })?;
                return Ok((flight_info(&schema, id, descriptor, -1)?, None));
            }
            let run = self.cpu.run(async move {
                run_rows(&session, &sql, Some(prepared), params.as_ref()).await
            });
            let batches = self.limited(run).await?;
            let schema = batches
                .first()
                .map(|b| plain_schema(&b.schema()))
                .unwrap_or_else(|| Arc::new(Schema::empty()));
            let batches = batches
                .iter()
                .map(|b| plain_batch(b, &schema))
                .collect::<Result<Vec<_>, _>>()?;
            let rows = updated_rows(&batches);
            let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
            let id = self.state.put_pending(Pending::Done {
                schema: Arc::clone(&schema),
                batches,
                user: user.to_string(),
            })?;
            Ok((
                flight_info(&schema, id, descriptor, total as i64)?,
                Some(rows),
            ))
        }
        .await;
        finish(user, rpc, &kind, started, result.as_ref().map(|(_, r)| *r));
        result.map(|(info, _)| Response::new(info))
    }

    /// Runs `sql` once per row of `params` for its effects and returns the
    /// updated row count (-1 when the statement has none, as for DDL).
    async fn update(
        &self,
        sql: &str,
        params: Option<&RecordBatch>,
        user: &str,
        rpc: &str,
    ) -> Result<i64, Status> {
        let started = Instant::now();
        let kind = log::kind(sql);
        let result = async {
            let session = self.session().await?;
            let (sql, params) = (sql.to_string(), params.cloned());
            let run = self
                .cpu
                .run(async move { run_rows(&session, &sql, None, params.as_ref()).await });
            let batches = self.limited(run).await?;
            Ok(updated_rows(&batches))
        }
        .await;
        finish(user, rpc, &kind, started, result.as_ref().map(|r| Some(*r)));
        result
    }

    fn metadata_info(
        &self,
        command: impl ProstMessageExt,
        schema: &Schema,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let ticket = Ticket::new(command.as_any().encode_to_vec());
        let info = FlightInfo::new()
            .try_with_schema(schema)
            .map_err(|e| Status::internal(e.to_string()))?
            .with_endpoint(FlightEndpoint::new().with_ticket(ticket))
            .with_descriptor(request.into_inner());
        Ok(Response::new(info))
    }

    /// Answers a metadata DoGet with one batch, logged.
    async fn metadata_get(
        &self,
        user: &str,
        rpc: &str,
        build: impl AsyncFnOnce(&QuiverSession) -> Result<RecordBatch, Status>,
    ) -> Result<Response<DoGetStream>, Status> {
        let started = Instant::now();
        let result = async {
            let session = self.session().await?;
            build(&session).await
        }
        .await;
        finish(
            user,
            rpc,
            "metadata",
            started,
            result.as_ref().map(|b| Some(b.num_rows() as i64)),
        );
        let batch = result?;
        Ok(Response::new(encode(
            batch.schema(),
            futures::stream::iter([Ok(batch)]),
        )))
    }

    /// quiver tables have no primary or foreign keys: an empty answer in
    /// the command's columns.
    async fn no_keys(
        &self,
        request: &Request<Ticket>,
        rpc: &str,
        schema: SchemaRef,
    ) -> Result<Response<DoGetStream>, Status> {
        let user = User::of(request);
        self.metadata_get(&user, rpc, async |_| Ok(RecordBatch::new_empty(schema)))
            .await
    }

    /// Cancels the query a FlightInfo's ticket stands for.
    fn cancel_info(&self, info: &FlightInfo, user: &str) -> Result<bool, Status> {
        let mut any = false;
        for endpoint in &info.endpoint {
            let Some(ticket) = &endpoint.ticket else {
                continue;
            };
            if let Ok(id) = ticket_id(&ticket.ticket) {
                any |= self.state.cancel(id, user)?;
            }
        }
        Ok(any)
    }
}

/// Plans `sql` with `params` for a GetFlightInfo, logging a failure.
async fn plan_logged(
    session: &QuiverSession,
    sql: &str,
    params: &[ScalarValue],
    user: &str,
    started: Instant,
) -> Result<Prepared, Status> {
    session.prepare(sql, params).await.map_err(|e| {
        let status = to_status(&e);
        finish(
            user,
            "GetFlightInfo",
            &log::kind(sql),
            started,
            Err(&status),
        );
        status
    })
}

/// Logs one request.
fn finish(
    user: &str,
    rpc: &str,
    kind: &str,
    started: Instant,
    result: Result<Option<i64>, &Status>,
) {
    let ms = started.elapsed().as_millis();
    match result {
        Ok(rows) => log::line(
            user,
            rpc,
            format_args!(
                "kind={kind} rows={} ms={ms} status=ok",
                rows.map(|r| r.to_string()).unwrap_or_else(|| "-".into())
            ),
        ),
        Err(status) => log::line(
            user,
            rpc,
            format_args!(
                "kind={kind} ms={ms} status={:?} error={:?}",
                status.code(),
                status.message()
            ),
        ),
    }
}

/// A DataFusion error as a gRPC status: what the user got wrong is
/// `INVALID_ARGUMENT` (or `NOT_FOUND` / `ALREADY_EXISTS`) with the message
/// the CLI would print; only failures of the server itself are `INTERNAL`.
pub fn to_status(e: &DataFusionError) -> Status {
    let message = user_message(e);
    let code = match e.find_root() {
        DataFusionError::ResourcesExhausted(_) => Code::ResourceExhausted,
        DataFusionError::Plan(_)
        | DataFusionError::SQL(..)
        | DataFusionError::SchemaError(..)
        | DataFusionError::NotImplemented(_)
        | DataFusionError::Configuration(_)
        | DataFusionError::Execution(_)
        | DataFusionError::ArrowError(..) => {
            if message.contains("already exists") {
                Code::AlreadyExists
            } else if message.contains("not found") || message.contains("does not exist") {
                Code::NotFound
            } else {
                Code::InvalidArgument
            }
        }
        DataFusionError::ObjectStore(e) if matches!(**e, object_store::Error::NotFound { .. }) => {
            Code::NotFound
        }
        _ => Code::Internal,
    };
    Status::new(code, message)
}

fn ticket_id(bytes: &[u8]) -> Result<u64, Status> {
    let bad = || Status::invalid_argument("not a ticket of this server");
    let any = Any::decode(bytes).map_err(|_| bad())?;
    let Ok(Command::TicketStatementQuery(t)) = Command::try_from(any) else {
        return Err(bad());
    };
    let handle: TicketHandle = serde_json::from_slice(&t.statement_handle).map_err(|_| bad())?;
    Ok(handle.id)
}

fn prepared_id(handle: &[u8]) -> Result<u64, Status> {
    std::str::from_utf8(handle)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Status::invalid_argument("not a prepared statement handle of this server"))
}

fn flight_info(
    schema: &Schema,
    id: u64,
    descriptor: FlightDescriptor,
    records: i64,
) -> Result<FlightInfo, Status> {
    let handle =
        serde_json::to_vec(&TicketHandle { id }).map_err(|e| Status::internal(e.to_string()))?;
    let ticket = TicketStatementQuery {
        statement_handle: handle.into(),
    };
    let ticket = Ticket::new(ticket.as_any().encode_to_vec());
    Ok(FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| Status::internal(e.to_string()))?
        .with_endpoint(FlightEndpoint::new().with_ticket(ticket))
        .with_descriptor(descriptor)
        .with_total_records(records))
}

fn ipc_schema(schema: &Schema) -> Result<bytes::Bytes, Status> {
    let message: IpcMessage = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: datafusion::arrow::error::ArrowError| Status::internal(e.to_string()))?;
    Ok(message.0)
}

fn encode(
    schema: SchemaRef,
    batches: impl Stream<Item = Result<RecordBatch, Status>> + Send + 'static,
) -> DoGetStream {
    Box::pin(
        FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(batches.map_err(FlightError::from))
            .map_err(Status::from),
    )
}

/// Parameter values of row `row` of a bound batch.
fn row_values(params: &RecordBatch, row: usize) -> Result<Vec<ScalarValue>, Status> {
    params
        .columns()
        .iter()
        .map(|c| ScalarValue::try_from_array(c, row).map_err(|e| to_status(&e)))
        .collect()
}

/// Runs `sql` for its effects once per row of `params` (once when nothing
/// is bound). An `INSERT ... VALUES` bound to many rows runs as one insert
/// of all of them.
async fn run_rows(
    session: &QuiverSession,
    sql: &str,
    prepared: Option<Prepared>,
    params: Option<&RecordBatch>,
) -> Result<Vec<RecordBatch>, Status> {
    let collect = |stream: SendableRecordBatchStream| async move {
        stream
            .try_collect::<Vec<_>>()
            .await
            .map_err(|e| to_status(&e))
    };
    let Some(params) = params.filter(|p| p.num_columns() > 0) else {
        let stream = match prepared {
            Some(p) => session.run_prepared(sql, p).await,
            None => session.execute(sql).await,
        }
        .map_err(|e| to_status(&e))?;
        return collect(stream).await;
    };
    if params.num_rows() > 1
        && let Some(insert) = params::insert_from_params(sql).map_err(|e| to_status(&e))?
    {
        let fields: Vec<FieldRef> = params
            .schema()
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                Arc::new(
                    f.as_ref()
                        .clone()
                        .with_name(format!("p{}", i + 1))
                        .with_nullable(true),
                )
            })
            .collect();
        let renamed =
            RecordBatch::try_new(Arc::new(Schema::new(fields)), params.columns().to_vec())
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
        session
            .ctx()
            .register_batch(params::PARAMS_TABLE, renamed)
            .map_err(|e| to_status(&e))?;
        let stream = session.execute(&insert).await.map_err(|e| to_status(&e))?;
        return collect(stream).await;
    }
    let mut out = Vec::new();
    for row in 0..params.num_rows() {
        let values = row_values(params, row)?;
        let stream = session
            .execute_with(sql, &values)
            .await
            .map_err(|e| to_status(&e))?;
        out.extend(collect(stream).await?);
    }
    Ok(out)
}

/// The rows a DML statement reports in its `count` column, summed over its
/// executions; -1 (unknown, in Flight SQL's terms) for other statements.
fn updated_rows(batches: &[RecordBatch]) -> i64 {
    let Some(first) = batches.first() else {
        return -1;
    };
    let schema = first.schema();
    if schema.fields().len() != 1 || schema.field(0).name() != "count" {
        return -1;
    }
    let mut total = 0i64;
    for b in batches {
        let Ok(col) = cast(b.column(0), &DataType::Int64) else {
            return -1;
        };
        let Some(col) = col
            .as_any()
            .downcast_ref::<datafusion::arrow::array::Int64Array>()
        else {
            return -1;
        };
        total += col.iter().flatten().sum::<i64>();
    }
    total
}

/// A query's rows for `params` (each row of them in turn), as one stream.
async fn query_stream(
    session: Arc<QuiverSession>,
    sql: String,
    params: Option<RecordBatch>,
) -> Result<SendableRecordBatchStream, Status> {
    let Some(params) = params.filter(|p| p.num_columns() > 0 && p.num_rows() > 0) else {
        return session.execute(&sql).await.map_err(|e| to_status(&e));
    };
    let first = session
        .execute_with(&sql, &row_values(&params, 0)?)
        .await
        .map_err(|e| to_status(&e))?;
    let schema = first.schema();
    let rest = futures::stream::iter(1..params.num_rows())
        .then(move |row| {
            let session = Arc::clone(&session);
            let sql = sql.clone();
            let values = row_values(&params, row);
            async move {
                let values = values.map_err(|s| DataFusionError::External(Box::new(s)))?;
                session.execute_with(&sql, &values).await
            }
        })
        .try_flatten();
    Ok(Box::pin(RecordBatchStreamAdapter::new(
        schema,
        first.chain(rest),
    )))
}

/// The record batches of a DoPut stream. A message that carries only the
/// command (no IPC header; some clients send one) is skipped.
fn decode_put(stream: PeekableFlightDataStream) -> FlightRecordBatchStream {
    FlightRecordBatchStream::new_from_flight_data(
        stream
            .into_peekable()
            .try_filter(|data| futures::future::ready(!data.data_header.is_empty()))
            .map_err(FlightError::from),
    )
}

/// Reads bound parameters from a DoPut stream.
async fn read_batches(stream: PeekableFlightDataStream) -> Result<Option<RecordBatch>, Status> {
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

/// Arrow's view types (`Utf8View`, `BinaryView`), which DataFusion reads
/// Parquet into, as the classic types every Flight SQL client reads.
fn plain_type(t: &DataType) -> DataType {
    match t {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        DataType::List(f) => DataType::List(plain_field(f)),
        DataType::LargeList(f) => DataType::LargeList(plain_field(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(plain_field(f), *n),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(plain_field).collect()),
        other => other.clone(),
    }
}

fn plain_field(f: &FieldRef) -> FieldRef {
    Arc::new(f.as_ref().clone().with_data_type(plain_type(f.data_type())))
}

/// The schema results are sent in: plain types, and every column nullable
/// (what a plan says of nullability is a promise the rows cannot break).
pub(crate) fn plain_schema(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new_with_metadata(
        schema
            .fields()
            .iter()
            .map(|f| Arc::new(plain_field(f).as_ref().clone().with_nullable(true)))
            .collect::<Vec<FieldRef>>(),
        schema.metadata().clone(),
    ))
}

fn plain_batch(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, Status> {
    if batch.schema().fields() == schema.fields() {
        return Ok(batch.clone());
    }
    if batch.num_columns() != schema.fields().len() {
        return Err(Status::internal(
            "the query's columns changed since it was planned",
        ));
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(Arc::clone(c))
            } else {
                cast(c, f.data_type())
            }
        })
        .collect::<Result<Vec<ArrayRef>, _>>()
        .map_err(|e| Status::internal(e.to_string()))?;
    RecordBatch::try_new(Arc::clone(schema), columns).map_err(|e| Status::internal(e.to_string()))
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

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[tonic::async_trait]
impl FlightSqlService for QuiverFlightService {
    type FlightService = QuiverFlightService;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<
        Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>,
        Status,
    > {
        // The interceptor has checked the Basic (or Bearer) credentials.
        let user = User::of(&request);
        let token = self.auth.issue(&user)?;
        log::line(&user, "Handshake", format_args!("status=ok"));
        let output = futures::stream::iter([Ok(HandshakeResponse {
            protocol_version: 0,
            payload: token.clone().into(),
        })]);
        let mut response: Response<Pin<Box<dyn Stream<Item = _> + Send>>> =
            Response::new(Box::pin(output));
        let value = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|e| Status::internal(e.to_string()))?;
        response.metadata_mut().insert("authorization", value);
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let started = Instant::now();
        let user = User::of(&request);
        let sql = query.query;
        let session = self.session().await?;
        let prepared = plan_logged(&session, &sql, &[], &user, started).await?;
        self.describe(
            Arc::new(session),
            sql,
            prepared,
            None,
            &user,
            "GetFlightInfo",
            started,
            request.into_inner(),
        )
        .await
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let started = Instant::now();
        let user = User::of(&request);
        let (sql, params) = self
            .state
            .prepared(prepared_id(&cmd.prepared_statement_handle)?, &user)?;
        let session = self.session().await?;
        let first = match &params {
            Some(p) if p.num_columns() > 0 => row_values(p, 0)?,
            _ => Vec::new(),
        };
        let prepared = plan_logged(&session, &sql, &first, &user, started).await?;
        self.describe(
            Arc::new(session),
            sql,
            prepared,
            params,
            &user,
            "GetFlightInfo",
            started,
            request.into_inner(),
        )
        .await
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        self.metadata_info(query, &schema, request)
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        self.metadata_info(query, &schema, request)
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        self.metadata_info(query, &schema, request)
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        self.metadata_info(query, &schema, request)
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder(&metadata::SQL_INFO).schema();
        self.metadata_info(query, &schema, request)
    }

    async fn get_flight_info_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.metadata_info(query, &metadata::primary_keys_schema(), request)
    }

    async fn get_flight_info_exported_keys(
        &self,
        query: CommandGetExportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.metadata_info(query, &metadata::foreign_keys_schema(), request)
    }

    async fn get_flight_info_imported_keys(
        &self,
        query: CommandGetImportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.metadata_info(query, &metadata::foreign_keys_schema(), request)
    }

    async fn get_flight_info_cross_reference(
        &self,
        query: CommandGetCrossReference,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.metadata_info(query, &metadata::foreign_keys_schema(), request)
    }

    async fn get_flight_info_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder(&metadata::XDBC_TYPES).schema();
        self.metadata_info(query, &schema, request)
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let started = Instant::now();
        let user = User::of(&request);
        let handle: TicketHandle = serde_json::from_slice(&ticket.statement_handle)
            .map_err(|_| Status::invalid_argument("not a ticket of this server"))?;
        let pending = match self.state.take_pending(handle.id, &user) {
            Ok(p) => p,
            Err(status) => {
                finish(&user, "DoGet", "-", started, Err(&status));
                return Err(status);
            }
        };
        match pending {
            Pending::Done {
                schema, batches, ..
            } => {
                let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
                finish(&user, "DoGet", "result", started, Ok(Some(rows as i64)));
                Ok(Response::new(encode(
                    schema,
                    futures::stream::iter(batches.into_iter().map(Ok)),
                )))
            }
            Pending::Query {
                sql,
                params,
                schema: promised,
                ..
            } => {
                let kind = log::kind(&sql);
                let opened = async {
                    let session = Arc::new(self.session().await?);
                    self.cpu.stream(query_stream(session, sql, params)).await
                };
                let stream = match self.limited(opened).await {
                    Ok(s) => s,
                    Err(status) => {
                        finish(&user, "DoGet", &kind, started, Err(&status));
                        return Err(status);
                    }
                };
                // Send the rows in the schema the FlightInfo promised:
                // clients check that they agree, and a physical plan may
                // differ from its logical plan in nullability.
                let schema = promised;
                if stream.schema().fields().len() != schema.fields().len() {
                    let status =
                        Status::internal("the query's columns changed since it was planned");
                    finish(&user, "DoGet", &kind, started, Err(&status));
                    return Err(status);
                }
                let out = Arc::clone(&schema);
                let plain: SendableRecordBatchStream = Box::pin(RecordBatchStreamAdapter::new(
                    Arc::clone(&schema),
                    stream.map(move |b| {
                        b.and_then(|b| {
                            plain_batch(&b, &out)
                                .map_err(|s| DataFusionError::External(Box::new(s)))
                        })
                    }),
                ));
                let registration = self.state.start(handle.id, &user)?;
                let logged = QueryStream::new(
                    plain,
                    registration,
                    self.timeout,
                    started,
                    Arc::clone(&self.state),
                    handle.id,
                    user,
                    kind,
                );
                Ok(Response::new(encode(schema, logged)))
            }
        }
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let user = User::of(&request);
        self.metadata_get(&user, "GetCatalogs", async |s| metadata::catalogs(s, query))
            .await
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let user = User::of(&request);
        self.metadata_get(&user, "GetDbSchemas", async |s| {
            metadata::db_schemas(s, query)
        })
        .await
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let user = User::of(&request);
        let u = user.clone();
        self.metadata_get(&user, "GetTables", async move |s| {
            metadata::tables(s, query, &u).await
        })
        .await
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let user = User::of(&request);
        self.metadata_get(&user, "GetTableTypes", async |_| {
            let mut b = query.into_builder();
            for t in metadata::TABLE_TYPES {
                b.append(t);
            }
            Ok(b.build()?)
        })
        .await
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let user = User::of(&request);
        self.metadata_get(&user, "GetSqlInfo", async |_| {
            Ok(query.into_builder(&metadata::SQL_INFO).build()?)
        })
        .await
    }

    async fn do_get_primary_keys(
        &self,
        _query: CommandGetPrimaryKeys,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.no_keys(&request, "GetPrimaryKeys", metadata::primary_keys_schema())
            .await
    }

    async fn do_get_exported_keys(
        &self,
        _query: CommandGetExportedKeys,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.no_keys(&request, "GetExportedKeys", metadata::foreign_keys_schema())
            .await
    }

    async fn do_get_imported_keys(
        &self,
        _query: CommandGetImportedKeys,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.no_keys(&request, "GetImportedKeys", metadata::foreign_keys_schema())
            .await
    }

    async fn do_get_cross_reference(
        &self,
        _query: CommandGetCrossReference,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        self.no_keys(
            &request,
            "GetCrossReference",
            metadata::foreign_keys_schema(),
        )
        .await
    }

    async fn do_get_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let user = User::of(&request);
        self.metadata_get(&user, "GetXdbcTypeInfo", async |_| {
            Ok(query.into_builder(&metadata::XDBC_TYPES).build()?)
        })
        .await
    }

    async fn do_put_statement_update(
        &self,
        ticket: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let user = User::of(&request);
        self.update(&ticket.query, None, &user, "DoPut").await
    }

    async fn do_put_statement_ingest(
        &self,
        cmd: CommandStatementIngest,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let started = Instant::now();
        let user = User::of(&request);
        let result = self.ingest(cmd, request.into_inner()).await;
        finish(
            &user,
            "DoPut",
            "ingest",
            started,
            result.as_ref().map(|r| Some(*r)),
        );
        result
    }

    async fn do_put_prepared_statement_query(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let user = User::of(&request);
        let id = prepared_id(&query.prepared_statement_handle)?;
        let params = read_batches(request.into_inner()).await?;
        self.state.bind(id, &user, params)?;
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(query.prepared_statement_handle),
        })
    }

    async fn do_put_prepared_statement_update(
        &self,
        query: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let user = User::of(&request);
        let id = prepared_id(&query.prepared_statement_handle)?;
        let (sql, bound) = self.state.prepared(id, &user)?;
        let params = read_batches(request.into_inner()).await?.or(bound);
        self.update(&sql, params.as_ref(), &user, "DoPut").await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let started = Instant::now();
        let user = User::of(&request);
        let kind = log::kind(&query.query);
        let result = async {
            let session = self.session().await?;
            let (dataset, parameters) = match session.prepare(&query.query, &[]).await {
                Ok(prepared) => (
                    prepared
                        .query_schema()
                        .map(|s| plain_schema(&s))
                        .unwrap_or_else(|| Arc::new(Schema::empty())),
                    parameter_schema(&prepared),
                ),
                // Placeholders whose types DataFusion cannot infer before
                // values are bound (a function argument, a projection):
                // the statement is planned again with the values.
                Err(_) if params::has_placeholders(&query.query) => {
                    (Arc::new(Schema::empty()), Arc::new(Schema::empty()))
                }
                Err(e) => return Err(to_status(&e)),
            };
            let id = self.state.prepare(query.query.clone(), &user)?;
            Ok(ActionCreatePreparedStatementResult {
                prepared_statement_handle: id.to_string().into_bytes().into(),
                dataset_schema: ipc_schema(&dataset)?,
                parameter_schema: ipc_schema(&parameters)?,
            })
        }
        .await;
        finish(
            &user,
            "CreatePreparedStatement",
            &kind,
            started,
            result.as_ref().map(|_| None),
        );
        result
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        self.state.close(
            prepared_id(&query.prepared_statement_handle)?,
            &User::of(&request),
        )
    }

    async fn do_action_cancel_query(
        &self,
        query: ActionCancelQueryRequest,
        request: Request<Action>,
    ) -> Result<ActionCancelQueryResult, Status> {
        let info = FlightInfo::decode(query.info)
            .map_err(|_| Status::invalid_argument("CancelQuery: not a FlightInfo"))?;
        let cancelled = self.cancel_info(&info, &User::of(&request))?;
        log::line(
            &User::of(&request),
            "CancelQuery",
            format_args!("cancelled={cancelled}"),
        );
        // CancelResult: 1 = cancelled, 3 = not cancellable (the enum is
        // not exported by arrow-flight).
        Ok(ActionCancelQueryResult {
            result: if cancelled { 1 } else { 3 },
        })
    }

    async fn do_action_fallback(
        &self,
        request: Request<Action>,
    ) -> Result<Response<<Self as FlightService>::DoActionStream>, Status> {
        if request.get_ref().r#type == "CancelFlightInfo" {
            let cancel = CancelFlightInfoRequest::decode(request.get_ref().body.clone())
                .map_err(|_| Status::invalid_argument("CancelFlightInfo: bad request"))?;
            let info = cancel
                .info
                .ok_or_else(|| Status::invalid_argument("CancelFlightInfo: no FlightInfo"))?;
            let cancelled = self.cancel_info(&info, &User::of(&request))?;
            log::line(
                &User::of(&request),
                "CancelFlightInfo",
                format_args!("cancelled={cancelled}"),
            );
            let status = if cancelled {
                CancelStatus::Cancelled
            } else {
                CancelStatus::NotCancellable
            };
            let body = CancelFlightInfoResult {
                status: status as i32,
            }
            .encode_to_vec();
            return Ok(Response::new(Box::pin(futures::stream::iter([Ok(
                arrow_flight::Result { body: body.into() },
            )]))));
        }
        Err(Status::invalid_argument(format!(
            "unknown action '{}'",
            request.get_ref().r#type
        )))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

/// The placeholders of a planned statement, `$1`, `$2`, ..., with the
/// types DataFusion inferred (`Null` where it could not).
fn parameter_schema(prepared: &Prepared) -> SchemaRef {
    let Prepared::Plan(plan) = prepared else {
        return Arc::new(Schema::empty());
    };
    let Ok(types) = plan.get_parameter_types() else {
        return Arc::new(Schema::empty());
    };
    let mut named: Vec<(usize, String, DataType)> = types
        .into_iter()
        .map(|(name, t)| {
            let n = name
                .trim_start_matches('$')
                .parse::<usize>()
                .unwrap_or(usize::MAX);
            (n, name, t.map(|t| plain_type(&t)).unwrap_or(DataType::Null))
        })
        .collect();
    named.sort();
    Arc::new(Schema::new(
        named
            .into_iter()
            .map(|(_, name, t)| Field::new(name, t, true))
            .collect::<Vec<_>>(),
    ))
}

impl QuiverFlightService {
    /// `adbc_ingest`: the client's batches into a warehouse table, streamed
    /// (the rows are written as they arrive, not gathered first).
    async fn ingest(
        &self,
        cmd: CommandStatementIngest,
        stream: PeekableFlightDataStream,
    ) -> Result<i64, Status> {
        if cmd.temporary {
            return Err(Status::invalid_argument(
                "temporary tables do not outlive a request on this server; ingest into a warehouse table",
            ));
        }
        if cmd.catalog.as_deref().is_some_and(|c| c != CATALOG)
            || cmd.schema.as_deref().is_some_and(|s| s != SCHEMA)
        {
            return Err(Status::not_found(format!(
                "the server's only writable schema is {CATALOG}.{SCHEMA}"
            )));
        }
        if cmd.table.is_empty() {
            return Err(Status::invalid_argument("ingest needs a table name"));
        }
        let options = cmd.table_definition_options.unwrap_or_default();
        let if_missing = TableNotExistOption::try_from(options.if_not_exist)
            .unwrap_or(TableNotExistOption::Unspecified);
        let if_exists = TableExistsOption::try_from(options.if_exists)
            .unwrap_or(TableExistsOption::Unspecified);

        let session = self.session().await?;
        let exists = session
            .ctx()
            .table_exist(datafusion::common::TableReference::bare(cmd.table.as_str()))
            .map_err(|e| to_status(&e))?;
        let table = quote_ident(&cmd.table);

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
        self.limited(async { session.sql(&sql).await.map_err(|e| to_status(&e)) })
            .await?;
        Ok(rows.load(Ordering::Relaxed) as i64)
    }
}
