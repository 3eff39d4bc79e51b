//! Parquet statistics that cannot hide a NaN.
//!
//! Parquet writers leave NaN out of a float column's min and max, but
//! DataFusion orders floats totally (NaN above every number, `-NaN` below),
//! so a NaN row satisfies `x > 100` and comes first in `ORDER BY x DESC`.
//! A reader that trusts such bounds loses rows: a row group holding
//! `[0.1, NaN]` advertises `max = 0.1` and is pruned from `WHERE x > 0.5`,
//! from a top-k's dynamic filter, and `max(x)` is answered from the footer
//! as 0.1. (DataFusion 55 trusts them; apache/datafusion#24804 is open.)
//!
//! [`NanSafeParquetFormat`] is DataFusion's Parquet format with the float
//! bounds of each file checked first: they are kept where the file proves
//! it has no NaN in that column, and dropped (min and max only; null counts
//! stay) everywhere else, in the footer statistics and the page index
//! alike, so every statistics path (file, row group and page pruning,
//! dynamic filters, aggregate statistics) sees only bounds that hold. A
//! file proves a column NaN-free when
//! - quiver wrote it and listed the column under [`NAN_FREE_KEY`]
//!   (see [`NanFreeColumns`]), or
//! - DuckDB 1.1 or later wrote it: DuckDB writes no min or max at all for a
//!   column chunk that holds a NaN (checked with 1.1.3 and 2.0.0).
//!
//! Float columns of other writers' files (pyarrow, Spark, arrow-rs) are
//! read without min/max pruning: correct answers, at the cost of reading
//! row groups a NaN-blind reader would skip.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{
    DataType, Float16Type, Float32Type, Float64Type, Schema, SchemaRef,
};
use datafusion::catalog::Session;
use datafusion::common::{GetExt, Result, Statistics, internal_datafusion_err};
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::parquet::{ParquetFormat, ParquetFormatFactory};
use datafusion::datasource::file_format::{FileFormat, FileFormatFactory, FileMeta};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::metadata::{
    DFParquetMetadata, ordering_from_parquet_metadata,
};
use datafusion::datasource::physical_plan::parquet::{ParquetAccessPlan, RowGroupAccess};
use datafusion::datasource::physical_plan::{
    FileScanConfig, FileScanConfigBuilder, FileSource, ParquetFileReaderFactory, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::parquet::arrow::arrow_reader::ArrowReaderOptions;
use datafusion::parquet::arrow::async_reader::AsyncFileReader;
use datafusion::parquet::basic::{LogicalType, Type as PhysicalType};
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::metadata::{
    ColumnChunkMetaData, KeyValue, PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader,
};
use datafusion::parquet::file::page_index::column_index::ColumnIndexMetaData;
use datafusion::parquet::file::statistics::Statistics as ParquetStatistics;
use datafusion::physical_expr::LexOrdering;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use futures::FutureExt;
use futures::future::BoxFuture;
use object_store::{ObjectMeta, ObjectStore};

/// The footer key under which quiver lists, as a JSON array of column
/// paths, the float columns of a file that hold no NaN.
pub const NAN_FREE_KEY: &str = "quiver.nan_free_columns";

/// Tracks which top-level float columns of the batches a writer is given
/// hold no NaN, for [`NAN_FREE_KEY`].
#[derive(Debug)]
pub struct NanFreeColumns {
    /// (column index, name, no NaN seen yet)
    columns: Vec<(usize, String, bool)>,
}

impl NanFreeColumns {
    pub fn new(schema: &Schema) -> Self {
        let columns = schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| f.data_type().is_floating())
            .map(|(i, f)| (i, f.name().clone(), true))
            .collect();
        Self { columns }
    }

    /// Notes the NaNs of `batch` (which has the schema given to `new`). A
    /// NULL slot's value is looked at too: a NaN there costs the column its
    /// proof, never a wrong answer.
    pub fn observe(&mut self, batch: &RecordBatch) {
        for (i, _, free) in self.columns.iter_mut().filter(|c| c.2) {
            let column = batch.column(*i);
            *free = !match column.data_type() {
                DataType::Float16 => column
                    .as_primitive::<Float16Type>()
                    .values()
                    .iter()
                    .any(|x| x.is_nan()),
                DataType::Float32 => column
                    .as_primitive::<Float32Type>()
                    .values()
                    .iter()
                    .any(|x| x.is_nan()),
                DataType::Float64 => column
                    .as_primitive::<Float64Type>()
                    .values()
                    .iter()
                    .any(|x| x.is_nan()),
                _ => true,
            };
        }
    }

    /// The footer entry naming the columns that held no NaN.
    pub fn key_value(&self) -> KeyValue {
        let names: Vec<&str> = self
            .columns
            .iter()
            .filter(|c| c.2)
            .map(|c| c.1.as_str())
            .collect();
        KeyValue::new(
            NAN_FREE_KEY.to_string(),
            serde_json::to_string(&names).unwrap_or_else(|_| "[]".to_string()),
        )
    }
}

