//! `docs/functions.md` is generated from the functions' own documentation;
//! this fails when it is stale. `QUIVER_UPDATE_DOCS=1 cargo test
//! docs_are_current` writes it anew.

use std::path::PathBuf;

use quiver_engine::ModelStore;
use quiver_engine::functions::reference_markdown;

#[test]
fn docs_are_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/functions.md");
    let generated = reference_markdown(&ModelStore::in_memory());
    if std::env::var_os("QUIVER_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).expect("write docs/functions.md");
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/functions.md is stale: run `QUIVER_UPDATE_DOCS=1 cargo test docs_are_current`"
    );
}

/// Every SQL example in the reference runs. Examples that need no model
/// print exactly what they show; a model's figures depend on its training,
/// so for those the column names must match.
#[tokio::test]
async fn reference_examples_are_true() {
    let dir = tempfile::tempdir().expect("tempdir");
    let session = crate::common::session(&dir.path().join("wh")).await;
    session
        .sql(
            "CREATE MODEL title_vectors TYPE word2vec OPTIONS (dim = 4, min_count = 1, epochs = 1)
             AS SELECT * FROM (VALUES ('euro delight pizza'), ('pizza for pepperoni calzone margherita')) t(title)",
        )
        .await
        .expect("a model for the examples");
    session
        .sql(
            "CREATE MODEL title_clusters TYPE kmeans OPTIONS (k = 2)
             AS SELECT embed('title_vectors', t) FROM (VALUES ('euro delight pizza'), ('pepperoni calzone')) v(t);
             CREATE MODEL title_tags TYPE tagger OPTIONS (embedding = 'title_vectors', clusters = 'title_clusters')",
        )
        .await
        .expect("a clustering and a tagger for the examples");
    let scalars = quiver_engine::functions::scalar_functions(session.models());
    let tables = quiver_engine::functions::table_functions(session.models());
    let aggregates = quiver_engine::functions::aggregate_functions();
    // DataFusion's own, documented by DataFusion.
    use quiver_engine::functions::min_max::REPLACED;
    let docs = scalars
        .iter()
        .map(|u| {
            (
                u.name().to_string(),
                u.documentation().expect("every function is documented"),
            )
        })
        .chain(
            aggregates
                .iter()
                .filter(|u| !REPLACED.contains(&u.name()))
                .map(|u| {
                    (
                        u.name().to_string(),
                        u.documentation().expect("every function is documented"),
                    )
                }),
        )
        .chain(tables.iter().map(|t| (t.name.to_string(), t.doc)));
    for (name, doc) in docs {
        let example = doc
            .sql_example
            .as_deref()
            .expect("every function has an example");
        let sql = example
            .lines()
            .find_map(|l| l.strip_prefix("> "))
            .expect("an example has a '> ' statement line");
        let batches = session.sql(sql).await.expect(sql);
        let table = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .expect("format")
            .to_string();
        if doc.doc_section.label == "Model functions" {
            let columns = |t: &str| -> Vec<String> {
                t.lines()
                    .find(|l| l.starts_with('|'))
                    .map(|l| {
                        l.split('|')
                            .map(|c| c.trim().to_string())
                            .filter(|c| !c.is_empty())
                            .collect()
                    })
                    .unwrap_or_default()
            };
            assert_eq!(
                columns(example),
                columns(&table),
                "{name}: the example's columns differ"
            );
        } else {
            assert!(
                example.contains(&table),
                "{name}: the example shows\n{example}\nbut the statement prints\n{table}"
            );
        }
    }
}
