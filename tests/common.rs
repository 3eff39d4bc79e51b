//! Helpers shared by the integration tests.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use quiver::QuiverSession;

/// The `quiver` binary Cargo built for these tests.
pub fn quiver_bin() -> &'static str {
    env!("CARGO_BIN_EXE_quiver")
}

/// Runs `quiver -w <warehouse> <args>` to completion.
pub fn quiver(warehouse: &Path, args: &[&str]) -> Output {
    Command::new(quiver_bin())
        .arg("--warehouse")
        .arg(warehouse)
        .args(args)
        .env_remove("QUIVER_WAREHOUSE")
        .output()
        .expect("the quiver binary runs")
}

/// Runs one `quiver -c <script>` process per script, all at once, and
/// checks that each succeeded.
pub fn quiver_at_once(warehouse: &Path, scripts: &[String]) {
    let children: Vec<_> = scripts
        .iter()
        .map(|script| {
            Command::new(quiver_bin())
                .arg("--warehouse")
                .arg(warehouse)
                .args(["-c", script])
                .env_remove("QUIVER_WAREHOUSE")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("the quiver binary starts")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", stderr(&out));
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A session over the warehouse at `dir`, as a new process would open it.
pub async fn session(dir: &Path) -> QuiverSession {
    QuiverSession::open(dir.to_str().expect("utf-8 path"))
        .await
        .expect("open the warehouse")
}

/// A session on the warehouse at `dir` after running `statements`, each
/// of which must succeed.
pub async fn session_after(dir: &Path, statements: &[&str]) -> QuiverSession {
    let s = session(dir).await;
    for sql in statements {
        s.sql(sql).await.expect(sql);
    }
    s
}

/// The single value a query returns, formatted.
pub async fn scalar(session: &QuiverSession, sql: &str) -> String {
    let batches = session.sql(sql).await.expect(sql);
    let batch = batches.iter().find(|b| b.num_rows() > 0).expect("one row");
    datafusion::arrow::util::display::array_value_to_string(batch.column(0), 0)
        .expect("displayable")
}

/// The Python that the tests' venv set up (scripts/test), or, outside it,
/// `None` and a note; under CI its absence is a failure.
pub fn test_python() -> Option<String> {
    let python = std::env::var("QUIVER_TEST_PYTHON").ok();
    if python.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "QUIVER_TEST_PYTHON must be set under CI (scripts/test sets it)"
        );
        eprintln!("QUIVER_TEST_PYTHON is not set: the Python reader was not run");
    }
    python
}

/// Table `old` (one Int64 column `v` holding 1, 2 and 3) in the layout
/// before Delta: a catalog entry listing its one Parquet file.
pub fn old_layout_table(warehouse: &Path) {
    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)])),
        vec![Arc::new(Int64Array::from(vec![1, 2, 3]))],
    )
    .expect("batch");
    let file = warehouse.join("tables/old/0001-write/part-0.parquet");
    std::fs::create_dir_all(file.parent().expect("folder")).expect("mkdir");
    std::fs::write(
        &file,
        quiver_engine::store::objects::parquet_bytes(&batch).expect("parquet"),
    )
    .expect("write");
    std::fs::create_dir_all(warehouse.join("catalog")).expect("mkdir");
    std::fs::write(
        warehouse.join("catalog/old.json"),
        r#"{"kind": "table", "files": ["tables/old/0001-write/part-0.parquet"],
            "updated": "2026-11-01T00:00:00Z"}"#,
    )
    .expect("entry");
}

/// Runs `script` with `python` and `args`, and reads the JSON it prints.
/// The script should end with `sys.stdout.flush(); os._exit(0)`: the
/// `deltalake` package's native threads can abort the interpreter's
/// teardown after the answer is printed.
pub fn python_json(python: &str, script: &str, args: &[&Path]) -> serde_json::Value {
    let out = Command::new(python)
        .args(["-c", script])
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the script printed JSON")
}

/// The bytes every Parquet scan of an `EXPLAIN ANALYZE` read, summed
/// (`bytes_scanned=275.2 K`, as DataFusion prints them: four significant
/// digits).
pub fn bytes_scanned(plan: &str) -> f64 {
    plan.split("bytes_scanned=")
        .skip(1)
        .map(|rest| {
            let mut words = rest
                .split([',', ']'])
                .next()
                .unwrap_or("")
                .split_whitespace();
            let n: f64 = words
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("a number after bytes_scanned= in {rest:.40}"));
            n * match words.next() {
                Some("K") => 1e3,
                Some("M") => 1e6,
                Some("G") => 1e9,
                _ => 1.0,
            }
        })
        .sum()
}
