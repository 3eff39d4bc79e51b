//! quiver on an Apache Ballista cluster (#25): a scheduler and two
//! executors started as separate `quiver` processes on free loopback ports,
//! over a warehouse they share (a folder, or a bucket on the S3-protocol
//! server). Each is waited on by the line it prints when ready (the
//! scheduler when it listens, an executor when the scheduler has answered
//! its first heartbeat), never by a sleep.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};

use crate::common::{bytes_scanned, quiver_bin, stderr, stdout};
use crate::s3::S3;

/// Where the processes of a test find the warehouse: its URL (or folder),
/// and what their environment must hold to reach it.
#[derive(Clone)]
struct Site {
    warehouse: String,
    env: Vec<(&'static str, String)>,
}

impl Site {
    fn folder(path: &Path) -> Self {
        Self {
            warehouse: path.to_str().expect("a UTF-8 path").to_string(),
            env: vec![],
        }
    }

    /// `quiver --warehouse ... ` with the site's environment.
    fn command(&self) -> Command {
        let mut cmd = Command::new(quiver_bin());
        cmd.args(["--warehouse", &self.warehouse])
            .env_remove("QUIVER_WAREHOUSE")
            .env_remove("QUIVER_CLUSTER")
            .envs(self.env.iter().cloned());
        cmd
    }

    /// `quiver args` in one process.
    fn quiver(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .output()
            .expect("the quiver binary runs")
    }

    /// Runs `script`, which must succeed.
    fn run(&self, script: &str) {
        let out = self.quiver(&["-c", script]);
        assert!(out.status.success(), "{script}: {}", stderr(&out));
    }
}

/// A running cluster; its processes are killed when it is dropped.
struct Cluster {
    site: Site,
    scheduler: Child,
    executors: Vec<Child>,
    /// Each process's standard output, kept open so that it never writes
    /// to a closed pipe.
    _outputs: Vec<BufReader<ChildStdout>>,
    address: String,
    logs: PathBuf,
}

impl Cluster {
    fn start(site: &Site, logs: &Path, executors: usize) -> Self {
        std::fs::create_dir_all(logs).expect("log folder");
        let (scheduler, output, line) = spawn(
            site,
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
                site,
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
            site: site.clone(),
            scheduler,
            executors: children,
            _outputs: outputs,
            address,
            logs: logs.to_path_buf(),
        }
    }

    /// `quiver --cluster df://... args` against the cluster's warehouse.
    fn quiver(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .output()
            .expect("the quiver binary runs")
    }

    fn command(&self) -> Command {
        let mut cmd = self.site.command();
        cmd.args(["--cluster", &format!("df://{}", self.address)]);
        cmd
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.logs.join(format!("{name}.err"))).unwrap_or_default()
    }

    /// Every process's log and the cluster's `EXPLAIN ANALYZE` of `sql`
    /// (run again), for a failure's message.
    fn diagnose(&self, sql: &str) -> String {
        let explain = self.quiver(&["-c", &format!("EXPLAIN ANALYZE {sql}")]);
        format!(
            "EXPLAIN ANALYZE on the cluster, run again:\n{}{}\n{}",
            stdout(&explain),
            stderr(&explain),
            self.logs()
        )
    }

    /// Every process's log, for a failure's message.
    fn logs(&self) -> String {
        let mut all = format!("scheduler:\n{}", self.log("scheduler"));
        for i in 0..self.executors.len() {
            all += &format!("\nexecutor{i}:\n{}", self.log(&format!("executor{i}")));
        }
        all
    }

