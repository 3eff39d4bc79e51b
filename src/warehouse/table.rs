//! A table quiver wrote: a `ListingTable` over exactly the Parquet files its
//! catalog entry lists, and the sink that writes new files and publishes them
//! (`CREATE TABLE ... AS`, `INSERT INTO`, `INSERT OVERWRITE`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::config::ParquetOptions;
use datafusion::common::hash_utils::{RandomState, create_hashes};
use datafusion::common::{
    Constraint, Constraints, DFSchema, DFSchemaRef, DataFusionError, Result, SchemaExt,
    not_impl_err,
};
use datafusion::datasource::TableProvider;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::sink::{DataSink, DataSinkExec};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::SessionState;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::dml::{InsertOp, MergeIntoClause};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::parquet::arrow::ArrowSchemaConverter;
use datafusion::parquet::arrow::AsyncArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::schema::types::ColumnPath;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan};
use futures::StreamExt;
use object_store::ObjectStoreExt;
use quiver_engine::functions::vector::vector_element;
use quiver_engine::parquet::nan_safe::{NanFreeColumns, NanSafeParquetFormatFactory};
use quiver_engine::store::objects::{RemoveOnDrop, store_error};

use super::delta::{DataFile, WrittenFile};
use super::rows::{FileRows, RowFile};
use super::{Declared, Key, Warehouse, WriteMode};

/// A warehouse table: reads go to the listed files, writes through
/// [`TableSink`].
#[derive(Debug)]
pub struct WarehouseTable {
    name: String,
    warehouse: Arc<Warehouse>,
    inner: ListingTable,
    defaults: HashMap<String, Expr>,
    constraints: Constraints,
}

impl WarehouseTable {
    /// Opens table `name` over `files` (relative to the warehouse root). The
    /// schema is read from the first file's footer, with the Arrow types it
    /// was written with; every file of a table is written with the table's
    /// schema. `declared` is what its CREATE declared (defaults, keys, and
    /// the types of run-end encoded columns).
    pub async fn open(
        state: &SessionState,
        warehouse: Arc<Warehouse>,
        name: &str,
        files: &[String],
        declared: &Declared,
    ) -> Result<Self> {
        // The format under the session's Parquet settings (`SET
        // datafusion.execution.parquet.pushdown_filters = true`, ...).
        let factory = <NanSafeParquetFormatFactory as Default>::default();
        let format = factory.create(state, &HashMap::new())?;
        let options = ListingOptions::new(format).with_file_extension(".parquet");
        let urls = files
            .iter()
            .map(|f| ListingTableUrl::parse(warehouse.file_url(f)))
            .collect::<Result<Vec<_>>>()?;
        let Some(first) = urls.first() else {
            return Err(DataFusionError::Internal(format!(
                "table '{name}' has no files in its catalog entry"
            )));
        };
        // The types the table was written with, as its files' Arrow schema
        // keeps them (`Utf8` stays `Utf8`, a dictionary stays one): not
        // turned into view types as a Parquet file of unknown origin is.
        let mut written = state.clone();
        let parquet = &mut written.config_mut().options_mut().execution.parquet;
        parquet.schema_force_view_types = false;
        parquet.binary_as_string = false;
        let as_written = ListingOptions::new(factory.create(&written, &HashMap::new())?)
            .with_file_extension(".parquet");
        let schema = ListingTableConfig::new(first.clone())
            .with_listing_options(as_written)
            .infer_schema(&written)
            .await
            .map_err(|e| {
                DataFusionError::Execution(format!(
                    "table '{name}' cannot be loaded: file {}: {}",
                    warehouse.file_url(&files[0]),
                    e.strip_backtrace()
                ))
            })?
            .file_schema
            .ok_or_else(|| DataFusionError::Internal(format!("no schema for table '{name}'")))?;
        let schema = with_declared_types(name, schema, &declared.types)?;
        let columns = DFSchema::try_from(Arc::clone(&schema))?;
        let constraints = constraints(name, &declared.keys, &columns)?;
        let defaults = declared
            .defaults
            .iter()
            .map(|(column, sql)| {
                let expr = state.create_logical_expr(sql, &columns).map_err(|e| {
                    DataFusionError::Execution(format!(
                        "table '{name}': the default of column '{column}' ({sql}) cannot be \
                         planned: {}",
                        e.strip_backtrace()
                    ))
                })?;
                Ok((column.clone(), expr))
            })
            .collect::<Result<_>>()?;
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options)
            .with_schema(schema);
        Ok(Self {
            name: name.to_string(),
            warehouse,
            inner: ListingTable::try_new(config)?,
            defaults,
            constraints,
        })
    }
}

