//! Seeded top-k thresholds skip row groups before the scan reads a row
//! (quiver_engine::plan::seed); tests/slt/top_k_seed.slt checks the
//! answers against full sorts.

use datafusion::arrow::util::pretty::pretty_format_batches;
use quiver::QuiverSession;

use crate::common::{bytes_scanned, session};

/// The scan's `metric=value` in `EXPLAIN ANALYZE sql`.
async fn scan_metric(s: &QuiverSession, sql: &str, metric: &str) -> String {
    let plan = s.sql(&format!("EXPLAIN ANALYZE {sql}")).await.expect(sql);
    let text = pretty_format_batches(&plan).expect("printable").to_string();
    let scan = &text[text.find("DataSourceExec").expect("a scan")..];
    let at = scan.find(&format!("{metric}=")).expect("scan metrics");
    scan[at..].split(',').next().expect("metric").to_string()
}

/// A table `scattered` of 10,000 rows (`value` 0 to 9,999 as `id`, and
/// `columns`) in 5 row groups of 20 pages of 100 rows. (The writer also
/// ends a page at its input's batch boundaries, and a plan may merge
/// batches from the cores in any order: batches of 100, in order, make the
/// pages the same every run.)
async fn paged(s: &QuiverSession, columns: &str) {
    s.sql(&format!(
        "SET datafusion.execution.parquet.max_row_group_size = 2000; \
         SET datafusion.execution.parquet.data_page_row_count_limit = 100; \
         SET datafusion.execution.parquet.write_batch_size = 100; \
         SET datafusion.execution.batch_size = 100; \
         CREATE TABLE scattered AS SELECT value AS id, {columns} FROM generate_series(0, 9999) ORDER BY value; \
         RESET datafusion.execution.batch_size"
    ))
    .await
    .expect("table of 5 row groups of 20 pages");
}

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
    let row_groups = |sql| scan_metric(&s, sql, "row_groups_pruned_statistics");
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

/// With a page index, the seed selects pages: of 100 pages of 100 scattered
/// scores in 5 row groups, none of which can be skipped whole, the top 25
/// need only the 25 pages with the best maxima (each holds its maximum, so
/// 25 rows reach the 25th best), 2,500 rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_top_k_reads_only_the_pages_that_can_reach_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = session(dir.path()).await;
    paged(&s, "(value * 7919) % 10007 AS s").await;
    let scanned = |sql| scan_metric(&s, sql, "output_rows");
    assert_eq!(
        scanned("SELECT id FROM scattered ORDER BY s DESC LIMIT 25").await,
        "output_rows=2.50 K"
    );
    // Ascending, the 10 pages with the lowest minima (the writer may end a
    // page a few rows past 100).
    let ascending = scanned("SELECT id FROM scattered ORDER BY s LIMIT 10").await;
    assert!(ascending.starts_with("output_rows=1.0"), "{ascending}");
    // The answer is a full sort's.
    let top = s
        .sql("SELECT min(s), count(*) FROM (SELECT s FROM scattered ORDER BY s DESC LIMIT 25)")
        .await
        .expect("top 25");
    assert_eq!(
        pretty_format_batches(&top).expect("printable").to_string(),
        pretty_format_batches(
            &s.sql(
                "SELECT min(s), count(*) FROM (SELECT s FROM scattered WHERE random() >= 0 \
                 ORDER BY s DESC LIMIT 25)"
            )
            .await
            .expect("full sort")
        )
        .expect("printable")
        .to_string()
    );
}

/// A warehouse table writes mostly-distinct columns without a dictionary,
/// so a reader wanting one page fetches that page and not a dictionary of
/// the whole row group: the top 25 of 100 pages fetch well under half the
/// bytes a full scan does. A column of few values keeps its dictionary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_page_costs_one_page_of_bytes() {
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};

    let dir = tempfile::tempdir().expect("tempdir");
    let s = session(dir.path()).await;
    s.sql(
        "SET datafusion.execution.parquet.max_row_group_size = 2000; \
         SET datafusion.execution.parquet.data_page_row_count_limit = 100; \
         SET datafusion.execution.parquet.write_batch_size = 100; \
         CREATE TABLE scattered AS \
         SELECT value AS id, (value * 7919) % 10007 AS s, value % 7 AS c FROM generate_series(0, 9999)",
    )
    .await
    .expect("table of 5 row groups of 20 pages");
    let bytes = |sql: &'static str| {
        let s = &s;
        async move {
            let plan = s.sql(&format!("EXPLAIN ANALYZE {sql}")).await.expect(sql);
            let text = pretty_format_batches(&plan).expect("printable").to_string();
            bytes_scanned(&text)
        }
    };
    let top = bytes("SELECT id, s FROM scattered ORDER BY s DESC LIMIT 25").await;
    let all = bytes("SELECT id, s FROM scattered").await;
    assert!(
        top < all * 0.5,
        "top 25 fetched {top} bytes, a full scan {all}"
    );

    let file = walk(&dir.path().join("tables").join("scattered"));
    let reader =
        SerializedFileReader::new(std::fs::File::open(&file).expect("file")).expect("parquet");
    let row_group = reader.metadata().row_group(0);
    let dictionary = |i: usize| row_group.column(i).dictionary_page_offset().is_some();
    assert!(
        !dictionary(0) && !dictionary(1),
        "distinct columns are plain"
    );
    assert!(dictionary(2), "a column of 7 values keeps its dictionary");
}

/// The one Parquet file under `dir` (a table's data, not its Delta log).
fn walk(dir: &std::path::Path) -> std::path::PathBuf {
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() && !path.ends_with("_delta_log") {
            return walk(&path);
        }
        if path.extension().is_some_and(|e| e == "parquet") {
            return path;
        }
    }
    panic!("no Parquet file under {}", dir.display());
}