    /// Checks that each query answers here as in one process.
    fn answers_as_one_process(&self, queries: &[&str]) {
        for sql in queries {
            let local = self.site.quiver(&["--format", "csv", "-c", sql]);
            assert!(local.status.success(), "{sql}: {}", stderr(&local));
            let distributed = self.quiver(&["--format", "csv", "-c", sql]);
            assert!(
                distributed.status.success(),
                "{sql}: {}\n{}",
                stderr(&distributed),
                self.logs()
            );
            if stdout(&local) != stdout(&distributed) {
                panic!(
                    "{sql}: one process answered\n{}the cluster\n{}{}",
                    stdout(&local),
                    stdout(&distributed),
                    self.diagnose(sql)
                );
            }
        }
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
    site: &Site,
    logs: &Path,
    name: &str,
    args: &[&str],
) -> (Child, BufReader<ChildStdout>, String) {
    let err = std::fs::File::create(logs.join(format!("{name}.err"))).expect("log file");
    let mut child = site
        .command()
        .args(args)
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
/// trained on them, at `site`.
fn with_models(site: &Site) {
    site.run(
        "SET datafusion.execution.parquet.max_row_group_size = 5000;
         CREATE TABLE t AS SELECT i AS id, i % 11 AS g, (i * 7919) % 100003 AS score, \
         CASE i % 3 WHEN 0 THEN 'red apple fruit sweet' WHEN 1 THEN 'blue car engine fast' \
         ELSE 'green tree leaf forest' END || ' n' || (i % 50) AS text \
         FROM generate_series(1, 60000) AS s(i);
         INSERT INTO t SELECT id + 60000, g, score, text FROM t WHERE id <= 20000;
         CREATE TABLE u AS SELECT i AS id, 'u' || i AS name FROM generate_series(1, 5000) AS s(i);
         CREATE MODEL w TYPE word2vec OPTIONS (dim = 16, min_count = 1, epochs = 2, seed = 3) \
         AS SELECT text FROM t;
         CREATE MODEL km TYPE kmeans OPTIONS (k = 3, seed = 7) AS SELECT embed('w', text) FROM t;
         CREATE MODEL tg TYPE tagger OPTIONS (embedding = 'w', clusters = 'km') \
         AS SELECT text FROM t",
    );
}

/// Queries a cluster must answer exactly as one process does.
const SAME_ANSWERS: &[&str] = &[
    "SELECT count(*), sum(id), min(text), max(score) FROM t",
    "SELECT count(*), sum(id) FROM t TABLESAMPLE SYSTEM (20 PERCENT) REPEATABLE (7)",
    "SELECT count(*), sum(id) FROM t TABLESAMPLE BERNOULLI (10 PERCENT) REPEATABLE (7)",
    "SELECT count(*), sum(id) FROM t TABLESAMPLE (100 ROWS) REPEATABLE (7)",
    "SELECT id, score FROM t ORDER BY score DESC, id LIMIT 5",
    // Scores made unique: `t`'s copied rows tie with their originals, and
    // `top_k` keeps any of tied rows (so did this list, once in about 60
    // runs, before).
    "SELECT g, top_k(id, score + id / 1000000.0, 3) FROM t GROUP BY g ORDER BY g",
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

/// Checks that the `SYSTEM` sample is a sample: some row groups, not all
/// and not none (a scan that lost its access plans on the wire would read
/// them all). Row groups are drawn by their file's name, which is new in
/// each run: half of `t`'s 16 groups, so that none (or all) are drawn in 1
/// run of 65,536. At 20%, none were in 2.8% of runs (0.8^16).
fn system_sample_is_a_sample(cluster: &Cluster) {
    let sql = "SELECT count(*) FROM t TABLESAMPLE SYSTEM (50 PERCENT) REPEATABLE (7)";
    let out = cluster.quiver(&["--format", "csv", "-c", sql]);
    let sampled: u64 = stdout(&out)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("a count: {}{}", stdout(&out), stderr(&out)));
    assert!(
        sampled > 0 && sampled < 80_000,
        "{sampled}: {}\n{}",
        stderr(&out),
        cluster.diagnose(sql)
    );
}

#[test]
fn a_cluster_answers_as_one_process_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let site = Site::folder(&dir.path().join("warehouse"));
    with_models(&site);
    // External tables: Parquet files partitioned by folder, with NaNs
    // (which quiver's Parquet reader keeps out of pruning), a Delta
    // table another warehouse wrote, with rows deleted, and a file in
    // order that only its `WITH ORDER` says is (one partition's unnest
    // writes it in order, and no sorting columns in its footer).
    let files = dir.path().join("files");
    let other = Site::folder(&dir.path().join("other"));
    other.run(
        "CREATE TABLE d AS SELECT i AS id, 'n' || i AS name FROM generate_series(1, 5000) AS s(i);
         DELETE FROM d WHERE id % 7 = 0",
    );
    let delta = dir.path().join("other/tables/d");
    site.run(&format!(
        "SET datafusion.execution.parquet.max_row_group_size = 1000;
         COPY (SELECT i AS id, i % 3 AS g, CASE WHEN i % 10 = 0 THEN 'NaN'::double \
         ELSE i * 1.5 END AS f FROM generate_series(1, 9000) AS s(i)) \
         TO '{files}/' STORED AS PARQUET PARTITIONED BY (g);
         CREATE EXTERNAL TABLE e STORED AS PARQUET PARTITIONED BY (g) LOCATION '{files}/';
         CREATE EXTERNAL TABLE d STORED AS DELTA LOCATION '{delta}';
         SET datafusion.execution.target_partitions = 1;
         COPY (SELECT i AS id, i % 13 AS v FROM unnest(range(1, 9001)) AS s(i)) \
         TO '{sorted}/part.parquet' STORED AS PARQUET;
         CREATE EXTERNAL TABLE o STORED AS PARQUET WITH ORDER (id ASC) LOCATION '{sorted}/'",
        files = files.display(),
        delta = delta.display(),
        sorted = dir.path().join("sorted").display(),
    ));
    let cluster = Cluster::start(&site, &dir.path().join("logs"), 2);
    cluster.answers_as_one_process(SAME_ANSWERS);
    cluster.answers_as_one_process(&[
        "SELECT g, count(*), sum(id), count(*) FILTER (WHERE isnan(f)) FROM e \
         GROUP BY g ORDER BY g",
        "SELECT count(*) FROM e WHERE f > 13000",
        "SELECT id, f FROM e ORDER BY f DESC, id LIMIT 3",
        "SELECT count(*), sum(id) FROM e TABLESAMPLE SYSTEM (30 PERCENT) REPEATABLE (3)",
        "SELECT count(*), sum(id), min(name), max(name) FROM d",
        "SELECT count(*) FROM d JOIN e ON d.id = e.id WHERE e.g = 1",
        "SELECT id, v FROM o ORDER BY id LIMIT 3",
    ]);
    system_sample_is_a_sample(&cluster);
    // The scheduler knows `o`'s files are in order (`WITH ORDER`
    // travels): its top-k stops early on the sorted prefix, where one
    // process reads the first rows with no sort at all. Without the order,
    // the top-k would read every row.
    let explain = "EXPLAIN SELECT id, v FROM o ORDER BY id LIMIT 3";
    for out in [
        site.quiver(&["-c", explain]),
        cluster.quiver(&["-c", explain]),
    ] {
        assert!(out.status.success(), "{}", stderr(&out));
        let plan = stdout(&out);
        assert!(
            plan.contains("sort_prefix=[id@0 ASC NULLS LAST]")
                || plan.contains("output_ordering=[id@0 ASC NULLS LAST]"),
            "{plan}"
        );
    }
}

/// The same over a bucket on the S3-protocol server: the scheduler and
/// executors read the client's tables and models from the object store,
/// and a table written through the cluster is read back by one process.
#[test]
fn a_cluster_shares_a_warehouse_on_s3() {
    let Some(s3) = S3::start() else { return };
    s3.create_bucket("cluster");
    let site = Site {
        warehouse: "s3://cluster/wh".to_string(),
        env: s3.env(),
    };
    with_models(&site);
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::start(&site, &dir.path().join("logs"), 2);
    cluster.answers_as_one_process(SAME_ANSWERS);
    system_sample_is_a_sample(&cluster);
    let out = cluster.quiver(&[
        "-c",
        "CREATE TABLE s AS SELECT g, count(*) AS n FROM t GROUP BY g",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = site.quiver(&["--format", "csv", "-c", "SELECT count(*), sum(n) FROM s"]);
    assert_eq!(
        stdout(&out),
        "count(*),sum(s.n)\n11,80000\n",
        "{}",
        stderr(&out)
    );
}

#[test]
fn writes_read_through_the_cluster_and_commit_here() {
    let dir = tempfile::tempdir().expect("tempdir");
    let site = Site::folder(&dir.path().join("warehouse"));
    site.run(
        "CREATE TABLE src AS SELECT i AS id, i % 7 AS g FROM generate_series(1, 3000) AS s(i)",
    );
    let cluster = Cluster::start(&site, &dir.path().join("logs"), 2);
    let script = "CREATE TABLE c AS SELECT id, g FROM src WHERE id < 1000; \
                  INSERT INTO c SELECT id, g FROM src WHERE id BETWEEN 1000 AND 1999; \
                  UPDATE c SET g = 100 WHERE id < 10; \
                  DELETE FROM c WHERE id >= 1990; \
                  MERGE INTO c USING (SELECT 5 AS id, 7 AS g) s ON c.id = s.id \
                    WHEN MATCHED THEN UPDATE SET g = s.g; \
                  CREATE MODEL km TYPE kmeans OPTIONS (k = 2, seed = 1) \
                    AS SELECT [CAST(g AS DOUBLE), 1.0] FROM c";
    let out = cluster.quiver(&["-c", script]);
    assert!(out.status.success(), "{}", stderr(&out));
    // What the cluster wrote, read by a process that uses none.
    let sql = "SELECT count(*), sum(g), count(DISTINCT cluster_assign('km', \
               [CAST(g AS DOUBLE), 1.0]).cluster_id) AS clusters FROM c";
    let out = site.quiver(&["--format", "csv", "-c", sql]);
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
    let site = Site::folder(&dir.path().join("warehouse"));
    site.run("CREATE TABLE t AS SELECT i AS id FROM generate_series(1, 1000) AS s(i)");
    let cluster = Cluster::start(&site, &dir.path().join("logs"), 1);
    let out = cluster.quiver(&[
        "-c",
        "EXPLAIN SELECT count(*) FROM t TABLESAMPLE SYSTEM (50 PERCENT) REPEATABLE (1)",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("distributed_plan"), "{text}");
    assert!(text.contains("ShuffleWriterExec"), "{text}");
    assert!(text.contains("ShippedScanExec"), "{text}");
    assert!(text.contains("SampleExec"), "{text}");
}

/// A `SYSTEM` sample and a top-k that read some pages of a row group read
/// as many bytes on a cluster as in one process: an executor loads the page
/// index its access plan needs (without it, it read every page of the row
/// group).
#[test]
fn a_cluster_reads_the_pages_one_process_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let site = Site::folder(&dir.path().join("warehouse"));
    // Two row groups of 20 pages or so each.
    site.run(
        "SET datafusion.execution.parquet.max_row_group_size = 20000;
         SET datafusion.execution.parquet.data_page_row_count_limit = 1000;
         CREATE TABLE pg AS SELECT i AS id, 'a title of product ' || i || ' in words' AS title \
         FROM generate_series(1, 40000) AS s(i)",
    );
    let cluster = Cluster::start(&site, &dir.path().join("logs"), 1);
    let queries = [
        // 30% of about 40 pages: none drawn in 1 run of 10^6.
        "SELECT count(*), sum(length(title)) FROM pg TABLESAMPLE SYSTEM (30 PERCENT) REPEATABLE (7)",
        "SELECT id, title FROM pg ORDER BY id DESC LIMIT 10",
    ];
    cluster.answers_as_one_process(&queries);
    // What a full scan of both columns reads.
    let all = bytes_scanned(&stdout(&site.quiver(&[
        "-c",
        "EXPLAIN ANALYZE SELECT count(*), sum(length(title)), max(id) FROM pg",
    ])));
    for sql in queries {
        let explain = format!("EXPLAIN ANALYZE {sql}");
        let local = site.quiver(&["-c", &explain]);
        assert!(local.status.success(), "{}", stderr(&local));
        let distributed = cluster.quiver(&["-c", &explain]);
        assert!(distributed.status.success(), "{}", stderr(&distributed));
        let (here, there) = (
            bytes_scanned(&stdout(&local)),
            bytes_scanned(&stdout(&distributed)),
        );
        // Some pages, not the whole table.
        assert!(here > 0.0 && here < all / 2.0, "{sql}: {here} of {all}");
        assert_eq!(
            here, there,
            "{sql}: one process read {here} bytes, the cluster {there}"
        );
    }
}

#[test]
fn a_bad_cluster_address_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let site = Site::folder(&dir.path().join("warehouse"));
    let out = site.quiver(&["--cluster", "grpc://127.0.0.1:1", "-c", "SELECT 1"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("df://"), "{}", stderr(&out));
    // Nothing listens on port 1: the query fails, saying where it went.
    let out = site.quiver(&[
        "--cluster",
        "df://127.0.0.1:1",
        "-c",
        "SELECT count(*) FROM generate_series(1, 10)",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).starts_with("error:"), "{}", stderr(&out));
}

#[test]
fn a_killed_executor_never_gives_a_partial_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let site = Site::folder(&dir.path().join("warehouse"));
    with_models(&site);
    let mut cluster = Cluster::start(&site, &dir.path().join("logs"), 2);
    let sql = "SELECT g, count(*), sum(score), count(DISTINCT text) FROM t GROUP BY g ORDER BY g";
    let local = site.quiver(&["--format", "csv", "-c", sql]);
    assert!(local.status.success(), "{}", stderr(&local));
    // The query starts, and one executor is killed while the scheduler still
    // counts on it: it is retried elsewhere or fails, and says so.
    let running = cluster
        .command()
        .args(["--format", "csv", "-c", sql])
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
    let again = cluster.quiver(&["--format", "csv", "-c", sql]);
    assert!(
        again.status.success(),
        "{}\nscheduler: {}",
        stderr(&again),
        cluster.log("scheduler")
    );
    assert_eq!(stdout(&local), stdout(&again));
}
