//! Managed tables as Delta Lake tables (#24).
//!
//! Each table quiver writes is a Delta table at `<root>/tables/<name>/`:
//! its `_delta_log/` and its Parquet files, which quiver writes itself with
//! its own settings (row groups, pages, page index, NaN-safe statistics) and
//! commits with deltalake-core. A commit is one atomic put of the next log
//! entry (`PutMode::Create`: a hard link on a local disk, `If-None-Match`
//! on S3), so two writers never both take a version: the loser sees the
//! conflict, and an append is retried on top of the winner's version.
//! Reads list the files of the newest snapshot and scan them as Parquet,
//! so quiver's scan work (top-k seeding, TABLESAMPLE SYSTEM, the
//! list-column decoder, NaN-safe statistics) stays.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::common::{DataFusionError, Result};
use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake_core::kernel::transaction::{
    CommitBuilder, CommitProperties, TableReference, TransactionError,
};
use deltalake_core::kernel::{Action, Add, MetadataExt, Remove, StructField, StructType};
use deltalake_core::logstore::{LogStoreRef, logstore_factories};
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use url::Url;

use super::{Warehouse, WriteMode};

/// One Parquet file a write put under the table's folder.
#[derive(Debug, Clone)]
pub struct WrittenFile {
    /// Relative to the table's folder.
    pub path: String,
    pub size: u64,
    /// `None` for a file of a table converted from the old layout, whose
    /// row count quiver does not read to convert it.
    pub rows: Option<u64>,
}

/// How many times a write whose commit lost a race to another writer's
/// tries again on top of the newer version.
pub const COMMIT_ATTEMPTS: usize = 20;

/// A Delta error as quiver reports it, naming the table.
pub fn delta_error(name: &str, e: DeltaTableError) -> DataFusionError {
    DataFusionError::Execution(format!("table '{name}': {e}"))
}

/// The URL of table `name`'s folder, ending in `/`.
fn table_url(warehouse: &Warehouse, name: &str) -> Result<Url> {
    let url = warehouse.file_url(&format!("{}/", Warehouse::table_dir(name)));
    Url::parse(&url).map_err(|e| DataFusionError::Internal(format!("table URL {url}: {e}")))
}

/// The log store of table `name`, over the warehouse's own object store.
fn log_store(warehouse: &Warehouse, name: &str) -> Result<LogStoreRef> {
    let url = table_url(warehouse, name)?;
    log_store_at(
        Arc::clone(warehouse.store()),
        url,
        &format!("table '{name}'"),
    )
}

/// The log store of the Delta table at `url` (ending in `/`), over `store`;
/// errors name `what`.
pub fn log_store_at(store: Arc<dyn ObjectStore>, url: Url, what: &str) -> Result<LogStoreRef> {
    // deltalake-core knows `file://` and `memory://`; the warehouse's store
    // does the I/O for any other scheme, with the same default log store.
    let scheme = Url::parse(&format!("{}://", url.scheme()))
        .map_err(|e| DataFusionError::Internal(format!("scheme of {url}: {e}")))?;
    let factories = logstore_factories();
    if !factories.contains_key(&scheme)
        && let Some(file) = Url::parse("file://")
            .ok()
            .and_then(|f| factories.get(&f).map(|e| Arc::clone(e.value())))
    {
        factories.insert(scheme, file);
    }
    DeltaTableBuilder::from_url(url.clone())
        .and_then(|b| b.with_storage_backend(store, url).build_storage())
        .map_err(|e| DataFusionError::Execution(format!("{what}: {e}")))
}

/// Table `name` at its newest version; `None` when its folder holds no
/// Delta table (a table of the old layout, or none yet).
pub async fn load(warehouse: &Warehouse, name: &str) -> Result<Option<DeltaTable>> {
    let mut table = DeltaTable::new(log_store(warehouse, name)?);
    match table.load().await {
        Ok(()) => Ok(Some(table)),
        Err(DeltaTableError::NotATable(_)) => Ok(None),
        Err(e) => Err(delta_error(name, e)),
    }
}

