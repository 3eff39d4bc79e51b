//! A table's files scanned with where each row lives: the position of its
//! file in a list (`__quiver_file`) and, when asked, its row number within
//! that file (`__quiver_row`). DML ([`crate::statement::dml`]) uses it to
//! find the files a statement changes, so that it rewrites only those, and
//! to find a target row that a `MERGE` matches twice.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::datasource::TableProvider;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::parquet::arrow::RowNumber;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use object_store::path::Path;

/// The column holding the position of a row's file in the list.
pub const FILE_COLUMN: &str = "__quiver_file";
/// The column holding a row's number within its file (from 0).
pub const ROW_COLUMN: &str = "__quiver_row";

/// One Parquet file to scan.
#[derive(Debug, Clone)]
pub struct RowFile {
    pub location: Path,
    pub size: u64,
}

/// Files of one table schema, scanned as a table with [`FILE_COLUMN`] (and
/// [`ROW_COLUMN`]) added after the table's columns.
#[derive(Debug)]
pub struct FileRows {
    table_schema: SchemaRef,
    schema: SchemaRef,
    format: Arc<dyn FileFormat>,
    store: ObjectStoreUrl,
    files: Vec<RowFile>,
    row_numbers: bool,
}

impl FileRows {
    /// `files` of a table whose columns are `table_schema`, read with
    /// `format` from the store registered as `store`. A table column named
    /// like one of the added columns is an error.
    pub fn try_new(
        table: &str,
        table_schema: SchemaRef,
        format: Arc<dyn FileFormat>,
        store: ObjectStoreUrl,
        files: Vec<RowFile>,
        row_numbers: bool,
    ) -> Result<Self> {
        for name in [FILE_COLUMN, ROW_COLUMN] {
            if table_schema.field_with_name(name).is_ok() {
                return Err(DataFusionError::Plan(format!(
                    "table '{table}' has a column named {name}, a name quiver's DML keeps for \
                     itself; rename the column to change the table's rows"
                )));
            }
        }
        let mut fields: Vec<FieldRef> = table_schema.fields().iter().cloned().collect();
        fields.push(file_field());
        if row_numbers {
            fields.push(row_field());
        }
        let schema = Arc::new(Schema::new_with_metadata(
            fields,
            table_schema.metadata().clone(),
        ));
        Ok(Self {
            table_schema,
            schema,
            format,
            store,
            files,
            row_numbers,
        })
    }
}

/// A scan of Parquet files of one schema: `output` is the schema a
/// provider shows (`schema`'s columns, partition and virtual ones too).
pub(crate) struct FileScan {
    pub format: Arc<dyn FileFormat>,
    pub store: ObjectStoreUrl,
    pub schema: TableSchema,
    pub output: SchemaRef,
}

impl FileScan {
    /// The plan that reads `files`, dealt round-robin into the session's
    /// target partitions (none: an empty plan).
    pub async fn plan(
        self,
        state: &dyn Session,
        files: Vec<PartitionedFile>,
        projection: Option<&Vec<usize>>,
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if files.is_empty() {
            let schema = match projection {
                Some(p) => Arc::new(self.output.project(p)?),
                None => self.output,
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        let groups = state.config().target_partitions().clamp(1, files.len());
        let mut grouped = vec![Vec::new(); groups];
        for (i, file) in files.into_iter().enumerate() {
            grouped[i % groups].push(file);
        }
        let source = self.format.file_source(self.schema);
        let config = FileScanConfigBuilder::new(self.store, source)
            .with_file_groups(grouped.into_iter().map(FileGroup::new).collect())
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        self.format.create_physical_plan(state, config).await
    }
}

fn file_field() -> FieldRef {
    Arc::new(Field::new(FILE_COLUMN, DataType::UInt32, false))
}

fn row_field() -> FieldRef {
    Arc::new(Field::new(ROW_COLUMN, DataType::Int64, false).with_extension_type(RowNumber))
}

#[async_trait]
impl TableProvider for FileRows {
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
        let mut files = Vec::with_capacity(self.files.len());
        for (i, file) in self.files.iter().enumerate() {
            let mut scanned = PartitionedFile::new(String::new(), file.size);
            scanned.object_meta.location = file.location.clone();
            let position = u32::try_from(i).map_err(|_| {
                DataFusionError::Execution("a statement may change at most 2^32 files".into())
            })?;
            scanned.partition_values = vec![ScalarValue::UInt32(Some(position))];
            files.push(scanned);
        }
        let mut schema = TableSchema::builder(Arc::clone(&self.table_schema))
            .with_table_partition_cols(vec![file_field()]);
        if self.row_numbers {
            schema = schema.with_virtual_columns(vec![row_field()]);
        }
        let scan = FileScan {
            format: Arc::clone(&self.format),
            store: self.store.clone(),
            schema: schema.build(),
            output: Arc::clone(&self.schema),
        };
        scan.plan(state, files, projection, limit).await
    }

    /// Filters stay above the scan, which prunes row groups and pages with
    /// them once DataFusion pushes them into the Parquet reader.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }
}
