//! `TABLESAMPLE`: parsing and planning.
//!
//! DataFusion parses `TABLESAMPLE` and then ignores it, so `SELECT count(*)
//! FROM t TABLESAMPLE BERNOULLI (10)` used to return the whole count. A
//! [`TableSamplePlanner`] (a `RelationPlanner`) turns the clause into a
//! [`SampleNode`] over the table, checked at plan time; the
//! [`SampleExec`](crate::exec::sample::SampleExec) operator does the sampling.
//!
//! - `BERNOULLI (p PERCENT)` (or `ROW`): each row with probability `p / 100`.
//! - `SYSTEM (p PERCENT)` (or `BLOCK`): each Parquet row group with
//!   probability `p / 100`; the others are never read. Over an input that is
//!   not a Parquet scan, each batch is the block.
//! - `(n ROWS)`: exactly `min(n, rows)` rows, uniformly, in one pass.
//! - `REPEATABLE (seed)`: the same sample of the same data every time.
//!
//! A quantity without a unit is a percentage, as in the SQL standard.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::common::{DFSchemaRef, Result, ScalarValue, plan_err};
use datafusion::logical_expr::planner::{
    PlannedRelation, RelationPlanner, RelationPlannerContext, RelationPlanning,
};
use datafusion::logical_expr::{
    Expr, Extension, LogicalPlan, UserDefinedLogicalNodeCore, expr::Expr as LogicalExpr,
};
use datafusion::sql::sqlparser::ast::{
    self, TableFactor, TableSampleKind, TableSampleMethod, TableSampleUnit,
};

/// How rows are drawn.
#[derive(Debug, Clone, Copy)]
pub enum SampleMethod {
    /// Each row with this probability.
    Bernoulli(f64),
    /// Each row group (or batch) with this probability.
    System(f64),
    /// Exactly this many rows (fewer when the input has fewer).
    Rows(u64),
}

impl SampleMethod {
    fn key(&self) -> (u8, u64) {
        match self {
            SampleMethod::Bernoulli(f) => (0, f.to_bits()),
            SampleMethod::System(f) => (1, f.to_bits()),
            SampleMethod::Rows(n) => (2, *n),
        }
    }
}

impl fmt::Display for SampleMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SampleMethod::Bernoulli(p) => write!(f, "BERNOULLI ({} PERCENT)", p * 100.0),
            SampleMethod::System(p) => write!(f, "SYSTEM ({} PERCENT)", p * 100.0),
            SampleMethod::Rows(n) => write!(f, "({n} ROWS)"),
        }
    }
}

/// The logical sample of its input.
#[derive(Debug, Clone)]
pub struct SampleNode {
    pub input: LogicalPlan,
    pub method: SampleMethod,
    /// The seed: `REPEATABLE`'s, or one drawn when the query was planned.
    pub seed: u64,
}

impl PartialEq for SampleNode {
    fn eq(&self, other: &Self) -> bool {
        self.input == other.input
            && self.method.key() == other.method.key()
            && self.seed == other.seed
    }
}

impl Eq for SampleNode {}

impl Hash for SampleNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.input.hash(state);
        self.method.key().hash(state);
        self.seed.hash(state);
    }
}

impl PartialOrd for SampleNode {
    /// Ordered by method and seed; samples of different inputs are not
    /// comparable, so the order agrees with `==`.
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match (self.method.key(), self.seed).cmp(&(other.method.key(), other.seed)) {
            Ordering::Equal if self.input != other.input => None,
            order => Some(order),
        }
    }
}

impl UserDefinedLogicalNodeCore for SampleNode {
    fn name(&self) -> &str {
        "TableSample"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "TableSample: {} REPEATABLE ({})", self.method, self.seed)
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        Ok(Self {
            input: inputs.swap_remove(0),
            method: self.method,
            seed: self.seed,
        })
    }

    /// A sample passes its input's columns through: only the columns the
    /// query uses are read.
    fn necessary_children_exprs(&self, output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        Some(vec![output_columns.to_vec()])
    }
}

/// Plans `TABLESAMPLE` on a table, view or external table.
#[derive(Debug, Default)]
pub struct TableSamplePlanner;

