//! `CREATE EXTERNAL TABLE t STORED AS DELTA LOCATION '...'` (#24): a Delta
//! Lake table another tool wrote, on any store quiver reaches (a local
//! folder, `s3://`, ...). Its columns and partition columns are its log's;
//! each query reads the newest version, so what other writers commit is
//! seen at the next query.
//!
//! The files of the snapshot are scanned as plain Parquet, as quiver's own
//! tables are ([`super::delta`]), with each file's partition values from
//! the log. That keeps quiver's scan (pruning, TABLESAMPLE SYSTEM, top-k)
//! and plans that need no Delta code to run. Deletion vectors (rows a
//! writer deleted without rewriting their file) become a Parquet access
//! plan that skips those rows ([`super::deletion_vectors`]). Column
//! mapping (file columns named apart from the table's) is not read yet and
//! is refused with an error naming the table rather than read wrongly.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, FieldRef, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProviderFactory};
use datafusion::common::{DataFusionError, Result, ScalarValue, not_impl_err, plan_err};
use datafusion::datasource::TableProvider;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::datasource::listing::{ListingTableUrl, PartitionedFile};
use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::{CreateExternalTable, Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use deltalake_core::DeltaTable;
use deltalake_core::kernel::engine::arrow_conversion::TryIntoArrow;
use deltalake_core::logstore::LogStoreRef;
use object_store::ObjectStore;
use object_store::path::Path;
use quiver_engine::parquet::nan_safe::NanSafeParquetFormatFactory;

use super::deletion_vectors::{access_plan, deleted_rows};
use super::delta::log_store_at;
use super::rows::FileScan;

/// The file type `STORED AS DELTA` names.
pub const FILE_TYPE: &str = "DELTA";

/// Opens `STORED AS DELTA` tables; registered in every session.
#[derive(Debug, Default)]
pub struct DeltaTableFactory;

#[async_trait]
impl TableProviderFactory for DeltaTableFactory {
    async fn create(
        &self,
        state: &dyn Session,
        cmd: &CreateExternalTable,
    ) -> Result<Arc<dyn TableProvider>> {
        let [location] = cmd.locations.as_slice() else {
            return plan_err!("a Delta table has one LOCATION, its folder");
        };
        let what = format!("Delta table at '{location}'");
        if !cmd.schema.fields().is_empty() {
            return plan_err!(
                "{what}: its columns are its log's; leave the column list out of \
                 CREATE EXTERNAL TABLE ... STORED AS DELTA"
            );
        }
        if !cmd.table_partition_cols.is_empty() {
            return plan_err!(
                "{what}: its partition columns are its log's; leave PARTITIONED BY out"
            );
        }
        if let Some(option) = cmd.options.keys().next() {
            return plan_err!(
                "{what}: unknown option '{option}' (a Delta table takes only the store's \
                 aws.*, gcp.* and azure.* options)"
            );
        }
        let url = ListingTableUrl::parse(location)?;
        let store = state.runtime_env().object_store(&url)?;
        let mut root = url.as_str().to_string();
        if !root.ends_with('/') {
            root.push('/');
        }
        let root_url =
            url::Url::parse(&root).map_err(|e| DataFusionError::Plan(format!("{what}: {e}")))?;
        let log = log_store_at(store, root_url.clone(), &what)?;
        let table = ExternalDelta::open(what, log, url, root_url).await?;
        Ok(Arc::new(table))
    }
}

/// An external Delta table: its columns as its log declared them when the
/// table was opened, the data columns first and the partition columns
/// after them (as DataFusion orders a partitioned table's columns).
#[derive(Debug)]
pub struct ExternalDelta {
    what: String,
    log: LogStoreRef,
    store: ObjectStoreUrl,
    /// The table's folder in its store, and its URL.
    root: Path,
    root_url: url::Url,
    file_schema: SchemaRef,
    partitions: Vec<FieldRef>,
    schema: SchemaRef,
}

impl ExternalDelta {
    async fn open(
        what: String,
        log: LogStoreRef,
        url: ListingTableUrl,
        root_url: url::Url,
    ) -> Result<Self> {
        let table = load(&what, &log).await?;
        let snapshot = table
            .snapshot()
            .map_err(|e| DataFusionError::Execution(format!("{what}: {e}")))?;
        let mapping = snapshot
            .metadata()
            .configuration()
            .get("delta.columnMapping.mode");
        if mapping.is_some_and(|m| !m.eq_ignore_ascii_case("none")) {
            return not_impl_err!(
                "{what}: it uses column mapping (its files name columns apart from the table), \
                 which quiver does not read yet"
            );
        }
        let partition_columns = snapshot.metadata().partition_columns().to_vec();
        let logical = snapshot
            .schema()
            .as_ref()
            .try_into_arrow()
            .map_err(|e| DataFusionError::Execution(format!("{what}: its schema: {e}")));
        let logical: Schema = logical?;
        let mut files = Vec::new();
        let mut partitions = Vec::new();
        for field in logical.fields() {
            if partition_columns.contains(field.name()) {
                continue;
            }
            files.push(Arc::clone(field));
        }
        for column in &partition_columns {
            let field = logical.field_with_name(column).map_err(|_| {
                DataFusionError::Execution(format!(
                    "{what}: partition column '{column}' is not one of its columns"
                ))
            })?;
            partitions.push(Arc::new(field.clone()));
        }
        let file_schema = Arc::new(Schema::new(files.clone()));
        let schema = Arc::new(Schema::new(
            files
                .into_iter()
                .chain(partitions.iter().cloned())
                .collect::<Vec<_>>(),
        ));
        let store = url.object_store();
        Ok(Self {
            what,
            log,
            store,
            root: url.prefix().clone(),
            root_url: root_url.clone(),
            file_schema,
            partitions,
            schema,
        })
    }

    /// The table at folder `root` (a URL ending in `/`) as a cluster's
    /// scheduler gets it from a client's plan: of the client's columns
    /// `schema`, partitioned by `partition_columns`. Each scan reads the
    /// newest version, as the client's would.
    pub fn shipped(
        root: &str,
        partition_columns: &[String],
        schema: SchemaRef,
        runtime: &Arc<RuntimeEnv>,
    ) -> Result<Self> {
        let what = format!("Delta table at '{root}'");
        let url = ListingTableUrl::parse(root)?;
        let root_url =
            url::Url::parse(root).map_err(|e| DataFusionError::Plan(format!("{what}: {e}")))?;
        let store = runtime.object_store(&url)?;
        let log = log_store_at(store, root_url.clone(), &what)?;
        let mut files = Vec::new();
        let mut partitions = Vec::new();
        for field in schema.fields() {
            if partition_columns.contains(field.name()) {
                partitions.push(Arc::clone(field));
            } else {
                files.push(Arc::clone(field));
            }
        }
        Ok(Self {
            what,
            log,
            store: url.object_store(),
            root: url.prefix().clone(),
            root_url,
            file_schema: Arc::new(Schema::new(files)),
            partitions,
            schema,
        })
    }

    /// The table's folder, ending in `/`.
    pub fn root_url(&self) -> &url::Url {
        &self.root_url
    }

    /// The names of its partition columns, in order.
    pub fn partition_names(&self) -> Vec<String> {
        self.partitions.iter().map(|f| f.name().clone()).collect()
    }

    /// The newest snapshot's files, each with its partition values and,
    /// for a file with a deletion vector, the access plan that skips the
    /// rows it deletes.
    async fn files(&self, store: Arc<dyn ObjectStore>) -> Result<Vec<PartitionedFile>> {
        let table = load(&self.what, &self.log).await?;
        let snapshot = table
            .snapshot()
            .map_err(|e| DataFusionError::Execution(format!("{}: {e}", self.what)))?;
        let mut out = Vec::new();
        // What the scan needs of each file, taken before any await (the
        // log's iterator is not Send).
        let listed: Vec<_> = snapshot
            .log_data()
            .into_iter()
            .map(|file| {
                (
                    file.path().into_owned(),
                    file.object_store_path(),
                    file.size(),
                    file.partition_values_map(),
                    file.deletion_vector_descriptor(),
                )
            })
            .collect();
        for (path, relative, size, values, dv) in listed {
            if path.contains("://") {
                return not_impl_err!(
                    "{}: file {path} is outside the table's folder (a shallow clone), which \
                     quiver does not read",
                    self.what
                );
            }
            let mut location = self.root.clone();
            for part in relative.parts() {
                location = location.join(part);
            }
            let mut scanned = PartitionedFile::new(String::new(), size.max(0) as u64);
            scanned.object_meta.location = location;
            if let Some(dv) = dv {
                // The rows the writer deleted, skipped by the Parquet scan
                // (row groups wholly deleted are not read at all).
                let what = format!("{}: file {path}", self.what);
                let deleted =
                    deleted_rows(store.as_ref(), &self.root, &self.root_url, &dv, &what).await?;
                let metadata = DFParquetMetadata::new(store.as_ref(), &scanned.object_meta)
                    .fetch_metadata()
                    .await?;
                let rows: Vec<usize> = metadata
                    .row_groups()
                    .iter()
                    .map(|g| g.num_rows().max(0) as usize)
                    .collect();
                scanned = scanned.with_extension(access_plan(&deleted, &rows, &what)?);
            }
            scanned.partition_values = self
                .partitions
                .iter()
                .map(|field| partition_value(&self.what, field, values.get(field.name())))
                .collect::<Result<_>>()?;
            out.push(scanned);
        }
        Ok(out)
    }
}

async fn load(what: &str, log: &LogStoreRef) -> Result<DeltaTable> {
    let mut table = DeltaTable::new(Arc::clone(log));
    match table.load().await {
        Ok(()) => Ok(table),
        Err(deltalake_core::DeltaTableError::NotATable(_)) => {
            plan_err!("{what}: no Delta table there (no _delta_log folder with a commit)")
        }
        Err(e) => Err(DataFusionError::Execution(format!("{what}: {e}"))),
    }
}

/// A partition value as the log writes it (text; a missing or null value
/// is NULL, as is an empty one for a type other than a string), of the
/// column's type.
fn partition_value(
    what: &str,
    field: &FieldRef,
    value: Option<&Option<String>>,
) -> Result<ScalarValue> {
    let data_type = field.data_type();
    match value.and_then(|v| v.as_deref()) {
        None => ScalarValue::try_from(data_type),
        Some("") if !matches!(data_type, DataType::Utf8 | DataType::LargeUtf8) => {
            ScalarValue::try_from(data_type)
        }
        Some(text) => ScalarValue::try_from_string(text.to_string(), data_type).map_err(|e| {
            DataFusionError::Execution(format!(
                "{what}: partition value '{text}' of column '{}' is not a {data_type}: {}",
                field.name(),
                e.strip_backtrace()
            ))
        }),
    }
}

#[async_trait]
impl TableProvider for ExternalDelta {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let store = state.runtime_env().object_store(&self.store)?;
        let files = self.files(store).await?;
        let format =
            <NanSafeParquetFormatFactory as Default>::default().create(state, &HashMap::new())?;
        let scan = FileScan {
            format,
            store: self.store.clone(),
            schema: TableSchema::builder(Arc::clone(&self.file_schema))
                .with_table_partition_cols(self.partitions.clone())
                .build(),
            output: Arc::clone(&self.schema),
        };
        scan.plan(state, files, projection, limit).await
    }

    /// Filters stay above the scan, which prunes files, row groups and
    /// pages with them once DataFusion pushes them into the Parquet reader.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }
}
