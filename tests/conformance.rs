//! DataFusion's own SQL conformance suite, run through quiver (#28).
//!
//! quiver changes how DataFusion plans and stores things (warehouse tables,
//! planner rules, Parquet reading, a field-access rewrite). This test runs
//! every `.slt` file that the `datafusion-sqllogictest` crate ships (the
//! version pinned beside our DataFusion) twice: once on a plain DataFusion
//! context built by the crate's own `TestContext`, once through
//! `QuiverSession` on a fresh warehouse with the same per-file tables and
//! functions. Both sides format, normalise and validate results with the
//! crate's own code. A record that passes on DataFusion and fails through
//! quiver must be named, with its cause, in `tests/conformance/accepted.txt`;
//! any other one fails the test with its file, line, SQL, expected and got.
//!
//! Each side runs in a child process of this test binary (the test
//! `conformance::side`), because the suite's paths (`data/...`,
//! `test_files/scratch/...`) are relative to the working directory, which a
//! process has one of, and each side needs its own scratch files.
//!
//! `QUIVER_CONFORMANCE_FILES=a.slt,b.slt` runs only those files (the
//! comparison still covers just what ran); `QUIVER_CONFORMANCE_WRITE=1`
//! writes the unexplained records with their reports into
//! `target/conformance-unexplained.jsonl`, for sorting by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::prelude::SessionContext;
use datafusion_sqllogictest::{
    DFColumnType, DFOutput, DFSqlLogicTestError, DataFusion, TestContext, convert_batches,
    convert_schema_to_types, df_value_validator, setup_scratch_dir, value_normalizer,
};
use futures::TryStreamExt;
use quiver::QuiverSession;
use quiver::session::CATALOG;
use serde::{Deserialize, Serialize};
use sqllogictest::{AsyncDB, DBOutput, Record, Runner, strict_column_validator};

/// The crate whose `test_files/` are the suite.
const SUITE_CRATE: &str = "datafusion-sqllogictest";
/// What each side of the run does not run, as DataFusion's own runner does
/// not by default (`spark/` needs Spark's dialect and functions, `tpch/`
/// generated data), or cannot here (`avro.slt` needs test data the crate
/// does not ship; `encrypted_parquet.slt` a feature we do not build).
const SKIPPED: &[&str] = &["spark/", "tpch/", "avro.slt", "encrypted_parquet.slt"];
/// The longest a record may take before it counts as hung.
const RECORD_TIMEOUT: Duration = Duration::from_secs(120);
const ACCEPTED: &str = "tests/conformance/accepted.txt";
/// Fewer records passing on DataFusion than this means the suite did not
/// run as it should (20,840 pass with the data the crate ships).
const MIN_PASSED: usize = 20_000;
/// The report of a record whose rows came back right but in another order,
/// from a query with no ORDER BY: accepted under the cause `row-order`
/// without naming each record, since which ones it hits varies by run.
const UNORDERED_REPORT: &str = "the same rows in another order (the query has no ORDER BY)";

/// Whether the statement quiver ran last says ORDER BY anywhere, set by
/// [`QuiverDb::run`] for [`quiver_validator`] (a side runs one record at a
/// time, and the runner's validator is a plain function).
static ORDERED: AtomicBool = AtomicBool::new(true);
/// Set by [`quiver_validator`] when only the order of rows differed.
static UNORDERED: AtomicBool = AtomicBool::new(false);

/// What one record did on one side.
#[derive(Serialize, Deserialize)]
struct Outcome {
    /// `file:line`, and for a record from an included file
    /// `file>included:line`.
    key: String,
    ok: bool,
    /// The runner's report for a failing record: SQL, expected and got.
    report: String,
}