impl RelationPlanner for TableSamplePlanner {
    fn plan_relation(
        &self,
        mut relation: TableFactor,
        context: &mut dyn RelationPlannerContext,
    ) -> Result<RelationPlanning> {
        let (sample, alias) = match &mut relation {
            TableFactor::Table {
                sample: sample @ Some(_),
                alias,
                ..
            } => (sample.take(), alias.clone()),
            _ => return Ok(RelationPlanning::Original(Box::new(relation))),
        };
        let sample = match sample.expect("matched Some") {
            TableSampleKind::BeforeTableAlias(s) | TableSampleKind::AfterTableAlias(s) => s,
        };
        let (method, seed) = check(&sample, context)?;
        let input = context.plan(relation)?;
        let plan = LogicalPlan::Extension(Extension {
            node: Arc::new(SampleNode {
                input,
                method,
                seed,
            }),
        });
        Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(
            plan, alias,
        ))))
    }
}

/// The sampling method and seed of a `TABLESAMPLE` clause, or an error that
/// names what is wrong with it.
fn check(
    sample: &ast::TableSample,
    context: &mut dyn RelationPlannerContext,
) -> Result<(SampleMethod, u64)> {
    if sample.bucket.is_some() || sample.offset.is_some() {
        return plan_err!(
            "TABLESAMPLE: BUCKET and OFFSET sampling are not supported; use BERNOULLI (p PERCENT), \
             SYSTEM (p PERCENT) or (n ROWS)"
        );
    }
    let Some(quantity) = &sample.quantity else {
        return plan_err!(
            "TABLESAMPLE: a quantity is required, e.g. BERNOULLI (10 PERCENT) or (100 ROWS)"
        );
    };
    let empty = Arc::new(datafusion::common::DFSchema::empty());
    let value = match context.sql_to_expr(quantity.value.clone(), &empty) {
        Ok(LogicalExpr::Literal(v, _)) => literal_f64(&v),
        Ok(LogicalExpr::Negative(e)) => match *e {
            LogicalExpr::Literal(v, _) => literal_f64(&v).map(|x| -x),
            _ => None,
        },
        _ => None,
    };
    let Some(value) = value else {
        return plan_err!(
            "TABLESAMPLE: the quantity must be a number literal, got {}",
            quantity.value
        );
    };
    let system = matches!(
        sample.name,
        Some(TableSampleMethod::System | TableSampleMethod::Block)
    );
    let method = match quantity.unit {
        Some(TableSampleUnit::Rows) => {
            if system {
                return plan_err!(
                    "TABLESAMPLE SYSTEM samples a percentage of row groups; for exactly n rows \
                     use TABLESAMPLE (n ROWS)"
                );
            }
            if value < 0.0 || value.fract() != 0.0 || !value.is_finite() {
                return plan_err!(
                    "TABLESAMPLE: the row count must be a non-negative integer, got {value}"
                );
            }
            SampleMethod::Rows(value as u64)
        }
        _ => {
            if !(0.0..=100.0).contains(&value) {
                return plan_err!(
                    "TABLESAMPLE: the percentage must be between 0 and 100, got {value}"
                );
            }
            if system {
                SampleMethod::System(value / 100.0)
            } else {
                SampleMethod::Bernoulli(value / 100.0)
            }
        }
    };
    let seed = match &sample.seed {
        None => rand_seed(),
        Some(s) => match &s.value.value {
            ast::Value::Number(n, _) => match n.parse::<u64>() {
                Ok(seed) => seed,
                Err(_) => {
                    return plan_err!(
                        "TABLESAMPLE: REPEATABLE takes a non-negative integer seed, got {n}"
                    );
                }
            },
            other => {
                return plan_err!(
                    "TABLESAMPLE: REPEATABLE takes a non-negative integer literal, got {other}"
                );
            }
        },
    };
    Ok((method, seed))
}

fn literal_f64(v: &ScalarValue) -> Option<f64> {
    v.cast_to(&datafusion::arrow::datatypes::DataType::Float64)
        .ok()
        .and_then(|v| match v {
            ScalarValue::Float64(Some(x)) => Some(x),
            _ => None,
        })
}

/// A seed for a sample without `REPEATABLE`: different every query.
fn rand_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now())
}