/// Is `column` a float leaf (FLOAT, DOUBLE or FLOAT16)?
fn is_float(column: &ColumnChunkMetaData) -> bool {
    match column.column_type() {
        PhysicalType::FLOAT | PhysicalType::DOUBLE => true,
        PhysicalType::FIXED_LEN_BYTE_ARRAY => matches!(
            column.column_descr().logical_type_ref(),
            Some(LogicalType::Float16)
        ),
        _ => false,
    }
}

/// Whether the writer of `metadata` leaves out the bounds of any column
/// chunk holding a NaN: DuckDB 1.1 and later.
fn writer_drops_nan_bounds(metadata: &ParquetMetaData) -> bool {
    let Some(version) = metadata
        .file_metadata()
        .created_by()
        .and_then(|c| c.strip_prefix("DuckDB version v"))
    else {
        return false;
    };
    let mut parts = version
        .split(['.', ' ', '-'])
        .map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= (1, 1),
        _ => false,
    }
}

/// The column paths `metadata`'s writer (quiver) recorded as NaN-free.
fn listed_nan_free(metadata: &ParquetMetaData) -> Vec<String> {
    metadata
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|kv| kv.key == NAN_FREE_KEY))
        .and_then(|kv| kv.value.as_deref())
        .and_then(|v| serde_json::from_str(v).ok())
        .unwrap_or_default()
}

/// Whether the min/max of a float column chunk may be trusted: the file
/// proves the column NaN-free, and neither bound is itself a NaN (an old
/// writer's).
fn bounds_hold(column: &ColumnChunkMetaData, proven: bool) -> bool {
    let nan_bound = match column.statistics() {
        Some(ParquetStatistics::Float(s)) => {
            s.min_opt().is_some_and(|x| x.is_nan()) || s.max_opt().is_some_and(|x| x.is_nan())
        }
        Some(ParquetStatistics::Double(s)) => {
            s.min_opt().is_some_and(|x| x.is_nan()) || s.max_opt().is_some_and(|x| x.is_nan())
        }
        _ => false,
    };
    proven && !nan_bound
}

/// `stats` without min and max (counts kept).
fn without_bounds(stats: &ParquetStatistics) -> ParquetStatistics {
    let (distinct, nulls) = (stats.distinct_count_opt(), stats.null_count_opt());
    match stats {
        ParquetStatistics::Float(_) => ParquetStatistics::float(None, None, distinct, nulls, false),
        ParquetStatistics::Double(_) => {
            ParquetStatistics::double(None, None, distinct, nulls, false)
        }
        ParquetStatistics::FixedLenByteArray(_) => {
            ParquetStatistics::fixed_len_byte_array(None, None, distinct, nulls, false)
        }
        other => other.clone(),
    }
}

