//! `embed(model, text)`: a text's vector under a word2vec model, the mean of
//! the vectors of its known tokens.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, FixedSizeListArray, Float32Array};
use datafusion::arrow::buffer::{BooleanBuffer, NullBuffer};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};

use super::MODEL_SECTION;
use super::model_args::{dim_of, load_pinned, pinned, pinned_field, resolve_first_arg};
use crate::models::word2vec::Word2Vec;
use crate::store::ModelStore;

/// `embed(model, text)`.
#[derive(Debug)]
pub struct Embed {
    signature: Signature,
    models: Arc<ModelStore>,
}

crate::same_store_identity!(Embed);

impl Embed {
    pub fn new(models: Arc<ModelStore>) -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            models,
        }
    }
}

/// The `embed` function over `models`.
pub fn embed_udf(models: Arc<ModelStore>) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(Embed::new(models)))
}

fn is_text(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    )
}

fn item_field() -> FieldRef {
    Arc::new(Field::new("item", DataType::Float32, true))
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        MODEL_SECTION,
        "Returns the vector of a text under a word2vec model: the mean of the vectors of its \
         tokens that are in the model's vocabulary, tokenized as the model was trained. NULL \
         when the text is NULL or none of its tokens is known. The text may also be a list of \
         tokens, taken as they are (for models trained on token lists).",
        "embed(model, text)",
    )
    .with_argument("model", "Name of a word2vec model, as a string literal.")
    .with_argument("text", "Text (or a list of tokens) to embed.")
    .with_sql_example(
        "```sql\n\
         > SELECT embed('title_vectors', 'euro delight pizza') AS v;\n\
         +--------------------------------------------+\n\
         | v                                          |\n\
         +--------------------------------------------+\n\
         | [0.0123, -0.2041, ...] (dim floats)        |\n\
         +--------------------------------------------+\n\
         ```",
    )
    .with_related_udf("nearest_words")
    .with_related_udf("cosine_similarity")
    .build()
});

impl ScalarUDFImpl for Embed {
    fn name(&self) -> &str {
        "embed"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [model, text] = arg_types else {
            return plan_err!(
                "embed: expected 2 arguments (model, text), got {}",
                arg_types.len()
            );
        };
        if !is_text(model) {
            return plan_err!("embed: argument 1 (model) must be a model name, got {model}");
        }
        let text = match text {
            DataType::Null => DataType::Utf8,
            t if is_text(t) => t.clone(),
            DataType::List(f) | DataType::LargeList(f) if is_text(f.data_type()) => {
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
            }
            other => {
                return plan_err!(
                    "embed: argument 2 (text) must be text or a list of strings, got {other}"
                );
            }
        };
        Ok(vec![DataType::Utf8, text])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        plan_err!("embed: the return type depends on the model; use return_field_from_args")
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let manifest = resolve_first_arg(&self.models, "embed", &args, "word2vec")?;
        let dim = dim_of("embed", &manifest)?;
        let dt = DataType::FixedSizeList(item_field(), dim as i32);
        Ok(Arc::new(pinned_field("embed", dt, &manifest)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (name, version) = pinned("embed", &args.return_field)?;
        let model = load_pinned::<Word2Vec>(&self.models, "embed", &name, version)?;
        match &args.args[1] {
            ColumnarValue::Array(texts) => {
                Ok(ColumnarValue::Array(Arc::new(embed_array(&model, texts)?)))
            }
            ColumnarValue::Scalar(s) => {
                let array = embed_array(&model, &s.to_array_of_size(1)?)?;
                Ok(ColumnarValue::Scalar(ScalarValue::FixedSizeList(Arc::new(
                    array,
                ))))
            }
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

/// Embeds every row of `texts` into one output buffer for the batch.
pub fn embed_array(model: &Word2Vec, texts: &ArrayRef) -> Result<FixedSizeListArray> {
    let dim = model.dim;
    let n = texts.len();
    let mut values = Vec::with_capacity(n * dim);
    let mut valid = Vec::with_capacity(n);
    match texts.data_type() {
        DataType::Utf8 => {
            model.embed_rows(texts.as_string::<i32>().iter(), &mut values, &mut valid)
        }
        DataType::LargeUtf8 => {
            model.embed_rows(texts.as_string::<i64>().iter(), &mut values, &mut valid)
        }
        DataType::Utf8View => {
            model.embed_rows(texts.as_string_view().iter(), &mut values, &mut valid)
        }
        DataType::Null => {
            values.resize(n * dim, 0.0);
            valid.resize(n, false);
        }
        DataType::List(_) => {
            let lists = texts.as_list::<i32>();
            let mut ids = Vec::new();
            values.resize(n * dim, 0.0);
            for i in 0..n {
                let known = lists.is_valid(i) && {
                    let tokens = lists.value(i);
                    model.embed_tokens(
                        tokens.as_string::<i32>().iter().flatten(),
                        &mut ids,
                        &mut values[i * dim..(i + 1) * dim],
                    )
                };
                valid.push(known);
            }
        }
        other => return exec_err!("embed: cannot embed values of type {other}"),
    }
    let nulls = NullBuffer::new(BooleanBuffer::from(valid));
    Ok(FixedSizeListArray::try_new(
        item_field(),
        dim as i32,
        Arc::new(Float32Array::from(values)),
        Some(nulls),
    )?)
}
