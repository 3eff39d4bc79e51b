//! The `quiver` binary, run as a user runs it, against temporary warehouses.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::common::{bytes_scanned, quiver, quiver_bin, stderr, stdout};

#[test]
fn runs_commands_and_prints_a_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = quiver(dir.path(), &["-c", "select 1 as one, 'x' as s"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "+-----+---+\n| one | s |\n+-----+---+\n| 1   | x |\n+-----+---+\n"
    );
}

#[test]
fn formats_csv_json_and_ndjson() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sql = "select * from (values (1, 'a'), (2, NULL)) t(n, s) order by n";
    let run = |format: &str| {
        let out = quiver(dir.path(), &["--format", format, "-c", sql]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    assert_eq!(run("csv"), "n,s\n1,a\n2,\n");
    assert_eq!(run("ndjson"), "{\"n\":1,\"s\":\"a\"}\n{\"n\":2}\n");
    assert_eq!(run("json"), "[{\"n\":1,\"s\":\"a\"},{\"n\":2}]\n");

    // Arrow IPC: read back, the same rows.
    let out = quiver(dir.path(), &["--format", "arrow", "-c", sql]);
    assert!(out.status.success(), "{}", stderr(&out));
    let reader = datafusion::arrow::ipc::reader::StreamReader::try_new(&out.stdout[..], None)
        .expect("an Arrow IPC stream");
    let batches: Vec<_> = reader.collect::<Result<_, _>>().expect("batches");
    let shown = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
        .expect("format")
        .to_string();
    assert!(
        shown.contains("| 1 | a |") && shown.contains("| 2 |   |"),
        "{shown}"
    );
}

#[test]
fn script_stops_at_the_first_error_with_one_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("s.sql");
    std::fs::write(
        &script,
        "create table a as select 1 as x;\nselect * from missing_table;\ncreate table b as select 2 as y;\n",
    )
    .expect("write script");
    let out = quiver(
        &dir.path().join("wh"),
        &["-f", script.to_str().expect("utf-8")],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: table 'quiver.public.missing_table' not found (tables: a)"),
        "{err}"
    );
    assert!(!err.contains("Error during planning"), "{err}");
    let out = quiver(
        &dir.path().join("wh"),
        &["--format", "csv", "-c", "show tables"],
    );
    assert!(!stdout(&out).contains(",b,"), "the script stopped before b");
}

