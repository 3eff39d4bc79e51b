//! quiver on an Apache Ballista cluster (#25): a scheduler and two
//! executors started as separate `quiver` processes on free loopback ports,
//! over a warehouse folder they share. Each is waited on by the line it
//! prints when ready (the scheduler when it listens, an executor when the
//! scheduler has answered its first heartbeat), never by a sleep.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};

use crate::common::{quiver, stderr, stdout};

/// A running cluster; its processes are killed when it is dropped.
struct Cluster {
    scheduler: Child,
    executors: Vec<Child>,
    /// Each process's standard output, kept open so that it never writes
    /// to a closed pipe.
    _outputs: Vec<BufReader<ChildStdout>>,
    address: String,
    logs: PathBuf,
}

impl Cluster {
    fn start(warehouse: &Path, logs: &Path, executors: usize) -> Self {
        std::fs::create_dir_all(logs).expect("log folder");
        let (scheduler, output, line) = spawn(
            warehouse,
            logs,
            "scheduler",
            &["scheduler", "--bind", "127.0.0.1:0"],
        );
        let address = line
            .split_whitespace()
            .find(|w| w.starts_with("127.0.0.1:"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        let mut outputs = vec![output];
        let mut children = vec![];
        for i in 0..executors {
            let (child, out, line) = spawn(
                warehouse,
                logs,
                &format!("executor{i}"),
                &[
                    "executor",
                    "--scheduler",
                    &address,
                    "--bind",
                    "127.0.0.1:0",
                    "--concurrent-tasks",
                    "2",
                ],
            );
            assert!(line.contains("registered with"), "{line}");
            children.push(child);
            outputs.push(out);
        }
        Self {
            scheduler,
            executors: children,
            _outputs: outputs,
            address,
            logs: logs.to_path_buf(),
        }
    }

    /// `quiver --cluster df://... args` against `warehouse`.
    fn quiver(&self, warehouse: &Path, args: &[&str]) -> Output {
        let cluster = format!("df://{}", self.address);
        let mut all = vec!["--cluster", &cluster];
        all.extend_from_slice(args);
        quiver(warehouse, &all)
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.logs.join(format!("{name}.err"))).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.executors.iter_mut().chain([&mut self.scheduler]) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `quiver -w warehouse args` and returns it once it printed its
/// first line (its standard error goes to `logs/name.err`).
fn spawn(
    warehouse: &Path,
    logs: &Path,
    name: &str,
    args: &[&str],
) -> (Child, BufReader<ChildStdout>, String) {
    let err = std::fs::File::create(logs.join(format!("{name}.err"))).expect("log file");
    let mut child = Command::new(crate::common::quiver_bin())
        .arg("--warehouse")
        .arg(warehouse)
        .args(args)
        .env_remove("QUIVER_WAREHOUSE")
        .env_remove("QUIVER_CLUSTER")
        .stdout(Stdio::piped())
        .stderr(err)
        .spawn()
        .expect("quiver starts");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("a readiness line");
    if line.is_empty() {
        let status = child.wait().expect("wait");
        panic!(
            "quiver {name} exited ({status}) before it was ready: {}",
            std::fs::read_to_string(logs.join(format!("{name}.err"))).unwrap_or_default()
        );
    }
    (child, out, line)
}

/// A table of several files and row groups (so that `SYSTEM` sampling and
/// top-k pruning have something to choose among), texts, and models
/// trained on them.
fn warehouse_with_models(dir: &Path) -> PathBuf {
    let warehouse = dir.join("warehouse");
    let setup = [
        "SET datafusion.execution.parquet.max_row_group_size = 5000",
        "CREATE TABLE t AS SELECT i AS id, i % 11 AS g, (i * 7919) % 100003 AS score, \
         CASE i % 3 WHEN 0 THEN 'red apple fruit sweet' WHEN 1 THEN 'blue car engine fast' \
         ELSE 'green tree leaf forest' END || ' n' || (i % 50) AS text \
         FROM generate_series(1, 60000) AS s(i)",
        "INSERT INTO t SELECT id + 60000, g, score, text FROM t WHERE id <= 20000",
        "CREATE TABLE u AS SELECT i AS id, 'u' || i AS name FROM generate_series(1, 5000) AS s(i)",
        "CREATE MODEL w TYPE word2vec OPTIONS (dim = 16, min_count = 1, epochs = 2, seed = 3) \
         AS SELECT text FROM t",
        "CREATE MODEL km TYPE kmeans OPTIONS (k = 3, seed = 7) AS SELECT embed('w', text) FROM t",
        "CREATE MODEL tg TYPE tagger OPTIONS (embedding = 'w', clusters = 'km') AS SELECT text FROM t",
    ];
    let script = setup.join(";\n");
    let out = quiver(&warehouse, &["-c", &script]);
    assert!(out.status.success(), "{}", stderr(&out));
    warehouse
}

/// Queries a cluster must answer exactly as one process does.
const SAME_ANSWERS: &[&str] = &[
    "SELECT count(*), sum(id), min(text), max(score) FROM t",
    "SELECT count(*), sum(id) FROM t TABLESAMPLE SYSTEM (20 PERCENT) REPEATABLE (7)",
    "SELECT count(*), sum(id) FROM t TABLESAMPLE BERNOULLI (10 PERCENT) REPEATABLE (7)",
    "SELECT count(*), sum(id) FROM t TABLESAMPLE (100 ROWS) REPEATABLE (7)",
    "SELECT id, score FROM t ORDER BY score DESC, id LIMIT 5",
    "SELECT g, top_k(id, score, 3) FROM t GROUP BY g ORDER BY g",
    "SELECT t.g, count(*), sum(u.id) FROM t JOIN u ON t.id = u.id GROUP BY t.g ORDER BY t.g",
    "SELECT cluster_assign('km', embed('w', text)).cluster_id AS c, count(*) FROM t \
     GROUP BY 1 ORDER BY 1",
    "SELECT id, tag('tg', text) FROM t ORDER BY id LIMIT 4",
    "SELECT round(sum(cosine_similarity(embed('w', text), embed('w', 'red apple'))), 3) FROM t",
    // DataFusion's nested-type functions, which Ballista's own executors
    // lack.
    "SELECT round(avg(cardinality(tag('tg', text))), 4), \
     sum(CASE WHEN array_has(tag('tg', text), 'red apple') THEN 1 ELSE 0 END) FROM t",
];

#[test]
fn a_cluster_answers_as_one_process_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let warehouse = warehouse_with_models(dir.path());
    let cluster = Cluster::start(&warehouse, &dir.path().join("logs"), 2);
    for sql in SAME_ANSWERS {
        let local = quiver(&warehouse, &["--format", "csv", "-c", sql]);
        assert!(local.status.success(), "{sql}: {}", stderr(&local));
        let distributed = cluster.quiver(&warehouse, &["--format", "csv", "-c", sql]);
        assert!(
            distributed.status.success(),
            "{sql}: {}\nscheduler: {}",
            stderr(&distributed),
            cluster.log("scheduler")
        );
        assert_eq!(stdout(&local), stdout(&distributed), "{sql}");
    }
    // The SYSTEM sample is a sample: some row groups, not all and not none
    // (a scan that lost its access plans on the wire would read them all).
    let out = cluster.quiver(
        &warehouse,
        &[
            "--format",
            "csv",
            "-c",
            "SELECT count(*) FROM t TABLESAMPLE SYSTEM (20 PERCENT) REPEATABLE (7)",
        ],
    );
    let sampled: u64 = stdout(&out)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("a count: {}", stdout(&out)));
    assert!(sampled > 0 && sampled < 80_000, "{sampled}");
}

#[test]
fn writes_read_through_the_cluster_and_commit_here() {
    let dir = tempfile::tempdir().expect("tempdir");
    let warehouse = dir.path().join("warehouse");
    let out = quiver(
        &warehouse,
        &[
            "-c",
            "CREATE TABLE src AS SELECT i AS id, i % 7 AS g FROM generate_series(1, 3000) AS s(i)",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let cluster = Cluster::start(&warehouse, &dir.path().join("logs"), 2);
    let script = "CREATE TABLE c AS SELECT id, g FROM src WHERE id < 1000; \
                  INSERT INTO c SELECT id, g FROM src WHERE id BETWEEN 1000 AND 1999; \
                  UPDATE c SET g = 100 WHERE id < 10; \
                  DELETE FROM c WHERE id >= 1990; \
                  MERGE INTO c USING (SELECT 5 AS id, 7 AS g) s ON c.id = s.id \
                    WHEN MATCHED THEN UPDATE SET g = s.g; \
                  CREATE MODEL km TYPE kmeans OPTIONS (k = 2, seed = 1) \
                    AS SELECT [CAST(g AS DOUBLE), 1.0] FROM c";
    let out = cluster.quiver(&warehouse, &["-c", script]);
    assert!(out.status.success(), "{}", stderr(&out));
    // What the cluster wrote, read by a process that uses none.
    let sql = "SELECT count(*), sum(g), count(DISTINCT cluster_assign('km', \
               [CAST(g AS DOUBLE), 1.0]).cluster_id) AS clusters FROM c";
    let out = quiver(&warehouse, &["--format", "csv", "-c", sql]);
    assert!(out.status.success(), "{}", stderr(&out));
    let expected: i64 = (1..1990)
        .map(|i: i64| {
            if i < 10 {
                if i == 5 { 7 } else { 100 }
            } else {
                i % 7
            }
        })
        .sum();
    assert_eq!(
        stdout(&out),
        format!("count(*),sum(c.g),clusters\n1989,{expected},2\n")
    );
}

#[test]
fn explain_shows_the_distributed_plan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let warehouse = dir.path().join("warehouse");
    let out = quiver(
        &warehouse,
        &[
            "-c",
            "CREATE TABLE t AS SELECT i AS id FROM generate_series(1, 1000) AS s(i)",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let cluster = Cluster::start(&warehouse, &dir.path().join("logs"), 1);
    let out = cluster.quiver(
        &warehouse,
        &[
            "-c",
            "EXPLAIN SELECT count(*) FROM t TABLESAMPLE SYSTEM (50 PERCENT) REPEATABLE (1)",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("distributed_plan"), "{text}");
    assert!(text.contains("ShuffleWriterExec"), "{text}");
    assert!(text.contains("ShippedScanExec"), "{text}");
    assert!(text.contains("SampleExec"), "{text}");
}

#[test]
fn a_bad_cluster_address_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let warehouse = dir.path().join("warehouse");
    let out = quiver(
        &warehouse,
        &["--cluster", "grpc://127.0.0.1:1", "-c", "SELECT 1"],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("df://"), "{}", stderr(&out));
    // Nothing listens on port 1: the query fails, saying where it went.
    let out = quiver(
        &warehouse,
        &[
            "--cluster",
            "df://127.0.0.1:1",
            "-c",
            "SELECT count(*) FROM generate_series(1, 10)",
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).starts_with("error:"), "{}", stderr(&out));
}

#[test]
fn a_killed_executor_never_gives_a_partial_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let warehouse = warehouse_with_models(dir.path());
    let mut cluster = Cluster::start(&warehouse, &dir.path().join("logs"), 2);
    let sql = "SELECT g, count(*), sum(score), count(DISTINCT text) FROM t GROUP BY g ORDER BY g";
    let local = quiver(&warehouse, &["--format", "csv", "-c", sql]);
    assert!(local.status.success(), "{}", stderr(&local));
    // The query starts, and one executor is killed while the scheduler still
    // counts on it: it is retried elsewhere or fails, and says so.
    let cluster_arg = format!("df://{}", cluster.address);
    let running = Command::new(crate::common::quiver_bin())
        .arg("--warehouse")
        .arg(&warehouse)
        .args(["--cluster", &cluster_arg, "--format", "csv", "-c", sql])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("quiver starts");
    let mut victim = cluster.executors.remove(0);
    victim.kill().expect("kill an executor");
    victim.wait().expect("wait");
    let out = running.wait_with_output().expect("wait");
    if out.status.success() {
        assert_eq!(stdout(&local), stdout(&out));
    } else {
        assert!(
            stdout(&out).is_empty(),
            "a partial answer: {}",
            stdout(&out)
        );
        assert!(stderr(&out).starts_with("error:"), "{}", stderr(&out));
    }
    // The scheduler and the other executor carry on.
    let again = cluster.quiver(&warehouse, &["--format", "csv", "-c", sql]);
    assert!(
        again.status.success(),
        "{}\nscheduler: {}",
        stderr(&again),
        cluster.log("scheduler")
    );
    assert_eq!(stdout(&local), stdout(&again));
}