/// One data file of a table's snapshot.
#[derive(Debug, Clone)]
pub struct DataFile {
    /// Relative to the warehouse root.
    pub path: String,
    /// As the log names it, relative to the table's folder.
    pub relative: String,
    pub size: u64,
}

/// The files of `table`'s snapshot in the order they were written (the
/// snapshot's own order is not), so a table reads in the order its rows
/// were added, as it did before Delta.
pub fn data_files(table: &DeltaTable, name: &str) -> Result<Vec<DataFile>> {
    let dir = Warehouse::table_dir(name);
    let snapshot = table.snapshot().map_err(|e| delta_error(name, e))?;
    let mut out = Vec::new();
    for file in snapshot.log_data() {
        if file.deletion_vector_descriptor().is_some() {
            return Err(DataFusionError::NotImplemented(format!(
                "table '{name}' has deletion vectors, which quiver's managed tables do not use"
            )));
        }
        let relative = file.object_store_path().to_string();
        let data = DataFile {
            path: format!("{dir}/{relative}"),
            relative,
            size: u64::try_from(file.size()).unwrap_or(0),
        };
        out.push((file.modification_time(), data.path.clone(), data));
    }
    out.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    Ok(out.into_iter().map(|(_, _, data)| data).collect())
}

/// An error naming the first of `files` (of table `name`) that is not in
/// the store, as a read of the table reports it: a statement that reads
/// the files directly (DML) checks first, so that the error names the
/// table and the way out rather than a failed Parquet fetch.
pub async fn check_files_exist(
    warehouse: &Warehouse,
    name: &str,
    files: &[DataFile],
) -> Result<()> {
    use futures::StreamExt;
    // Each check owns what it uses: a future borrowing here would not be
    // Send for every lifetime, as a Flight SQL stream needs.
    let checks: Vec<_> = files
        .iter()
        .map(|file| {
            let store = Arc::clone(warehouse.store());
            let location = warehouse.path(&file.path);
            let relative = file.path.clone();
            async move { (store.head(&location).await, relative) }
        })
        .collect();
    let mut heads = futures::stream::iter(checks).buffered(16);
    while let Some((found, relative)) = heads.next().await {
        match found {
            Ok(_) => {}
            Err(object_store::Error::NotFound { .. }) => {
                return Err(missing_file(name, &warehouse.file_url(&relative)));
            }
            Err(e) => {
                return Err(quiver_engine::store::objects::store_error(
                    format!("table '{name}': {relative}"),
                    e,
                ));
            }
        }
    }
    Ok(())
}

/// The error for table `name` whose log names `url`, a file not there.
pub fn missing_file(name: &str, url: &str) -> DataFusionError {
    DataFusionError::Execution(format!(
        "table '{name}' cannot be read: it names file {url}, which does not exist (removed \
         outside quiver?); RESTORE TABLE {name} TO VERSION AS OF an earlier version whose files \
         are there, or drop the table"
    ))
}

/// The paths of `table`'s snapshot files, relative to the warehouse root,
/// in the order [`data_files`] gives.
pub fn files(table: &DeltaTable, name: &str) -> Result<Vec<String>> {
    Ok(data_files(table, name)?
        .into_iter()
        .map(|f| f.path)
        .collect())
}

/// The Delta schema of `schema`: Delta has one string, one binary and one
/// timestamp type (in UTC or without a zone), so quiver's files keep the
/// exact Arrow types and the log keeps what other engines read.
pub fn delta_schema(table: &str, schema: &Schema) -> Result<StructType> {
    if schema.fields().is_empty() {
        return Err(DataFusionError::Plan(format!(
            "table '{table}' has no columns, and a Delta Lake table needs at least one"
        )));
    }
    // Field by field, so that an error names the column.
    let fields = schema
        .fields()
        .iter()
        .map(|f| {
            let named = f.as_ref().clone().with_data_type(delta_type(f.data_type()));
            (&named).try_into_kernel().map_err(|e| {
                DataFusionError::Plan(format!(
                    "table '{table}': column '{}' is {}, which a Delta Lake table cannot hold \
                     ({e}); cast it to a type Delta has",
                    f.name(),
                    f.data_type()
                ))
            })
        })
        .collect::<Result<Vec<StructField>>>()?;
    StructType::try_new(fields).map_err(|e| DataFusionError::Plan(format!("table '{table}': {e}")))
}