/// `metadata` with the float bounds that might hide a NaN removed, from
/// the row group statistics and the column index (see the module docs).
/// Returned as is when every float bound holds.
pub fn nan_safe(metadata: Arc<ParquetMetaData>) -> Result<Arc<ParquetMetaData>> {
    let drops_nan_bounds = writer_drops_nan_bounds(&metadata);
    let listed = listed_nan_free(&metadata);
    let proven = |column: &ColumnChunkMetaData| {
        drops_nan_bounds || listed.iter().any(|p| *p == column.column_path().string())
    };
    // (row group, column) of each float chunk whose bounds must go.
    let mut doubtful = Vec::new();
    for (r, row_group) in metadata.row_groups().iter().enumerate() {
        for (c, column) in row_group.columns().iter().enumerate() {
            if is_float(column) && !bounds_hold(column, proven(column)) {
                doubtful.push((r, c));
            }
        }
    }
    if doubtful.is_empty() {
        return Ok(metadata);
    }
    let metadata = Arc::unwrap_or_clone(metadata);
    let mut builder = metadata.into_builder();
    let mut row_groups = builder.take_row_groups();
    let mut column_index = builder.take_column_index();
    for &(r, c) in &doubtful {
        let mut columns = row_groups[r].columns().to_vec();
        if let Some(stats) = columns[c].statistics().map(without_bounds) {
            columns[c] = columns[c]
                .clone()
                .into_builder()
                .set_statistics(stats)
                .build()?;
        }
        row_groups[r] = row_groups[r]
            .clone()
            .into_builder()
            .set_column_metadata(columns)
            .build()?;
        if let Some(index) = column_index
            .as_mut()
            .and_then(|index| index.get_mut(r))
            .and_then(|row_group| row_group.get_mut(c))
        {
            *index = ColumnIndexMetaData::NONE;
        }
    }
    Ok(Arc::new(
        builder
            .set_row_groups(row_groups)
            .set_column_index(column_index)
            .build(),
    ))
}

/// DataFusion's Parquet format factory, making [`NanSafeParquetFormat`]s.
#[derive(Debug, Default)]
pub struct NanSafeParquetFormatFactory(ParquetFormatFactory);

impl GetExt for NanSafeParquetFormatFactory {
    fn get_ext(&self) -> String {
        self.0.get_ext()
    }
}

impl FileFormatFactory for NanSafeParquetFormatFactory {
    fn create(
        &self,
        state: &dyn Session,
        format_options: &HashMap<String, String>,
    ) -> Result<Arc<dyn FileFormat>> {
        let inner = self.0.create(state, format_options)?;
        let inner = inner
            .downcast_ref::<ParquetFormat>()
            .ok_or_else(|| internal_datafusion_err!("expected ParquetFormat"))?;
        Ok(Arc::new(NanSafeParquetFormat(
            ParquetFormat::default().with_options(inner.options().clone()),
        )))
    }

    fn default(&self) -> Arc<dyn FileFormat> {
        Arc::new(NanSafeParquetFormat::default())
    }
}

/// DataFusion's Parquet format, reading only float bounds that hold (see
/// the module docs).
#[derive(Debug, Default)]
pub struct NanSafeParquetFormat(ParquetFormat);

impl NanSafeParquetFormat {
    /// `format` (its options), reading only float bounds that hold.
    pub fn new(format: ParquetFormat) -> Self {
        Self(format)
    }

    /// The Parquet format it reads with (its options).
    pub fn inner(&self) -> &ParquetFormat {
        &self.0
    }

    async fn metadata(
        &self,
        state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        object: &ObjectMeta,
    ) -> Result<Arc<ParquetMetaData>> {
        fetch_nan_safe(state, store, object, self.0.metadata_size_hint()).await
    }
}

/// The footer of `object` (through the session's metadata cache) with its
/// float bounds checked by [`nan_safe`]: what every reader of statistics in
/// quiver reads.
pub async fn fetch_nan_safe(
    state: &dyn Session,
    store: &Arc<dyn ObjectStore>,
    object: &ObjectMeta,
    size_hint: Option<usize>,
) -> Result<Arc<ParquetMetaData>> {
    let cache = state.runtime_env().cache_manager.get_file_metadata_cache();
    let metadata = DFParquetMetadata::new(store, object)
        .with_metadata_size_hint(size_hint)
        .with_file_metadata_cache(Some(cache))
        .fetch_metadata()
        .await?;
    nan_safe(metadata)
}

