//! The one way to build the engine (`quiver_engine::configure`): a bare
//! DataFusion session given it answers `TABLESAMPLE`, NaN ordering and a
//! seeded top-k exactly as the CLI's session does, and holds every function
//! quiver has. Guards issue 22: a host that registered the functions alone
//! silently lost TABLESAMPLE's operator and NaN-safe statistics.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::{Float32Array, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::execution::registry::FunctionRegistry;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::prelude::SessionContext;
use quiver::QuiverSession;
use quiver_engine::ModelStore;
use quiver_engine::functions::{aggregate_functions, scalar_functions, table_functions};

use crate::common::session;

/// A DataFusion session with DataFusion's defaults and quiver's engine,
/// and nothing else: no warehouse, no quiver session.
fn bare() -> SessionContext {
    let builder = SessionStateBuilder::new().with_default_features();
    let state = quiver_engine::configure(builder, &ModelStore::in_memory()).build();
    SessionContext::new_with_state(state)
}

/// 20,000 rows `(id, s)` in row groups of 100, written by arrow-rs, whose
/// float statistics leave out NaN: rows 7 and 12,345 hold NaN, the rest
/// scores in [0, 1) that rise with the row group.
fn scores_file(path: &std::path::Path) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("s", DataType::Float32, true),
    ]));
    let ids: Vec<i64> = (0..20_000).collect();
    let scores: Vec<f32> = ids
        .iter()
        .map(|&i| match i {
            7 | 12_345 => f32::NAN,
            _ => ((i * 7919) % 20_000) as f32 / 20_000.0,
        })
        .collect();
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(Float32Array::from(scores)),
        ],
    )
    .expect("batch");
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(100))
        .build();
    let file = std::fs::File::create(path).expect("create");
    let mut w = ArrowWriter::try_new(file, schema, Some(props)).expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");
}

/// What each query returns in a bare session, printed.
async fn answers(ctx: &SessionContext, queries: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for q in queries {
        let batches = ctx.sql(q).await.expect(q).collect().await.expect(q);
        out.push(
            pretty_format_batches(&batches)
                .expect("printable")
                .to_string(),
        );
    }
    out
}

/// What each query returns in the CLI's session, printed.
async fn cli_answers(session: &QuiverSession, queries: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for q in queries {
        let batches = session.sql(q).await.expect(q);
        out.push(
            pretty_format_batches(&batches)
                .expect("printable")
                .to_string(),
        );
    }
    out
}

