//! The Flight SQL wire forms quiver reads and writes: tickets and prepared
//! statement handles, FlightInfo for a result, schemas and batches as IPC,
//! and the parameter schema of a prepared statement.

use std::sync::Arc;

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::sql::{Any, Command, ProstMessageExt, TicketStatementQuery};
use arrow_flight::{FlightDescriptor, FlightEndpoint, FlightInfo, IpcMessage, SchemaAsIpc, Ticket};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use futures::{Stream, TryStreamExt};
use prost::Message;
use tonic::Status;

use super::state::TicketHandle;
use crate::session::Planned;

use super::arrow_types::plain_type;

/// The stream DoGet answers with (the trait's own type, spelled out so that
/// this module need not name the service).
pub(super) type DoGetStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<arrow_flight::FlightData, Status>> + Send>>;

pub(super) fn ticket_id(bytes: &[u8]) -> Result<u64, Status> {
    let bad = || Status::invalid_argument("not a ticket of this server");
    let any = Any::decode(bytes).map_err(|_| bad())?;
    let Ok(Command::TicketStatementQuery(t)) = Command::try_from(any) else {
        return Err(bad());
    };
    let handle: TicketHandle = serde_json::from_slice(&t.statement_handle).map_err(|_| bad())?;
    Ok(handle.id)
}

pub(super) fn prepared_id(handle: &[u8]) -> Result<u64, Status> {
    std::str::from_utf8(handle)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Status::invalid_argument("not a prepared statement handle of this server"))
}

pub(super) fn flight_info(
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

pub(super) fn ipc_schema(schema: &Schema) -> Result<bytes::Bytes, Status> {
    let message: IpcMessage = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: datafusion::arrow::error::ArrowError| Status::internal(e.to_string()))?;
    Ok(message.0)
}

pub(super) fn encode(
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

/// The placeholders of a planned statement, `$1`, `$2`, ..., with the
/// types DataFusion inferred (`Null` where it could not).
pub(super) fn parameter_schema(prepared: &Planned) -> SchemaRef {
    let Planned::Plan(plan) = prepared else {
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
