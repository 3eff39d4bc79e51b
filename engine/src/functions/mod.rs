//! Every quiver SQL function, one file each, named as in SQL.
//!
//! [`scalar_functions`], [`aggregate_functions`] and [`table_functions`] are
//! the one list of them, which [`crate::configure`] installs in every host,
//! so a function exists everywhere or nowhere.
//! [`reference_markdown`] renders their own documentation into
//! `docs/functions.md`.

use std::fmt::Write as _;
use std::sync::Arc;

use datafusion::catalog::TableFunctionImpl;
use datafusion::logical_expr::{AggregateUDF, DocSection, Documentation, ScalarUDF};

use crate::store::ModelStore;

pub mod model_args;
pub mod vector;

pub mod cluster_assign;
pub mod cosine_similarity;
pub mod dot_product;
pub mod embed;
pub mod l2_distance;
pub mod min_max;
pub mod model_candidates;
pub mod model_centroids;
pub mod model_metrics;
pub mod model_vocabulary;
pub mod nearest_words;
pub mod tag;
pub mod tag_scores;
pub mod top_k;
pub mod vector_avg;

pub use cosine_similarity::{cosine_similarity, cosine_similarity_udf};
pub use dot_product::{dot_product, dot_product_udf};
pub use l2_distance::{l2_distance, l2_distance_udf};

/// The documentation section of functions that apply models.
pub const MODEL_SECTION: DocSection = DocSection {
    include: true,
    label: "Model functions",
    description: Some(
        "Functions that apply a model from the warehouse. The model name is a string \
         literal; the model is resolved when the query is planned (an unknown model, or one \
         of the wrong type, is an error then) and that version is used for the whole query.",
    ),
};

/// The documentation section every vector function is listed under.
pub const VECTOR_SECTION: DocSection = DocSection {
    include: true,
    label: "Vector functions",
    description: Some(
        "Functions over vectors: `FixedSizeList`, `List` or `LargeList` of numbers. \
         Two vectors are compared in `Float32` when either holds `Float32`, else in \
         `Float64`; the result has that type. NULL in gives NULL out, and so does a \
         vector that holds a NULL element.",
    ),
};

/// Every quiver scalar function, in the order the reference lists them.
pub fn scalar_functions(models: &Arc<ModelStore>) -> Vec<Arc<ScalarUDF>> {
    vec![
        cosine_similarity_udf(),
        dot_product_udf(),
        l2_distance_udf(),
        embed::embed_udf(Arc::clone(models)),
        cluster_assign::cluster_assign_udf(Arc::clone(models)),
        tag::tag_udf(Arc::clone(models)),
        tag_scores::tag_scores_udf(Arc::clone(models)),
    ]
}

/// Every quiver aggregate function, and DataFusion's `min` and `max` with
/// grouped floats fixed ([`min_max`]) in place of DataFusion's own.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    let mut all = vec![vector_avg::vector_avg_udaf(), top_k::top_k_udaf()];
    all.extend(min_max::min_max_udafs());
    all
}

/// A table function with its documentation (DataFusion's table functions
/// carry none of their own).
pub struct TableFunctionEntry {
    pub name: &'static str,
    pub function: Arc<dyn TableFunctionImpl>,
    pub doc: &'static Documentation,
}

/// Every quiver table function, in the order the reference lists them.
pub fn table_functions(models: &Arc<ModelStore>) -> Vec<TableFunctionEntry> {
    vec![
        TableFunctionEntry {
            name: "nearest_words",
            function: Arc::new(nearest_words::NearestWords::new(Arc::clone(models))),
            doc: &nearest_words::NEAREST_WORDS_DOC,
        },
        TableFunctionEntry {
            name: "model_vocabulary",
            function: Arc::new(model_vocabulary::ModelVocabulary::new(Arc::clone(models))),
            doc: &model_vocabulary::MODEL_VOCABULARY_DOC,
        },
        TableFunctionEntry {
            name: "model_centroids",
            function: Arc::new(model_centroids::ModelCentroids::new(Arc::clone(models))),
            doc: &model_centroids::MODEL_CENTROIDS_DOC,
        },
        TableFunctionEntry {
            name: "model_candidates",
            function: Arc::new(model_candidates::ModelCandidates::new(Arc::clone(models))),
            doc: &model_candidates::MODEL_CANDIDATES_DOC,
        },
        TableFunctionEntry {
            name: "model_metrics",
            function: Arc::new(model_metrics::ModelMetrics::new(Arc::clone(models))),
            doc: &model_metrics::MODEL_METRICS_DOC,
        },
    ]
}

/// The function reference, rendered from each function's `Documentation`.
/// `docs/functions.md` is exactly this text; a test fails when it is stale.
pub fn reference_markdown(models: &Arc<ModelStore>) -> String {
    let mut out = String::from(
        "<!-- Generated from the functions' own documentation by \
         `QUIVER_UPDATE_DOCS=1 cargo test docs_are_current`. Do not edit. -->\n\n\
         # quiver function reference\n",
    );
    let scalars = scalar_functions(models);
    let mut entries: Vec<(&str, &Documentation)> = scalars
        .iter()
        .filter_map(|u| u.documentation().map(|d| (u.name(), d)))
        .collect();
    let aggregates = aggregate_functions();
    entries.extend(
        aggregates
            .iter()
            .filter(|u| !min_max::REPLACED.contains(&u.name()))
            .filter_map(|u| u.documentation().map(|d| (u.name(), d))),
    );
    let tables = table_functions(models);
    entries.extend(tables.iter().map(|t| (t.name, t.doc)));
    // Grouped by section, in first-appearance order of the sections.
    let mut sections: Vec<&str> = Vec::new();
    for (_, d) in &entries {
        if !sections.contains(&d.doc_section.label) {
            sections.push(d.doc_section.label);
        }
    }
    entries.sort_by_key(|(_, d)| sections.iter().position(|s| *s == d.doc_section.label));
    let mut section = "";
    for (name, doc) in entries {
        if doc.doc_section.label != section {
            section = doc.doc_section.label;
            let _ = write!(out, "\n## {section}\n\n");
            if let Some(d) = doc.doc_section.description {
                let _ = writeln!(out, "{d}\n");
            }
        }
        let _ = write!(
            out,
            "### `{}`\n\n{}\n\n```sql\n{}\n```\n",
            name, doc.description, doc.syntax_example
        );
        if let Some(args) = &doc.arguments {
            out.push_str("\n#### Arguments\n\n");
            for (name, desc) in args {
                let _ = writeln!(out, "- **{name}**: {desc}");
            }
        }
        if let Some(example) = &doc.sql_example {
            let _ = write!(out, "\n#### Example\n\n{example}\n");
        }
        if let Some(related) = &doc.related_udfs {
            let list: Vec<String> = related.iter().map(|r| format!("`{r}`")).collect();
            let _ = write!(out, "\nSee also: {}.\n", list.join(", "));
        }
        out.push('\n');
    }
    out
}