#[async_trait]
impl FileFormat for NanSafeParquetFormat {
    fn get_ext(&self) -> String {
        self.0.get_ext()
    }

    fn get_ext_with_compression(&self, compression: &FileCompressionType) -> Result<String> {
        self.0.get_ext_with_compression(compression)
    }

    fn compression_type(&self) -> Option<FileCompressionType> {
        self.0.compression_type()
    }

    async fn infer_schema(
        &self,
        state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        objects: &[ObjectMeta],
    ) -> Result<SchemaRef> {
        self.0.infer_schema(state, store, objects).await
    }

    async fn infer_stats(
        &self,
        state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        table_schema: SchemaRef,
        object: &ObjectMeta,
    ) -> Result<Statistics> {
        let metadata = self.metadata(state, store, object).await?;
        DFParquetMetadata::statistics_from_parquet_metadata(&metadata, &table_schema)
    }

    async fn infer_ordering(
        &self,
        state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        table_schema: SchemaRef,
        object: &ObjectMeta,
    ) -> Result<Option<LexOrdering>> {
        self.0
            .infer_ordering(state, store, table_schema, object)
            .await
    }

    async fn infer_stats_and_ordering(
        &self,
        state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        table_schema: SchemaRef,
        object: &ObjectMeta,
    ) -> Result<FileMeta> {
        let metadata = self.metadata(state, store, object).await?;
        let statistics =
            DFParquetMetadata::statistics_from_parquet_metadata(&metadata, &table_schema)?;
        let ordering = ordering_from_parquet_metadata(&metadata, &table_schema)?;
        Ok(FileMeta::new(statistics).with_ordering(ordering))
    }

    async fn create_physical_plan(
        &self,
        state: &dyn Session,
        conf: FileScanConfig,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = self.0.create_physical_plan(state, conf).await?;
        with_nan_safe_reader(&plan)
    }

    async fn create_writer_physical_plan(
        &self,
        input: Arc<dyn ExecutionPlan>,
        state: &dyn Session,
        conf: datafusion::datasource::physical_plan::FileSinkConfig,
        order_requirements: Option<datafusion::physical_expr::LexRequirement>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.0
            .create_writer_physical_plan(input, state, conf, order_requirements)
            .await
    }

    fn file_source(&self, table_schema: TableSchema) -> Arc<dyn FileSource> {
        self.0.file_source(table_schema)
    }
}

/// `plan`, a Parquet `DataSourceExec`, reading through readers whose
/// metadata passes through [`nan_safe`]: what [`NanSafeParquetFormat`] plans,
/// and what a plan decoded on a cluster's executor gets back (the wire
/// carries no reader factory; see [`crate::wire`]).
pub fn with_nan_safe_reader(plan: &Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    let scan = plan
        .downcast_ref::<DataSourceExec>()
        .and_then(|exec| exec.data_source().downcast_ref::<FileScanConfig>())
        .ok_or_else(|| internal_datafusion_err!("expected a Parquet DataSourceExec"))?;
    let source = scan
        .file_source()
        .downcast_ref::<ParquetSource>()
        .ok_or_else(|| internal_datafusion_err!("expected ParquetSource"))?;
    let inner = source
        .parquet_file_reader_factory()
        .cloned()
        .ok_or_else(|| internal_datafusion_err!("expected a Parquet reader factory"))?;
    let source = source
        .clone()
        .with_parquet_file_reader_factory(Arc::new(NanSafeReaderFactory(inner)));
    let conf = FileScanConfigBuilder::from(scan.clone())
        .with_source(Arc::new(source))
        .build();
    Ok(DataSourceExec::from_data_source(conf))
}