impl WarehouseTable {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URLs of the files this table reads: the snapshot it was opened
    /// at.
    pub fn file_urls(&self) -> Vec<String> {
        self.inner
            .table_paths()
            .iter()
            .map(|url| url.as_str().to_string())
            .collect()
    }

    /// `files` of this table scanned with where each row lives (see
    /// [`FileRows`]).
    pub fn rows(&self, files: &[DataFile], row_numbers: bool) -> Result<FileRows> {
        let files = files
            .iter()
            .map(|f| RowFile {
                location: self.warehouse.path(&f.path),
                size: f.size,
            })
            .collect();
        FileRows::try_new(
            &self.name,
            self.schema(),
            Arc::clone(&self.inner.options().format),
            self.warehouse.object_store_url()?,
            files,
            row_numbers,
        )
    }
}

impl WarehouseTable {
    /// An error naming a file of the table that `plan` (its scan) does not
    /// read: a file the table's log or entry names that is missing.
    fn check_every_file_scanned(&self, plan: &Arc<dyn ExecutionPlan>) -> Result<()> {
        let mut scanned: HashSet<String> = HashSet::new();
        if let Some(config) = plan
            .downcast_ref::<DataSourceExec>()
            .and_then(|exec| exec.data_source().downcast_ref::<FileScanConfig>())
        {
            for group in &config.file_groups {
                for file in group.files() {
                    scanned.insert(file.object_meta.location.to_string());
                }
            }
        } else if plan.downcast_ref::<EmptyExec>().is_none() {
            // A plan of another shape: nothing to check it against.
            return Ok(());
        }
        let missing = self
            .inner
            .table_paths()
            .iter()
            .find(|url| !scanned.contains(url.prefix().as_ref()));
        match missing {
            Some(url) => Err(super::delta::missing_file(&self.name, url.as_str())),
            None => Ok(()),
        }
    }
}

