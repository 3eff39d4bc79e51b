//! Spreading model functions evenly over the cores.
//!
//! A Parquet scan splits its files by row group, so a table of 7 row groups
//! read by 2 partitions leaves one core 4/7 of the rows. That is nothing for
//! a scan, but a model function (`embed`, `tag`, `tag_scores`,
//! `cluster_assign`: those whose result field pins a model version, see
//! [`crate::functions::model_args`]) costs many times the reading, and the
//! query waits for the slower core. When a projection, filter, sort (the
//! top k by similarity to a text) or partial aggregate calls one of them
//! straight over a scan, [`SpreadModelCalls`] deals the scan's batches out
//! round-robin first (a `RepartitionExec`), so each core takes an equal
//! share of the calls.
//!
//! Only a scan with no output ordering is spread, under a node that asks
//! nothing of how its input is partitioned: dealing batches out reorders
//! rows, a plan may rely on a sorted scan, and a sort of all rows wants its
//! single-partition input as it is.
//!
//! The rule must run before DataFusion's `ProjectionPushdown`, which would
//! otherwise fold the projection (model call and all) into the scan itself;
//! [`physical_optimizer_rules`] is DataFusion's list with it in that place.

use std::sync::Arc;

use crate::models::MODEL_KEY;
use datafusion::arrow::datatypes::Schema;
use datafusion::common::Result;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_expr::{PhysicalExpr, ScalarFunctionExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_optimizer::optimizer::PhysicalOptimizer;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::replace_children_if_necessary;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::{
    Distribution, ExecutionPlan, ExecutionPlanProperties, Partitioning,
};

/// See the module documentation.
#[derive(Debug, Default)]
pub struct SpreadModelCalls;

/// DataFusion's physical optimizer rules with [`SpreadModelCalls`] just
/// before `ProjectionPushdown` (for
/// `SessionStateBuilder::with_physical_optimizer_rules`).
pub fn physical_optimizer_rules() -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut rules = PhysicalOptimizer::new().rules;
    let at = rules
        .iter()
        .position(|r| r.name() == "ProjectionPushdown")
        .unwrap_or(rules.len());
    rules.insert(at, Arc::new(SpreadModelCalls));
    rules
}

