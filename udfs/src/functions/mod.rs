//! Every quiver SQL function, one file each, named as in SQL.
//!
//! [`register_all`] is the one list of them: the CLI, the Flight SQL server and
//! a Ballista executor all call it, so a function exists everywhere or nowhere.
//! [`reference_markdown`] renders their own documentation into
//! `docs/functions.md`.

use std::fmt::Write as _;
use std::sync::Arc;

use datafusion::common::Result;
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;

use crate::store::ModelStore;

pub mod vector;

pub mod cosine_similarity;
pub mod dot_product;
pub mod l2_distance;

pub use cosine_similarity::{cosine_similarity, cosine_similarity_udf};
pub use dot_product::{dot_product, dot_product_udf};
pub use l2_distance::{l2_distance, l2_distance_udf};

/// Every quiver scalar function, in the order the reference lists them.
pub fn scalar_functions(models: &Arc<ModelStore>) -> Vec<Arc<ScalarUDF>> {
    // Model-backed functions take the store; the vector functions need none.
    let _ = models;
    vec![
        cosine_similarity_udf(),
        dot_product_udf(),
        l2_distance_udf(),
    ]
}

/// Adds every quiver function to `ctx` (the CLI's, the server's, or a
/// Ballista executor's context). Functions that read models load them from
/// `models`.
pub fn register_all(ctx: &SessionContext, models: Arc<ModelStore>) -> Result<()> {
    for udf in scalar_functions(&models) {
        ctx.register_udf(udf.as_ref().clone());
    }
    Ok(())
}

/// The function reference, rendered from each function's `Documentation`.
/// `docs/functions.md` is exactly this text; a test fails when it is stale.
pub fn reference_markdown(models: &Arc<ModelStore>) -> String {
    let mut out = String::from(
        "<!-- Generated from the functions' own documentation by \
         `QUIVER_UPDATE_DOCS=1 cargo test docs_are_current`. Do not edit. -->\n\n\
         # quiver function reference\n",
    );
    let mut section = "";
    for udf in scalar_functions(models) {
        let Some(doc) = udf.documentation() else {
            continue;
        };
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
            udf.name(),
            doc.description,
            doc.syntax_example
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
