//! Managed tables are Delta Lake tables (#24): other engines read them,
//! concurrent appends all land, replaced files stay until VACUUM, and
//! tables of the layout before Delta are read and converted.

use std::path::Path;

use crate::common::{
    old_layout_table, python_json, quiver, quiver_at_once, scalar, session, session_after, stderr,
    test_python,
};

/// The commits in a table's log.
fn log_versions(table: &Path) -> usize {
    std::fs::read_dir(table.join("_delta_log"))
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".json"))
            })
            .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn tables_are_delta_tables_that_deltalake_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let s = session(&wh).await;
    s.sql(
        "create table t as select value as id, concat('row ', value) as label, \
         value * 0.5 as x, to_timestamp_seconds(value) as at from generate_series(1, 1000)",
    )
    .await
    .expect("create");
    s.sql("insert into t values (1001, NULL, 0.25, NULL)")
        .await
        .expect("insert");
    s.sql("create table r as select 1 as v")
        .await
        .expect("create r");
    s.sql("insert overwrite r select 2 as v")
        .await
        .expect("overwrite");
    let table = wh.join("tables/t");
    assert_eq!(log_versions(&table), 2, "a create and an append");
    assert_eq!(log_versions(&wh.join("tables/r")), 2);
    assert_eq!(scalar(&s, "select sum(v) from r").await, "2");

    let Some(python) = test_python() else {
        return;
    };
    let script = r#"
import json, os, sys
from deltalake import DeltaTable
t = DeltaTable(sys.argv[1]).to_pyarrow_table()
r = DeltaTable(sys.argv[2]).to_pyarrow_table()
print(json.dumps({
    "version": DeltaTable(sys.argv[1]).version(),
    "rows": t.num_rows,
    "ids": sum(t.column("id").to_pylist()),
    "null_labels": t.column("label").null_count,
    "x": sum(v for v in t.column("x").to_pylist() if v is not None),
    "columns": t.column_names,
    "r": r.column("v").to_pylist(),
}))
# deltalake's native threads can abort the interpreter's teardown: leave
# at once.
sys.stdout.flush()
os._exit(0)
"#;
    let got = python_json(&python, script, &[&table, &wh.join("tables/r")]);
    assert_eq!(got["version"], 1);
    assert_eq!(got["rows"], 1001);
    assert_eq!(
        got["ids"].to_string(),
        scalar(&s, "select sum(id) from t").await
    );
    assert_eq!(got["null_labels"], 1);
    assert_eq!(
        got["x"].as_f64().expect("x"),
        scalar(&s, "select sum(x) from t")
            .await
            .parse::<f64>()
            .expect("a number")
    );
    assert_eq!(
        got["columns"],
        serde_json::json!(["id", "label", "x", "at"])
    );
    assert_eq!(got["r"], serde_json::json!([2]));
}

