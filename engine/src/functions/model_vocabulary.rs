//! `model_vocabulary(model)`: a word2vec model's words with their training
//! counts and vectors, in vocabulary order (most frequent first).

use std::sync::{Arc, LazyLock};

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl};
use datafusion::common::{Result, plan_err};
use datafusion::datasource::{MemTable, TableProvider};
use datafusion::logical_expr::Documentation;

use super::MODEL_SECTION;
use super::model_args::{literal_model_name, load_pinned, resolve};
use crate::models::word2vec::Word2Vec;
use crate::store::ModelStore;

/// `model_vocabulary` over `models`.
#[derive(Debug)]
pub struct ModelVocabulary {
    models: Arc<ModelStore>,
}

impl ModelVocabulary {
    pub fn new(models: Arc<ModelStore>) -> Self {
        Self { models }
    }
}

pub static MODEL_VOCABULARY_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        MODEL_SECTION,
        "Table function: a word2vec model's vocabulary with columns `word, count, vector`, \
         most frequent first. `count` is the word's count in the training corpus (0 for models \
         imported from a vector file, which carries no counts).",
        "SELECT * FROM model_vocabulary(model)",
    )
    .with_argument("model", "Name of a word2vec model, as a string literal.")
    .with_sql_example(
        "```sql\n\
         > SELECT word, count FROM model_vocabulary('title_vectors') LIMIT 2;\n\
         +-------+-------+\n\
         | word  | count |\n\
         +-------+-------+\n\
         | for   | 91234 |\n\
         | pizza | 5120  |\n\
         +-------+-------+\n\
         ```",
    )
    .with_related_udf("nearest_words")
    .build()
});

impl TableFunctionImpl for ModelVocabulary {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        const F: &str = "model_vocabulary";
        if args.exprs().len() != 1 {
            return plan_err!(
                "{F}: expected 1 argument (model), got {}",
                args.exprs().len()
            );
        }
        let name = literal_model_name(F, args.exprs().first())?;
        let manifest = resolve(&self.models, F, &name, "word2vec")?;
        let model = load_pinned::<Word2Vec>(&self.models, F, &name, manifest.version)?;
        let batch = model.to_batch()?;
        let schema = batch.schema();
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}
