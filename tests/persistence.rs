//! Tables and views survive restarts; a write that fails or is killed half
//! way leaves the old contents; concurrent writers never tear a table; a
//! corrupt file breaks only its own table.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{quiver, quiver_at_once, quiver_bin, scalar, session, stderr};

#[tokio::test]
async fn tables_views_and_external_tables_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let csv = dir.path().join("people.csv");
    std::fs::write(&csv, "name,age\nada,36\nalan,41\n").expect("write csv");
    {
        let s = session(&wh).await;
        s.sql("create table t as select value as id from generate_series(1, 1000)")
            .await
            .expect("ctas");
        s.sql("insert into t values (5000)").await.expect("insert");
        s.sql("create view big as select id from t where id > 990")
            .await
            .expect("view");
        s.sql(&format!(
            "create external table people stored as csv location '{}' options ('format.has_header' 'true')",
            csv.display()
        ))
        .await
        .expect("external");
    }
    let s = session(&wh).await;
    assert_eq!(scalar(&s, "select count(*) from t").await, "1001");
    assert_eq!(scalar(&s, "select count(*) from big").await, "11");
    assert_eq!(scalar(&s, "select max(age) from people").await, "41");
    s.sql("drop view big").await.expect("drop view");
    s.sql("drop table people").await.expect("drop external");
    assert!(
        csv.is_file(),
        "dropping an external table keeps the user's file"
    );
    let s = session(&wh).await;
    let err = s.sql("select * from big").await.expect_err("dropped");
    assert!(err.to_string().contains("not found"), "{err}");
}

