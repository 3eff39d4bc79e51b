//! The runtime queries and statements run on, apart from the one that
//! serves gRPC, and the guard that aborts a query's task when its stream
//! is dropped.

use datafusion::arrow::array::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;
use tonic::Status;

use crate::message::{TaskPanicked, panic_message};

/// The runtime queries and statements run on, apart from the one that
/// serves gRPC: DataFusion's tasks keep a core busy for as long as they
/// have rows, and on the serving runtime they held up every other client's
/// requests and the responses' own encoding (docs/benchmarks.md, "quiver
/// serve (Flight SQL)", measures the server beside the CLI).
pub(super) struct CpuRuntime(Option<tokio::runtime::Runtime>);

impl CpuRuntime {
    pub(super) fn new() -> std::io::Result<Self> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("quiver-cpu")
            .enable_all()
            .build()?;
        Ok(Self(Some(rt)))
    }

    pub(super) fn handle(&self) -> &tokio::runtime::Handle {
        self.0
            .as_ref()
            .map(|rt| rt.handle())
            .expect("the runtime lives until the service is dropped")
    }

    /// Runs `fut` on this runtime; dropping the returned future stops it.
    pub(super) async fn run<T: Send + 'static>(
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
    pub(super) async fn stream(
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
        // When the channel closes, the task ended: it finished, or it
        // panicked mid-stream. A panic must reach the client as an error,
        // never as the end of a complete result (issue 23).
        let batches = futures::stream::unfold(
            (rx, Some(task), guard),
            |(mut rx, mut task, guard)| async move {
                if let Some(batch) = rx.recv().await {
                    return Some((batch, (rx, task, guard)));
                }
                match task.take()?.await {
                    Err(e) if e.is_panic() => {
                        let failed = TaskPanicked(panic_message(e.into_panic()));
                        Some((Err(failed.into()), (rx, None, guard)))
                    }
                    _ => None,
                }
            },
        );
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
pub(super) struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::Int32Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use futures::TryStreamExt;

    use super::*;

    /// A query task that panics after its first batch: the client gets the
    /// batch and then an error, not a result that looks complete.
    #[tokio::test]
    async fn a_panic_mid_stream_ends_in_an_error() {
        let runtime = CpuRuntime::new().expect("runtime");
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int32Array::from(vec![1, 2]))],
        )
        .expect("batch");
        let stream_schema = Arc::clone(&schema);
        let stream = runtime
            .stream(async move {
                let mut sent = false;
                let rows = futures::stream::poll_fn(move |_| {
                    if sent {
                        panic!("decoder bug");
                    }
                    sent = true;
                    std::task::Poll::Ready(Some(Ok(batch.clone())))
                });
                let stream: SendableRecordBatchStream =
                    Box::pin(RecordBatchStreamAdapter::new(stream_schema, rows));
                Ok(stream)
            })
            .await
            .expect("opened");
        let mut stream = stream;
        let first = stream.try_next().await.expect("first batch");
        assert_eq!(first.map(|b| b.num_rows()), Some(2));
        let err = stream.try_next().await.expect_err("the panic is an error");
        assert!(err.to_string().contains("decoder bug"), "{err}");
        assert_eq!(
            crate::server::status::to_status(&err).code(),
            tonic::Code::Internal
        );
    }
}
