//! Small helpers over `object_store` shared by the model store and quiver's
//! warehouse catalog: JSON documents read and written whole, folder listings,
//! recursive deletes, and names no other writer can pick.
//!
//! A `put` of a whole object is atomic on every store we support (the local
//! file system writes a temporary file and renames it; S3, GCS and Azure
//! publish an object only when its upload completes), so "write the data,
//! then put the small document that points at it" is how quiver publishes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::common::{DataFusionError, Result};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// An object-store error with what quiver was doing when it happened.
pub fn store_error(context: impl std::fmt::Display, e: object_store::Error) -> DataFusionError {
    DataFusionError::Execution(format!("{context}: {e}"))
}

/// Reads the JSON document at `path`; `None` when there is none.
pub async fn get_json<T: DeserializeOwned>(
    store: &dyn ObjectStore,
    path: &Path,
) -> Result<Option<T>> {
    let bytes = match store.get(path).await {
        Ok(got) => got
            .bytes()
            .await
            .map_err(|e| store_error(format!("reading {path}"), e))?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(store_error(format!("reading {path}"), e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| DataFusionError::Execution(format!("{path} is not valid: {e}")))
}

/// Reads the whole object at `path`.
pub async fn get_bytes(store: &dyn ObjectStore, path: &Path) -> Result<bytes::Bytes> {
    store
        .get(path)
        .await
        .map_err(|e| store_error(format!("reading {path}"), e))?
        .bytes()
        .await
        .map_err(|e| store_error(format!("reading {path}"), e))
}

/// One batch as the bytes of a Parquet file (model payloads are small
/// enough to write whole).
pub fn parquet_bytes(batch: &datafusion::arrow::array::RecordBatch) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None)?;
    w.write(batch)?;
    w.close()?;
    Ok(out)
}

/// The batches of a Parquet file held in memory. Batches of 8k rows: the
/// reader grows a batch's buffers page by page, and for a model's 100-float
/// vectors 64k-row batches copied (and faulted in) tens of megabytes.
pub fn parquet_batches(bytes: bytes::Bytes) -> Result<Vec<datafusion::arrow::array::RecordBatch>> {
    let reader =
        datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)?
            .with_batch_size(8192)
            .build()?;
    Ok(reader.collect::<std::result::Result<Vec<_>, _>>()?)
}

/// Writes `value` as the JSON document at `path`, atomically.
pub async fn put_json<T: Serialize>(store: &dyn ObjectStore, path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| DataFusionError::Internal(format!("encoding {path}: {e}")))?;
    store
        .put(path, PutPayload::from(bytes))
        .await
        .map_err(|e| store_error(format!("writing {path}"), e))?;
    Ok(())
}

/// Every object under `prefix`, at any depth.
pub async fn list_all(
    store: &dyn ObjectStore,
    prefix: &Path,
) -> Result<Vec<object_store::ObjectMeta>> {
    store
        .list(Some(prefix))
        .try_collect()
        .await
        .map_err(|e| store_error(format!("listing {prefix}"), e))
}

/// The names of the folders directly under `prefix`.
pub async fn child_folders(store: &dyn ObjectStore, prefix: &Path) -> Result<Vec<String>> {
    let listing = store
        .list_with_delimiter(Some(prefix))
        .await
        .map_err(|e| store_error(format!("listing {prefix}"), e))?;
    let mut names: Vec<String> = listing
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename().map(str::to_string))
        .collect();
    names.sort();
    Ok(names)
}

/// Deletes every object under `prefix`. A missing object is not an error: a
/// concurrent delete may have got there first.
pub async fn delete_prefix(store: &dyn ObjectStore, prefix: &Path) -> Result<()> {
    let locations = store
        .list(Some(prefix))
        .map_ok(|meta| meta.location)
        .boxed();
    let mut deleted = store.delete_stream(locations);
    while let Some(result) = deleted.next().await {
        match result {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(store_error(format!("deleting {prefix}"), e)),
        }
    }
    Ok(())
}

/// Removes everything under a prefix when dropped, unless disarmed: held
/// while a write fills a folder of its own, so that a statement dropped
/// mid-write (cancelled, timed out, its client gone) leaves nothing. The
/// removal runs as a task on the current Tokio runtime. Disarm it before
/// publishing: a removal racing a publish could delete published data.
pub struct RemoveOnDrop {
    store: Arc<dyn ObjectStore>,
    prefix: Option<Path>,
}

impl RemoveOnDrop {
    pub fn new(store: Arc<dyn ObjectStore>, prefix: Path) -> Self {
        Self {
            store,
            prefix: Some(prefix),
        }
    }

    /// The write is about to be published: keep what it wrote.
    pub fn disarm(mut self) {
        self.prefix = None;
    }

    /// Removes what the write wrote now, and waits for it.
    pub async fn remove(mut self) -> Result<()> {
        match self.prefix.take() {
            Some(prefix) => delete_prefix(self.store.as_ref(), &prefix).await,
            None => Ok(()),
        }
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(prefix) = self.prefix.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let store = Arc::clone(&self.store);
            runtime.spawn(async move {
                let _ = delete_prefix(store.as_ref(), &prefix).await;
            });
        }
    }
}

/// A name that no other writer, in this process or another, will choose:
/// the time in microseconds, the process id and a counter.
pub fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let micros = chrono::Utc::now().timestamp_micros();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{micros:016x}-{:x}-{n}", std::process::id())
}

/// Checks that `name` can name a table or model: letters, digits and `_`,
/// not starting with a digit. Names become folder names in the warehouse.
/// The prefix of the names quiver gives its own per-request tables
/// (`__quiver_params`, `__quiver_ingest`): no user object may take one,
/// or every later `executemany` or ingest would read it instead.
pub const RESERVED_PREFIX: &str = "__quiver";

pub fn check_name(kind: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok && name.starts_with(RESERVED_PREFIX) {
        return Err(DataFusionError::Plan(format!(
            "{kind} name '{name}' is not allowed: names starting with {RESERVED_PREFIX} are \
             quiver's own (it reads bound parameters and ingested batches through them)"
        )));
    }
    if ok {
        Ok(())
    } else {
        Err(DataFusionError::Plan(format!(
            "{kind} name '{name}' is not allowed: use letters, digits and _, not starting \
             with a digit"
        )))
    }
}
