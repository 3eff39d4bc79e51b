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
use std::time::{Duration, Instant};

use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionCancelQueryRequest, ActionCancelQueryResult, ActionClosePreparedStatementRequest,
    ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult, CommandGetCatalogs,
    CommandGetCrossReference, CommandGetDbSchemas, CommandGetExportedKeys, CommandGetImportedKeys,
    CommandGetPrimaryKeys, CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables,
    CommandGetXdbcTypeInfo, CommandPreparedStatementQuery, CommandPreparedStatementUpdate,
    CommandStatementIngest, CommandStatementQuery, CommandStatementUpdate,
    DoPutPreparedStatementResult, ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    Action, CancelFlightInfoRequest, CancelFlightInfoResult, CancelStatus, FlightDescriptor,
    FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, Ticket,
};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::common::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::{Stream, StreamExt};
use prost::Message;
use quiver_engine::ModelStore;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use super::arrow_types::{plain_batch, plain_schema};
use super::auth::{Auth, User};
use super::execute::{finish, plan_logged, query_stream, row_values, run_rows, updated_rows};
use super::ingest::{ingest, read_batches};
use super::log;
use super::metadata;
use super::protocol::{
    DoGetStream, encode, flight_info, ipc_schema, parameter_schema, prepared_id, ticket_id,
};
use super::runtime::CpuRuntime;
use super::state::{Pending, QueryStream, State, TicketHandle};
use super::status::to_status;
use crate::session::{Planned, QuiverSession, SessionOptions};
use crate::statement::params;
use crate::warehouse::Warehouse;

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

    pub(super) async fn session(&self) -> Result<QuiverSession, Status> {
        QuiverSession::with_options(
            Arc::clone(&self.warehouse),
            Arc::clone(&self.models),
            self.options.clone(),
        )
        .await
        .map_err(|e| to_status(&e))
    }

    /// Runs `fut` under the query time limit.
    pub(super) async fn limited<T>(
        &self,
        fut: impl Future<Output = Result<T, Status>>,
    ) -> Result<T, Status> {
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
        prepared: Planned,
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
        let result = async {
            let session = self.session().await?;
            let ingest = ingest(&session, cmd, request.into_inner()).await?;
            self.limited(async { session.sql(&ingest.sql).await.map_err(|e| to_status(&e)) })
                .await?;
            Ok(ingest.rows())
        }
        .await;
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
