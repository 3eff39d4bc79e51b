//! quiver's tables on the wire ([`WarehouseTables`], the engine codec's
//! table hook). A client's plan names tables by what they are; the
//! scheduler that plans it must scan the same files, so each travels as
//! where its files are:
//! - a warehouse table ([`WarehouseTable`]: a Delta snapshot's Parquet
//!   files) as the file list itself, which pins the snapshot the client
//!   saw; the scheduler gets a read-only table over them ([`ShippedTable`]):
//!   writes to warehouse tables are committed by the client's session,
//!   never by a cluster;
//! - an external table of Parquet files (DataFusion's listing table, read
//!   by quiver's NaN-safe Parquet format, which DataFusion's own encoding
//!   of a listing table refuses) as its paths, file extension, partition
//!   columns and Parquet options; the client marks it for this codec
//!   ([`ExternalFiles`]);
//! - an external Delta table ([`ExternalDelta`]) as its folder and
//!   partition columns; the scheduler reads its newest version when it
//!   plans, as one process does at each query.
//!
//! A cluster's processes reach the warehouse's store and local folders;
//! an external table elsewhere is refused when the scheduler decodes it,
//! with an error naming it.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::config::TableParquetOptions;
use datafusion::common::{DataFusionError, Result, TableReference, internal_err};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::DefaultLogicalExtensionCodec;
use datafusion_proto::logical_plan::from_proto::parse_sorts;
use datafusion_proto::logical_plan::to_proto::serialize_sorts;
use datafusion_proto::protobuf::SortExprNodeCollection;
use prost::Message;
use quiver_engine::parquet::nan_safe::NanSafeParquetFormat;
use quiver_engine::wire::{FIRST_HOST_KIND, TableCodec, frame};

use crate::warehouse::external_delta::ExternalDelta;
use crate::warehouse::table::WarehouseTable;

const WAREHOUSE_TABLE: u8 = FIRST_HOST_KIND;
const EXTERNAL_PARQUET: u8 = FIRST_HOST_KIND + 1;
const EXTERNAL_DELTA: u8 = FIRST_HOST_KIND + 2;

