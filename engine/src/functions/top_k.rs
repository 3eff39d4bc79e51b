//! `top_k(value, score, k)`: the values of the `k` rows with the highest
//! scores, best first (DuckDB's `arg_max(value, score, k)`).
//!
//! Per group it keeps a bounded set of candidates, not the group's rows: a
//! row whose score is below the current k-th best is dropped without being
//! copied, and the set is cut back to `k` whenever it reaches `2k`. So "the
//! best 3 per group" is one pass with memory of `k` rows per group, where a
//! window `ROW_NUMBER() ... <= 3` sorts every row of every group.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, DocSection, Documentation, Signature, Volatility,
};
use datafusion::physical_expr::expressions::Literal;

const NAME: &str = "top_k";

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TopK {
    signature: Signature,
}

impl Default for TopK {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for TopK {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [value, score, k] = arg_types else {
            return plan_err!(
                "{NAME}: expected 3 arguments (value, score, k), got {}",
                arg_types.len()
            );
        };
        if !(score.is_numeric() || score.is_null()) {
            return plan_err!("{NAME}: the score (argument 2) must be a number, got {score}");
        }
        if !(k.is_integer() || k.is_null()) {
            return plan_err!("{NAME}: k (argument 3) must be an integer literal, got {k}");
        }
        Ok(vec![value.clone(), DataType::Float64, DataType::Int64])
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new(
            "item",
            arg_types[0].clone(),
            true,
        ))))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let value = args.input_fields[0].data_type().clone();
        Ok(vec![
            Arc::new(Field::new(
                format!("{}[values]", args.name),
                DataType::List(Arc::new(Field::new("item", value, true))),
                true,
            )),
            Arc::new(Field::new(
                format!("{}[scores]", args.name),
                DataType::List(Arc::new(Field::new("item", DataType::Float64, true))),
                true,
            )),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let k = match args.exprs.get(2).and_then(|e| e.downcast_ref::<Literal>()) {
            Some(lit) => match lit.value() {
                ScalarValue::Int64(Some(k)) if *k >= 0 => *k as usize,
                other => {
                    return plan_err!("{NAME}: k must be a non-negative integer, got {other}");
                }
            },
            None => return plan_err!("{NAME}: k (argument 3) must be a literal"),
        };
        let value_type = args.exprs[0].data_type(args.schema)?;
        Ok(Box::new(TopKAccumulator {
            k,
            value_type,
            rows: Vec::new(),
        }))
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            Documentation::builder(
                DocSection {
                    include: true,
                    label: "Top-k",
                    description: Some("The best rows of a group without sorting it."),
                },
                "Aggregate: the values of the k rows with the highest scores, best first, \
                 as a list (like DuckDB's `arg_max(value, score, k)`). One pass, keeping k \
                 candidates per group. Rows with a NULL score are skipped; NaN ranks above \
                 every number, as in `ORDER BY score DESC`; ties keep any of the tied \
                 rows. A group with no scored rows gives an empty list.",
                "top_k(value, score, k)",
            )
            .with_argument("value", "What to return for each of the best rows (any type).")
            .with_argument("score", "What to rank by (any number).")
            .with_argument("k", "How many rows: a non-negative integer literal.")
            .with_sql_example(
                "```sql\n\
                 > SELECT top_k(name, score, 2) AS best FROM (VALUES ('a', 1), ('b', 5), ('c', 3)) AS t(name, score);\n\
                 +--------+\n\
                 | best   |\n\
                 +--------+\n\
                 | [b, c] |\n\
                 +--------+\n\
                 ```",
            )
            .build()
        });
        Some(&DOC)
    }
}

/// The `top_k` aggregate, built once per process.
pub fn top_k_udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> =
        LazyLock::new(|| Arc::new(AggregateUDF::new_from_impl(TopK::default())));
    Arc::clone(&UDAF)
}

/// Orders scores as `ORDER BY score DESC` does: NaN first, then numbers.
fn better(a: f64, b: f64) -> std::cmp::Ordering {
    b.total_cmp(&a)
}

#[derive(Debug)]
struct TopKAccumulator {
    k: usize,
    value_type: DataType,
    /// Candidates: (score, value). Cut back to the best `k` at `2k`.
    rows: Vec<(f64, ScalarValue)>,
}

impl TopKAccumulator {
    /// The k-th best score once `k` candidates are held, after a cut.
    fn threshold(&self) -> Option<f64> {
        (self.k > 0 && self.rows.len() >= self.k).then(|| {
            self.rows
                .iter()
                .map(|r| r.0)
                .min_by(|a, b| a.total_cmp(b))
                .unwrap_or(f64::NEG_INFINITY)
        })
    }

    fn cut(&mut self) {
        if self.rows.len() > self.k {
            self.rows
                .select_nth_unstable_by(self.k, |a, b| better(a.0, b.0));
            self.rows.truncate(self.k);
        }
    }

    fn add(&mut self, values: &ArrayRef, scores: &Float64Array) -> Result<()> {
        if self.k == 0 {
            return Ok(());
        }
        let mut bar = self.threshold();
        for i in 0..scores.len() {
            if scores.is_null(i) {
                continue;
            }
            let s = scores.value(i);
            // `bar` is set once k candidates are held: a row not above it
            // cannot be among the best k (ties keep any of the tied rows).
            if bar.is_some_and(|b| s.total_cmp(&b).is_le()) {
                continue;
            }
            self.rows.push((s, ScalarValue::try_from_array(values, i)?));
            if self.rows.len() >= self.k.max(8).saturating_mul(2) {
                self.cut();
                bar = self.threshold();
            }
        }
        Ok(())
    }

    fn best(&self) -> Vec<(f64, ScalarValue)> {
        let mut rows = self.rows.clone();
        rows.sort_by(|a, b| better(a.0, b.0));
        rows.truncate(self.k);
        rows
    }
}

impl Accumulator for TopKAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let scores = cast(&values[1], &DataType::Float64)?;
        self.add(&values[0], scores.as_primitive())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (values, scores) = (states[0].as_list::<i32>(), states[1].as_list::<i32>());
        for row in 0..values.len() {
            if values.is_null(row) || scores.is_null(row) {
                continue;
            }
            let v = values.value(row);
            let s = scores.value(row);
            let Some(s) = s.as_any().downcast_ref::<Float64Array>() else {
                return exec_err!("{NAME}: expected Float64 scores in the state");
            };
            self.add(&v, s)?;
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let best = self.best();
        let values: Vec<ScalarValue> = best.iter().map(|r| r.1.clone()).collect();
        let scores: Vec<ScalarValue> = best
            .iter()
            .map(|r| ScalarValue::Float64(Some(r.0)))
            .collect();
        Ok(vec![
            ScalarValue::List(ScalarValue::new_list_nullable(&values, &self.value_type)),
            ScalarValue::List(ScalarValue::new_list_nullable(&scores, &DataType::Float64)),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let values: Vec<ScalarValue> = self.best().into_iter().map(|r| r.1).collect();
        Ok(ScalarValue::List(ScalarValue::new_list_nullable(
            &values,
            &self.value_type,
        )))
    }

    fn size(&self) -> usize {
        size_of::<Self>()
            + self
                .rows
                .iter()
                .map(|r| r.1.size() + size_of::<f64>())
                .sum::<usize>()
    }
}