/// Two processes appending to one table at once: every row lands (each
/// commit that loses a race is retried on the winner's version).
#[tokio::test]
async fn concurrent_appends_all_land() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let out = quiver(&wh, &["-c", "create table t as select 0 as writer, 0 as n"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let script = |w: usize| {
        (0..8)
            .map(|i| {
                format!(
                    "insert into t select {w} as writer, value + {i} * 1000 as n \
                     from generate_series(1, 1000);"
                )
            })
            .collect::<String>()
    };
    quiver_at_once(&wh, &[script(1), script(2)]);
    let s = session(&wh).await;
    assert_eq!(scalar(&s, "select count(*) from t").await, "16001");
    assert_eq!(
        scalar(&s, "select count(distinct (writer, n)) from t").await,
        "16001"
    );
    assert_eq!(log_versions(&wh.join("tables/t")), 17);
}

/// A replaced table's files stay for readers of older versions until
/// VACUUM's retention period has passed.
#[tokio::test]
async fn replaced_files_stay_until_vacuum() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let s = session(&wh).await;
    s.sql("create table t as select 1 as v")
        .await
        .expect("create");
    s.sql("insert overwrite t select 2 as v")
        .await
        .expect("overwrite");
    s.sql("create or replace table t as select 'three' as w")
        .await
        .expect("replace");
    assert_eq!(scalar(&s, "select w from t").await, "three");
    let parquet = |wh: &Path| {
        crate::persistence::walk(&wh.join("tables/t"))
            .into_iter()
            .filter(|f| f.extension().is_some_and(|e| e == "parquet"))
            .count()
    };
    assert_eq!(parquet(&wh), 3);
    let kept = s.sql("vacuum dry run").await.expect("dry run");
    assert_eq!(kept.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
    // VACUUM t: that table's folder alone.
    s.sql("create table other as select 1 as v; insert overwrite other select 2")
        .await
        .expect("another table");
    let removed = s
        .sql("vacuum table t retain 0 hours")
        .await
        .expect("vacuum t");
    assert_eq!(removed.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
    assert_eq!(parquet(&wh), 1);
    let left = s
        .sql("vacuum retain 0 hours dry run")
        .await
        .expect("dry run");
    let left = datafusion::arrow::util::pretty::pretty_format_batches(&left)
        .expect("format")
        .to_string();
    assert!(
        left.contains("tables/other/") && !left.contains("tables/t/"),
        "{left}"
    );
    assert_eq!(scalar(&s, "select w from t").await, "three");
    assert_eq!(log_versions(&wh.join("tables/t")), 3);
}

/// A table of the layout before Delta (an entry listing its files) is read
/// as it is, and becomes a Delta table, keeping its rows, at its first
/// write.
#[tokio::test]
async fn old_layout_tables_are_read_and_converted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    old_layout_table(&wh);

    let s = session(&wh).await;
    assert_eq!(scalar(&s, "select sum(v) from old").await, "6");
    s.sql("insert into old values (4)").await.expect("insert");
    assert_eq!(log_versions(&wh.join("tables/old")), 1);
    let entry = std::fs::read_to_string(wh.join("catalog/old.json")).expect("entry");
    assert!(entry.contains(r#""kind": "delta""#), "{entry}");
    let s = session(&wh).await;
    assert_eq!(scalar(&s, "select sum(v) from old").await, "10");
    s.sql("vacuum retain 0 hours").await.expect("vacuum");
    assert_eq!(scalar(&s, "select sum(v) from old").await, "10");
}

/// A table whose columns ALTER TABLE changed, renamed into another schema,
/// is read by the Python `deltalake` package with its new columns from its
/// new folder.
#[tokio::test]
async fn deltalake_reads_altered_and_renamed_tables() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    session_after(
        &wh,
        &[
            "create table t as select value as id, 'v' || value as label from generate_series(1, 10)",
            "alter table t add column score double default 0.5",
            "alter table t drop column label",
            "create schema s",
            "alter table t rename to s.u",
        ],
    )
    .await;
    assert!(!wh.join("tables/t/_delta_log").exists());
    let table = wh.join("schemas/s/tables/u");
    assert_eq!(log_versions(&table), 3, "a create and two rewrites");
    let Some(python) = test_python() else {
        return;
    };
    let script = r#"
import json, os, sys
from deltalake import DeltaTable
t = DeltaTable(sys.argv[1]).to_pyarrow_table()
print(json.dumps({"columns": t.column_names, "ids": sum(t.column("id").to_pylist()),
                  "scores": sum(t.column("score").to_pylist())}))
sys.stdout.flush()
os._exit(0)
"#;
    let got = python_json(&python, script, &[&table]);
    assert_eq!(got["columns"], serde_json::json!(["id", "score"]));
    assert_eq!(got["ids"], 55);
    assert_eq!(got["scores"], 5.0);
}

/// DESCRIBE HISTORY lists a table's commits, newest first, with their
/// operations and parameters; LIMIT keeps the newest.
#[tokio::test]
async fn describe_history_lists_commits() {
    use datafusion::arrow::array::{Array, Int64Array, StringArray};

    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let s = session_after(
        &wh,
        &[
            "create table t as select 1 as x",
            "insert into t values (2)",
            "delete from t where x = 1",
            "restore table t to version as of 0",
        ],
    )
    .await;
    let batches = s.sql("describe history t").await.expect("history");
    let batch = &batches[0];
    let versions = batch
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .expect("versions");
    let operations = batch
        .column(2)
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("operations");
    let parameters = batch
        .column(3)
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("parameters");
    assert_eq!(versions.values(), &[3, 2, 1, 0]);
    assert_eq!(
        operations.iter().flatten().collect::<Vec<_>>(),
        ["RESTORE", "DELETE", "WRITE", "CREATE OR REPLACE TABLE"]
    );
    assert!(
        parameters.value(1).contains("t.x = 1"),
        "{}",
        parameters.value(1)
    );
    assert_eq!(batch.column(1).null_count(), 0, "every commit has a time");
    let newest = s.sql("describe history t limit 1").await.expect("limit");
    assert_eq!(newest[0].num_rows(), 1);
}

/// OPTIMIZE's commit moves rows without changing them: every file it
/// removes and adds is marked `dataChange: false`, as Delta's OPTIMIZE
/// marks them, so readers of changes and other writers skip it.
#[tokio::test]
async fn optimize_commits_no_change_of_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let s = session_after(
        &wh,
        &[
            "create table t as select 1 as x",
            "insert into t values (2)",
            "insert into t values (3)",
            "optimize t",
        ],
    )
    .await;
    let log = std::fs::read_to_string(wh.join("tables/t/_delta_log/00000000000000000003.json"))
        .expect("the compaction's commit");
    let mut files = 0;
    for line in log.lines() {
        let action: serde_json::Value = serde_json::from_str(line).expect("JSON");
        for kind in ["add", "remove"] {
            if let Some(file) = action.get(kind) {
                files += 1;
                assert_eq!(file["dataChange"], false, "{line}");
            }
        }
    }
    assert_eq!(files, 4, "three removed, one added: {log}");
    assert_eq!(scalar(&s, "select sum(x) from t").await, "6");
}

/// A table whose log names a file that is gone (removed outside quiver) is
/// an error naming the file, never a result without that file's rows; a
/// corrupt log entry is an error naming the table; other tables still read.
#[tokio::test]
async fn a_missing_file_or_corrupt_log_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    session_after(
        &wh,
        &[
            "create table t as select 1 as x",
            "insert into t values (2)",
            "create table c as select 1 as y",
            "insert into c values (2)",
            "create table fine as select 5 as z",
        ],
    )
    .await;
    // The file of the second write: the first, which the schema is read
    // from, is there, and the scan must notice the other is not.
    let mut files: Vec<_> = crate::persistence::walk(&wh.join("tables/t"))
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    let gone = files.pop().expect("a data file");
    std::fs::remove_file(&gone).expect("remove");
    let s = session(&wh).await;
    for sql in [
        "select * from t",
        "select count(*) from t",
        "delete from t where x = 1",
        "update t set x = 3",
        "merge into t using (select 1 as x) s on t.x = s.x when matched then delete",
        "optimize t",
    ] {
        let e = s.sql(sql).await.expect_err(sql).to_string();
        assert!(
            e.contains(gone.to_str().expect("utf-8").trim_start_matches('/'))
                && e.contains("table 't' cannot be read"),
            "names the table and the missing file: {sql}: {e}"
        );
    }
    std::fs::write(
        wh.join("tables/c/_delta_log/00000000000000000001.json"),
        "not json{",
    )
    .expect("corrupt");
    let s = session(&wh).await;
    let e = s
        .sql("select * from c")
        .await
        .expect_err("corrupt")
        .to_string();
    assert!(e.contains("table 'c'"), "{e}");
    assert_eq!(scalar(&s, "select z from fine").await, "5");
}

