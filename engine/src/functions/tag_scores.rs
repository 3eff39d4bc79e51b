//! `tag_scores(model, text)`: `tag`, with each tag's score.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    ArrayRef, Float32Builder, ListBuilder, StringBuilder, StructBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};

use super::MODEL_SECTION;
use super::model_args::{load_pinned, pinned, pinned_field, resolve_first_arg};
use super::tag::{coerce_tag_args, over_texts};
use crate::models::tagger::{Tagger, text_rows};
use crate::store::ModelStore;

/// `tag_scores(model, text)`.
#[derive(Debug)]
pub struct TagScores {
    signature: Signature,
    models: Arc<ModelStore>,
}

crate::same_store_identity!(TagScores);

/// The `tag_scores` function over `models`.
pub fn tag_scores_udf(models: Arc<ModelStore>) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(TagScores {
        signature: Signature::user_defined(Volatility::Immutable),
        models,
    }))
}

fn entry_fields() -> Fields {
    Fields::from(vec![
        Field::new("tag", DataType::Utf8, false),
        Field::new("score", DataType::Float32, false),
    ])
}

fn list_type() -> DataType {
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(entry_fields()),
        true,
    )))
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        MODEL_SECTION,
        "As `tag`, with each tag's score: a list of structs `{tag, score}`, best first. For a \
         tagger learned from texts the score is the tag's mean association (smoothed pointwise \
         mutual information) with the text's other words and phrases, less its spread and \
         head penalties (docs/models.md): without them, above 0 it goes with them more than \
         chance would have it. For a tagger built from its models alone it is \
         the tag's cosine similarity to the centre of the text's cluster.",
        "tag_scores(model, text)",
    )
    .with_argument("model", "Name of a tagger model, as a string literal.")
    .with_argument("text", "The text to tag.")
    .with_sql_example(
        "```sql\n\
         > SELECT tag_scores('title_tags', 'Euro Delight Pizza') AS tags;\n\
         +-----------------------------------+\n\
         | tags                              |\n\
         +-----------------------------------+\n\
         | [{tag: pizza, score: 0.71}]       |\n\
         +-----------------------------------+\n\
         ```",
    )
    .with_related_udf("tag")
    .build()
});

impl ScalarUDFImpl for TagScores {
    fn name(&self) -> &str {
        "tag_scores"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_tag_args("tag_scores", arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(list_type())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let manifest = resolve_first_arg(&self.models, "tag_scores", &args, "tagger")?;
        Ok(Arc::new(pinned_field("tag_scores", list_type(), &manifest)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (name, version) = pinned("tag_scores", &args.return_field)?;
        let model = load_pinned::<Tagger>(&self.models, "tag_scores", &name, version)?;
        over_texts(&args.args[1], |texts| scores_array(&model, texts))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

fn scores_array(model: &Tagger, texts: &ArrayRef) -> Result<ArrayRef> {
    let entries = StructBuilder::new(
        entry_fields(),
        vec![
            Box::new(StringBuilder::new()),
            Box::new(Float32Builder::new()),
        ],
    );
    let mut out = ListBuilder::new(entries);
    model.tag_all(text_rows(texts)?, |tags| match tags {
        None => out.append_null(),
        Some(tags) => {
            let s = out.values();
            for &(score, id) in tags {
                if let Some(b) = s.field_builder::<StringBuilder>(0) {
                    b.append_value(model.unit_text(id));
                }
                if let Some(b) = s.field_builder::<Float32Builder>(1) {
                    b.append_value(score);
                }
                s.append(true);
            }
            out.append(true);
        }
    });
    Ok(Arc::new(out.finish()))
}