#[test]
fn closed_pipe_is_not_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(quiver_bin())
        .args(["--warehouse"])
        .arg(dir.path())
        .args([
            "--format",
            "csv",
            "-c",
            "select * from generate_series(1, 5000000)",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn quiver");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    reader.read_line(&mut line).expect("read the header");
    assert_eq!(line, "value\n");
    drop(reader); // as `head` does
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "status {:?}: {}",
        out.status,
        stderr(&out)
    );
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn bad_warehouse_urls_say_which_and_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(quiver_bin())
        .args(["-w", "ftp://host/x", "-c", "select 1"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("location 'ftp://host/x': unsupported scheme 'ftp'"),
        "{}",
        stderr(&out)
    );
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a folder").expect("write");
    let inside = file.join("wh");
    let out = quiver(&inside, &["-c", "select 1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot create"), "{}", stderr(&out));
}

#[test]
fn help_documents_the_options() {
    let out = Command::new(quiver_bin())
        .arg("--help")
        .output()
        .expect("run");
    let help = stdout(&out);
    for flag in [
        "--command",
        "--file",
        "--warehouse",
        "--format",
        "QUIVER_WAREHOUSE",
        "ndjson",
        "arrow",
        "demo",
        "serve",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

#[test]
fn environment_chooses_the_warehouse() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(quiver_bin())
        .env("QUIVER_WAREHOUSE", dir.path().join("from-env"))
        .args(["-c", "create table t as select 1 as x"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("from-env/catalog/t.json").is_file());
}

#[test]
fn shell_reads_multi_line_statements_and_commands() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(quiver_bin())
        .arg("--warehouse")
        .arg(dir.path())
        .env("HOME", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"create table t as\n  select 42 as answer;\n\\d\nselect answer\nfrom t;\n\\q\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("| t    | table |"), "{text}");
    assert!(text.contains("| 42     |"), "{text}");
}

/// `TABLESAMPLE SYSTEM` over a warehouse table reads only the sampled row
/// groups: the plan says so and the scan's byte count shows it.
#[test]
fn system_sample_reads_only_sampled_row_groups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = quiver(
        dir.path(),
        &[
            "-c",
            "SET datafusion.execution.parquet.max_row_group_size = 1000; \
             CREATE TABLE g AS SELECT value AS v, value * 2 AS w FROM generate_series(1, 100000)",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let explain = |sql: &str| {
        let out = quiver(dir.path(), &["--format", "csv", "-c", sql]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let bytes = |plan: &str| bytes_scanned(plan) as u64;
    let full = explain("EXPLAIN ANALYZE SELECT sum(w) FROM g");
    let sampled = explain(
        "EXPLAIN ANALYZE SELECT sum(w) FROM g TABLESAMPLE SYSTEM (10 PERCENT) REPEATABLE (5)",
    );
    assert!(
        sampled.contains("SampleExec: system=0.1 (pages, or row groups without a page index)"),
        "{sampled}"
    );
    assert!(
        bytes(&sampled) * 4 < bytes(&full),
        "sampled {} of {} bytes:\n{sampled}",
        bytes(&sampled),
        bytes(&full)
    );
}

/// Past `QUIVER_WORD2VEC_MEMORY` the encoded corpus spills to disk: the
/// model is the same bit for bit (one thread, a seed) and says it spilled.
#[test]
fn word2vec_corpus_spills_past_the_memory_budget() {
    let train = |budget: Option<&str>| {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new(quiver_bin());
        cmd.arg("--warehouse").arg(dir.path()).arg("--format").arg("csv").arg("-c").arg(
            "CREATE TABLE t AS SELECT ['red', 'green', 'blue'][value % 3 + 1] || ' ' || \
             ['pizza', 'shoe', 'phone'][value % 5 % 3 + 1] || ' item' || (value % 11) AS title \
             FROM generate_series(1, 5000); \
             CREATE MODEL m TYPE word2vec OPTIONS (dim = 8, min_count = 1, epochs = 2, threads = 1, seed = 3) \
             AS SELECT title FROM t; \
             SELECT (SELECT value FROM model_metrics('m') WHERE metric = 'corpus_spilled') AS spilled, \
                    (SELECT round(sum(v), 6) FROM (SELECT unnest(vector) AS v FROM model_vocabulary('m'))) AS total",
        );
        if let Some(b) = budget {
            cmd.env("QUIVER_WORD2VEC_MEMORY", b);
        }
        let out = cmd.output().expect("run");
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let memory = train(None);
    let disk = train(Some("4096"));
    // The last statement's rows (after CREATE MODEL's own answer).
    let line = |s: &str| s.lines().last().unwrap_or_default().to_string();
    assert!(line(&memory).starts_with("0.0,"), "{memory}");
    assert!(line(&disk).starts_with("1.0,"), "{disk}");
    assert_eq!(
        line(&memory).split(',').nth(1),
        line(&disk).split(',').nth(1),
        "the same vectors"
    );
}

/// What a new user sees of a model (issue 22): `CREATE MODEL` says what it
/// made, and vectors print in CSV (arrow's CSV writer refuses lists; quiver
/// writes them as the table shows them, as DuckDB does).
#[test]
fn create_model_says_what_it_made_and_vectors_print_as_csv() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = quiver(
        dir.path(),
        &[
            "--format",
            "csv",
            "-c",
            "CREATE TABLE t AS SELECT 'red pizza box' AS title FROM generate_series(1, 50); \
             CREATE MODEL m TYPE word2vec OPTIONS (dim = 3, min_count = 1, epochs = 1, seed = 1) \
             AS SELECT title FROM t",
            "-c",
            "SELECT word, vector FROM model_vocabulary('m') ORDER BY word",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "model,type,version,created,seconds", "{text}");
    assert!(lines[1].starts_with("m,word2vec,1,20"), "{text}");
    assert_eq!(lines[2], "word,vector", "{text}");
    assert_eq!(lines.len(), 6, "{text}");
    for (line, word) in lines[3..].iter().zip(["box", "pizza", "red"]) {
        // word,"[a, b, c]": three finite numbers in brackets.
        let (w, v) = line.split_once(',').expect("two fields");
        assert_eq!(w, word);
        let inner = v
            .strip_prefix("\"[")
            .and_then(|v| v.strip_suffix("]\""))
            .unwrap_or_else(|| panic!("a quoted list: {line}"));
        let values: Vec<f32> = inner
            .split(", ")
            .map(|x| x.parse().expect("a number"))
            .collect();
        assert_eq!(values.len(), 3, "{line}");
        assert!(values.iter().all(|x| x.is_finite()), "{line}");
    }
}

/// A Parquet file whose embedded Arrow schema makes arrow-rs panic (found
/// by the fuzz suite, engine/src/parquet/fuzz.rs): the statement fails with
/// one error line and exit code 1, as any failed statement; the process does
/// not die of the panic.
#[test]
fn a_file_that_panics_the_reader_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/panics-parquet-rs.parquet"
        ),
        data.join("x.parquet"),
    )
    .expect("copy");
    let sql = format!(
        "CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION '{}/'",
        data.display()
    );
    let out = Command::new(quiver_bin())
        .env_remove("RUST_BACKTRACE")
        .args([
            "-w",
            dir.path().join("wh").to_str().expect("utf-8"),
            "-c",
            &sql,
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: the statement failed: a task panicked ("),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}
