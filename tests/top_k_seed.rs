//! Seeded top-k thresholds skip row groups before the scan reads a row
//! (quiver_udfs::optimizer::seed); tests/slt/top_k_seed.slt checks the
//! answers against full sorts.

use datafusion::arrow::util::pretty::pretty_format_batches;

use crate::common::session;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_top_k_reads_only_the_row_groups_that_can_reach_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = session(dir.path()).await;
    s.sql(
        "SET datafusion.execution.parquet.max_row_group_size = 100; \
         CREATE TABLE ranked AS SELECT value AS id, value / 10 AS s FROM generate_series(0, 999)",
    )
    .await
    .expect("table of 10 row groups");
    let row_groups = |sql: &'static str| {
        let s = &s;
        async move {
            let plan = s.sql(&format!("EXPLAIN ANALYZE {sql}")).await.expect(sql);
            let text = pretty_format_batches(&plan).expect("printable").to_string();
            let at = text
                .find("row_groups_pruned_statistics=")
                .expect("scan metrics");
            text[at..].split(',').next().expect("metric").to_string()
        }
    };
    // The best 25 scores (99, 98, 97) are all in the last row group.
    assert_eq!(
        row_groups("SELECT id FROM ranked ORDER BY s DESC LIMIT 25").await,
        "row_groups_pruned_statistics=1 total → 1 matched"
    );
    assert_eq!(
        row_groups("SELECT id FROM ranked ORDER BY s LIMIT 150").await,
        "row_groups_pruned_statistics=2 total → 2 matched"
    );
    // Behind a filter no seed applies: every row group is opened.
    assert_eq!(
        row_groups("SELECT id FROM ranked WHERE id % 2 = 0 ORDER BY s DESC LIMIT 25").await,
        "row_groups_pruned_statistics=10 total → 10 matched"
    );
}