/// The type the Delta log names for `data_type`, at any depth.
fn delta_type(data_type: &DataType) -> DataType {
    let field =
        |f: &Arc<Field>| Arc::new(f.as_ref().clone().with_data_type(delta_type(f.data_type())));
    match data_type {
        DataType::Timestamp(_, Some(_)) => {
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        }
        DataType::Timestamp(_, None) => DataType::Timestamp(TimeUnit::Microsecond, None),
        DataType::RunEndEncoded(_, values) => delta_type(values.data_type()),
        DataType::Dictionary(_, values) => delta_type(values),
        DataType::List(f) => DataType::List(field(f)),
        DataType::LargeList(f) => DataType::LargeList(field(f)),
        DataType::ListView(f) => DataType::ListView(field(f)),
        DataType::LargeListView(f) => DataType::LargeListView(field(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(field(f), *n),
        DataType::Map(f, sorted) => DataType::Map(field(f), *sorted),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(field).collect()),
        other => other.clone(),
    }
}

fn add_action(file: &WrittenFile, data_change: bool) -> Action {
    Action::Add(Add {
        path: file.path.clone(),
        size: file.size as i64,
        modification_time: chrono::Utc::now().timestamp_millis(),
        data_change,
        stats: file.rows.map(|n| format!("{{\"numRecords\":{n}}}")),
        ..Default::default()
    })
}

/// Commits `file` to table `name`: added to its rows, or replacing them
/// (and its schema). `old_layout` are the files of a table of the layout
/// before Delta (relative to the root): an append keeps them, converting the
/// table (with no `file`: converting it alone); a replace leaves them to
/// VACUUM.
pub async fn commit(
    warehouse: &Warehouse,
    name: &str,
    file: Option<&WrittenFile>,
    mode: WriteMode,
    schema: &Schema,
    old_layout: &[String],
) -> Result<()> {
    let store = log_store(warehouse, name)?;
    let dir = format!("{}/", Warehouse::table_dir(name));
    for attempt in 1..=COMMIT_ATTEMPTS {
        let mut table = DeltaTable::new(Arc::clone(&store));
        let existing = match table.load().await {
            Ok(()) => true,
            Err(DeltaTableError::NotATable(_)) => false,
            Err(e) => return Err(delta_error(name, e)),
        };
        let result = match (existing, mode) {
            (true, WriteMode::Append) => {
                let snapshot = table.snapshot().map_err(|e| delta_error(name, e))?;
                // With the post-commit hook: a checkpoint every 100
                // versions, so opening the table stays quick.
                CommitBuilder::from(CommitProperties::default())
                    .with_actions(file.map(|f| add_action(f, true)).into_iter().collect())
                    .build(
                        Some(snapshot as &dyn TableReference),
                        Arc::clone(&store),
                        DeltaOperation::Write {
                            mode: SaveMode::Append,
                            partition_by: None,
                            predicate: None,
                        },
                    )
                    .await
                    .map(|_| ())
            }
            _ => {
                // A new table, a converted one, or one replaced: its schema
                // and, for a replace, the removal of every current file.
                let mut actions: Vec<Action> =
                    file.map(|f| add_action(f, true)).into_iter().collect();
                if mode == WriteMode::Append {
                    for old in old_layout {
                        let relative = old.strip_prefix(&dir).unwrap_or(old);
                        let size = warehouse
                            .store()
                            .head(&warehouse.path(old))
                            .await
                            .map_err(|e| {
                                quiver_engine::store::objects::store_error(
                                    format!("table '{name}': reading {old}"),
                                    e,
                                )
                            })?
                            .size;
                        actions.push(add_action(
                            &WrittenFile {
                                path: relative.to_string(),
                                size,
                                rows: None,
                            },
                            true,
                        ));
                    }
                }
                let columns = delta_schema(name, schema)?;
                // No retry inside deltalake: it would commit a create that
                // lost the race for version 0 on top of the winner, and a
                // replace on top of a commit since its snapshot, without
                // removing their files (two `CREATE OR REPLACE`s at once
                // left both writers' rows). The loop here reloads instead.
                table
                    .create()
                    .with_commit_properties(CommitProperties::default().with_max_retries(0))
                    .with_log_store(Arc::clone(&store))
                    .with_table_name(name)
                    .with_columns(columns.fields().cloned())
                    .with_save_mode(SaveMode::Overwrite)
                    .with_actions(actions)
                    .await
                    .map(|_| ())
            }
        };
        match result {
            Ok(()) => return Ok(()),
            Err(DeltaTableError::VersionAlreadyExists(_) | DeltaTableError::Transaction { .. })
                if attempt < COMMIT_ATTEMPTS =>
            {
                continue;
            }
            Err(e) => return Err(delta_error(name, e)),
        }
    }
    Err(DataFusionError::Execution(format!(
        "table '{name}': the write could not be committed after {COMMIT_ATTEMPTS} attempts, \
         other writers kept committing first"
    )))
}

/// Commits a change that `table`'s snapshot was read for: `removed` files
/// leave the table, `added` joins it. `Ok(false)` when another writer's
/// commit since that snapshot conflicts with it (removed a file it read,
/// or changed the schema): nothing was committed, and the statement must
/// be run again on the newer snapshot.
pub async fn commit_change(
    name: &str,
    table: &DeltaTable,
    removed: &[DataFile],
    added: Option<&WrittenFile>,
    operation: DeltaOperation,
) -> Result<bool> {
    commit_files(name, table, removed, added, operation, None).await
}

/// Commits a rewrite of every file of `table`'s snapshot into `added`,
/// with the columns `schema` (`ALTER TABLE ... ADD / DROP COLUMN`).
/// `Ok(false)` when any other commit landed since that snapshot: a write
/// of the old columns must not slip in under the new.
pub async fn commit_new_schema(
    name: &str,
    table: &DeltaTable,
    removed: &[DataFile],
    added: &WrittenFile,
    schema: &Schema,
) -> Result<bool> {
    let operation = DeltaOperation::Write {
        mode: SaveMode::Overwrite,
        partition_by: None,
        predicate: None,
    };
    commit_files(name, table, removed, Some(added), operation, Some(schema)).await
}

/// Commits a compaction of `removed` into `added`, the same rows: its
/// files are marked as no change of data, so appends by other writers do
/// not conflict with it. `Ok(false)` as [`commit_change`].
pub async fn commit_compaction(
    name: &str,
    table: &DeltaTable,
    removed: &[DataFile],
    added: &WrittenFile,
) -> Result<bool> {
    let operation = DeltaOperation::Optimize {
        predicate: None,
        target_size: i64::try_from(added.size).unwrap_or(i64::MAX),
    };
    commit_files(name, table, removed, Some(added), operation, None).await
}

async fn commit_files(
    name: &str,
    table: &DeltaTable,
    removed: &[DataFile],
    added: Option<&WrittenFile>,
    operation: DeltaOperation,
    schema: Option<&Schema>,
) -> Result<bool> {
    let snapshot = table.snapshot().map_err(|e| delta_error(name, e))?;
    let now = chrono::Utc::now().timestamp_millis();
    // A compaction moves rows without changing them.
    let data_change = operation.changes_data();
    let mut actions: Vec<Action> = removed
        .iter()
        .map(|f| {
            Action::Remove(Remove {
                path: f.relative.clone(),
                data_change,
                deletion_timestamp: Some(now),
                extended_file_metadata: Some(true),
                size: i64::try_from(f.size).ok(),
                ..Default::default()
            })
        })
        .collect();
    actions.extend(added.map(|f| add_action(f, data_change)));
    let mut properties = CommitProperties::default();
    if let Some(schema) = schema {
        let metadata = snapshot
            .metadata()
            .clone()
            .with_schema(&delta_schema(name, schema)?)
            .map_err(|e| DataFusionError::Execution(format!("table '{name}': {e}")))?;
        actions.push(Action::Metadata(metadata));
        // No conflict resolution: any commit since the snapshot fails this
        // one, and the statement runs again.
        properties = properties.with_max_retries(0);
    }
    let result = CommitBuilder::from(properties)
        .with_actions(actions)
        .build(
            Some(snapshot as &dyn TableReference),
            table.log_store(),
            operation,
        )
        .await;
    match result {
        Ok(_) => Ok(true),
        Err(
            DeltaTableError::VersionAlreadyExists(_)
            | DeltaTableError::Transaction {
                source:
                    TransactionError::CommitConflict(_)
                    | TransactionError::MaxCommitAttempts(_)
                    | TransactionError::VersionAlreadyExists(_),
            },
        ) => Ok(false),
        Err(e) => Err(delta_error(name, e)),
    }
}

/// The newest version of table `name`, starting the search at `from`;
/// `None` when it is not a Delta table.
pub async fn latest_version(warehouse: &Warehouse, name: &str, from: i64) -> Result<Option<i64>> {
    let store = log_store(warehouse, name)?;
    match store.get_latest_version(from.max(0) as u64).await {
        Ok(v) => Ok(Some(v as i64)),
        Err(DeltaTableError::NotATable(_) | DeltaTableError::InvalidVersion(_)) => Ok(None),
        Err(e) => Err(delta_error(name, e)),
    }
}

/// Every file of table `name`'s folder that VACUUM may remove: not in the
/// newest snapshot, not in the log, and not removed more recently than
/// `cutoff` (a reader of an older version may still read it).
pub async fn unreferenced(
    warehouse: &Warehouse,
    name: &str,
    cutoff: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<String>> {
    let Some(table) = load(warehouse, name).await? else {
        return Ok(Vec::new());
    };
    let dir = Warehouse::table_dir(name);
    let snapshot = table.snapshot().map_err(|e| delta_error(name, e))?;
    let mut keep: std::collections::HashSet<String> = snapshot
        .log_data()
        .into_iter()
        .map(|f| format!("{dir}/{}", f.object_store_path()))
        .collect();
    let cutoff_ms = cutoff.timestamp_millis();
    let log = table.log_store();
    let tombstones: Vec<_> = snapshot
        .all_tombstones(log.as_ref())
        .try_collect()
        .await
        .map_err(|e| delta_error(name, e))?;
    for t in tombstones {
        if t.deletion_timestamp().unwrap_or(0) > cutoff_ms {
            keep.insert(format!("{dir}/{}", t.path()));
        }
    }
    let listed =
        quiver_engine::store::objects::list_all(warehouse.store().as_ref(), &warehouse.path(&dir))
            .await?;
    let root = warehouse.path("");
    Ok(listed
        .into_iter()
        .filter(|meta| meta.last_modified < cutoff)
        .filter_map(|meta| {
            let relative: String = meta
                .location
                .prefix_match(&root)?
                .map(|p| p.as_ref().to_string())
                .collect::<Vec<_>>()
                .join("/");
            let in_log = relative.starts_with(&format!("{dir}/_delta_log/"));
            (!in_log && !keep.contains(&relative)).then_some(relative)
        })
        .collect())
}

/// One commit of a table's history, as its log entry's `commitInfo` says.
#[derive(Debug, Clone)]
pub struct Commit {
    pub version: i64,
    /// Milliseconds since the epoch.
    pub timestamp: Option<i64>,
    pub operation: Option<String>,
    /// The operation's parameters, as a JSON object.
    pub parameters: Option<String>,
}

/// The newest `limit` commits of table `name`, newest first; commits whose
/// log entry is gone (log retention, after a checkpoint) are left out.
pub async fn history(warehouse: &Warehouse, name: &str, limit: usize) -> Result<Vec<Commit>> {
    let store = log_store(warehouse, name)?;
    let Some(latest) = latest_version(warehouse, name, 0).await? else {
        return Err(DataFusionError::Plan(format!(
            "table '{name}' has no Delta log, so no history"
        )));
    };
    let mut out = Vec::new();
    let mut version = latest;
    while version >= 0 && out.len() < limit {
        if let Some(bytes) = store
            .read_commit_entry(version as u64)
            .await
            .map_err(|e| delta_error(name, e))?
        {
            let mut commit = Commit {
                version,
                timestamp: None,
                operation: None,
                parameters: None,
            };
            for line in bytes.split(|b| *b == b'\n') {
                let Ok(action) = serde_json::from_slice::<serde_json::Value>(line) else {
                    continue;
                };
                if let Some(info) = action.get("commitInfo") {
                    commit.timestamp = info.get("timestamp").and_then(|t| t.as_i64());
                    commit.operation = info
                        .get("operation")
                        .and_then(|o| o.as_str())
                        .map(str::to_string);
                    commit.parameters = info.get("operationParameters").map(|p| p.to_string());
                }
            }
            out.push(commit);
        }
        version -= 1;
    }
    Ok(out)
}

/// Table `name` as it was at `version`, or at the newest version committed
/// at or before `at`.
pub async fn load_as_of(
    warehouse: &Warehouse,
    name: &str,
    version: Option<i64>,
    at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<DeltaTable> {
    let version = resolve_version(warehouse, name, version, at).await?;
    let mut table = DeltaTable::new(log_store(warehouse, name)?);
    table
        .load_version(version as u64)
        .await
        .map_err(|e| delta_error(name, e))?;
    Ok(table)
}

/// The version `version` or `at` names, checked to exist: a version from 0
/// to the newest, or the newest committed at or before `at`.
async fn resolve_version(
    warehouse: &Warehouse,
    name: &str,
    version: Option<i64>,
    at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<i64> {
    let Some(latest) = latest_version(warehouse, name, 0).await? else {
        return Err(DataFusionError::Plan(format!(
            "table '{name}' has no Delta log, so no versions"
        )));
    };
    match (version, at) {
        (Some(v), _) if (0..=latest).contains(&v) => Ok(v),
        (Some(v), _) => Err(DataFusionError::Plan(format!(
            "table '{name}' has no version {v} (its versions are 0 to {latest})"
        ))),
        (None, Some(at)) => {
            let commits = history(warehouse, name, usize::MAX).await?;
            commits
                .iter()
                .find(|c| c.timestamp.is_some_and(|t| t <= at.timestamp_millis()))
                .map(|c| c.version)
                .ok_or_else(|| {
                    DataFusionError::Plan(format!(
                        "table '{name}' has no version at or before {at} (its oldest kept is \
                         from {})",
                        commits
                            .last()
                            .and_then(|c| c.timestamp)
                            .and_then(chrono::DateTime::from_timestamp_millis)
                            .map(|t| t.to_string())
                            .unwrap_or_else(|| "an unknown time".into())
                    ))
                })
        }
        (None, None) => Ok(latest),
    }
}

/// Restores table `name` to `version` (or the version current at `at`):
/// one commit that removes the files added since and adds back those
/// removed since. Returns the files removed and added back.
pub async fn restore(
    warehouse: &Warehouse,
    name: &str,
    version: Option<i64>,
    at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(u64, u64)> {
    let table = load(warehouse, name)
        .await?
        .ok_or_else(|| DataFusionError::Plan(format!("table '{name}' has no Delta log")))?;
    let version = resolve_version(warehouse, name, version, at).await?;
    let builder = table.restore().with_version_to_restore(version as u64);
    let (_, metrics) = builder.await.map_err(|e| delta_error(name, e))?;
    Ok((
        metrics.num_removed_file as u64,
        metrics.num_restored_file as u64,
    ))
}
