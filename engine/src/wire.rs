//! Plans on the wire: the codecs that carry quiver's own plan nodes between
//! the processes of a cluster (#25). A Ballista client sends its scheduler a
//! logical plan, and the scheduler sends its executors physical plans, both
//! through DataFusion's protobuf form; what that form cannot say, these
//! codecs do, and they hand everything else to the codec they wrap
//! (Ballista's own).
//!
//! - `TABLESAMPLE` ([`SampleNode`], [`SampleExec`]): its method, fraction or
//!   row count, and seed, so a sample drawn on a cluster is the one drawn in
//!   one process for the same `REPEATABLE` seed.
//! - A Parquet scan ([`ShippedScanExec`]): DataFusion's own form of it drops
//!   two things quiver's scans depend on, and would do so silently: the
//!   reader that never trusts a float bound that may hide a NaN
//!   ([`crate::parquet::nan_safe`]), and each file's access plan (the row
//!   groups and pages a `SYSTEM` sample or top-k seeding chose, the rows a
//!   Delta deletion vector removed). A scan that lost its access plan would
//!   read every row: a wrong answer, not a slow one. The scheduler's planner
//!   wraps each Parquet scan ([`ship_scans`]) and the wrapper carries both.
//! - The direct scan of vector columns ([`crate::exec::list_scan`]) holds
//!   footers it read while planning; a cluster's planner does not make it
//!   (the ordinary Parquet scan reads the same rows), and encoding one is an
//!   error rather than a scan that reads something else.
//!
//! Each encoding starts with [`MAGIC`] and a kind byte; bytes without it
//! belong to the wrapped codec.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{
    DataFusionError, Result, Statistics, TableReference, internal_err, not_impl_err,
};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::datasource::physical_plan::parquet::{ParquetAccessPlan, RowGroupAccess};
use datafusion::datasource::physical_plan::{
    FileGroup, FileScanConfig, FileScanConfigBuilder, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Extension, LogicalPlan};
use datafusion::parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::statistics::StatisticsArgs;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use prost::Message;

use crate::exec::list_scan::ListScanExec;
use crate::exec::sample::{Mode, SampleExec};
use crate::exec::sample_rows::{RowsFinalExec, RowsPartialExec};
use crate::parquet::nan_safe::{NanSafeParquetFormatFactory, with_nan_safe_reader};
use crate::plan::sample::{SampleMethod, SampleNode};

/// The first bytes of every encoding these codecs write. `0xff` cannot start
/// a canonical protobuf message, so no other codec's bytes begin this way.
pub const MAGIC: &[u8] = b"\xffquiver";

const SAMPLE_NODE: u8 = 1;
const SAMPLE_EXEC: u8 = 2;
const SHIPPED_SCAN: u8 = 3;
const NAN_SAFE_PARQUET: u8 = 4;
const ROWS_PARTIAL: u8 = 5;
const ROWS_FINAL: u8 = 6;
/// For codecs built on these (a host's tables): kinds from 128 up are
/// theirs.
pub const FIRST_HOST_KIND: u8 = 128;

/// `kind` and `body` as one encoding.
pub fn frame(kind: u8, body: &[u8], buf: &mut Vec<u8>) {
    buf.extend_from_slice(MAGIC);
    buf.push(kind);
    buf.extend_from_slice(body);
}

/// The kind and body of an encoding of ours, `None` for other bytes.
pub fn unframe(buf: &[u8]) -> Option<(u8, &[u8])> {
    let rest = buf.strip_prefix(MAGIC)?;
    let (&kind, body) = rest.split_first()?;
    Some((kind, body))
}

fn decode_error(what: &str, e: prost::DecodeError) -> DataFusionError {
    DataFusionError::Internal(format!("a plan from the wire: {what} cannot be read: {e}"))
}