#[test]
fn datafusion_suite() {
    let crate_dir = suite_crate_dir();
    let work = tempfile::tempdir().expect("a temporary folder");
    let exe = std::env::current_exe().expect("the test binary's path");
    let children: Vec<_> = ["datafusion", "quiver"]
        .iter()
        .map(|side| {
            let cwd = work.path().join(side);
            copy_tree(&crate_dir.join("test_files"), &cwd.join("test_files"));
            copy_tree(&crate_dir.join("data"), &cwd.join("data"));
            let out = work.path().join(format!("{side}.jsonl"));
            let child = Command::new(&exe)
                .args(["conformance::side", "--exact", "--nocapture"])
                .args(["--test-threads", "1"])
                .env("QUIVER_CONFORMANCE_SIDE", side)
                .env("QUIVER_CONFORMANCE_OUT", &out)
                .current_dir(&cwd)
                // libtest's own lines; a failing side says why on stderr.
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("the test binary starts again");
            (side, child, out)
        })
        .collect();
    let mut outcomes = Vec::new();
    for (side, child, out) in children {
        let status = child.wait_with_output().expect("the side ends").status;
        assert!(status.success(), "the {side} side failed: {status}");
        outcomes.push(read_outcomes(&out));
    }
    let quiver = outcomes.pop().expect("two sides");
    let datafusion = outcomes.pop().expect("two sides");
    let accepted = Accepted::load();
    let summary = compare(&datafusion, &quiver, &accepted);
    // A suite that did not run (files not found, a side that wrote
    // nothing) must not pass as one with nothing to report.
    if std::env::var_os("QUIVER_CONFORMANCE_FILES").is_none() {
        assert!(
            summary.passed >= MIN_PASSED,
            "only {} records passed on DataFusion (expected at least {MIN_PASSED}): the suite did not run",
            summary.passed
        );
    }
    println!(
        "conformance: {} records, {} pass on DataFusion, {} of those fail on quiver: {} accepted, {} unexplained",
        summary.records,
        summary.passed,
        summary.failing,
        summary.accepted,
        summary.unexplained.len()
    );
    for (cause, n) in &summary.by_cause {
        println!("  accepted: {n:>4} {cause}");
    }
    if !summary.stale.is_empty() {
        println!(
            "  {} accepted records now pass through quiver (remove them from {ACCEPTED}): {}",
            summary.stale.len(),
            summary.stale.join(" ")
        );
    }
    if std::env::var_os("QUIVER_CONFORMANCE_WRITE").is_some() {
        write_unexplained(&summary.unexplained);
    }
    let shown: Vec<String> = summary
        .unexplained
        .iter()
        .take(40)
        .map(|(key, report)| format!("{key}\n{report}"))
        .collect();
    assert!(
        summary.unexplained.is_empty(),
        "{} records pass on DataFusion and fail through quiver without an accepted cause (first {}):\n\n{}",
        summary.unexplained.len(),
        shown.len(),
        shown.join("\n\n")
    );
}

/// One side of the run, started by [`datafusion_suite`] in a child process;
/// run directly it has nothing to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn side() {
    let Some(side) = std::env::var_os("QUIVER_CONFORMANCE_SIDE") else {
        return;
    };
    let quiver = side == "quiver";
    let out = std::env::var_os("QUIVER_CONFORMANCE_OUT").expect("the parent names the output");
    let mut out = std::io::BufWriter::new(std::fs::File::create(out).expect("output opens"));
    let only: Option<Vec<String>> = std::env::var("QUIVER_CONFORMANCE_FILES")
        .ok()
        .map(|s| s.split(',').map(str::to_string).collect());
    for relative in suite_files(Path::new("test_files")) {
        let name = relative.to_string_lossy().to_string();
        if only.as_ref().is_some_and(|o| !o.contains(&name)) {
            continue;
        }
        let outcomes = tokio::spawn(run_file(relative.clone(), quiver))
            .await
            .unwrap_or_else(|e| {
                vec![Outcome {
                    key: format!("{name}:0"),
                    ok: false,
                    report: format!("the file's run panicked: {e}"),
                }]
            });
        for o in outcomes {
            serde_json::to_writer(&mut out, &o).expect("an outcome serializes");
            out.write_all(b"\n").expect("output takes a line");
        }
    }
    out.flush().expect("output flushes");
}

