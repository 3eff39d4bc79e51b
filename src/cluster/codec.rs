//! Warehouse tables on the wire. A client's plan names a table quiver
//! opened from the warehouse ([`WarehouseTable`]: a Delta snapshot's
//! Parquet files); the scheduler that plans it must scan exactly those
//! files, so the encoding is the file list itself, which pins the snapshot
//! the client saw. The scheduler gets a read-only table over them
//! ([`ShippedTable`]): writes to warehouse tables are committed by the
//! client's session, never by a cluster.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DataFusionError, Result, TableReference, internal_err};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use prost::Message;
use quiver_engine::parquet::nan_safe::NanSafeParquetFormat;
use quiver_engine::wire::{FIRST_HOST_KIND, frame, unframe};

use crate::warehouse::table::WarehouseTable;

const WAREHOUSE_TABLE: u8 = FIRST_HOST_KIND;

#[derive(Clone, PartialEq, Message)]
struct WarehouseTableProto {
    #[prost(string, tag = "1")]
    name: String,
    /// The URLs of the table's Parquet files.
    #[prost(string, repeated, tag = "2")]
    files: Vec<String>,
}

/// Warehouse tables on top of `inner` (quiver's and Ballista's codecs).
#[derive(Debug)]
pub struct WarehouseTableCodec {
    inner: Arc<dyn LogicalExtensionCodec>,
}

impl WarehouseTableCodec {
    pub fn new(inner: Arc<dyn LogicalExtensionCodec>) -> Self {
        Self { inner }
    }
}

impl LogicalExtensionCodec for WarehouseTableCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        let Some((WAREHOUSE_TABLE, body)) = unframe(buf) else {
            return self
                .inner
                .try_decode_table_provider(buf, table_ref, schema, ctx);
        };
        let proto = WarehouseTableProto::decode(body).map_err(|e| {
            DataFusionError::Internal(format!(
                "table '{table_ref}' from the wire cannot be read: {e}"
            ))
        })?;
        if proto.files.is_empty() {
            return internal_err!("table '{}' from the wire has no files", proto.name);
        }
        // The scan under the session's Parquet settings, as the client's
        // would be (`SET datafusion.execution.parquet...` travels with the
        // plan's session configuration).
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

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        let Some(table) = node.downcast_ref::<WarehouseTable>() else {
            return self
                .inner
                .try_encode_table_provider(table_ref, node, buf)
                .map_err(|e| {
                    DataFusionError::NotImplemented(format!(
                        "'{table_ref}' cannot be sent to a cluster: its executors read warehouse \
                         tables and external tables of files, not a table that lives in this \
                         process ({})",
                        e.strip_backtrace()
                    ))
                });
        };
        let proto = WarehouseTableProto {
            name: table.name().to_string(),
            files: table.file_urls(),
        };
        frame(WAREHOUSE_TABLE, &proto.encode_to_vec(), buf);
        Ok(())
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(
        &self,
        name: &str,
        buf: &[u8],
    ) -> Result<Arc<datafusion::logical_expr::ScalarUDF>> {
        self.inner.try_decode_udf(name, buf)
    }

    fn try_encode_udf(
        &self,
        node: &datafusion::logical_expr::ScalarUDF,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        self.inner.try_encode_udf(node, buf)
    }
}

/// A warehouse table's files as a scheduler sees them: scans only.
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