impl PhysicalOptimizerRule for SpreadModelCalls {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let partitions = config.execution.target_partitions;
        if partitions < 2 {
            return Ok(plan);
        }
        plan.transform_up(|node| {
            let [child] = node.children()[..] else {
                return Ok(Transformed::no(node));
            };
            let spread = child.downcast_ref::<DataSourceExec>().is_some()
                && child.output_ordering().is_none()
                && matches!(
                    node.input_distribution_requirements().child_distribution(0),
                    Some(Distribution::UnspecifiedDistribution)
                )
                && calls_costly(node.as_ref())?;
            if !spread {
                return Ok(Transformed::no(node));
            }
            let single = child.output_partitioning().partition_count() == 1;
            let dealt = RepartitionExec::try_new(
                Arc::clone(child),
                Partitioning::RoundRobinBatch(partitions),
            )?;
            let node = replace_children_if_necessary(node, vec![Arc::new(dealt)])?;
            // A scan of one partition may feed a node whose parent needs
            // one partition (an aggregate in a single step over a small
            // table): gather the dealt-out partitions again above the
            // node, so the parent sees what it saw before.
            let node: Arc<dyn ExecutionPlan> = if single {
                Arc::new(CoalescePartitionsExec::new(node))
            } else {
                node
            };
            Ok(Transformed::yes(node))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "spread_model_calls"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Whether `node` (a projection, a filter, a sort or a partial aggregate)
/// evaluates a model function.
fn calls_costly(node: &dyn ExecutionPlan) -> Result<bool> {
    let exprs: Vec<Arc<dyn PhysicalExpr>> = if let Some(p) = node.downcast_ref::<ProjectionExec>() {
        p.expr().iter().map(|e| Arc::clone(&e.expr)).collect()
    } else if let Some(f) = node.downcast_ref::<FilterExec>() {
        vec![Arc::clone(f.predicate())]
    } else if let Some(s) = node.downcast_ref::<SortExec>() {
        s.expr().iter().map(|e| Arc::clone(&e.expr)).collect()
    } else if let Some(a) = node.downcast_ref::<AggregateExec>() {
        if *a.mode() != AggregateMode::Partial {
            return Ok(false);
        }
        a.aggr_expr()
            .iter()
            .flat_map(|e| e.expressions())
            .chain(a.group_expr().expr().iter().map(|(e, _)| Arc::clone(e)))
            .collect()
    } else {
        return Ok(false);
    };
    let mut found = false;
    for expr in exprs {
        expr.apply(|e| {
            if let Some(f) = e.downcast_ref::<ScalarFunctionExpr>()
                && applies_model(f)
            {
                found = true;
                return Ok(TreeNodeRecursion::Stop);
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
    }
    Ok(found)
}

/// Whether `f` applies a model: model functions pin the model's version in
/// their result field's metadata.
fn applies_model(f: &ScalarFunctionExpr) -> bool {
    // A scalar function's result field is fixed when it is planned; the
    // schema argument goes unread.
    f.return_field(&Schema::empty())
        .is_ok_and(|field| field.metadata().contains_key(MODEL_KEY))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
    use datafusion::execution::SessionStateBuilder;
    use datafusion::logical_expr::{
        ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
        Volatility,
    };
    use datafusion::physical_plan::displayable;
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// `embed(s)` as the planner sees a model function: it returns `s`, in a
    /// result field that pins a model.
    #[derive(Debug, PartialEq, Eq, Hash)]
    struct PinnedEcho(Signature);

    impl Default for PinnedEcho {
        fn default() -> Self {
            Self(Signature::exact(
                vec![DataType::Utf8View],
                Volatility::Immutable,
            ))
        }
    }

    impl ScalarUDFImpl for PinnedEcho {
        fn name(&self) -> &str {
            "embed"
        }

        fn signature(&self) -> &Signature {
            &self.0
        }

        fn return_type(&self, _: &[DataType]) -> Result<DataType> {
            Ok(DataType::Utf8View)
        }

        fn return_field_from_args(&self, _: ReturnFieldArgs) -> Result<FieldRef> {
            let meta = HashMap::from([(MODEL_KEY.to_string(), "m".to_string())]);
            Ok(Arc::new(
                Field::new("embed", DataType::Utf8View, true).with_metadata(meta),
            ))
        }

        fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
            Ok(args.args[0].clone())
        }
    }

    /// The physical plan of `sql` over a Parquet table `t` of two files
    /// (`sorted`: the same files declared sorted by `s`; `one`: one of
    /// them), two partitions, `embed` stood in for by
    /// [`PinnedEcho`]. The plan
    /// must pass DataFusion's final check and run.
    async fn plan(sql: &str) -> String {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = SessionConfig::new().with_target_partitions(2);
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .with_physical_optimizer_rules(physical_optimizer_rules())
            .build();
        let ctx = SessionContext::new_with_state(state);
        // Two files: a scan of two partitions, which DataFusion leaves as
        // they are (it adds a round-robin only to fewer than the target).
        for (file, from) in [("a", 1), ("b", 1001)] {
            let path = dir.path().join(format!("{file}.parquet"));
            ctx.sql(&format!(
                "COPY (SELECT 'x' || value AS s FROM generate_series({from}, {from} + 999)) \
                 TO '{}' STORED AS PARQUET",
                path.display()
            ))
            .await
            .expect("copy")
            .collect()
            .await
            .expect("write");
        }
        let path = format!("{}/", dir.path().display());
        let one = format!("{}/a.parquet", dir.path().display());
        ctx.sql(&format!(
            "CREATE EXTERNAL TABLE one (s VARCHAR) STORED AS PARQUET LOCATION '{one}'"
        ))
        .await
        .expect("table");
        for (name, order) in [("t", ""), ("sorted", "WITH ORDER (s)")] {
            ctx.sql(&format!(
                "CREATE EXTERNAL TABLE {name} (s VARCHAR) STORED AS PARQUET {order} LOCATION '{path}'"
            ))
            .await
            .expect("table");
        }
        ctx.register_udf(ScalarUDF::new_from_impl(PinnedEcho::default()));
        let df = ctx.sql(sql).await.expect("plan");
        let plan = df.create_physical_plan().await.expect("physical plan");
        datafusion::physical_plan::collect(Arc::clone(&plan), ctx.task_ctx())
            .await
            .expect("run");
        displayable(plan.as_ref()).indent(false).to_string()
    }

    #[tokio::test]
    async fn deals_out_a_scan_that_feeds_a_model_function() {
        for sql in [
            "SELECT embed(s) FROM t",
            "SELECT count(embed(s)) FROM t",
            "SELECT s FROM t WHERE embed(s) = 'x7'",
            "SELECT s FROM t ORDER BY embed(s) DESC LIMIT 3",
        ] {
            let plan = plan(sql).await;
            assert!(
                plan.contains(
                    "RepartitionExec: partitioning=RoundRobinBatch(2), input_partitions=2"
                ),
                "{sql}:\n{plan}"
            );
        }
    }

    /// Regression (issue 27's tests): over a one-file table, `min(f(s)),
    /// max(f(s))` plans the shared call in a projection under an aggregate
    /// of a single step, which needs one partition; dealing the scan out
    /// made DataFusion's final check refuse the plan.
    #[tokio::test]
    async fn a_single_partition_stays_single_above_the_dealt_scan() {
        let plan = plan("SELECT min(embed(s)), max(embed(s)) FROM one").await;
        assert!(plan.contains("CoalescePartitionsExec"), "{plan}");
    }

    #[tokio::test]
    async fn leaves_other_scans_and_sorted_scans_alone() {
        for sql in [
            "SELECT upper(s) FROM t",
            "SELECT embed(s) FROM sorted ORDER BY s",
            // A sort of all rows wants one partition: dealing the scan out
            // in two would break its plan.
            "SELECT s FROM one ORDER BY embed(s)",
        ] {
            let plan = plan(sql).await;
            assert!(!plan.contains("RoundRobinBatch"), "{sql}:\n{plan}");
        }
    }
}