/// Readers whose metadata has passed through [`nan_safe`].
#[derive(Debug)]
struct NanSafeReaderFactory(Arc<dyn ParquetFileReaderFactory>);

impl ParquetFileReaderFactory for NanSafeReaderFactory {
    fn create_reader(
        &self,
        partition_index: usize,
        file: PartitionedFile,
        metadata_size_hint: Option<usize>,
        metrics: &ExecutionPlanMetricsSet,
    ) -> Result<Box<dyn AsyncFileReader + Send>> {
        let page_index = selects_rows(&file);
        let inner = self
            .0
            .create_reader(partition_index, file, metadata_size_hint, metrics)?;
        Ok(Box::new(NanSafeReader { inner, page_index }))
    }
}

/// Whether `file`'s access plan selects rows within a row group (a
/// `SYSTEM` sample's or a seeded top-k's pages): the reader then needs the
/// file's page index to fetch only those pages.
fn selects_rows(file: &PartitionedFile) -> bool {
    file.extension::<ParquetAccessPlan>().is_some_and(|plan| {
        plan.inner()
            .iter()
            .any(|access| matches!(access, RowGroupAccess::Selection(_)))
    })
}

struct NanSafeReader {
    inner: Box<dyn AsyncFileReader + Send>,
    /// Load the page index with the footer (see [`selects_rows`]).
    page_index: bool,
}

impl AsyncFileReader for NanSafeReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, Result<Bytes, ParquetError>> {
        self.inner.get_bytes(range)
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, Result<Vec<Bytes>, ParquetError>> {
        self.inner.get_byte_ranges(ranges)
    }

    /// The metadata with its float bounds checked. A file that had some
    /// removed also gets its page index loaded here, checked the same way:
    /// a reader that asked for the index later would read it raw.
    ///
    /// A file whose access plan selects rows gets its page index too.
    /// DataFusion loads it only for a pruning predicate; without it a row
    /// selection still reads every page of its row group. In one process
    /// the index is usually in the metadata cache already, put there when
    /// the plan was made; a cluster's executor plans nothing, and read 6.6
    /// times the bytes of one process for a `SYSTEM` 1% sample without it.
    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, Result<Arc<ParquetMetaData>, ParquetError>> {
        async move {
            let with_index = self.page_index.then(|| {
                options
                    .cloned()
                    .unwrap_or_default()
                    .with_page_index_policy(PageIndexPolicy::Optional)
            });
            let options = with_index.as_ref().or(options);
            let raw = self.inner.get_metadata(options).await?;
            let checked =
                nan_safe(Arc::clone(&raw)).map_err(|e| ParquetError::External(e.into()))?;
            if Arc::ptr_eq(&raw, &checked) || raw.column_index().is_some() {
                return Ok(checked);
            }
            drop(checked);
            let mut reader = ParquetMetaDataReader::new_with_metadata(Arc::unwrap_or_clone(raw))
                .with_page_index_policy(PageIndexPolicy::Optional);
            reader.load_page_index(&mut *self).await?;
            nan_safe(Arc::new(reader.finish()?)).map_err(|e| ParquetError::External(e.into()))
        }
        .boxed()
    }
}