#[derive(Clone, PartialEq, Message)]
struct WarehouseTableProto {
    #[prost(string, tag = "1")]
    name: String,
    /// The URLs of the table's Parquet files.
    #[prost(string, repeated, tag = "2")]
    files: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
struct ExternalParquetProto {
    /// The table's locations (folders or files), as URLs.
    #[prost(string, repeated, tag = "1")]
    paths: Vec<String>,
    #[prost(string, tag = "2")]
    file_extension: String,
    /// Partition columns, by name; their types are the table schema's.
    #[prost(string, repeated, tag = "3")]
    partition_columns: Vec<String>,
    /// The table's Parquet options (DataFusion's encoding of them).
    #[prost(bytes = "vec", tag = "4")]
    parquet_options: Vec<u8>,
    /// Its `WITH ORDER` sort orders, each DataFusion's encoding of one
    /// (`SortExprNodeCollection`): the scheduler plans with them, as the
    /// client would (no sort over files already in order).
    #[prost(bytes = "vec", repeated, tag = "5")]
    file_sort_order: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
struct ExternalDeltaProto {
    /// The table's folder, as a URL ending in `/`.
    #[prost(string, tag = "1")]
    root: String,
    #[prost(string, repeated, tag = "2")]
    partition_columns: Vec<String>,
}

/// The table hook of every cluster process's logical codec.
#[derive(Debug, Default)]
pub struct WarehouseTables;

impl TableCodec for WarehouseTables {
    fn try_encode(
        &self,
        _table_ref: &TableReference,
        table: &Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<bool> {
        if let Some(table) = table.downcast_ref::<WarehouseTable>() {
            let proto = WarehouseTableProto {
                name: table.name().to_string(),
                files: table.file_urls(),
            };
            frame(WAREHOUSE_TABLE, &proto.encode_to_vec(), buf);
            return Ok(true);
        }
        if let Some(external) = table.downcast_ref::<ExternalFiles>() {
            frame(EXTERNAL_PARQUET, &external.encoded, buf);
            return Ok(true);
        }
        if let Some(delta) = table.downcast_ref::<ExternalDelta>() {
            let proto = ExternalDeltaProto {
                root: delta.root_url().to_string(),
                partition_columns: delta.partition_names(),
            };
            frame(EXTERNAL_DELTA, &proto.encode_to_vec(), buf);
            return Ok(true);
        }
        Ok(false)
    }

    fn try_decode(
        &self,
        kind: u8,
        body: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        let unreadable = |e: prost::DecodeError| {
            DataFusionError::Internal(format!(
                "table '{table_ref}' from the wire cannot be read: {e}"
            ))
        };
        match kind {
            WAREHOUSE_TABLE => {
                let proto = WarehouseTableProto::decode(body).map_err(unreadable)?;
                decode_warehouse_table(proto, schema, ctx)
            }
            EXTERNAL_PARQUET => {
                let proto = ExternalParquetProto::decode(body).map_err(unreadable)?;
                decode_external_parquet(table_ref, proto, schema, ctx)
            }
            EXTERNAL_DELTA => {
                let proto = ExternalDeltaProto::decode(body).map_err(unreadable)?;
                let root = reachable(table_ref, &proto.root, ctx)?;
                let table = ExternalDelta::shipped(
                    root,
                    &proto.partition_columns,
                    schema,
                    &ctx.runtime_env(),
                )?;
                Ok(Arc::new(table))
            }
            _ => internal_err!("table '{table_ref}' from the wire is of unknown kind {kind}"),
        }
    }
}

fn decode_warehouse_table(
    proto: WarehouseTableProto,
    schema: SchemaRef,
    ctx: &TaskContext,
) -> Result<Arc<dyn TableProvider>> {
    if proto.files.is_empty() {
        return internal_err!("table '{}' from the wire has no files", proto.name);
    }
    // The scan under the session's Parquet settings, as the client's would
    // be (`SET datafusion.execution.parquet...` travels with the plan's
    // session configuration).
    let mut options = ParquetFormat::default().options().clone();
    options.global = ctx.session_config().options().execution.parquet.clone();
    let format = NanSafeParquetFormat::new(ParquetFormat::default().with_options(options));
    let listing = ListingOptions::new(Arc::new(format)).with_file_extension(".parquet");
    let urls = proto
        .files
        .iter()
        .map(ListingTableUrl::parse)
        .collect::<Result<Vec<_>>>()?;
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(listing)
        .with_schema(schema);
    Ok(Arc::new(ShippedTable {
        inner: ListingTable::try_new(config)?,
    }))
}

fn decode_external_parquet(
    table_ref: &TableReference,
    proto: ExternalParquetProto,
    schema: SchemaRef,
    ctx: &TaskContext,
) -> Result<Arc<dyn TableProvider>> {
    let urls = proto
        .paths
        .iter()
        .map(|path| {
            reachable(table_ref, path, ctx)?;
            ListingTableUrl::parse(path)
        })
        .collect::<Result<Vec<_>>>()?;
    let encoded = datafusion_proto::generated::datafusion_common::TableParquetOptions::decode(
        proto.parquet_options.as_slice(),
    )
    .map_err(|e| {
        DataFusionError::Internal(format!(
            "table '{table_ref}' from the wire: its Parquet options cannot be read: {e}"
        ))
    })?;
    let options = TableParquetOptions::try_from(&encoded)?;
    let format = NanSafeParquetFormat::new(ParquetFormat::default().with_options(options));
    // The table's columns are the files' and then the partition columns.
    let partitions = proto
        .partition_columns
        .iter()
        .map(|name| {
            Ok((
                name.clone(),
                schema.field_with_name(name)?.data_type().clone(),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let file_schema = Schema::new(
        schema
            .fields()
            .iter()
            .filter(|f| !proto.partition_columns.contains(f.name()))
            .cloned()
            .collect::<Vec<_>>(),
    );
    let sort_orders = proto
        .file_sort_order
        .iter()
        .map(|order| {
            let order = SortExprNodeCollection::decode(order.as_slice()).map_err(|e| {
                DataFusionError::Internal(format!(
                    "table '{table_ref}' from the wire: its sort order cannot be read: {e}"
                ))
            })?;
            Ok(parse_sorts(
                &order.sort_expr_nodes,
                ctx,
                &DefaultLogicalExtensionCodec {},
            )?)
        })
        .collect::<Result<Vec<_>>>()?;
    let listing = ListingOptions::new(Arc::new(format))
        .with_file_extension(proto.file_extension)
        .with_table_partition_cols(partitions)
        .with_file_sort_order(sort_orders);
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(listing)
        .with_schema(Arc::new(file_schema));
    Ok(Arc::new(ShippedTable {
        inner: ListingTable::try_new(config)?,
    }))
}

/// `location` if this process reaches its store, else an error naming the
/// table: a cluster's processes have the warehouse's store and local
/// folders, not the stores a client made for its external tables.
fn reachable<'a>(
    table_ref: &TableReference,
    location: &'a str,
    ctx: &TaskContext,
) -> Result<&'a str> {
    let url = ListingTableUrl::parse(location)?;
    ctx.runtime_env()
        .object_store(url.object_store())
        .map_err(|_| {
            DataFusionError::Plan(format!(
                "external table '{table_ref}' is in {}, a store the cluster's processes do \
                 not have: on a cluster, external tables must be in the warehouse's store or \
                 a folder every process sees",
                url.object_store()
            ))
        })?;
    Ok(location)
}

/// A table of files as a scheduler sees it: scans only.
#[derive(Debug)]
pub struct ShippedTable {
    inner: ListingTable,
}

#[async_trait]
impl TableProvider for ShippedTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.scan(state, projection, filters, limit).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }
}

/// An external table of Parquet files in a client's plan, marked for
/// [`WarehouseTables`]: DataFusion's encoding takes a listing table for its
/// own and refuses quiver's Parquet format. It reads as the table does.
#[derive(Debug)]
pub struct ExternalFiles {
    table: Arc<dyn TableProvider>,
    /// Its encoding ([`ExternalParquetProto`]).
    encoded: Vec<u8>,
}

impl ExternalFiles {
    /// `table` marked, if it is a listing table in quiver's Parquet format.
    pub fn mark(table: &Arc<dyn TableProvider>) -> Result<Option<Self>> {
        let Some(listing) = table.downcast_ref::<ListingTable>() else {
            return Ok(None);
        };
        let options = listing.options();
        let Some(format) = options.format.downcast_ref::<NanSafeParquetFormat>() else {
            return Ok(None);
        };
        let parquet =
            datafusion_proto::generated::datafusion_common::TableParquetOptions::try_from(
                format.inner().options(),
            )?;
        let proto = ExternalParquetProto {
            paths: listing
                .table_paths()
                .iter()
                .map(|url| url.as_str().to_string())
                .collect(),
            file_extension: options.file_extension.clone(),
            partition_columns: options
                .table_partition_cols
                .iter()
                .map(|(name, _)| name.clone())
                .collect(),
            parquet_options: parquet.encode_to_vec(),
            file_sort_order: options
                .file_sort_order
                .iter()
                .map(|order| {
                    Ok(SortExprNodeCollection {
                        sort_expr_nodes: serialize_sorts(order, &DefaultLogicalExtensionCodec {})?,
                    }
                    .encode_to_vec())
                })
                .collect::<Result<_>>()?,
        };
        Ok(Some(Self {
            table: Arc::clone(table),
            encoded: proto.encode_to_vec(),
        }))
    }
}

#[async_trait]
impl TableProvider for ExternalFiles {
    fn schema(&self) -> SchemaRef {
        self.table.schema()
    }

