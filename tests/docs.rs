//! `docs/functions.md` is generated from the functions' own documentation;
//! this fails when it is stale. `QUIVER_UPDATE_DOCS=1 cargo test
//! docs_are_current` writes it anew.

use std::path::PathBuf;

use quiver_udfs::ModelStore;
use quiver_udfs::functions::reference_markdown;

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

/// Every SQL example in the reference runs and prints what it says.
#[tokio::test]
async fn reference_examples_are_true() {
    let dir = tempfile::tempdir().expect("tempdir");
    let session = crate::common::session(&dir.path().join("wh")).await;
    for udf in quiver_udfs::functions::scalar_functions(session.models()) {
        let doc = udf.documentation().expect("every function is documented");
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
        assert!(
            example.contains(&table),
            "{}: the example shows\n{example}\nbut the statement prints\n{table}",
            udf.name()
        );
    }
}