/// The start of a Python script that reads the Delta table at its first
/// argument with DuckDB: `con` with the delta extension loaded (the file
/// the `duckdb-extension-delta` package ships, without a download), and
/// `path` quoted for SQL.
const DUCKDB: &str = r#"
import glob, json, os, sys
import duckdb, duckdb_extension_delta
ext = glob.glob(os.path.join(os.path.dirname(duckdb_extension_delta.__file__),
                             "extensions", "*", "delta.duckdb_extension"))[0]
con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
con.execute(f"LOAD '{ext}'")
path = sys.argv[1].replace("'", "''")
"#;

/// DuckDB's delta extension (the file the `duckdb-extension-delta` package
/// ships, loaded without a download) reads a table quiver wrote and then
/// changed with DELETE, UPDATE and MERGE: the same rows as quiver.
#[tokio::test]
async fn duckdb_reads_tables_quiver_changed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let s = session_after(
        &wh,
        &[
            "create table t as select value as id, \
             case when value % 10 = 0 then null else concat('row ', value) end as label, \
             value * 0.25 as x, value % 3 = 0 as flag, \
             to_timestamp_seconds(1700000000 + value * 3600) as at, \
             arrow_cast(value, 'Int32') as small \
             from generate_series(1, 500)",
            "insert into t values (501, 'late', 0.5, true, NULL, NULL)",
            "delete from t where id % 7 = 0",
            "update t set label = upper(label) where id % 5 = 0",
            "merge into t using (values (1, 'one'), (900, 'new')) s(id, label) on t.id = s.id \
             when matched then update set label = s.label \
             when not matched then insert (id, label) values (s.id, s.label)",
        ],
    )
    .await;
    let Some(python) = test_python() else {
        return;
    };
    let script = DUCKDB.to_string()
        + r#"
