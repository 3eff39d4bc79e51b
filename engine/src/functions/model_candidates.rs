//! `model_candidates(model)`: a tagger's candidate words per cluster.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Float32Array, RecordBatch, StringArray, UInt32Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl};
use datafusion::common::{Result, plan_err};
use datafusion::datasource::{MemTable, TableProvider};
use datafusion::logical_expr::Documentation;

use super::MODEL_SECTION;
use super::model_args::{literal_model_name, load_pinned, resolve};
use crate::models::tagger::Tagger;
use crate::store::ModelStore;

/// `model_candidates` over `models`.
#[derive(Debug)]
pub struct ModelCandidates {
    models: Arc<ModelStore>,
}

impl ModelCandidates {
    pub fn new(models: Arc<ModelStore>) -> Self {
        Self { models }
    }
}

pub static MODEL_CANDIDATES_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        MODEL_SECTION,
        "Table function: a tagger's candidates (words and phrases), with columns `cluster_id, \
         word, similarity, support`: the cosine similarity of the candidate (a phrase: the mean \
         of its words) to the cluster centre, and how many of the cluster's texts hold it (0 \
         for a tagger built from its models alone). Best first within each cluster: by support \
         for a tagger learned from texts, by similarity for one built from its models alone.",
        "SELECT * FROM model_candidates(model)",
    )
    .with_argument("model", "Name of a tagger model, as a string literal.")
    .with_sql_example(
        "```sql\n\
         > SELECT cluster_id, word FROM model_candidates('title_tags') LIMIT 2;\n\
         +------------+-------+\n\
         | cluster_id | word  |\n\
         +------------+-------+\n\
         | 0          | pizza |\n\
         | 0          | euro  |\n\
         +------------+-------+\n\
         ```",
    )
    .with_related_udf("tag")
    .build()
});

impl TableFunctionImpl for ModelCandidates {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        const F: &str = "model_candidates";
        if args.exprs().len() != 1 {
            return plan_err!(
                "{F}: expected 1 argument (model), got {}",
                args.exprs().len()
            );
        }
        let name = literal_model_name(F, args.exprs().first())?;
        let manifest = resolve(&self.models, F, &name, "tagger")?;
        let model = load_pinned::<Tagger>(&self.models, F, &name, manifest.version)?;
        let rows = model
            .lists
            .iter()
            .enumerate()
            .flat_map(|(c, l)| l.iter().map(move |cand| (c as u32, cand)));
        let (mut cluster, mut word, mut sim, mut support) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (c, cand) in rows {
            cluster.push(c);
            word.push(model.unit_text(cand.unit));
            sim.push(cand.similarity);
            support.push(cand.support);
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("cluster_id", DataType::UInt32, false),
            Field::new("word", DataType::Utf8, false),
            Field::new("similarity", DataType::Float32, false),
            Field::new("support", DataType::UInt32, false),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(UInt32Array::from(cluster)),
                Arc::new(StringArray::from(word)),
                Arc::new(Float32Array::from(sim)),
                Arc::new(UInt32Array::from(support)),
            ],
        )?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}
