//! The runtime queries and statements run on, apart from the one that
//! serves gRPC, and the guard that aborts a query's task when its stream
//! is dropped.

use datafusion::arrow::array::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;
use tonic::Status;

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
pub(super) struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