rows = con.execute(
    "SELECT id, label, x, flag, epoch(\"at\")::BIGINT, small "
    f"FROM delta_scan('{path}') ORDER BY id").fetchall()
print(json.dumps([list(r) for r in rows]))
sys.stdout.flush(); os._exit(0)
"#;
    let duck = python_json(&python, &script, &[&wh.join("tables/t")]);
    let ours = s
        .sql("select id, label, x, flag, extract(epoch from at) as at, small from t order by id")
        .await
        .expect("read");
    let mut writer = datafusion::arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, datafusion::arrow::json::writer::JsonArray>(Vec::new());
    for batch in &ours {
        writer.write(batch).expect("to JSON");
    }
    writer.finish().expect("to JSON");
    let rows: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(&writer.into_inner()).expect("JSON rows");
    let expected: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            let at = row["at"].as_f64().map(|v| v as i64);
            serde_json::json!([
                row["id"],
                row["label"],
                row["x"],
                row["flag"],
                at,
                row["small"]
            ])
        })
        .collect();
    assert_eq!(expected.len(), 431, "500 + 1 - 71 deleted + 1 merged in");
    assert_eq!(duck, serde_json::Value::Array(expected));
}

/// A partitioned Delta table Python's deltalake wrote (its defaults), read
/// as an external table: its columns and partition values from its log,
/// and what the writer commits later seen at the next query.
#[tokio::test]
async fn external_delta_tables_read_other_writers_tables() {
    let Some(python) = test_python() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let table = dir.path().join("events");
    let write = r#"
import datetime, json, os, sys
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
path, step = sys.argv[1], sys.argv[2]
if step == "create":
    ids = list(range(1, 101))
    data = pa.table({
        "id": pa.array(ids, pa.int64()),
        "name": [f"event {i}" for i in ids],
        "day": [datetime.date(2026, 1, 1 + i % 28) for i in ids],
        "region": [["eu", "us", None][i % 3] for i in ids],
    })
    write_deltalake(path, data, partition_by=["region"])
else:
    data = pa.table({
        "id": pa.array([1001, 1002], pa.int64()),
        "name": ["late a", "late b"],
        "day": [datetime.date(2026, 2, 1)] * 2,
        "region": ["asia", "eu"],
    })
    write_deltalake(path, data, mode="append")
    DeltaTable(path).delete("id <= 10")
print(json.dumps({"version": DeltaTable(path).version()}))
sys.stdout.flush(); os._exit(0)
"#;
    let step = |s: &str| python_json(&python, write, &[&table, Path::new(s)]);
    assert_eq!(step("create")["version"], 0);
    let location = table.to_str().expect("utf-8").replace('\'', "''");
    let s = session_after(
        &wh,
        &[&format!(
            "create external table events stored as delta location '{location}'"
        )],
    )
    .await;
    assert_eq!(
        scalar(
            &s,
            "select string_agg(column_name, ',' order by ordinal_position) \
             from information_schema.columns where table_name = 'events'"
        )
        .await,
        "id,name,day,region",
        "the partition column after the file columns"
    );
    assert_eq!(scalar(&s, "select count(*) from events").await, "100");
    assert_eq!(
        scalar(
            &s,
            "select string_agg(concat(coalesce(region, 'null'), '=', n), ' ' order by region) \
             from (select region, count(*) as n from events group by region)"
        )
        .await,
        "eu=33 us=34 null=33"
    );
    assert_eq!(
        scalar(&s, "select sum(id) from events where region = 'us'").await,
        (1..=100).filter(|i| i % 3 == 1).sum::<i64>().to_string()
    );
    assert_eq!(
        scalar(&s, "select max(day) from events").await,
        "2026-01-28"
    );

    // The writer appends and deletes; the next query reads that version.
    assert_eq!(step("more")["version"], 2);
    assert_eq!(scalar(&s, "select count(*) from events").await, "92");
    assert_eq!(
        scalar(&s, "select name from events where region = 'asia'").await,
        "late a"
    );
    // And a new process, from the stored definition.
    let again = session(&wh).await;
    assert_eq!(scalar(&again, "select min(id) from events").await, "11");

    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    for (sql, expected) in [
        ("delete from events where id = 11", "events"),
        (
            "create external table e2 (id bigint) stored as delta location '{location}'",
            "its columns are its log's",
        ),
        (
            "create external table e3 stored as delta location '{empty}'",
            "no Delta table there",
        ),
        (
            "create external table e4 stored as delta location '{location}' \
             options ('format.compression' 'zstd')",
            "unknown option 'format.compression'",
        ),
    ] {
        let sql = sql
            .replace("{location}", &location)
            .replace("{empty}", empty.to_str().expect("utf-8"));
        let err = s.sql(&sql).await.expect_err(&sql).to_string();
        assert!(err.contains(expected), "{sql}: {err}");
    }
}