const QUERIES: &[&str] = &[
    "SELECT id, s FROM scores ORDER BY s DESC LIMIT 3",
    "SELECT max(s) FROM scores",
    "SELECT count(*) FROM scores WHERE s > 0.9999",
    "SELECT count(*), sum(id) FROM scores TABLESAMPLE SYSTEM (10 PERCENT) REPEATABLE (7)",
    "SELECT count(*), sum(id) FROM scores TABLESAMPLE BERNOULLI (10 PERCENT) REPEATABLE (3)",
    "SELECT count(*), sum(id) FROM scores TABLESAMPLE (100 ROWS) REPEATABLE (5)",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_session_with_the_engine_answers_as_the_cli_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("scores.parquet");
    scores_file(&file);
    let create = format!(
        "CREATE EXTERNAL TABLE scores STORED AS PARQUET LOCATION '{}'",
        file.display()
    );

    let cli = session(&dir.path().join("wh")).await;
    cli.sql(&create).await.expect("external table");
    let bare = bare();
    bare.sql(&create).await.expect("external table");

    let expected = cli_answers(&cli, QUERIES).await;
    let got = answers(&bare, QUERIES).await;
    for ((q, e), g) in QUERIES.iter().zip(&expected).zip(&got) {
        assert_eq!(e, g, "{q}");
    }
    // The answers are the engine's, not DataFusion's: NaN ranks first, and
    // the samples are samples.
    assert_eq!(got[0].matches("NaN").count(), 2, "{}", got[0]);
    assert!(got[1].contains("NaN"), "{}", got[1]);
    for sampled in &got[3..5] {
        let count: u64 = sampled
            .lines()
            .nth(3)
            .and_then(|l| l.split('|').nth(1))
            .and_then(|c| c.trim().parse().ok())
            .expect("a count");
        assert!((1_000..3_500).contains(&count), "{sampled}");
    }
    assert!(got[5].contains("| 100 "), "{}", got[5]);

    // The top-k is seeded in both: the scan skips the row groups that
    // cannot hold the 3 highest ids (all but the last) before it opens
    // them: one row group of 200 reaches the scan.
    let top = "EXPLAIN ANALYZE SELECT id FROM scores ORDER BY id DESC LIMIT 3";
    let pruned = |plan: &str| {
        let at = plan
            .find("row_groups_pruned_statistics=")
            .expect("scan metrics");
        plan[at..].split(',').next().expect("metric").to_string()
    };
    let bare_pruned = pruned(&answers(&bare, &[top]).await[0]);
    assert_eq!(pruned(&cli_answers(&cli, &[top]).await[0]), bare_pruned);
    assert!(
        bare_pruned.ends_with("=1 total → 1 matched"),
        "{bare_pruned}"
    );

    // Without the engine, DataFusion alone does not sample (it refuses
    // TABLESAMPLE or reads every row) and lets the hidden NaN go: this test
    // fails on a host that skipped `configure`.
    let plain = SessionContext::new();
    plain.sql(&create).await.expect("external table");
    for i in [0, 1, 3] {
        let q = QUERIES[i];
        let answer = match plain.sql(q).await {
            Ok(df) => df
                .collect()
                .await
                .ok()
                .map(|b| pretty_format_batches(&b).expect("printable").to_string()),
            Err(_) => None,
        };
        assert_ne!(answer.as_deref(), Some(got[i].as_str()), "{q}");
    }
}

/// The names of quiver's functions, from the engine's one list.
fn quiver_function_names() -> BTreeSet<String> {
    let models = ModelStore::in_memory();
    let mut names: BTreeSet<String> = scalar_functions(&models)
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    names.extend(aggregate_functions().iter().map(|f| f.name().to_string()));
    names.extend(table_functions(&models).iter().map(|f| f.name.to_string()));
    names
}

#[test]
fn every_function_quiver_has_is_installed() {
    let names = quiver_function_names();
    // One file per SQL function, named as in SQL: a file the list misses is
    // a function no host would have.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("engine/src/functions");
    let helpers = ["mod", "model_args", "vector"];
    for entry in std::fs::read_dir(&dir).expect("functions folder") {
        let path = entry.expect("entry").path();
        let stem = path.file_stem().and_then(|s| s.to_str()).expect("name");
        if stem == "min_max" {
            // DataFusion's `min` and `max`, replaced by one file.
            assert!(names.contains("min") && names.contains("max"), "{names:?}");
        } else if !helpers.contains(&stem) {
            assert!(
                names.contains(stem),
                "{} defines a function that quiver_engine::functions does not list",
                path.display()
            );
        }
    }

    let state = bare().state();
    for name in &names {
        assert!(
            state.scalar_functions().contains_key(name)
                || state.aggregate_functions().contains_key(name)
                || state.table_functions().contains_key(name),
            "configure does not install {name}"
        );
    }

    // A registry with nothing in it (a Ballista executor's, say) takes
    // every scalar and aggregate function.
    let mut registry = SessionStateBuilder::new().build();
    quiver_engine::register_functions(&mut registry, &ModelStore::in_memory()).expect("register");
    let models = ModelStore::in_memory();
    for f in scalar_functions(&models) {
        assert!(registry.udf(f.name()).is_ok(), "{}", f.name());
    }
    for f in aggregate_functions() {
        assert!(registry.udaf(f.name()).is_ok(), "{}", f.name());
    }
}
