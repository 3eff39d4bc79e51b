//! DELETE, UPDATE, MERGE INTO and TRUNCATE on warehouse tables (#24):
//! only the files holding changed rows are rewritten, each statement is one
//! Delta commit that other readers see, and a statement racing appends
//! from another process loses none of their rows. (The statements' results
//! and errors are in tests/slt/dml.slt.)

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::{
    old_layout_table, python_json, quiver, quiver_at_once, scalar, session, stderr, test_python,
};

/// The actions of commit `version` of the table at `table`: (kind, path).
fn commit_actions(table: &Path, version: u64) -> Vec<(String, String)> {
    let log = table.join(format!("_delta_log/{version:020}.json"));
    let text = std::fs::read_to_string(&log).expect("the commit exists");
    text.lines()
        .filter_map(|line| {
            let action: serde_json::Value = serde_json::from_str(line).expect("JSON lines");
            ["add", "remove"].into_iter().find_map(|kind| {
                action[kind]["path"]
                    .as_str()
                    .map(|p| (kind.to_string(), p.to_string()))
            })
        })
        .collect()
}

/// The Parquet files under the table's folder, relative to it.
fn parquet_files(table: &Path) -> BTreeSet<String> {
    crate::persistence::walk(table)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "parquet"))
        .map(|f| {
            f.strip_prefix(table)
                .expect("under the table")
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[tokio::test]
async fn dml_rewrites_only_the_files_holding_changed_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let table = wh.join("tables/t");
    let s = session(&wh).await;
    // Versions 0 to 3: four files of 1,000 rows each, ids 1 to 4,000.
    s.sql("create table t as select value as id, value % 7 as k from generate_series(1, 1000)")
        .await
        .expect("create");
    for i in 1..4 {
        s.sql(&format!(
            "insert into t select value + {i} * 1000 as id, value % 7 as k \
             from generate_series(1, 1000)"
        ))
        .await
        .expect("insert");
    }
    let before = parquet_files(&table);
    assert_eq!(before.len(), 4);

    // Ten rows of the third file.
    assert_eq!(
        scalar(&s, "delete from t where id between 2001 and 2010").await,
        "10"
    );
    let actions = commit_actions(&table, 4);
    let removed: Vec<_> = actions.iter().filter(|a| a.0 == "remove").collect();
    let added: Vec<_> = actions.iter().filter(|a| a.0 == "add").collect();
    assert_eq!(removed.len(), 1, "{actions:?}");
    assert_eq!(added.len(), 1, "{actions:?}");
    assert!(before.contains(&removed[0].1), "{actions:?}");
    assert_eq!(scalar(&s, "select count(*) from t").await, "3990");

    // Rows of the first and last files.
    assert_eq!(
        scalar(&s, "update t set k = -1 where id in (1, 4000)").await,
        "2"
    );
    let actions = commit_actions(&table, 5);
    assert_eq!(actions.iter().filter(|a| a.0 == "remove").count(), 2);
    assert_eq!(actions.iter().filter(|a| a.0 == "add").count(), 1);
    assert_eq!(scalar(&s, "select count(*) from t where k = -1").await, "2");
    assert_eq!(scalar(&s, "select sum(id) from t").await, {
        let all: i64 = (1..=4000).sum();
        let gone: i64 = (2001..=2010).sum();
        (all - gone).to_string()
    });

    // A statement that changes nothing commits nothing.
    assert_eq!(scalar(&s, "delete from t where id < 0").await, "0");
    assert!(!table.join("_delta_log/00000000000000000006.json").exists());

    // A MERGE that only inserts adds a file and removes none.
    s.sql("create table src as select value as id from generate_series(3999, 4002)")
        .await
        .expect("source");
    assert_eq!(
        scalar(
            &s,
            "merge into t using src on t.id = src.id \
             when not matched then insert (id, k) values (src.id, 0)"
        )
        .await,
        "2"
    );
    let actions = commit_actions(&table, 6);
    assert_eq!(actions.iter().filter(|a| a.0 == "remove").count(), 0);
    assert_eq!(actions.iter().filter(|a| a.0 == "add").count(), 1);
    assert_eq!(scalar(&s, "select max(id) from t").await, "4002");
}

/// What DELETE, UPDATE and MERGE commit, the Python `deltalake` package
/// reads: the same rows, and the operations in the table's history.
#[tokio::test]
async fn deltalake_reads_what_dml_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let s = session(&wh).await;
    s.sql(
        "create table t as select value as id, 'v' || value as label from generate_series(1, 100)",
    )
    .await
    .expect("create");
    s.sql("delete from t where id % 10 = 0")
        .await
        .expect("delete");
    s.sql("update t set label = 'odd' where id % 2 = 1")
        .await
        .expect("update");
    s.sql(
        "merge into t using (select value as id from generate_series(95, 105)) s \
         on t.id = s.id when matched then delete \
         when not matched then insert values (s.id, 'new')",
    )
    .await
    .expect("merge");
    let expected_rows = scalar(&s, "select count(*) from t").await;
    let expected_sum = scalar(&s, "select sum(id) from t").await;
    let expected_odd = scalar(&s, "select count(*) from t where label = 'odd'").await;

    let Some(python) = test_python() else {
        return;
    };
    let script = r#"
import json, os, sys
from deltalake import DeltaTable
d = DeltaTable(sys.argv[1])
t = d.to_pyarrow_table()
print(json.dumps({
    "rows": t.num_rows,
    "sum": sum(t.column("id").to_pylist()),
    "odd": t.column("label").to_pylist().count("odd"),
    "operations": [h["operation"] for h in reversed(d.history())],
}))
# deltalake's native threads can abort the interpreter's teardown
# ("terminate called without an active exception"): leave at once.
sys.stdout.flush()
os._exit(0)
"#;
    let got = python_json(&python, script, &[&wh.join("tables/t")]);
    assert_eq!(got["rows"].to_string(), expected_rows);
    assert_eq!(got["sum"].to_string(), expected_sum);
    assert_eq!(got["odd"].to_string(), expected_odd);
    assert_eq!(
        got["operations"],
        serde_json::json!(["CREATE OR REPLACE TABLE", "DELETE", "UPDATE", "MERGE"])
    );
}