/// Runs one file's records in order on one side.
async fn run_file(relative: PathBuf, quiver: bool) -> Vec<Outcome> {
    let name = relative.to_string_lossy().to_string();
    let path = Path::new("test_files").join(&relative);
    let Some(test_ctx) = TestContext::try_new_for_test_file(&relative).await else {
        return Vec::new();
    };
    setup_scratch_dir(&relative).expect("the scratch folder is made");
    let records = match sqllogictest::parse_file::<DFColumnType>(&path) {
        Ok(r) => r,
        Err(e) => {
            return vec![Outcome {
                key: format!("{name}:0"),
                ok: false,
                report: format!("the file does not parse: {e}"),
            }];
        }
    };
    let plain = test_ctx.session_ctx().clone();
    let mut outcomes = Vec::new();
    if quiver {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let session = match quiver_session(&plain, dir.path()).await {
            Ok(s) => Arc::new(s),
            Err(e) => panic!("{name}: the quiver session does not open: {e}"),
        };
        let mut runner = Runner::new(move || {
            let session = Arc::clone(&session);
            async move { Ok(QuiverDb { session }) }
        });
        runner.with_validator(quiver_validator);
        run_records(&mut runner, &name, records, &mut outcomes).await;
    } else {
        let mut runner = Runner::new(move || {
            let ctx = plain.clone();
            let relative = relative.clone();
            async move {
                Ok(DataFusion::new(
                    ctx,
                    relative,
                    indicatif::ProgressBar::hidden(),
                ))
            }
        });
        runner.with_validator(df_value_validator);
        run_records(&mut runner, &name, records, &mut outcomes).await;
    }
    outcomes
}

async fn run_records<D, M>(
    runner: &mut Runner<D, M>,
    name: &str,
    records: Vec<Record<DFColumnType>>,
    outcomes: &mut Vec<Outcome>,
) where
    D: AsyncDB<ColumnType = DFColumnType>,
    M: sqllogictest::MakeConnection<Conn = D>,
{
    runner.add_label("Datafusion");
    runner.with_column_validator(strict_column_validator);
    runner.with_normalizer(value_normalizer);
    for record in records {
        let loc = match &record {
            Record::Halt { .. } => break,
            Record::Statement { loc, .. } | Record::Query { loc, .. } => Some(loc.clone()),
            _ => None,
        };
        let result = tokio::time::timeout(RECORD_TIMEOUT, runner.run_async(record)).await;
        let Some(loc) = loc else { continue };
        let key = record_key(name, loc.file(), loc.line());
        let (ok, report) = match result {
            Ok(Ok(_)) if UNORDERED.swap(false, Ordering::SeqCst) => {
                (false, UNORDERED_REPORT.to_string())
            }
            Ok(Ok(_)) => (true, String::new()),
            Ok(Err(e)) => (false, e.to_string()),
            Err(_) => (false, format!("timed out after {RECORD_TIMEOUT:?}")),
        };
        outcomes.push(Outcome { key, ok, report });
    }
}

/// `file:line`, naming the included file too when the record is from one
/// (`join.slt.part` is included by several files).
fn record_key(name: &str, file: &str, line: u32) -> String {
    if file.ends_with(name) {
        format!("{name}:{line}")
    } else {
        let included = Path::new(file)
            .file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default();
        format!("{name}>{included}:{line}")
    }
}

/// A quiver session on a fresh warehouse in `dir`, set up as the suite's
/// `TestContext` set up `plain`: its settings, and the tables, schemas,
/// catalogs and functions it registered for the file.
async fn quiver_session(
    plain: &SessionContext,
    dir: &Path,
) -> datafusion::common::Result<QuiverSession> {
    let session = QuiverSession::open(dir.join("wh").to_str().expect("utf-8")).await?;
    let target_partitions = plain.state().config().options().execution.target_partitions;
    session
        .sql(&format!(
            "SET datafusion.execution.target_partitions = {target_partitions}"
        ))
        .await?;
    let ctx = session.ctx();
    for catalog_name in plain.catalog_names() {
        let catalog = plain.catalog(&catalog_name).expect("a listed catalog");
        if catalog_name != "datafusion" {
            ctx.register_catalog(&catalog_name, catalog);
            continue;
        }
        let ours = ctx.catalog(CATALOG).expect("quiver's catalog");
        for schema_name in catalog.schema_names() {
            let schema = catalog.schema(&schema_name).expect("a listed schema");
            if schema_name != "public" {
                ours.register_schema(&schema_name, schema)?;
                continue;
            }
            for table in schema.table_names() {
                if let Some(provider) = schema.table(&table).await? {
                    ctx.register_table(table.as_str(), provider)?;
                }
            }
        }
    }
    let state = plain.state();
    let ours = ctx.state();
    for (name, udf) in state.scalar_functions() {
        if !ours.scalar_functions().contains_key(name) {
            ctx.register_udf(udf.as_ref().clone());
        }
    }
    for (name, udaf) in state.aggregate_functions() {
        if !ours.aggregate_functions().contains_key(name) {
            ctx.register_udaf(udaf.as_ref().clone());
        }
    }
    for (name, udwf) in state.window_functions() {
        if !ours.window_functions().contains_key(name) {
            ctx.register_udwf(udwf.as_ref().clone());
        }
    }
    Ok(session)
}

