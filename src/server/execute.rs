//! Running what an RPC asked for: planning a statement with its log line,
//! streaming a query's rows, and running a statement once per row of bound
//! parameters (`executemany`).

use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, FieldRef, Schema};
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::{StreamExt, TryStreamExt};
use tonic::Status;

use super::log;
use crate::session::{Planned, QuiverSession};
use crate::statement::params;

use super::status::to_status;

/// Plans `sql` with `params` for a GetFlightInfo, logging a failure.
pub(super) async fn plan_logged(
    session: &QuiverSession,
    sql: &str,
    params: &[ScalarValue],
    user: &str,
    started: Instant,
) -> Result<Planned, Status> {
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
pub(super) fn finish(
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

/// Parameter values of row `row` of a bound batch.
pub(super) fn row_values(params: &RecordBatch, row: usize) -> Result<Vec<ScalarValue>, Status> {
    params
        .columns()
        .iter()
        .map(|c| ScalarValue::try_from_array(c, row).map_err(|e| to_status(&e)))
        .collect()
}

/// Runs `sql` for its effects once per row of `params` (once when nothing
/// is bound). An `INSERT ... VALUES` bound to many rows runs as one insert
/// of all of them.
pub(super) async fn run_rows(
    session: &QuiverSession,
    sql: &str,
    prepared: Option<Planned>,
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
pub(super) fn updated_rows(batches: &[RecordBatch]) -> i64 {
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
pub(super) async fn query_stream(
    session: Arc<QuiverSession>,
    sql: String,
    params: Option<RecordBatch>,
) -> Result<SendableRecordBatchStream, Status> {
    let Some(params) = params.filter(|p| p.num_columns() > 0 && p.num_rows() > 0) else {
        let stream = session.execute(&sql).await.map_err(|e| to_status(&e))?;
        // The stream holds the session until it ends: a plan may open
        // warehouse tables as it runs (information_schema.columns does),
        // and the warehouse schema opens them with its session's state.
        let schema = stream.schema();
        return Ok(Box::pin(RecordBatchStreamAdapter::new(
            schema,
            stream.map(move |batch| {
                let _held = &session;
                batch
            }),
        )));
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
