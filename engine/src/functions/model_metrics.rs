//! `model_metrics(model)`: the training metrics of any model, one row per
//! value: per-epoch (or per-iteration) series have a `step`, single figures
//! have none, and ranked lists (a tagger's commonest tags) have a `label`.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Float64Array, RecordBatch, StringArray, UInt32Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl};
use datafusion::common::{Result, plan_err};
use datafusion::datasource::{MemTable, TableProvider};
use datafusion::logical_expr::Documentation;
use serde_json::Value as Json;

use super::MODEL_SECTION;
use super::model_args::literal_model_name;
use crate::store::ModelStore;

/// `model_metrics` over `models`.
#[derive(Debug)]
pub struct ModelMetrics {
    models: Arc<ModelStore>,
}

impl ModelMetrics {
    pub fn new(models: Arc<ModelStore>) -> Self {
        Self { models }
    }
}

pub static MODEL_METRICS_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        MODEL_SECTION,
        "Table function: the training metrics of a model, with columns `metric, step, value, \
         label`. Series (word2vec's `loss` and `words_per_sec` per epoch) have one row per \
         step, from 1; single figures (`vocabulary`, `train_seconds`) have a NULL step. A \
         tagger learned from texts reports, over those texts, `coverage` (the share with at \
         least one tag), `tags_per_text`, and `top_tags`: its 20 commonest tags, the tag as \
         `label`, how many texts have it as `value` and its rank as `step`. `label` is NULL \
         elsewhere.",
        "SELECT * FROM model_metrics(model)",
    )
    .with_argument("model", "Name of a model, as a string literal.")
    .with_sql_example(
        "```sql\n\
         > SELECT step, value AS loss FROM model_metrics('title_vectors') WHERE metric = 'loss';\n\
         +------+-------+\n\
         | step | loss  |\n\
         +------+-------+\n\
         | 1    | 2.412 |\n\
         | 2    | 2.203 |\n\
         +------+-------+\n\
         ```",
    )
    .build()
});

impl TableFunctionImpl for ModelMetrics {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        const F: &str = "model_metrics";
        if args.exprs().len() != 1 {
            return plan_err!(
                "{F}: expected 1 argument (model), got {}",
                args.exprs().len()
            );
        }
        let name = literal_model_name(F, args.exprs().first())?;
        let manifest = self.models.require_blocking(F, &name)?;
        let (mut metric, mut step, mut value, mut label) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (k, v) in &manifest.metrics {
            match v {
                Json::Number(n) => {
                    metric.push(k.as_str());
                    step.push(None);
                    value.push(n.as_f64());
                    label.push(None);
                }
                Json::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let (x, l) = match item {
                            Json::Object(o) => (
                                o.get("value").and_then(Json::as_f64),
                                o.get("label").and_then(Json::as_str),
                            ),
                            other => (other.as_f64(), None),
                        };
                        if x.is_some() {
                            metric.push(k.as_str());
                            step.push(Some(i as u32 + 1));
                            value.push(x);
                            label.push(l);
                        }
                    }
                }
                _ => {}
            }
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("metric", DataType::Utf8, false),
            Field::new("step", DataType::UInt32, true),
            Field::new("value", DataType::Float64, true),
            Field::new("label", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from(metric)),
                Arc::new(UInt32Array::from(step)),
                Arc::new(Float64Array::from(value)),
                Arc::new(StringArray::from(label)),
            ],
        )?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}