/// The suite's validator, and for a query without ORDER BY a second look
/// that takes the same rows in another order (noted in [`UNORDERED`]).
fn quiver_validator(
    normalizer: sqllogictest::Normalizer,
    actual: &[Vec<String>],
    expected: &[String],
) -> bool {
    if df_value_validator(normalizer, actual, expected) {
        return true;
    }
    if ORDERED.load(Ordering::SeqCst) {
        return false;
    }
    let mut actual: Vec<String> = actual
        .iter()
        .map(|row| row.join(" ").trim_end().to_string())
        .collect();
    let mut expected: Vec<String> = expected.iter().map(normalizer).collect();
    actual.sort();
    expected.sort();
    let same = actual == expected;
    UNORDERED.store(same, Ordering::SeqCst);
    same
}

/// quiver as the suite's database: statements through [`QuiverSession`],
/// results formatted by the suite's own code.
struct QuiverDb {
    session: Arc<QuiverSession>,
}

#[async_trait]
impl AsyncDB for QuiverDb {
    type Error = DFSqlLogicTestError;
    type ColumnType = DFColumnType;

    async fn run(&mut self, sql: &str) -> Result<DFOutput, DFSqlLogicTestError> {
        let ordered = sql.to_ascii_lowercase().contains("order by");
        ORDERED.store(ordered, Ordering::SeqCst);
        let stream = self.session.execute(sql).await?;
        let schema = stream.schema();
        let types = convert_schema_to_types(schema.fields());
        let batches: Vec<_> = stream.try_collect().await?;
        let rows = convert_batches(&schema, batches, false)?;
        if rows.is_empty() && types.is_empty() {
            Ok(DBOutput::StatementComplete(0))
        } else {
            Ok(DBOutput::Rows { types, rows })
        }
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "quiver"
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await;
    }
}

/// The records that failed on quiver although they passed on DataFusion,
/// sorted into accepted (by cause) and unexplained.
struct Summary {
    records: usize,
    passed: usize,
    failing: usize,
    accepted: usize,
    by_cause: BTreeMap<String, usize>,
    unexplained: Vec<(String, String)>,
    stale: Vec<String>,
}

fn compare(datafusion: &[Outcome], quiver: &[Outcome], accepted: &Accepted) -> Summary {
    let ours: BTreeMap<&str, &Outcome> = quiver.iter().map(|o| (o.key.as_str(), o)).collect();
    let mut summary = Summary {
        records: datafusion.len(),
        passed: 0,
        failing: 0,
        accepted: 0,
        by_cause: BTreeMap::new(),
        unexplained: Vec::new(),
        stale: Vec::new(),
    };
    let mut seen = BTreeSet::new();
    for o in datafusion.iter().filter(|o| o.ok) {
        summary.passed += 1;
        let failure = match ours.get(o.key.as_str()) {
            Some(q) if q.ok => None,
            Some(q) => Some(q.report.clone()),
            None => Some("the record did not run through quiver".to_string()),
        };
        if let Some(report) = failure {
            summary.failing += 1;
            if report == UNORDERED_REPORT {
                summary.accepted += 1;
                *summary.by_cause.entry("row-order".to_string()).or_default() += 1;
            } else if let Some(cause) = accepted.cause(&o.key) {
                seen.insert(o.key.clone());
                summary.accepted += 1;
                *summary.by_cause.entry(cause.to_string()).or_default() += 1;
            } else {
                summary.unexplained.push((o.key.clone(), report));
            }
        }
    }
    let ran: BTreeSet<&str> = datafusion.iter().map(|o| o.key.as_str()).collect();
    summary.stale = accepted
        .records
        .keys()
        .filter(|k| ran.contains(k.as_str()) && !seen.contains(*k))
        .cloned()
        .collect();
    summary
}