/// A sample's method: 0 Bernoulli, 1 SYSTEM, 2 rows; `value` the fraction's
/// bits or the row count.
#[derive(Clone, PartialEq, Message)]
struct SampleProto {
    #[prost(uint32, tag = "1")]
    method: u32,
    #[prost(uint64, tag = "2")]
    value: u64,
    #[prost(uint64, tag = "3")]
    seed: u64,
}

/// A shipped Parquet scan: the access plan of each of its files in
/// file-group order (the scan itself is its input, in DataFusion's
/// encoding).
#[derive(Clone, PartialEq, Message)]
struct ScanProto {
    #[prost(message, repeated, tag = "1")]
    files: Vec<FileAccessProto>,
    /// Whether each file is read by the partition it is grouped under (a
    /// sample's scan; see `plan::planner`), which DataFusion's encoding
    /// also drops.
    #[prost(bool, tag = "2")]
    preserve_order: bool,
}

#[derive(Clone, PartialEq, Message)]
struct FileAccessProto {
    /// Whether the file has an access plan (none: read it all).
    #[prost(bool, tag = "1")]
    planned: bool,
    #[prost(message, repeated, tag = "2")]
    row_groups: Vec<GroupAccessProto>,
}

/// 0 skip, 1 scan, 2 the rows of `selectors`.
#[derive(Clone, PartialEq, Message)]
struct GroupAccessProto {
    #[prost(uint32, tag = "1")]
    access: u32,
    #[prost(uint64, repeated, tag = "2")]
    rows: Vec<u64>,
    #[prost(bool, repeated, tag = "3")]
    skip: Vec<bool>,
}

