//! Columns of float lists (embeddings) are read by quiver's own page
//! decoder (quiver_engine::plan::list_scan); every query here must give
//! what plain DataFusion gives over the same files.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, FixedSizeListBuilder, Float32Builder, Float64Builder, Int64Array, ListBuilder,
    RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::{WriterProperties, WriterVersion};
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use quiver::QuiverSession;

use crate::common::session;

/// `rows` rows from `first`: `id`, `v` (8 floats; an empty list at ids
/// ending in 613 and a NULL one at ids ending in 637 when `gaps`), `w` (4
/// doubles) and `name`.
fn batch(first: i64, rows: i64, gaps: bool) -> RecordBatch {
    let mut v = ListBuilder::new(Float32Builder::new());
    let mut w = FixedSizeListBuilder::new(Float64Builder::new(), 4);
    for id in first..first + rows {
        let x = id as f32;
        match id % 1000 {
            613 if gaps => v.append(true),
            637 if gaps => v.append(false),
            _ => {
                v.values().append_slice(&[
                    x,
                    x.sin(),
                    x.cos(),
                    1.0 / (x + 1.0),
                    -x,
                    0.5,
                    x * x,
                    2.0,
                ]);
                v.append(true);
            }
        }
        w.values()
            .append_slice(&[id as f64, (id % 7) as f64, -(id as f64), 0.25]);
        w.append(true);
    }
    let (v, w) = (v.finish(), w.finish());
    let ids: Int64Array = (first..first + rows).collect();
    let names: StringArray = (first..first + rows)
        .map(|i| Some(format!("n{}", i % 50)))
        .collect();
    let schema = Schema::new(vec![
        Field::new("id", ids.data_type().clone(), false),
        Field::new("v", v.data_type().clone(), true),
        Field::new("w", w.data_type().clone(), false),
        Field::new("name", names.data_type().clone(), false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![Arc::new(ids), Arc::new(v), Arc::new(w), Arc::new(names)],
    )
    .expect("batch")
}

fn write(path: &Path, batch: &RecordBatch, props: WriterProperties) {
    let file = std::fs::File::create(path).expect("create");
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).expect("writer");
    writer.write(batch).expect("write");
    writer.close().expect("close");
}

/// Table `a`: three files (small pages v1 zstd; v2 pages with empty and
/// NULL lists part way through; a dictionary, uncompressed), row groups of
/// 700 rows.
fn files(dir: &Path) -> std::path::PathBuf {
    let a = dir.join("a");
    std::fs::create_dir_all(&a).expect("dir");
    let props = || {
        WriterProperties::builder()
            .set_max_row_group_row_count(Some(700))
            .set_data_page_row_count_limit(64)
            .set_write_batch_size(64)
            .set_dictionary_enabled(false)
    };
    write(
        &a.join("0.parquet"),
        &batch(0, 3000, false),
        props()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .build(),
    );
    write(
        &a.join("1.parquet"),
        &batch(3000, 2000, true),
        props()
            .set_writer_version(WriterVersion::PARQUET_2_0)
            .build(),
    );
    write(
        &a.join("2.parquet"),
        &batch(5000, 1500, false),
        props().set_dictionary_enabled(true).build(),
    );
    a
}

const QUERIES: &[&str] = &[
    "SELECT * FROM a ORDER BY id",
    "SELECT id, array_element(v, 3) AS x, w FROM a ORDER BY x DESC NULLS LAST, id LIMIT 17",
    "SELECT count(v), count(*), sum(array_length(v)), sum(array_element(w, 2)) FROM a",
    "SELECT name, count(*), max(array_element(v, 7)) FROM a GROUP BY name ORDER BY name",
    "SELECT id, v FROM a WHERE array_element(v, 1) > 6400 ORDER BY id",
    "SELECT count(*) FROM (SELECT v FROM a LIMIT 5)",
    "SELECT id, array_element(v, 2) AS y FROM a WHERE id BETWEEN 1200 AND 1800 ORDER BY id",
    "SELECT name, v FROM a WHERE name = 'n7' ORDER BY id",
    "SELECT id, v FROM a ORDER BY id DESC LIMIT 3",
];

async fn text(batches: &[RecordBatch]) -> String {
    pretty_format_batches(batches)
        .expect("printable")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_columns_read_directly_give_what_datafusion_gives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = files(dir.path());
    let s = session(&dir.path().join("wh")).await;
    s.sql(&format!(
        "CREATE EXTERNAL TABLE a STORED AS PARQUET LOCATION '{}/'",
        a.display()
    ))
    .await
    .expect("table");
    let plain = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
    plain
        .register_parquet(
            "a",
            &format!("{}/", a.display()),
            ParquetReadOptions::default(),
        )
        .await
        .expect("plain table");
    // Batches of 8,192 rows take whole row groups; batches of 100 start
    // and end inside pages. With `pushdown_filters` the scan filters rows
    // itself, and DataFusion's scan stays.
    for (batch_size, pushdown) in [(8192, false), (100, false), (8192, true)] {
        s.sql(&format!(
            "SET datafusion.execution.batch_size = {batch_size}; \
             SET datafusion.execution.parquet.pushdown_filters = {pushdown}"
        ))
        .await
        .expect("settings");
        for sql in QUERIES {
            let ours = s.sql(sql).await.expect(sql);
            let theirs = plain.sql(sql).await.expect(sql).collect().await.expect(sql);
            assert_eq!(
                text(&ours).await,
                text(&theirs).await,
                "{sql}, batches of {batch_size}, pushdown {pushdown}"
            );
        }
    }
    let explain = |sql: &'static str| {
        let s = &s;
        async move {
            let plan = s
                .sql(&format!("EXPLAIN ANALYZE {sql}"))
                .await
                .expect("explain");
            text(&plan).await
        }
    };
    assert!(
        explain(QUERIES[6]).await.contains("DataSourceExec"),
        "pushdown_filters"
    );
    s.sql("SET datafusion.execution.parquet.pushdown_filters = false; SET datafusion.execution.batch_size = 100")
        .await
        .expect("settings");
    // A filter only skips row groups by their statistics (the filter above
    // keeps filtering rows): ids 1200 to 1800 are in 2 of file 0's 5 row
    // groups and none of the other files' 6.
    let filtered = explain(QUERIES[6]).await;
    assert!(filtered.contains("ListScanExec"), "{filtered}");
    assert!(
        filtered.contains("row_groups_pruned_statistics=9"),
        "{filtered}"
    );
    assert!(explain(QUERIES[4]).await.contains("ListScanExec"));
    // A top-k's dynamic filter keeps DataFusion's scan.
    assert!(explain(QUERIES[8]).await.contains("DataSourceExec"));
    // Plain EXPLAIN shows the plan that runs too.
    let plan = s
        .sql(&format!("EXPLAIN {}", QUERIES[6]))
        .await
        .expect("explain");
    let plan = text(&plan).await;
    assert!(
        plan.contains("ListScanExec") && plan.contains("row_groups_pruned_statistics=9"),
        "{plan}"
    );

    // The list columns were read by ListScanExec: directly, except `v`
    // from the pages holding its empty and NULL lists on.
    let plan = s
        .sql(&format!("EXPLAIN ANALYZE {}", QUERIES[0]))
        .await
        .expect("explain");
    let plan = text(&plan).await;
    assert!(plan.contains("ListScanExec"), "{plan}");
    assert!(!plan.contains("DataSourceExec"), "{plan}");
    // v and w: 5 row groups in file 0, 3 in file 1 (v has gaps in the
    // first and the last), 3 in file 2 (dictionary-encoded).
    assert!(plan.contains("list_chunks_direct=20"), "{plan}");
    assert!(plan.contains("list_chunks_arrow=2"), "{plan}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warehouse_vectors_read_directly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s: QuiverSession = session(dir.path()).await;
    s.sql(
        "SET datafusion.execution.parquet.max_row_group_size = 1000; \
         CREATE TABLE e AS SELECT value AS id, \
           arrow_cast(make_array(CAST(value AS FLOAT), CAST(value * 2 AS FLOAT)), 'FixedSizeList(2, Float32)') AS v, \
           make_array(CAST(value AS DOUBLE) / 4) AS l \
         FROM generate_series(1, 5000)",
    )
    .await
    .expect("table");
    let sum = s
        .sql("SELECT sum(array_element(v, 2)), sum(array_element(l, 1)), count(v) FROM e")
        .await
        .expect("sums");
    assert_eq!(
        text(&sum)
            .await
            .lines()
            .nth(3)
            .expect("a row")
            .split_whitespace()
            .collect::<String>(),
        "|25005000.0|3125625.0|5000|"
    );
    let plan = s
        .sql("EXPLAIN ANALYZE SELECT v, l FROM e")
        .await
        .expect("explain");
    let plan = text(&plan).await;
    assert!(
        plan.contains("list_chunks_direct=10,") || plan.contains("list_chunks_direct=10]"),
        "{plan}"
    );
}