/// Quoted names with any character are stored escaped: they survive a
/// restart, do not meet a plain name, and their files stay in the
/// warehouse's folders whatever the name says (`..`, `/`).
#[tokio::test]
async fn quoted_names_survive_a_restart_and_stay_inside_the_warehouse() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    {
        let s = session(&wh).await;
        s.sql(r#"create table "foo.bar" as values (1), (2)"#)
            .await
            .expect("dotted name");
        s.sql(r#"create table "../../escape/x" as values (3)"#)
            .await
            .expect("name with slashes");
        s.sql("create table foo as values (10)")
            .await
            .expect("plain");
        s.sql(r#"create view "My View" as select * from "foo.bar""#)
            .await
            .expect("view");
    }
    let s = session(&wh).await;
    assert_eq!(
        scalar(&s, r#"select sum(column1) from "foo.bar""#).await,
        "3"
    );
    assert_eq!(
        scalar(&s, r#"select sum(column1) from "../../escape/x""#).await,
        "3"
    );
    assert_eq!(scalar(&s, "select sum(column1) from foo").await, "10");
    assert_eq!(scalar(&s, r#"select count(*) from "My View""#).await, "2");
    let names = scalar(
        &s,
        "select string_agg(table_name, ',' order by table_name) from information_schema.tables \
         where table_schema = 'public'",
    )
    .await;
    assert_eq!(names, "../../escape/x,My View,foo,foo.bar");
    for file in walk(dir.path()) {
        assert!(
            file.starts_with(&wh),
            "{} is outside the warehouse",
            file.display()
        );
    }
    s.sql(r#"drop table "../../escape/x""#).await.expect("drop");
    let s = session(&wh).await;
    let err = s
        .sql(r#"select * from "../../escape/x""#)
        .await
        .expect_err("dropped");
    assert!(err.to_string().contains("not found"), "{err}");
    assert_eq!(scalar(&s, "select sum(column1) from foo").await, "10");
}

/// An external table's partitions are what its CREATE found: a restart
/// does not infer them again over files written since.
/// A schema and what it holds are there after a restart, and visible to
/// another process; VACUUM reaches its tables; DROP SCHEMA ... CASCADE
/// removes its files and leaves the other schemas' alone.
#[tokio::test]
async fn schemas_survive_a_restart_and_cascade_removes_their_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let out = quiver(
        &wh,
        &[
            "-c",
            "create schema sales; create table sales.t as select 1 as x; \
             insert overwrite sales.t select 2 as x; create view sales.v as select x from sales.t; \
             create table t as select 3 as x",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let s = session(&wh).await;
    assert_eq!(scalar(&s, "select x from sales.v").await, "2");
    assert_eq!(scalar(&s, "select x from t").await, "3");
    let in_schema = || data_files(&wh.join("schemas/sales/tables")).len();
    assert_eq!(in_schema(), 2, "the replaced file stays until VACUUM");
    let vacuumed = s.sql("vacuum retain 0 hours").await.expect("vacuum");
    let paths: Vec<String> = vacuumed
        .iter()
        .flat_map(|b| {
            let paths = b
                .column(0)
                .as_any()
                .downcast_ref::<datafusion::arrow::array::StringArray>()
                .expect("paths");
            paths
                .iter()
                .flatten()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(paths.len(), 1, "{paths:?}");
    assert!(paths[0].starts_with("schemas/sales/tables/t/"), "{paths:?}");
    assert_eq!(in_schema(), 1);
    assert_eq!(scalar(&s, "select x from sales.t").await, "2");

    let out = quiver(&wh, &["-c", "drop schema sales cascade"]);
    assert!(out.status.success(), "{}", stderr(&out));
    s.sql("select 1").await.expect("refresh");
    assert!(s.sql("select x from sales.t").await.is_err());
    assert!(!wh.join("schemas/sales.json").exists());
    assert_eq!(in_schema(), 0);
    assert_eq!(scalar(&s, "select x from t").await, "3");
}

#[tokio::test]
async fn external_partitions_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let data = dir.path().join("data");
    {
        let s = session(&wh).await;
        for (year, v) in [(2024, 1), (2025, 2)] {
            s.sql(&format!(
                "copy (select {v} as v) to '{}/year={year}/part.parquet'",
                data.display()
            ))
            .await
            .expect("copy");
        }
        s.sql(&format!(
            "create external table parted stored as parquet location '{}/'",
            data.display()
        ))
        .await
        .expect("create");
    }
    std::fs::copy(
        data.join("year=2024/part.parquet"),
        data.join("stray.parquet"),
    )
    .expect("a stray file at the root");
    let s = session(&wh).await;
    assert_eq!(
        scalar(
            &s,
            "select string_agg(concat(year, ':', v), ',' order by year) from parted"
        )
        .await,
        "2024:1,2025:2"
    );
}

#[tokio::test]
async fn a_failing_write_leaves_the_old_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let s = session(&wh).await;
    s.sql("create table t as select value as v from generate_series(1, 10)")
        .await
        .expect("ctas");
    // Division by zero from row 50,000 on: several batches are written first.
    let failing = "create or replace table t as \
                   select case when value < 50000 then value else value / (value - value) end as v \
                   from generate_series(1, 200000)";
    let err = s.sql(failing).await.expect_err("divide by zero");
    assert!(
        err.to_string().to_lowercase().contains("divide by zero"),
        "{err}"
    );
    let err = s
        .sql("insert into t select value / (value - value) from generate_series(1, 100000)")
        .await
        .expect_err("divide by zero");
    assert!(
        err.to_string().to_lowercase().contains("divide by zero"),
        "{err}"
    );
    let s = session(&wh).await;
    assert_eq!(scalar(&s, "select count(*) from t").await, "10");
    assert_eq!(scalar(&s, "select sum(v) from t").await, "55");
    let folders = std::fs::read_dir(wh.join("tables/t"))
        .expect("table folder")
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_name() != "_delta_log"))
        .count();
    assert_eq!(folders, 1, "failed writes clean up after themselves");
}

#[tokio::test]
async fn a_killed_write_leaves_the_old_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let out = quiver(&wh, &["-c", "create table t as select 1 as v"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut child = Command::new(quiver_bin())
        .arg("--warehouse")
        .arg(&wh)
        .args([
            "-c",
            "create or replace table t as select value as v, repeat('x', 100) as pad \
             from generate_series(1, 2000000000)",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // Wait until the new version has started writing files, then kill it.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let writing = data_files(&wh.join("tables/t")).len() > 1;
        if writing {
            break;
        }
        assert!(Instant::now() < deadline, "the write never started");
        assert!(
            child.try_wait().expect("poll").is_none(),
            "the write ended early"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("kill");
    child.wait().expect("reap");
    let s = session(&wh).await;
    assert_eq!(scalar(&s, "select count(*) from t").await, "1");
    assert_eq!(scalar(&s, "select v from t").await, "1");
    // What the killed write left is older than no retention period but
    // younger than the default one (issue 23).
    let recent = s.sql("vacuum dry run").await.expect("dry run");
    assert_eq!(recent.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
    let left = s
        .sql("vacuum retain 0 hours dry run")
        .await
        .expect("dry run");
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&left)
        .expect("format")
        .to_string();
    assert!(
        text.contains("staging file of an interrupted put"),
        "{text}"
    );
    assert_eq!(data_files(&wh.join("tables/t")).len(), 2, "{text}");
    s.sql("vacuum retain 0 hours").await.expect("vacuum");
    assert_eq!(data_files(&wh.join("tables/t")).len(), 1);
    assert_eq!(scalar(&s, "select v from t").await, "1");
    let again = s.sql("vacuum retain 0 hours dry run").await.expect("again");
    assert_eq!(again.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
}

/// Issue 23: a write whose statement is dropped (cancelled, timed out, its
/// client gone) removes what it wrote, without waiting for VACUUM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_write_removes_its_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let s = std::sync::Arc::new(session(&wh).await);
    let writer = std::sync::Arc::clone(&s);
    let task = tokio::spawn(async move {
        writer
            .sql(
                "create table big as select value as v, repeat('x', 100) as pad \
                 from generate_series(1, 2000000000)",
            )
            .await
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    while walk(&wh.join("tables/big")).is_empty() {
        assert!(Instant::now() < deadline, "the write never started");
        assert!(!task.is_finished(), "the write ended early");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    let _ = task.await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !walk(&wh.join("tables/big")).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the dropped write left {:?}",
            walk(&wh.join("tables/big"))
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let err = s.sql("select * from big").await.expect_err("never created");
    assert!(err.to_string().contains("not found"), "{err}");
}

/// The files under `dir` but its Delta log: a table's data, and the
/// staging files of data being written.
fn data_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    walk(dir)
        .into_iter()
        .filter(|f| !f.components().any(|c| c.as_os_str() == "_delta_log"))
        .collect()
}

pub fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test]
async fn concurrent_writers_never_tear_a_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let scripts: Vec<String> = (1..=2)
        .map(|w| {
            format!(
                "create or replace table t as select {w} as writer, value \
                 from generate_series(1, 300000)"
            )
        })
        .collect();
    quiver_at_once(&wh, &scripts);
    let s = session(&wh).await;
    assert_eq!(scalar(&s, "select count(*) from t").await, "300000");
    assert_eq!(
        scalar(&s, "select count(distinct writer) from t").await,
        "1"
    );
}

#[tokio::test]
async fn a_corrupt_file_breaks_only_its_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    {
        let s = session(&wh).await;
        s.sql("create table good as select 1 as x; create table bad as select 2 as y")
            .await
            .expect("create");
    }
    let bad_file = data_files(&wh.join("tables/bad"))
        .pop()
        .expect("a parquet file");
    std::fs::write(&bad_file, b"this is not parquet").expect("corrupt it");
    let s = session(&wh).await;
    assert_eq!(scalar(&s, "select x from good").await, "1");
    let err = s
        .sql("select * from bad")
        .await
        .expect_err("corrupt")
        .to_string();
    assert!(err.contains("table 'bad' cannot be loaded"), "{err}");
    assert!(
        err.contains(bad_file.file_name().and_then(|f| f.to_str()).expect("name")),
        "{err}"
    );
    // A corrupt catalog entry likewise.
    std::fs::write(wh.join("catalog/good.json"), b"{").expect("corrupt the entry");
    let s = session(&wh).await;
    let err = s
        .sql("select * from good")
        .await
        .expect_err("corrupt entry")
        .to_string();
    assert!(
        err.contains("good.json is not a valid catalog entry"),
        "{err}"
    );
    assert_eq!(scalar(&s, "select 41 + 1").await, "42");
}

#[tokio::test]
async fn models_are_listed_described_and_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = session(&dir.path().join("wh")).await;
    let mut version = s.models().begin("m", "word2vec").await.expect("begin");
    version
        .put("payload.bin", vec![1, 2, 3])
        .await
        .expect("put");
    version
        .publish(
            [("dim".to_string(), serde_json::json!(8))].into(),
            [("loss".to_string(), serde_json::json!([3.5, 2.25]))].into(),
            Some("SELECT title FROM t".to_string()),
            Default::default(),
        )
        .await
        .expect("publish");
    let s = session(&dir.path().join("wh")).await;
    assert_eq!(scalar(&s, "show models").await, "m");
    let described = s.sql("describe model m").await.expect("describe");
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&described)
        .expect("format")
        .to_string();
    for expected in [
        "| type        | word2vec",
        "| option.dim  | 8",
        "| metric.loss | [3.5,2.25]",
        "SELECT title FROM t",
    ] {
        assert!(text.contains(expected), "{expected} missing from\n{text}");
    }
    s.sql("drop model m").await.expect("drop");
    let err = s
        .sql("describe model m")
        .await
        .expect_err("dropped")
        .to_string();
    assert!(
        err.contains("model 'm' does not exist (there are no models yet)"),
        "{err}"
    );
}

/// Issue 23: sessions that share a pool (a server's `--memory-limit`)
/// count their queries and trainings against it together: memory one
/// session holds is not there for another's training or sort.
#[tokio::test]
async fn sessions_share_one_memory_pool() {
    use datafusion::execution::memory_pool::{GreedyMemoryPool, MemoryConsumer, MemoryPool};

    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let shared: std::sync::Arc<dyn MemoryPool> =
        std::sync::Arc::new(GreedyMemoryPool::new(8 << 20));
    let options = quiver::SessionOptions {
        memory_pool: Some(std::sync::Arc::clone(&shared)),
        ..Default::default()
    };
    let open = || quiver::QuiverSession::open_with(wh.to_str().expect("utf-8"), options.clone());
    let (a, b) = (
        open().await.expect("session a"),
        open().await.expect("session b"),
    );
    // 300,000 vectors of 8 floats: 9.6 MB, more than the pool holds.
    let train = "create model m type kmeans options (k = 2) as \
                 select [cast(value % 7 as float), 1, 2, 3, 4, 5, 6, 7] from generate_series(1, 300000)";
    let err = b.sql(train).await.expect_err("over the pool").to_string();
    assert!(
        err.contains("Resources exhausted") && err.contains("kmeans training of 'm'"),
        "{err}"
    );
    // 100,000 fit alone, but not beside what session a holds.
    let small = train.replace("300000", "100000");
    let held =
        MemoryConsumer::new("session a's query").register(&a.ctx().runtime_env().memory_pool);
    held.try_grow(6 << 20).expect("a takes 6 MiB");
    let err = b
        .sql(&small)
        .await
        .expect_err("a holds the room")
        .to_string();
    assert!(err.contains("Resources exhausted"), "{err}");
    drop(held);
    b.sql(&small).await.expect("room again");
    assert_eq!(shared.reserved(), 0, "a finished training holds nothing");
    // A word2vec corpus of 4M tokens (16 MB) goes to disk rather than fail.
    b.sql(
        "create model w type word2vec options (dim = 8, min_count = 1, epochs = 1) as \
         select repeat(concat('w', value % 211, ' w', value % 197, ' '), 10) \
         from generate_series(1, 200000)",
    )
    .await
    .expect("word2vec spills");
    let described = b.sql("describe model w").await.expect("describe");
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&described)
        .expect("format")
        .to_string();
    let spilled = text
        .lines()
        .find(|l| l.contains("metric.corpus_spilled"))
        .map(|l| l.split('|').nth(2).unwrap_or_default().trim().to_string());
    assert_eq!(
        spilled.as_deref(),
        Some("1"),
        "the corpus stayed in memory:\n{text}"
    );
}