impl fmt::Debug for NanSafeReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NanSafeReader")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, Int64Array};
    use datafusion::arrow::datatypes::Field;
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::file::properties::WriterProperties;

    /// A file of two row groups, (id, x): x is [0.5, 0.6] then [0.1, NaN],
    /// written by `created_by` with `footer` in its key-value metadata.
    fn file(created_by: &str, footer: Option<KeyValue>) -> Arc<ParquetMetaData> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("x", DataType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
                Arc::new(Float64Array::from(vec![0.5, 0.6, 0.1, f64::NAN])),
            ],
        )
        .expect("batch");
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(2))
            .set_created_by(created_by.to_string())
            .build();
        let mut out = Vec::new();
        let mut w = ArrowWriter::try_new(&mut out, schema, Some(props)).expect("writer");
        w.write(&batch).expect("write");
        if let Some(kv) = footer {
            w.append_key_value_metadata(kv);
        }
        w.close().expect("close");
        let metadata = ParquetMetaDataReader::new()
            .with_page_index_policy(PageIndexPolicy::Optional)
            .parse_and_finish(&Bytes::from(out))
            .expect("metadata");
        Arc::new(metadata)
    }

    /// (min, max) of column `c` in each row group.
    fn bounds(m: &ParquetMetaData, c: usize) -> Vec<(Option<f64>, Option<f64>)> {
        m.row_groups()
            .iter()
            .map(|rg| match rg.column(c).statistics() {
                Some(ParquetStatistics::Double(s)) => (s.min_opt().copied(), s.max_opt().copied()),
                _ => (None, None),
            })
            .collect()
    }

    fn has_column_index(m: &ParquetMetaData, rg: usize, c: usize) -> bool {
        !matches!(
            m.column_index().expect("page index")[rg][c],
            ColumnIndexMetaData::NONE
        )
    }

    #[test]
    fn bounds_of_an_unproven_float_column_are_dropped() {
        let raw = file("parquet-rs", None);
        // The writer left the NaN out: the second group claims max 0.1.
        assert_eq!(bounds(&raw, 1)[1], (Some(0.1), Some(0.1)));
        let safe = nan_safe(raw).expect("checked");
        assert_eq!(bounds(&safe, 1), vec![(None, None), (None, None)]);
        assert!(!has_column_index(&safe, 0, 1) && !has_column_index(&safe, 1, 1));
        // Null counts and other columns are untouched.
        let x = safe.row_group(0).column(1).statistics().expect("stats");
        assert_eq!(x.null_count_opt(), Some(0));
        assert!(
            safe.row_group(0)
                .column(0)
                .statistics()
                .is_some_and(|s| s.min_bytes_opt().is_some())
        );
        assert!(has_column_index(&safe, 0, 0));
    }

    #[test]
    fn a_listed_column_and_a_duckdb_file_keep_their_bounds() {
        let listed = KeyValue::new(NAN_FREE_KEY.to_string(), r#"["x"]"#.to_string());
        for raw in [
            file("parquet-rs", Some(listed)),
            file("DuckDB version v1.1.3 (build 19864453f7)", None),
            file("DuckDB version v2.0.0 (build d54cbbe3df)", None),
        ] {
            let safe = nan_safe(Arc::clone(&raw)).expect("checked");
            assert!(
                Arc::ptr_eq(&raw, &safe),
                "{:?}",
                raw.file_metadata().created_by()
            );
        }
        // Another column listed, an unknown or an old DuckDB: dropped.
        let other = KeyValue::new(NAN_FREE_KEY.to_string(), r#"["id"]"#.to_string());
        for raw in [
            file("parquet-rs", Some(other)),
            file("DuckDB version v0.9.2", None),
            file("DuckDB version vX", None),
        ] {
            let safe = nan_safe(raw).expect("checked");
            assert_eq!(bounds(&safe, 1), vec![(None, None), (None, None)]);
        }
    }

    #[test]
    fn nan_free_columns_lists_the_float_columns_without_nan() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("clean", DataType::Float64, true),
            Field::new("dirty", DataType::Float64, true),
        ]));
        let batch = |clean: f64, dirty: f64| {
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(Int64Array::from(vec![1])),
                    Arc::new(Float64Array::from(vec![Some(clean)])),
                    Arc::new(Float64Array::from(vec![Some(dirty)])),
                ],
            )
            .expect("batch")
        };
        let mut seen = NanFreeColumns::new(&schema);
        seen.observe(&batch(1.0, 2.0));
        assert_eq!(
            seen.key_value().value.as_deref(),
            Some(r#"["clean","dirty"]"#)
        );
        seen.observe(&batch(1.0, f64::NAN));
        seen.observe(&batch(1.0, 3.0));
        assert_eq!(seen.key_value().value.as_deref(), Some(r#"["clean"]"#));
        assert_eq!(seen.key_value().key, NAN_FREE_KEY);
    }
}
