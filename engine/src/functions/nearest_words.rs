//! `nearest_words(model, word_or_vector, k)`: the `k` vocabulary words most
//! cosine-similar to a word or a vector, best first.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, AsArray, Float32Array, RecordBatch, RecordBatchOptions, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Float32Type, Schema};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl};
use datafusion::common::{DFSchema, Result, ScalarValue, plan_err};
use datafusion::datasource::{MemTable, TableProvider};
use datafusion::logical_expr::{ColumnarValue, Documentation};

use super::MODEL_SECTION;
use super::model_args::{literal_count, literal_model_name, load_pinned, resolve};
use crate::models::word2vec::Word2Vec;
use crate::store::ModelStore;

/// `nearest_words` over `models`.
#[derive(Debug)]
pub struct NearestWords {
    models: Arc<ModelStore>,
}

impl NearestWords {
    pub fn new(models: Arc<ModelStore>) -> Self {
        Self { models }
    }
}

pub static NEAREST_WORDS_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        MODEL_SECTION,
        "Table function: the `k` words of a word2vec model's vocabulary most similar (cosine) \
         to a word or a vector, best first, with columns `word, similarity`. A word is looked \
         up as given, then as the model's tokenizer would write it, and is left out of its \
         own result; an unknown word is an error. The vector may be a literal or a constant \
         expression such as `embed(...)` of a literal.",
        "SELECT * FROM nearest_words(model, word_or_vector, k)",
    )
    .with_argument("model", "Name of a word2vec model, as a string literal.")
    .with_argument(
        "word_or_vector",
        "A word (string) or a vector of the model's dimension.",
    )
    .with_argument("k", "How many words, a positive integer literal.")
    .with_sql_example(
        "```sql\n\
         > SELECT * FROM nearest_words('title_vectors', 'pizza', 3);\n\
         +-----------+------------+\n\
         | word      | similarity |\n\
         +-----------+------------+\n\
         | pepperoni | 0.81       |\n\
         | calzone   | 0.78       |\n\
         | margherita| 0.77       |\n\
         +-----------+------------+\n\
         ```",
    )
    .with_related_udf("embed")
    .build()
});

impl TableFunctionImpl for NearestWords {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        const F: &str = "nearest_words";
        let exprs = args.exprs();
        if exprs.len() != 3 {
            return plan_err!(
                "{F}: expected 3 arguments (model, word_or_vector, k), got {}",
                exprs.len()
            );
        }
        let name = literal_model_name(F, exprs.first())?;
        let k = literal_count(F, "k (argument 3)", exprs.get(2))?;
        let manifest = resolve(&self.models, F, &name, "word2vec")?;
        let model = load_pinned::<Word2Vec>(&self.models, F, &name, manifest.version)?;
        // Evaluate the second argument once: a literal, or a constant
        // expression such as embed('m', 'text').
        let physical = args
            .session()
            .create_physical_expr(exprs[1].clone(), &DFSchema::empty())?;
        let one_row = RecordBatch::try_new_with_options(
            Arc::new(Schema::empty()),
            vec![],
            &RecordBatchOptions::new().with_row_count(Some(1)),
        )?;
        let value = match physical.evaluate(&one_row)? {
            ColumnarValue::Scalar(s) => s,
            ColumnarValue::Array(a) => ScalarValue::try_from_array(&a, 0)?,
        };
        let (query, exclude): (Vec<f32>, Option<u32>) = match &value {
            ScalarValue::Utf8(Some(w))
            | ScalarValue::LargeUtf8(Some(w))
            | ScalarValue::Utf8View(Some(w)) => {
                let id = model.lookup(w).or_else(|| {
                    let tokens = model.tokenizer.tokens(w);
                    (tokens.len() == 1)
                        .then(|| model.lookup(&tokens[0]))
                        .flatten()
                });
                match id {
                    Some(id) => (model.vector(id).to_vec(), Some(id)),
                    None => {
                        return plan_err!("{F}: '{w}' is not in the vocabulary of model '{name}'");
                    }
                }
            }
            v if v.is_null() => (Vec::new(), None),
            v => {
                let target = DataType::List(Arc::new(Field::new("item", DataType::Float32, true)));
                let array = match v
                    .to_array_of_size(1)
                    .and_then(|a| Ok(datafusion::arrow::compute::cast(&a, &target)?))
                {
                    Ok(a) => a,
                    Err(_) => {
                        return plan_err!(
                            "{F}: argument 2 must be a word or a vector, got {}",
                            v.data_type()
                        );
                    }
                };
                let list = array.as_list::<i32>();
                let values = list.value(0);
                let values = values.as_primitive::<Float32Type>();
                if values.null_count() > 0 {
                    return plan_err!("{F}: the vector has NULL elements");
                }
                if values.len() != model.dim {
                    return plan_err!(
                        "{F}: the vector has {} dimensions, model '{name}' has {}",
                        values.len(),
                        model.dim
                    );
                }
                (values.values().to_vec(), None)
            }
        };
        let hits = if query.is_empty() {
            Vec::new()
        } else {
            model.nearest(&query, k, exclude)
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("word", DataType::Utf8, false),
            Field::new("similarity", DataType::Float32, false),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from_iter_values(
                    hits.iter().map(|(i, _)| model.words[*i as usize].as_str()),
                )),
                Arc::new(Float32Array::from_iter_values(hits.iter().map(|(_, s)| *s))),
            ],
        )?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}