/// `tests/conformance/accepted.txt`: `cause NAME: why` lines define the
/// causes; `KEY NAME` lines accept one record for one of them.
struct Accepted {
    causes: BTreeMap<String, String>,
    records: BTreeMap<String, String>,
}

impl Accepted {
    fn load() -> Self {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(ACCEPTED);
        let text = std::fs::read_to_string(&path).expect("the accepted list exists");
        let mut causes = BTreeMap::new();
        let mut records = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split(" #").next().unwrap_or("").trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(rest) = line.strip_prefix("cause ") {
                let (name, why) = rest.split_once(':').unwrap_or_else(|| {
                    panic!("{ACCEPTED}:{}: a cause is `cause NAME: why`", n + 1)
                });
                causes.insert(name.trim().to_string(), why.trim().to_string());
                continue;
            }
            let (key, cause) = line
                .split_once(' ')
                .unwrap_or_else(|| panic!("{ACCEPTED}:{}: a record is `FILE:LINE CAUSE`", n + 1));
            records.insert(key.to_string(), cause.trim().to_string());
        }
        for (key, cause) in &records {
            assert!(
                causes.contains_key(cause),
                "{ACCEPTED}: {key} names the cause '{cause}', which no `cause` line defines"
            );
        }
        Self { causes, records }
    }

    fn cause(&self, key: &str) -> Option<&str> {
        let name = self.records.get(key)?;
        self.causes.get_key_value(name).map(|(k, _)| k.as_str())
    }
}

/// Writes the unexplained records to `target/conformance-unexplained.jsonl`
/// (key and report), for sorting into causes by hand.
fn write_unexplained(unexplained: &[(String, String)]) {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/conformance-unexplained.jsonl");
    std::fs::create_dir_all(path.parent().expect("a folder")).expect("target exists");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).expect("the file opens"));
    for (key, report) in unexplained {
        let o = Outcome {
            key: key.clone(),
            ok: false,
            report: report.clone(),
        };
        serde_json::to_writer(&mut f, &o).expect("an outcome serializes");
        f.write_all(b"\n").expect("the file takes a line");
    }
    println!("  wrote {}", path.display());
}

fn read_outcomes(path: &Path) -> Vec<Outcome> {
    std::fs::read_to_string(path)
        .expect("the side wrote its outcomes")
        .lines()
        .map(|l| serde_json::from_str(l).expect("an outcome parses"))
        .collect()
}

/// Every `.slt` file under `dir`, relative to it, sorted, without the
/// [`SKIPPED`] ones.
fn suite_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("the suite folder reads") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "slt") {
                let relative = path.strip_prefix(dir).expect("under dir").to_path_buf();
                let name = relative.to_string_lossy();
                if !SKIPPED.iter().any(|s| name.starts_with(s)) {
                    files.push(relative);
                }
            }
        }
    }
    files.sort();
    files
}

/// The suite crate's folder, as Cargo resolved it for this build.
/// `cargo metadata` resolves every platform's dependencies; offline first,
/// then from the registry when a fresh machine's build did not need (so did
/// not download) another platform's crates.
fn suite_crate_dir() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let metadata = |offline: bool| {
        let mut command = Command::new(&cargo);
        command.args(["metadata", "--format-version", "1", "--locked"]);
        if offline {
            command.arg("--offline");
        }
        command
            .arg("--manifest-path")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .output()
            .expect("cargo metadata runs")
    };
    let mut out = metadata(true);
    if !out.status.success() {
        out = metadata(false);
    }
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let manifest = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["name"] == SUITE_CRATE)
        .and_then(|p| p["manifest_path"].as_str())
        .expect("the suite crate is a dependency");
    Path::new(manifest)
        .parent()
        .expect("a folder")
        .to_path_buf()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("the copy's folder is made");
    for entry in std::fs::read_dir(from).expect("the folder reads") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("the file copies");
        }
    }
}