/// An UPDATE and a DELETE in one process while another appends to the
/// same table: every appended row lands, and every statement's change
/// holds (a statement whose files another commit removed runs again).
#[tokio::test]
async fn dml_racing_appends_loses_no_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let out = quiver(
        &wh,
        &[
            "-c",
            "create table t as select 0 as writer, value as n from generate_series(1, 1000)",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let appends: String = (0..8)
        .map(|i| {
            format!(
                "insert into t select 1 as writer, value + {i} * 1000 as n \
                 from generate_series(1, 1000);"
            )
        })
        .collect();
    let changes: String = (0..8)
        .map(|_| "update t set n = n + 1 where writer = 0; delete from t where n = -1;")
        .collect();
    quiver_at_once(&wh, &[appends, changes]);
    let s = session(&wh).await;
    assert_eq!(
        scalar(&s, "select count(*) from t where writer = 1").await,
        "8000"
    );
    assert_eq!(
        scalar(&s, "select count(distinct n) from t where writer = 1").await,
        "8000"
    );
    // Each UPDATE added 1 to each of the first writer's rows, once.
    assert_eq!(
        scalar(
            &s,
            "select min(n) || ' ' || max(n) || ' ' || count(*) from t where writer = 0"
        )
        .await,
        "9 1008 1000"
    );
}

/// DML on a table of the layout before Delta converts it first, as its
/// first write would.
#[tokio::test]
async fn dml_converts_an_old_layout_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    old_layout_table(&wh);
    let s = session(&wh).await;
    assert_eq!(scalar(&s, "delete from old where v = 2").await, "1");
    let entry = std::fs::read_to_string(wh.join("catalog/old.json")).expect("entry");
    assert!(entry.contains(r#""kind": "delta""#), "{entry}");
    let s = session(&wh).await;
    assert_eq!(scalar(&s, "select sum(v) from old").await, "4");
}