/// The tables of the program the engine is built into (quiver's warehouse
/// and external tables live in the binary, not here), on the wire. Their
/// encodings use kinds from [`FIRST_HOST_KIND`] up, framed by [`frame`].
pub trait TableCodec: std::fmt::Debug + Send + Sync {
    /// Encodes `table` into `buf`; `Ok(false)` if it is none of the host's.
    fn try_encode(
        &self,
        table_ref: &TableReference,
        table: &Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<bool>;

    /// The table of encoding `kind` (`body` unframed), of columns `schema`.
    fn try_decode(
        &self,
        kind: u8,
        body: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>>;
}

/// quiver's logical nodes, file format and (with [`Self::with_tables`]) the
/// host's tables, on top of `inner`.
#[derive(Debug)]
pub struct QuiverLogicalCodec {
    inner: Arc<dyn LogicalExtensionCodec>,
    tables: Option<Arc<dyn TableCodec>>,
}

impl QuiverLogicalCodec {
    pub fn new(inner: Arc<dyn LogicalExtensionCodec>) -> Self {
        Self {
            inner,
            tables: None,
        }
    }

    /// Tables encoded by `tables` before any other codec sees them.
    pub fn with_tables(mut self, tables: Arc<dyn TableCodec>) -> Self {
        self.tables = Some(tables);
        self
    }

    pub fn inner(&self) -> &Arc<dyn LogicalExtensionCodec> {
        &self.inner
    }
}

impl LogicalExtensionCodec for QuiverLogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        let Some((kind, body)) = unframe(buf) else {
            return self.inner.try_decode(buf, inputs, ctx);
        };
        if kind != SAMPLE_NODE {
            return internal_err!("a plan from the wire has a logical node of unknown kind {kind}");
        }
        let proto = SampleProto::decode(body).map_err(|e| decode_error("TABLESAMPLE", e))?;
        let [input] = inputs else {
            return internal_err!("TABLESAMPLE from the wire with {} inputs", inputs.len());
        };
        let method = match proto.method {
            0 => SampleMethod::Bernoulli(f64::from_bits(proto.value)),
            1 => SampleMethod::System(f64::from_bits(proto.value)),
            2 => SampleMethod::Rows(proto.value),
            m => return internal_err!("TABLESAMPLE from the wire with method {m}"),
        };
        Ok(Extension {
            node: Arc::new(SampleNode {
                input: input.clone(),
                method,
                seed: proto.seed,
            }),
        })
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        let Some(sample) = node.node.as_any().downcast_ref::<SampleNode>() else {
            return self.inner.try_encode(node, buf);
        };
        let (method, value) = match sample.method {
            SampleMethod::Bernoulli(p) => (0, p.to_bits()),
            SampleMethod::System(p) => (1, p.to_bits()),
            SampleMethod::Rows(n) => (2, n),
        };
        let proto = SampleProto {
            method,
            value,
            seed: sample.seed,
        };
        frame(SAMPLE_NODE, &proto.encode_to_vec(), buf);
        Ok(())
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        match (unframe(buf), &self.tables) {
            (Some((kind, body)), Some(tables)) if kind >= FIRST_HOST_KIND => {
                tables.try_decode(kind, body, table_ref, schema, ctx)
            }
            (Some((kind, _)), _) => {
                internal_err!("table '{table_ref}' from the wire is of unknown kind {kind}")
            }
            (None, _) => self
                .inner
                .try_decode_table_provider(buf, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        if let Some(tables) = &self.tables
            && tables.try_encode(table_ref, &node, buf)?
        {
            return Ok(());
        }
        self.inner
            .try_encode_table_provider(table_ref, node, buf)
            .map_err(|e| {
                DataFusionError::NotImplemented(format!(
                    "'{table_ref}' cannot be sent to a cluster: its processes read tables of \
                     files (warehouse tables and external tables), not a table that lives in \
                     this process ({})",
                    e.strip_backtrace()
                ))
            })
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        match unframe(buf) {
            Some((NAN_SAFE_PARQUET, _)) => {
                Ok(Arc::new(<NanSafeParquetFormatFactory as Default>::default()))
            }
            Some((kind, _)) => {
                internal_err!("a plan from the wire has a file format of unknown kind {kind}")
            }
            None => self.inner.try_decode_file_format(buf, ctx),
        }
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        if node.downcast_ref::<NanSafeParquetFormatFactory>().is_some() {
            frame(NAN_SAFE_PARQUET, &[], buf);
            return Ok(());
        }
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

/// quiver's physical nodes on top of `inner`.
#[derive(Debug)]
pub struct QuiverPhysicalCodec {
    inner: Arc<dyn PhysicalExtensionCodec>,
}

impl QuiverPhysicalCodec {
    pub fn new(inner: Arc<dyn PhysicalExtensionCodec>) -> Self {
        Self { inner }
    }
}

impl PhysicalExtensionCodec for QuiverPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some((kind, body)) = unframe(buf) else {
            return self.inner.try_decode(buf, inputs, ctx, proto_converter);
        };
        match kind {
            SAMPLE_EXEC => {
                let proto =
                    SampleProto::decode(body).map_err(|e| decode_error("TABLESAMPLE", e))?;
                let [input] = inputs else {
                    return internal_err!("SampleExec from the wire with {} inputs", inputs.len());
                };
                let mode = match proto.method {
                    0 => Mode::Bernoulli(f64::from_bits(proto.value)),
                    1 => Mode::Batches(f64::from_bits(proto.value)),
                    2 => Mode::Pruned(f64::from_bits(proto.value)),
                    3 => Mode::Rows(proto.value),
                    m => return internal_err!("SampleExec from the wire with mode {m}"),
                };
                Ok(Arc::new(SampleExec::new(
                    Arc::clone(input),
                    mode,
                    proto.seed,
                )))
            }
            SHIPPED_SCAN => {
                let proto = ScanProto::decode(body).map_err(|e| decode_error("a scan", e))?;
                let [scan] = inputs else {
                    return internal_err!("a scan from the wire with {} inputs", inputs.len());
                };
                let scan = with_access_plans(
                    &with_nan_safe_reader(scan)?,
                    &proto.files,
                    proto.preserve_order,
                )?;
                Ok(Arc::new(ShippedScanExec::new(scan)))
            }
            ROWS_PARTIAL | ROWS_FINAL => {
                let proto =
                    SampleProto::decode(body).map_err(|e| decode_error("TABLESAMPLE", e))?;
                let [input] = inputs else {
                    return internal_err!("TABLESAMPLE from the wire with {} inputs", inputs.len());
                };
                let input = Arc::clone(input);
                Ok(if kind == ROWS_PARTIAL {
                    Arc::new(RowsPartialExec::new(input, proto.value, proto.seed))
                } else {
                    Arc::new(RowsFinalExec::new(input, proto.value)?)
                })
            }
            kind => internal_err!("a plan from the wire has a node of unknown kind {kind}"),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if let Some(sample) = node.downcast_ref::<SampleExec>() {
            let (method, value) = match sample.mode() {
                Mode::Bernoulli(p) => (0, p.to_bits()),
                Mode::Batches(p) => (1, p.to_bits()),
                Mode::Pruned(p) => (2, p.to_bits()),
                Mode::Rows(n) => (3, n),
            };
            let proto = SampleProto {
                method,
                value,
                seed: sample.seed(),
            };
            frame(SAMPLE_EXEC, &proto.encode_to_vec(), buf);
            Ok(())
        } else if let Some(shipped) = node.downcast_ref::<ShippedScanExec>() {
            let proto = ScanProto {
                files: access_plans(&shipped.scan)?,
                preserve_order: parquet_scan(&shipped.scan).is_some_and(|c| c.preserve_order),
            };
            frame(SHIPPED_SCAN, &proto.encode_to_vec(), buf);
            Ok(())
        } else if let Some(partial) = node.downcast_ref::<RowsPartialExec>() {
            let proto = SampleProto {
                method: 0,
                value: partial.n(),
                seed: partial.seed(),
            };
            frame(ROWS_PARTIAL, &proto.encode_to_vec(), buf);
            Ok(())
        } else if let Some(last) = node.downcast_ref::<RowsFinalExec>() {
            let proto = SampleProto {
                method: 0,
                value: last.n(),
                seed: 0,
            };
            frame(ROWS_FINAL, &proto.encode_to_vec(), buf);
            Ok(())
        } else if node.downcast_ref::<ListScanExec>().is_some() {
            not_impl_err!(
                "the direct scan of vector columns cannot be sent to a cluster's executors; \
                 a cluster's planner reads them with the Parquet scan"
            )
        } else {
            self.inner.try_encode(node, buf, proto_converter)
        }
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

    fn try_decode_udaf(
        &self,
        name: &str,
        buf: &[u8],
    ) -> Result<Arc<datafusion::logical_expr::AggregateUDF>> {
        self.inner.try_decode_udaf(name, buf)
    }

    fn try_encode_udaf(
        &self,
        node: &datafusion::logical_expr::AggregateUDF,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        self.inner.try_encode_udaf(node, buf)
    }
}

/// The Parquet file scan of `plan`, when it is one.
fn parquet_scan(plan: &Arc<dyn ExecutionPlan>) -> Option<&FileScanConfig> {
    let config = plan
        .downcast_ref::<DataSourceExec>()?
        .data_source()
        .downcast_ref::<FileScanConfig>()?;
    config
        .file_source()
        .downcast_ref::<ParquetSource>()
        .map(|_| config)
}

/// The access plan of each file of `scan`, in file-group order.
fn access_plans(scan: &Arc<dyn ExecutionPlan>) -> Result<Vec<FileAccessProto>> {
    let Some(config) = parquet_scan(scan) else {
        return internal_err!("a shipped scan that is not a Parquet scan");
    };
    let mut files = Vec::new();
    for group in &config.file_groups {
        for file in group.iter() {
            let Some(plan) = file.extension::<ParquetAccessPlan>() else {
                files.push(FileAccessProto {
                    planned: false,
                    row_groups: vec![],
                });
                continue;
            };
            let row_groups = plan
                .inner()
                .iter()
                .map(|access| match access {
                    RowGroupAccess::Skip => GroupAccessProto {
                        access: 0,
                        ..Default::default()
                    },
                    RowGroupAccess::Scan => GroupAccessProto {
                        access: 1,
                        ..Default::default()
                    },
                    RowGroupAccess::Selection(selection) => {
                        let selectors: Vec<RowSelector> = selection.clone().into();
                        GroupAccessProto {
                            access: 2,
                            rows: selectors.iter().map(|s| s.row_count as u64).collect(),
                            skip: selectors.iter().map(|s| s.skip).collect(),
                        }
                    }
                })
                .collect();
            files.push(FileAccessProto {
                planned: true,
                row_groups,
            });
        }
    }
    Ok(files)
}

/// `scan` with `files`' access plans put back on its files, and reading
/// files in the partitions they are grouped under if `preserve_order`.
fn with_access_plans(
    scan: &Arc<dyn ExecutionPlan>,
    files: &[FileAccessProto],
    preserve_order: bool,
) -> Result<Arc<dyn ExecutionPlan>> {
    let Some(config) = parquet_scan(scan) else {
        return internal_err!("a shipped scan that is not a Parquet scan");
    };
    let count: usize = config.file_groups.iter().map(FileGroup::len).sum();
    if count != files.len() {
        return internal_err!(
            "a scan from the wire has {count} files and {} access plans",
            files.len()
        );
    }
    let mut plans = files.iter();
    let mut groups = Vec::with_capacity(config.file_groups.len());
    for group in &config.file_groups {
        let mut out = Vec::with_capacity(group.len());
        for file in group.iter() {
            let access = plans.next().expect("counted above");
            if !access.planned {
                out.push(file.clone());
                continue;
            }
            let row_groups = access
                .row_groups
                .iter()
                .map(|g| match g.access {
                    0 => Ok(RowGroupAccess::Skip),
                    1 => Ok(RowGroupAccess::Scan),
                    2 if g.rows.len() == g.skip.len() => {
                        Ok(RowGroupAccess::Selection(RowSelection::from(
                            g.rows
                                .iter()
                                .zip(&g.skip)
                                .map(|(&rows, &skip)| RowSelector {
                                    row_count: rows as usize,
                                    skip,
                                })
                                .collect::<Vec<_>>(),
                        )))
                    }
                    a => internal_err!("a row group access from the wire of kind {a}"),
                })
                .collect::<Result<Vec<_>>>()?;
            out.push(
                file.clone()
                    .with_extension(ParquetAccessPlan::new(row_groups)),
            );
        }
        groups.push(FileGroup::new(out));
    }
    let config = FileScanConfigBuilder::from(config.clone())
        .with_file_groups(groups)
        .with_preserve_order(preserve_order || config.preserve_order)
        .build();
    Ok(DataSourceExec::from_data_source(config))
}

/// A Parquet scan on its way to a cluster's executors: passes its scan's
/// rows through, and is encoded with what DataFusion's encoding of that scan
/// leaves out (see the module docs). The scan is its child, not hidden
/// inside it, so that Ballista can give each task only the scan's file
/// groups that task reads (it restricts a `DataSourceExec`; an opaque leaf
/// it cannot restrict would be read whole by every task).
#[derive(Debug)]
pub struct ShippedScanExec {
    scan: Arc<dyn ExecutionPlan>,
}

impl ShippedScanExec {
    pub fn new(scan: Arc<dyn ExecutionPlan>) -> Self {
        Self { scan }
    }

    pub fn scan(&self) -> &Arc<dyn ExecutionPlan> {
        &self.scan
    }
}

impl DisplayAs for ShippedScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "ShippedScanExec: NaN-safe Parquet statistics and per-file access plans travel with \
             the scan"
        )
    }
}

impl ExecutionPlan for ShippedScanExec {
    fn name(&self) -> &'static str {
        "ShippedScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.scan.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.scan]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match (children.pop(), children.is_empty()) {
            (Some(scan), true) => Ok(Arc::new(Self::new(scan))),
            _ => internal_err!("ShippedScanExec has one child"),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.scan.execute(partition, context)
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        match input_stats.first() {
            Some(stats) => Ok(Arc::clone(stats)),
            None => self.scan.statistics_from_inputs(&[], args),
        }
    }
}

