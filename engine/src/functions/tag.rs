//! `tag(model, text)`: the words of a title that say what it is, by the
//! cluster tagger: the title's words and phrases that are candidates of
//! its cluster, best first.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, ListBuilder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};

use super::MODEL_SECTION;
use super::model_args::{load_pinned, pinned, pinned_field, resolve_first_arg};
use crate::models::tagger::{Tagger, text_rows};
use crate::store::ModelStore;

/// `tag(model, text)`.
#[derive(Debug)]
pub struct Tag {
    signature: Signature,
    models: Arc<ModelStore>,
}

crate::same_store_identity!(Tag);

/// The `tag` function over `models`.
pub fn tag_udf(models: Arc<ModelStore>) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(Tag {
        signature: Signature::user_defined(Volatility::Immutable),
        models,
    }))
}

/// Checks the arguments of `tag` and `tag_scores`: a model name and text.
pub fn coerce_tag_args(function: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
    let text_like = |t: &DataType| {
        matches!(
            t,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
        )
    };
    let [model, text] = arg_types else {
        return plan_err!(
            "{function}: expected 2 arguments (model, text), got {}",
            arg_types.len()
        );
    };
    if !text_like(model) {
        return plan_err!("{function}: argument 1 (model) must be a model name, got {model}");
    }
    if !text_like(text) {
        return plan_err!("{function}: argument 2 (text) must be text, got {text}");
    }
    let text = if text.is_null() {
        DataType::Utf8
    } else {
        text.clone()
    };
    Ok(vec![DataType::Utf8, text])
}

/// Runs `f` over the text argument as an array, and back to a scalar when
/// the argument was one.
pub fn over_texts(
    arg: &ColumnarValue,
    f: impl Fn(&ArrayRef) -> Result<ArrayRef>,
) -> Result<ColumnarValue> {
    match arg {
        ColumnarValue::Array(a) => Ok(ColumnarValue::Array(f(a)?)),
        ColumnarValue::Scalar(s) => Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(
            &f(&s.to_array_of_size(1)?)?,
            0,
        )?)),
    }
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        MODEL_SECTION,
        "Tags a text with the words (or phrases) that say what it is: the text is embedded and \
         assigned to the nearest cluster of the tagger's k-means model, and its tags are its \
         units that are candidates of that cluster, without duplicates, at most `max_tags`. A \
         tagger learned from texts (`CREATE MODEL ... TYPE tagger ... AS SELECT text ...`) joins \
         phrases (\"t-shirt\", \"screen protector\"), takes as candidates the units its \
         cluster's texts hold, and orders tags by how strongly each goes with the text's other \
         words; one built from its models alone takes each centre's nearest vocabulary words \
         and orders by similarity to the centre. An empty list when no word qualifies; NULL for \
         NULL text. Tokenization is the word2vec model's.",
        "tag(model, text)",
    )
    .with_argument("model", "Name of a tagger model, as a string literal.")
    .with_argument("text", "The text to tag.")
    .with_sql_example(
        "```sql\n\
         > SELECT tag('title_tags', 'Euro Delight Pizza') AS tags;\n\
         +---------+\n\
         | tags    |\n\
         +---------+\n\
         | [pizza] |\n\
         +---------+\n\
         ```",
    )
    .with_related_udf("tag_scores")
    .with_related_udf("model_candidates")
    .build()
});

fn list_type() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

impl ScalarUDFImpl for Tag {
    fn name(&self) -> &str {
        "tag"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_tag_args("tag", arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(list_type())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let manifest = resolve_first_arg(&self.models, "tag", &args, "tagger")?;
        Ok(Arc::new(pinned_field("tag", list_type(), &manifest)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (name, version) = pinned("tag", &args.return_field)?;
        let model = load_pinned::<Tagger>(&self.models, "tag", &name, version)?;
        over_texts(&args.args[1], |texts| tag_array(&model, texts))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

/// Tags every row of `texts`.
pub fn tag_array(model: &Tagger, texts: &ArrayRef) -> Result<ArrayRef> {
    let mut out = ListBuilder::with_capacity(StringBuilder::new(), texts.len());
    model.tag_all(text_rows(texts)?, |tags| match tags {
        None => out.append_null(),
        Some(tags) => {
            for &(_, id) in tags {
                out.values().append_value(model.unit_text(id));
            }
            out.append(true);
        }
    });
    Ok(Arc::new(out.finish()))
}