/// `schema` with the types a table's entry keeps for columns whose files
/// cannot say them (run-end encoded columns, stored decoded): the scan
/// casts what it reads to them.
fn with_declared_types(
    name: &str,
    schema: SchemaRef,
    types: &BTreeMap<String, String>,
) -> Result<SchemaRef> {
    if types.is_empty() {
        return Ok(schema);
    }
    let fields = schema
        .fields()
        .iter()
        .map(|field| match types.get(field.name()) {
            Some(text) => {
                let declared = DataType::from_str(text).map_err(|e| {
                    DataFusionError::Execution(format!(
                        "table '{name}' cannot be loaded: the type of column '{}' ({text}) in \
                         its entry cannot be read: {e}",
                        field.name()
                    ))
                })?;
                Ok(Arc::new(field.as_ref().clone().with_data_type(declared)))
            }
            None => Ok(Arc::clone(field)),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(Schema::new_with_metadata(
        fields,
        schema.metadata().clone(),
    )))
}

/// The keys a table declared, as DataFusion's constraints over the
/// positions of its columns; a key naming a column the table does not have
/// is an error (its entry does not match its files).
fn constraints(name: &str, keys: &[Key], columns: &DFSchema) -> Result<Constraints> {
    let positions = |key_columns: &[String]| {
        key_columns
            .iter()
            .map(|c| {
                columns.index_of_column_by_name(None, c).ok_or_else(|| {
                    DataFusionError::Execution(format!(
                        "table '{name}' cannot be loaded: its key names column '{c}', which \
                         its files do not have"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()
    };
    let constraints = keys
        .iter()
        .map(|key| match key {
            Key::PrimaryKey { columns } => positions(columns).map(Constraint::PrimaryKey),
            Key::Unique { columns } => positions(columns).map(Constraint::Unique),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Constraints::new_unverified(constraints))
}

#[async_trait]
impl TableProvider for WarehouseTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn get_column_default(&self, column: &str) -> Option<&Expr> {
        self.defaults.get(column)
    }

    fn constraints(&self) -> Option<&Constraints> {
        Some(&self.constraints)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = self.inner.scan(state, projection, filters, limit).await?;
        // A listing of one file that is gone lists nothing, and the scan
        // would read the table without it. Without a LIMIT (which may stop
        // the listing early) every file must be there.
        if limit.is_none() {
            self.check_every_file_scanned(&plan)?;
        }
        Ok(plan)
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    /// DML on a warehouse table is run by quiver's session
    /// ([`crate::statement::dml`]), which reads the whole statement;
    /// DataFusion's physical planner would pass this only the filters it
    /// can extract, so it refuses.
    async fn delete_from(
        &self,
        _state: &dyn Session,
        _filters: Vec<Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        dml_refused("DELETE", &self.name)
    }

    async fn update(
        &self,
        _state: &dyn Session,
        _assignments: Vec<(String, Expr)>,
        _filters: Vec<Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        dml_refused("UPDATE", &self.name)
    }

    async fn truncate(&self, _state: &dyn Session) -> Result<Arc<dyn ExecutionPlan>> {
        dml_refused("TRUNCATE", &self.name)
    }

    async fn merge_into(
        &self,
        _state: &dyn Session,
        _source: Arc<dyn ExecutionPlan>,
        _merge_schema: DFSchemaRef,
        _on: Expr,
        _clauses: Vec<MergeIntoClause>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        dml_refused("MERGE INTO", &self.name)
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.schema()
            .logically_equivalent_names_and_types(&input.schema())?;
        let mode = match insert_op {
            InsertOp::Append => WriteMode::Append,
            InsertOp::Overwrite => WriteMode::Replace,
            InsertOp::Replace => return not_impl_err!("INSERT OR REPLACE is not supported"),
        };
        let sink = TableSink::new(Arc::clone(&self.warehouse), &self.name, self.schema(), mode);
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }
}

fn dml_refused(what: &str, name: &str) -> Result<Arc<dyn ExecutionPlan>> {
    not_impl_err!(
        "{what} on table '{name}' runs through a quiver session, which plans it as a whole; \
         DataFusion's physical plan of it (as EXPLAIN shows) cannot"
    )
}

/// Writes a stream of batches as a new Parquet file of a table and publishes
/// it. Nothing is visible until the whole stream has been written.
#[derive(Debug)]
pub struct TableSink {
    warehouse: Arc<Warehouse>,
    name: String,
    schema: SchemaRef,
    mode: WriteMode,
    /// What a table being created declares (see
    /// [`Warehouse::publish_table`]).
    declared: Option<Declared>,
}

impl TableSink {
    pub fn new(warehouse: Arc<Warehouse>, name: &str, schema: SchemaRef, mode: WriteMode) -> Self {
        Self {
            warehouse,
            name: name.to_string(),
            schema,
            mode,
            declared: None,
        }
    }

    /// The sink of a table being created with what it declares.
    pub fn with_declared(mut self, declared: Declared) -> Self {
        self.declared = Some(declared);
        self
    }
}

/// A file written under a table's folder and not yet committed: removed
/// when dropped (a statement cancelled, or its commit known not to have
/// landed) unless [`Unpublished::keep`] is called.
pub struct Unpublished {
    pub file: WrittenFile,
    folder: RemoveOnDrop,
}

impl Unpublished {
    /// The file, kept from now on whatever happens to its commit (which may
    /// land even when it reports an error; VACUUM removes it otherwise).
    pub fn keep(self) -> WrittenFile {
        self.folder.disarm();
        self.file
    }

    /// Removes the file now (its commit did not land).
    pub async fn remove(self) -> Result<()> {
        self.folder.remove().await
    }

    /// Settles the file by what became of its commit: kept when it landed
    /// (`Ok(true)`) or may have (an error, the file left to VACUUM),
    /// removed when it surely did not (`Ok(false)`: a conflict, and the
    /// statement runs again). Returns the commit's answer.
    pub async fn settle(file: Option<Self>, committed: Result<bool>) -> Result<bool> {
        match (file, committed) {
            (Some(file), Ok(false)) => {
                file.remove().await?;
                Ok(false)
            }
            (Some(file), other) => {
                file.keep();
                other
            }
            (None, other) => other,
        }
    }
}

/// Writes `data` (of `schema`, the table's) as a new Parquet file in a
/// fresh folder of table `name`, with quiver's Parquet settings.
pub async fn write_file(
    warehouse: &Warehouse,
    name: &str,
    schema: &SchemaRef,
    data: SendableRecordBatchStream,
    options: &ParquetOptions,
) -> Result<Unpublished> {
    let dir = warehouse.new_write_dir(name);
    let file = format!("{dir}/part-0.parquet");
    // A statement dropped mid-write (cancelled, timed out, its client
    // gone) removes what it wrote; its upload is aborted by the store.
    let folder = RemoveOnDrop::new(Arc::clone(warehouse.store()), warehouse.path(&dir));
    let rows = match write_parquet(warehouse, schema, data, &file, options).await {
        Ok(rows) => rows,
        Err(e) => {
            // Nothing was published; remove what was written so far.
            let _ = folder.remove().await;
            return Err(e);
        }
    };
    let size = warehouse
        .store()
        .head(&warehouse.path(&file))
        .await
        .map_err(|e| store_error(format!("table '{name}': {file}"), e))?
        .size;
    let table_dir = format!("{}/", Warehouse::table_dir(name));
    Ok(Unpublished {
        file: WrittenFile {
            path: file.strip_prefix(&table_dir).unwrap_or(&file).to_string(),
            size,
            rows: Some(rows),
        },
        folder,
    })
}

/// Writes `data` to `file` in row groups and pages of the sizes the
/// session's `datafusion.execution.parquet` options set
/// (`max_row_group_size`, `data_page_row_count_limit`, checked every
/// `write_batch_size` rows), with a page index.
async fn write_parquet(
    warehouse: &Warehouse,
    schema: &SchemaRef,
    mut data: SendableRecordBatchStream,
    file: &str,
    options: &ParquetOptions,
) -> Result<u64> {
    let path = warehouse.path(file);
    let writer = object_store::buffered::BufWriter::new(Arc::clone(warehouse.store()), path);
    let stored = stored_schema(schema);
    let first = data
        .next()
        .await
        .transpose()?
        .map(|b| to_stored(b, &stored))
        .transpose()?;
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(options.max_row_group_size.max(1)))
        .set_data_page_row_count_limit(options.data_page_row_count_limit.max(1))
        .set_write_batch_size(options.write_batch_size.max(1));
    if let Some(first) = &first {
        for (column, dictionary) in dictionary_choices(first)? {
            props = props.set_column_dictionary_enabled(column, dictionary);
        }
    }
    let mut parquet = AsyncArrowWriter::try_new(writer, Arc::clone(&stored), Some(props.build()))?;
    let mut rows = 0u64;
    let mut nan_free = NanFreeColumns::new(&stored);
    let mut data = futures::stream::iter(first.map(Ok)).chain(data);
    while let Some(batch) = data.next().await {
        let batch = to_stored(batch?, &stored)?;
        rows += batch.num_rows() as u64;
        nan_free.observe(&batch);
        parquet.write(&batch).await?;
    }
    // Readers may trust the float bounds of the columns listed here.
    parquet.append_key_value_metadata(nan_free.key_value());
    parquet.close().await?;
    Ok(rows)
}

/// The type a column of `data_type` is stored as, at any depth: a
/// timestamp in seconds as one in microseconds. Parquet has no seconds
/// unit, and Arrow's writer would store the values as bare integers that
/// only Arrow readers of the embedded schema take for times; a Delta
/// table's timestamps are microseconds. Every other type as it is.
pub fn stored_type(data_type: &DataType) -> DataType {
    use datafusion::arrow::datatypes::{Field, TimeUnit};
    let field = |f: &Arc<Field>| {
        Arc::new(
            f.as_ref()
                .clone()
                .with_data_type(stored_type(f.data_type())),
        )
    };
    match data_type {
        DataType::Timestamp(TimeUnit::Second, tz) => {
            DataType::Timestamp(TimeUnit::Microsecond, tz.clone())
        }
        DataType::List(f) => DataType::List(field(f)),
        DataType::LargeList(f) => DataType::LargeList(field(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(field(f), *n),
        DataType::Map(f, sorted) => DataType::Map(field(f), *sorted),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(field).collect()),
        DataType::Dictionary(k, v) => DataType::Dictionary(k.clone(), Box::new(stored_type(v))),
        other => other.clone(),
    }
}

/// `schema` with every column of the type it is stored as
/// ([`stored_type`]).
fn stored_schema(schema: &SchemaRef) -> SchemaRef {
    if schema
        .fields()
        .iter()
        .all(|f| stored_type(f.data_type()) == *f.data_type())
    {
        return Arc::clone(schema);
    }
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| {
            f.as_ref()
                .clone()
                .with_data_type(stored_type(f.data_type()))
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `batch` with its columns cast to `stored`'s types.
fn to_stored(batch: RecordBatch, stored: &SchemaRef) -> Result<RecordBatch> {
    if batch.schema().fields() == stored.fields() {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(stored.fields())
        .map(|(c, f)| datafusion::arrow::compute::cast(c, f.data_type()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(Arc::clone(stored), columns)?)
}

/// The columns of `schema` whose files do not say their type, with their
/// types, for the table's entry: run-end encoded columns (stored decoded)
/// and those [`stored_type`] changes. The scan casts what it reads back.
pub fn declared_types(schema: &Schema) -> BTreeMap<String, String> {
    schema
        .fields()
        .iter()
        .filter(|f| {
            matches!(f.data_type(), DataType::RunEndEncoded(..))
                || stored_type(f.data_type()) != *f.data_type()
        })
        .map(|f| (f.name().clone(), f.data_type().to_string()))
        .collect()
}

/// Rows of the first batch below which the writer keeps its default
/// (dictionary encoding on) rather than judge a column by too few values.
const DICTIONARY_SAMPLE_ROWS: usize = 1024;

/// Which leaf columns get dictionary encoding, judged on the first batch
/// written, as parquet-mr judges a chunk by whether its dictionary pays:
/// a column whose values are mostly distinct (more than half of the
/// sample), or a list of floats (a vector), is written plain. Its
/// dictionary would hold nearly every value, and a reader wanting one page
/// would have to fetch that dictionary, up to a megabyte, with it (the
/// page-level top-k seed reads single pages). Other columns keep the
/// writer's default.
fn dictionary_choices(first: &RecordBatch) -> Result<Vec<(ColumnPath, bool)>> {
    let schema = first.schema();
    let descriptor = ArrowSchemaConverter::new().convert(&schema)?;
    let mut plain = vec![false; schema.fields().len()];
    for (i, (field, column)) in schema.fields().iter().zip(first.columns()).enumerate() {
        plain[i] = match field.data_type() {
            t if t.is_nested() => vector_element(t).is_some_and(DataType::is_floating),
            _ => {
                let values = column.len() - column.null_count();
                values >= DICTIONARY_SAMPLE_ROWS && {
                    let mut hashes = vec![0u64; column.len()];
                    create_hashes([column], &RandomState::default(), &mut hashes)?;
                    let distinct: HashSet<u64> = hashes
                        .iter()
                        .enumerate()
                        .filter(|(row, _)| column.is_valid(*row))
                        .map(|(_, h)| *h)
                        .collect();
                    distinct.len() * 2 > values
                }
            }
        };
    }
    Ok((0..descriptor.num_columns())
        .filter(|&leaf| plain[descriptor.get_column_root_idx(leaf)])
        .map(|leaf| (descriptor.column(leaf).path().clone(), false))
        .collect())
}

impl DisplayAs for TableSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "TableSink: table={} mode={:?}", self.name, self.mode)
    }
}

#[async_trait]
impl DataSink for TableSink {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        data: SendableRecordBatchStream,
        context: &Arc<TaskContext>,
    ) -> Result<u64> {
        let options = &context.session_config().options().execution.parquet;
        let written = write_file(&self.warehouse, &self.name, &self.schema, data, options).await?;
        let rows = written.file.rows.unwrap_or(0);
        // A commit that fails half-way leaves the folder to VACUUM: its log
        // entry may have landed.
        let file = written.keep();
        self.warehouse
            .publish_table(
                &self.name,
                &file,
                self.mode,
                &self.schema,
                self.declared.clone(),
            )
            .await?;
        Ok(rows)
    }
}