/// An external Delta table with deletion vectors (a vector file and an
/// inline one, tests/python/delta_with_deletion_vectors.py): the deleted
/// rows are skipped, as DuckDB's delta extension skips them, also under
/// TABLESAMPLE and top-k; a vector whose checksum does not match is an
/// error naming the file.
#[tokio::test]
async fn external_delta_tables_skip_deleted_rows() {
    let Some(python) = test_python() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let table = dir.path().join("dv");
    let made = python_json(
        &python,
        include_str!("python/delta_with_deletion_vectors.py"),
        &[&table],
    );
    assert_eq!(made["version"], 2, "{made}");
    // What is left: ids 1000..2999 but every 7th and 2999, and 3002..3097.
    let kept: Vec<i64> = (1000..2999)
        .filter(|i| (i - 1000) % 7 != 0)
        .chain(3002..3098)
        .collect();
    assert_eq!(made["deleted"], 3100 - kept.len());
    let expected = format!(
        "{} {} {} {}",
        kept.len(),
        kept.iter().sum::<i64>(),
        kept[0],
        kept[kept.len() - 1]
    );
    let location = table.to_str().expect("utf-8").replace('\'', "''");
    let s = session_after(
        &wh,
        &[&format!(
            "create external table d stored as delta location '{location}'"
        )],
    )
    .await;
    let summary = "select concat_ws(' ', count(*), sum(id), min(id), max(id)) from d";
    assert_eq!(scalar(&s, summary).await, expected);
    let script = DUCKDB.to_string()
        + r#"
row = con.execute(f"SELECT count(*), sum(id), min(id), max(id) FROM delta_scan('{path}')").fetchone()
print(json.dumps(" ".join(str(v) for v in row)))
sys.stdout.flush(); os._exit(0)
"#;
    assert_eq!(python_json(&python, &script, &[&table]), expected.as_str());

    let deleted = "(id < 1000 or (id < 3000 and (id - 1000) % 7 = 0) or id in (2999, 3000, 3001, 3098, 3099))";
    for sample in 1..=4 {
        let sampled = format!(
            "select count(*) from d tablesample system (50 percent) repeatable ({sample}) \
             where {deleted}"
        );
        assert_eq!(scalar(&s, &sampled).await, "0", "{sampled}");
    }
    assert_eq!(
        scalar(&s, "select string_agg(cast(id as varchar), ',') from (select id from d order by id desc limit 3)").await,
        "3097,3096,3095"
    );
    assert_eq!(
        scalar(&s, "select count(*) from d where id between 990 and 1010").await,
        "9",
        "1001..1010 but 1007"
    );

    // A vector file whose checksum does not match.
    let vector = std::fs::read_dir(&table)
        .expect("list")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with(".bin"))
        .expect("a vector file");
    let mut bytes = std::fs::read(&vector).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&vector, bytes).expect("write");
    let err = s
        .sql(summary)
        .await
        .expect_err("a corrupt vector")
        .to_string();
    assert!(
        err.contains("deletion vector cannot be read: its checksum does not match")
            && err.contains(".parquet"),
        "{err}"
    );
}