/// What `plan` passes through: the scan a [`ShippedScanExec`] carries.
pub fn unshipped(plan: &Arc<dyn ExecutionPlan>) -> &Arc<dyn ExecutionPlan> {
    match plan.downcast_ref::<ShippedScanExec>() {
        Some(shipped) => &shipped.scan,
        None => plan,
    }
}

/// `plan` with each Parquet scan wrapped in a [`ShippedScanExec`]: the last
/// step of a cluster scheduler's planning.
/// A `TABLESAMPLE (n ROWS)`, which reads every partition of its input in
/// one task, is split in two steps that each task can run on its own
/// partitions ([`crate::exec::sample_rows`]).
pub fn ship_scans(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        if parquet_scan(&node).is_some() {
            return Ok(Transformed::yes(
                Arc::new(ShippedScanExec::new(node)) as Arc<dyn ExecutionPlan>
            ));
        }
        let Some(sample) = node.downcast_ref::<SampleExec>() else {
            return Ok(Transformed::no(node));
        };
        let Mode::Rows(n) = sample.mode() else {
            return Ok(Transformed::no(node));
        };
        let partial = Arc::new(RowsPartialExec::new(
            Arc::clone(sample.input()),
            n,
            sample.seed(),
        ));
        let gathered = Arc::new(CoalescePartitionsExec::new(partial));
        Ok(Transformed::yes(
            Arc::new(RowsFinalExec::new(gathered, n)?) as Arc<dyn ExecutionPlan>
        ))
    })
    .data()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
    use datafusion::datasource::listing::PartitionedFile;
    use datafusion::execution::object_store::ObjectStoreUrl;
    use datafusion::physical_plan::empty::EmptyExec;
    use datafusion::prelude::SessionContext;
    use datafusion_proto::physical_plan::{AsExecutionPlan, DefaultPhysicalExtensionCodec};
    use datafusion_proto::protobuf::PhysicalPlanNode;

    fn codec() -> QuiverPhysicalCodec {
        QuiverPhysicalCodec::new(Arc::new(DefaultPhysicalExtensionCodec {}))
    }

    /// `plan` encoded and decoded as a scheduler and an executor would.
    fn round_trip(plan: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
        let codec = codec();
        let node = PhysicalPlanNode::try_from_physical_plan(plan, &codec).expect("encode");
        let bytes = node.encode_to_vec();
        let node = PhysicalPlanNode::decode(bytes.as_slice()).expect("bytes");
        node.try_into_physical_plan(&SessionContext::new().task_ctx(), &codec)
            .expect("decode")
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]))
    }

    #[test]
    fn samples_keep_their_mode_and_seed() {
        for mode in [
            Mode::Bernoulli(0.25),
            Mode::Batches(0.5),
            Mode::Pruned(0.125),
            Mode::Rows(17),
        ] {
            let plan = Arc::new(SampleExec::new(
                Arc::new(EmptyExec::new(schema())),
                mode,
                99,
            ));
            let back = round_trip(plan);
            let back = back.downcast_ref::<SampleExec>().expect("a SampleExec");
            assert_eq!(format!("{:?}", back.mode()), format!("{mode:?}"));
            assert_eq!(back.seed(), 99);
        }
        let partial = Arc::new(RowsPartialExec::new(
            Arc::new(EmptyExec::new(schema())),
            5,
            3,
        ));
        let plan = Arc::new(RowsFinalExec::new(partial, 5).expect("final"));
        let back = round_trip(plan);
        let last = back.downcast_ref::<RowsFinalExec>().expect("RowsFinalExec");
        assert_eq!(last.n(), 5);
        let partial = last.children()[0]
            .downcast_ref::<RowsPartialExec>()
            .expect("RowsPartialExec");
        assert_eq!((partial.n(), partial.seed()), (5, 3));
    }

    /// The access plans a SYSTEM sample or top-k seeding attached to each
    /// file, which DataFusion's encoding of the scan drops, arrive.
    #[test]
    fn a_shipped_scan_keeps_each_files_access_plan() {
        let selection = RowSelection::from(vec![
            RowSelector::skip(10),
            RowSelector::select(5),
            RowSelector::skip(85),
        ]);
        let planned = ParquetAccessPlan::new(vec![
            RowGroupAccess::Skip,
            RowGroupAccess::Scan,
            RowGroupAccess::Selection(selection),
        ]);
        let groups = vec![
            FileGroup::new(vec![
                PartitionedFile::new("a.parquet", 1000).with_extension(planned.clone()),
                PartitionedFile::new("b.parquet", 1000),
            ]),
            FileGroup::new(vec![
                PartitionedFile::new("c.parquet", 1000)
                    .with_extension(ParquetAccessPlan::new_none(4)),
            ]),
        ];
        let config = FileScanConfigBuilder::new(
            ObjectStoreUrl::local_filesystem(),
            Arc::new(ParquetSource::new(schema())),
        )
        .with_file_groups(groups)
        .with_preserve_order(true)
        .build();
        let plan = ship_scans(DataSourceExec::from_data_source(config)).expect("ship");
        let back = round_trip(plan);
        let shipped = back
            .downcast_ref::<ShippedScanExec>()
            .expect("ShippedScanExec");
        let config = parquet_scan(shipped.scan()).expect("a Parquet scan");
        assert!(config.preserve_order);
        let files: Vec<_> = config.file_groups.iter().flat_map(|g| g.iter()).collect();
        assert_eq!(files.len(), 3);
        assert_eq!(files[0].extension::<ParquetAccessPlan>(), Some(&planned));
        assert_eq!(files[1].extension::<ParquetAccessPlan>(), None);
        assert_eq!(
            files[2].extension::<ParquetAccessPlan>(),
            Some(&ParquetAccessPlan::new_none(4))
        );
    }

    #[test]
    fn a_tablesample_node_keeps_its_method_and_seed() {
        use datafusion::logical_expr::LogicalPlanBuilder;
        let codec = QuiverLogicalCodec::new(Arc::new(
            datafusion_proto::logical_plan::DefaultLogicalExtensionCodec {},
        ));
        let input = LogicalPlanBuilder::empty(false).build().expect("plan");
        for method in [
            SampleMethod::Bernoulli(0.3),
            SampleMethod::System(0.01),
            SampleMethod::Rows(12),
        ] {
            let node = Extension {
                node: Arc::new(SampleNode {
                    input: input.clone(),
                    method,
                    seed: 5,
                }),
            };
            let mut buf = vec![];
            codec.try_encode(&node, &mut buf).expect("encode");
            let back = codec
                .try_decode(
                    &buf,
                    std::slice::from_ref(&input),
                    &SessionContext::new().task_ctx(),
                )
                .expect("decode");
            let back = back
                .node
                .as_any()
                .downcast_ref::<SampleNode>()
                .expect("a SampleNode");
            assert_eq!(back.method.to_string(), method.to_string());
            assert_eq!(back.seed, 5);
        }
        // Bytes of other codecs go to the wrapped one.
        assert!(unframe(b"\x08\x01").is_none());
    }
}