    fn table_type(&self) -> TableType {
        self.table.table_type()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.table.scan(state, projection, filters, limit).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.table.supports_filters_pushdown(filters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field};
    use datafusion::datasource::MemTable;
    use datafusion::prelude::{SessionContext, col};

    fn codec() -> Arc<dyn datafusion_proto::logical_plan::LogicalExtensionCodec> {
        crate::cluster::logical_codec()
    }

    /// `table` encoded by a client and decoded by a scheduler.
    fn round_trip(table: Arc<dyn TableProvider>) -> Result<Arc<dyn TableProvider>> {
        let name = TableReference::bare("t");
        let schema = table.schema();
        let mut buf = Vec::new();
        codec().try_encode_table_provider(&name, table, &mut buf)?;
        codec().try_decode_table_provider(&buf, &name, schema, &SessionContext::new().task_ctx())
    }

    fn external_parquet(location: &str) -> Arc<dyn TableProvider> {
        let mut parquet = ParquetFormat::default().options().clone();
        parquet.global.pushdown_filters = true;
        let format = NanSafeParquetFormat::new(ParquetFormat::default().with_options(parquet));
        let options = ListingOptions::new(Arc::new(format))
            .with_file_extension(".parquet")
            .with_table_partition_cols(vec![("g".to_string(), DataType::Int32)])
            .with_file_sort_order(vec![vec![col("id").sort(false, true)]]);
        let config = ListingTableConfig::new(ListingTableUrl::parse(location).expect("a location"))
            .with_listing_options(options)
            .with_schema(Arc::new(Schema::new(vec![Field::new(
                "id",
                DataType::Int64,
                true,
            )])));
        Arc::new(ListingTable::try_new(config).expect("a listing table"))
    }

    #[test]
    fn an_external_parquet_table_keeps_its_files_partitions_options_and_order() {
        let table = external_parquet("file:///data/events/");
        let marked = ExternalFiles::mark(&table)
            .expect("marks")
            .expect("a listing table in quiver's format");
        let back = round_trip(Arc::new(marked)).expect("round trip");
        let shipped = back
            .downcast_ref::<ShippedTable>()
            .expect("a shipped table");
        let listing = &shipped.inner;
        assert_eq!(listing.schema(), table.schema());
        assert_eq!(listing.table_paths()[0].as_str(), "file:///data/events/");
        let options = listing.options();
        assert_eq!(options.file_extension, ".parquet");
        assert_eq!(
            options.table_partition_cols,
            vec![("g".to_string(), DataType::Int32)]
        );
        let format = options
            .format
            .downcast_ref::<NanSafeParquetFormat>()
            .expect("quiver's NaN-safe format");
        assert!(format.inner().options().global.pushdown_filters);
        assert_eq!(
            options.file_sort_order,
            vec![vec![col("id").sort(false, true)]]
        );
    }

    #[test]
    fn an_external_delta_table_keeps_its_folder_and_partitions() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("region", DataType::Utf8, true),
        ]));
        let runtime = SessionContext::new().runtime_env();
        let table = ExternalDelta::shipped(
            "file:///data/delta/",
            &["region".to_string()],
            Arc::clone(&schema),
            &runtime,
        )
        .expect("a Delta table");
        let back = round_trip(Arc::new(table)).expect("round trip");
        let delta = back.downcast_ref::<ExternalDelta>().expect("a Delta table");
        assert_eq!(delta.root_url().as_str(), "file:///data/delta/");
        assert_eq!(delta.partition_names(), vec!["region".to_string()]);
        assert_eq!(delta.schema(), schema);
    }

    #[test]
    fn a_table_on_a_store_the_cluster_lacks_is_refused_by_name() {
        let marked = ExternalFiles::mark(&external_parquet("s3://elsewhere/events/"))
            .expect("marks")
            .expect("a listing table in quiver's format");
        let error = round_trip(Arc::new(marked)).expect_err("no store for s3://elsewhere");
        let text = error.to_string();
        assert!(text.contains("external table 't'"), "{text}");
        assert!(text.contains("s3://elsewhere"), "{text}");
    }

    #[test]
    fn a_table_in_this_process_only_is_refused() {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]));
        let memory = MemTable::try_new(schema, vec![vec![]]).expect("a memory table");
        let error = round_trip(Arc::new(memory)).expect_err("a memory table stays here");
        assert!(
            error.to_string().contains("cannot be sent to a cluster"),
            "{error}"
        );
    }
}
