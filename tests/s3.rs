//! The warehouse on a real S3-protocol server (#24): `moto_server`, from the
//! tests' venv (scripts/test installs it), started on a free loopback port.
//! quiver runs as its own process with the endpoint and credentials in the
//! environment, as a user gives them (`AWS_ENDPOINT`, `AWS_ALLOW_HTTP`,
//! ...). Between quiver and the server sits a loopback proxy that counts
//! the bytes the server sends, so the tests measure what a query fetched.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::common::{python_json, quiver_bin, stderr, stdout, test_python};

/// A running `moto_server` and, in front of it, a proxy counting the bytes
/// it answers with. Stopped when dropped.
pub(crate) struct S3 {
    server: Child,
    /// The proxy's port: what quiver is given as the endpoint.
    port: u16,
    fetched: Arc<AtomicU64>,
    python: String,
}

impl S3 {
    /// Starts the server beside the tests' Python; `None` outside scripts/test
    /// (under CI its absence is a failure, see [`test_python`]).
    pub(crate) fn start() -> Option<S3> {
        let python = test_python()?;
        let moto = Path::new(&python).with_file_name("moto_server");
        let port = free_port();
        let mut server = Command::new(&moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{} starts: {e}", moto.display()));
        // Ready when it answers a request; its log says why if it exits.
        let start = Instant::now();
        while http(port, "GET", "/").is_none() {
            if let Ok(Some(status)) = server.try_wait() {
                let mut log = String::new();
                if let Some(mut err) = server.stderr.take() {
                    let _ = err.read_to_string(&mut log);
                }
                panic!("moto_server exited ({status}): {log}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "moto_server did not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // Its request log would fill the pipe: drain it.
        if let Some(err) = server.stderr.take() {
            std::thread::spawn(move || for _ in BufReader::new(err).lines() {});
        }
        let fetched = Arc::new(AtomicU64::new(0));
        let proxy = counting_proxy(port, Arc::clone(&fetched));
        Some(S3 {
            server,
            port: proxy,
            fetched,
            python,
        })
    }

    pub(crate) fn create_bucket(&self, bucket: &str) {
        let status = http(self.port, "PUT", &format!("/{bucket}"));
        assert_eq!(status, Some(200), "creating bucket {bucket}");
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The server's endpoint and credentials, as a user gives them to
    /// quiver in its environment.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "quiver-test".into()),
            ("AWS_SECRET_ACCESS_KEY", "quiver-test".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    /// A quiver process on warehouse `url`, with the server's endpoint and
    /// credentials in its environment.
    fn command(&self, url: &str) -> Command {
        let mut cmd = Command::new(quiver_bin());
        cmd.args(["--warehouse", url, "--format", "json"])
            .env_remove("QUIVER_WAREHOUSE")
            .envs(self.env());
        cmd
    }

    /// Runs `script` in a new quiver process, which must succeed.
    fn run(&self, url: &str, script: &str) -> Output {
        let out = self
            .command(url)
            .args(["-c", script])
            .output()
            .expect("quiver runs");
        assert!(out.status.success(), "{script}: {}", stderr(&out));
        out
    }

    /// The rows one statement returns, as JSON objects.
    fn rows(&self, url: &str, sql: &str) -> Vec<serde_json::Value> {
        let out = self.run(url, sql);
        let text = stdout(&out);
        let value: serde_json::Value =
            serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{sql}: {e}: {text}"));
        value.as_array().cloned().unwrap_or_default()
    }

    /// The one value of a one-row, one-column answer, as text.
    fn scalar(&self, url: &str, sql: &str) -> String {
        let rows = self.rows(url, sql);
        assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
        let value = rows[0]
            .as_object()
            .and_then(|o| o.values().next())
            .cloned()
            .unwrap_or_default();
        match value {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        }
    }

    /// The error a statement fails with.
    fn error(&self, url: &str, sql: &str) -> String {
        let out = self
            .command(url)
            .args(["-c", sql])
            .env_remove("RUST_BACKTRACE")
            .output()
            .expect("quiver runs");
        assert!(!out.status.success(), "{sql} should fail: {}", stdout(&out));
        stderr(&out)
    }

    /// The bytes the server sent while `f` ran.
    fn fetched_by(&self, f: impl FnOnce()) -> u64 {
        let before = self.fetched.load(Ordering::SeqCst);
        f();
        self.fetched.load(Ordering::SeqCst) - before
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One HTTP/1.1 request with an empty body; the answer's status, or `None`
/// when nothing answers.
fn http(port: u16, method: &str, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut status = String::new();
    BufReader::new(stream).read_line(&mut status).ok()?;
    status.split_whitespace().nth(1)?.parse().ok()
}

/// A loopback proxy to `port` that adds every byte the server sends to
/// `fetched`; its own port.
fn counting_proxy(port: u16, fetched: Arc<AtomicU64>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
    let proxy = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let Ok(server) = TcpStream::connect(("127.0.0.1", port)) else {
                continue;
            };
            let (Ok(mut client_out), Ok(mut server_in)) = (client.try_clone(), server.try_clone())
            else {
                continue;
            };
            let (mut client_in, mut server_out) = (client, server);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut client_in, &mut server_out);
                let _ = server_out.shutdown(std::net::Shutdown::Write);
            });
            let fetched = Arc::clone(&fetched);
            std::thread::spawn(move || {
                let mut buf = [0u8; 64 * 1024];
                loop {
                    let n = match server_in.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    fetched.fetch_add(n as u64, Ordering::SeqCst);
                    if client_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = client_out.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    proxy
}

/// Tables, DML, schemas, history, models, sampling, top-k and external
/// tables, each statement in a process of its own, on `s3://`.
#[test]
fn warehouse_on_s3() {
    let Some(s3) = S3::start() else {
        return;
    };
    s3.create_bucket("quiver-wh");
    let wh = "s3://quiver-wh/warehouse";

    s3.run(
        wh,
        "create table t as select value as id, value % 7 as g, concat('row ', value) as label \
         from generate_series(1, 1000)",
    );
    s3.run(wh, "insert into t values (1001, 0, 'late')");
    assert_eq!(s3.scalar(wh, "select count(*) from t"), "1001");
    assert_eq!(s3.scalar(wh, "delete from t where g = 3"), "143");
    assert_eq!(
        s3.scalar(wh, "update t set label = 'even' where id % 2 = 0"),
        "429"
    );
    assert_eq!(
        s3.scalar(
            wh,
            "merge into t using (values (1, 'one'), (5000, 'new')) s(id, label) on t.id = s.id \
             when matched then update set label = s.label \
             when not matched then insert (id, g, label) values (s.id, 9, s.label)"
        ),
        "2"
    );
    assert_eq!(s3.scalar(wh, "select count(*) from t"), "859");
    assert_eq!(
        s3.scalar(wh, "select label from t where id = 1"),
        "one",
        "the MERGE updated"
    );
    // Time travel: version 1 is the table after its INSERT.
    assert_eq!(
        s3.scalar(wh, "select count(*) from t version as of 1"),
        "1001"
    );
    let history = s3.rows(wh, "describe history t");
    let operations: Vec<&str> = history
        .iter()
        .filter_map(|r| r["operation"].as_str())
        .collect();
    assert_eq!(
        operations,
        [
            "MERGE",
            "UPDATE",
            "DELETE",
            "WRITE",
            "CREATE OR REPLACE TABLE"
        ],
        "{history:?}"
    );

    // Schemas, rename, columns, compaction.
    s3.run(wh, "create schema staging");
    s3.run(
        wh,
        "create table staging.copy as select * from t where g = 0",
    );
    s3.run(wh, "alter table staging.copy rename to kept");
    s3.run(wh, "alter table staging.kept add column note varchar");
    assert_eq!(
        s3.scalar(
            wh,
            "select count(*) from information_schema.columns where table_schema = 'staging' \
             and table_name = 'kept'"
        ),
        "4"
    );
    assert!(
        s3.error(wh, "drop schema staging").contains("staging"),
        "a schema that is not empty needs CASCADE"
    );
    s3.run(wh, "drop schema staging cascade");
    let optimized = s3.rows(wh, "optimize t");
    assert_eq!(optimized[0]["added_files"], 1, "{optimized:?}");
    assert_eq!(s3.scalar(wh, "select count(*) from t"), "859");
    let removed = s3.rows(wh, "vacuum retain 0 hours");
    assert!(
        removed.iter().any(|r| r["path"]
            .as_str()
            .is_some_and(|p| p.starts_with("tables/t/"))),
        "VACUUM removes the files OPTIMIZE replaced: {removed:?}"
    );
    assert_eq!(s3.scalar(wh, "select count(*) from t"), "859");
    assert_eq!(s3.scalar(wh, "select sum(id) from t where g = 9"), "5000");

    // Sampling and top-k.
    s3.run(
        wh,
        "set datafusion.execution.parquet.max_row_group_size = 1000; \
         create table big as select value as id, (value * 7919) % 100003 as score \
         from generate_series(1, 100000)",
    );
    assert_eq!(
        s3.scalar(
            wh,
            "select count(*) from big tablesample system (10 percent) repeatable (3)"
        )
        .parse::<u64>()
        .map(|n| n % 1000 == 0 && n > 0 && n < 100_000),
        Ok(true),
        "SYSTEM samples whole row groups"
    );
    let top = s3.rows(wh, "select id, score from big order by score desc limit 3");
    let scores: Vec<i64> = top.iter().filter_map(|r| r["score"].as_i64()).collect();
    assert_eq!(scores, [100002, 100001, 100000]);

    // A model trained from and stored in the warehouse.
    s3.run(
        wh,
        "create table pts as select value as id, \
         arrow_cast([(value % 3) * 10.0, (value % 3) * 5.0 + (value % 11) / 10.0], \
         'FixedSizeList(2, Float32)') as v from generate_series(1, 300); \
         create model c type kmeans options (k = 3, seed = 7) as select v from pts",
    );
    assert_eq!(
        s3.scalar(
            wh,
            "select count(distinct cluster_assign('c', v).cluster_id) from pts"
        ),
        "3"
    );

    // An external Parquet table the user wrote to the same store.
    s3.run(
        wh,
        "copy (select value as n from generate_series(1, 50)) \
         to 's3://quiver-wh/outside/data.parquet' stored as parquet",
    );
    s3.run(
        wh,
        "create external table ext stored as parquet location 's3://quiver-wh/outside/'",
    );
    assert_eq!(s3.scalar(wh, "select sum(n) from ext"), "1275");
    assert!(
        s3.error(wh, "delete from ext").contains("ext"),
        "DML on an external table is refused"
    );

    // Another reader of the same object: Python's deltalake.
    let script = r#"
import json, os, sys
from deltalake import DeltaTable
opts = {"AWS_ENDPOINT_URL": sys.argv[1], "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "quiver-test", "AWS_SECRET_ACCESS_KEY": "quiver-test",
        "AWS_REGION": "us-east-1"}
t = DeltaTable("s3://quiver-wh/warehouse/tables/t", storage_options=opts)
rows = t.to_pyarrow_table()
print(json.dumps({"version": t.version(), "rows": rows.num_rows,
                  "ids": sum(rows.column("id").to_pylist())}))
sys.stdout.flush(); os._exit(0)
"#;
    let endpoint = PathBuf::from(s3.endpoint());
    let read = python_json(&s3.python, script, &[&endpoint]);
    assert_eq!(read["rows"], 859, "{read}");
    assert_eq!(
        read["ids"].to_string(),
        s3.scalar(wh, "select sum(id) from t"),
        "{read}"
    );
    assert_eq!(
        read["version"], 5,
        "create, insert, delete, update, merge, optimize"
    );

    // A Delta table Python's deltalake wrote to the store, partitioned,
    // read as an external table.
    let script = r#"
import json, os, sys
import pyarrow as pa
from deltalake import write_deltalake
opts = {"AWS_ENDPOINT_URL": sys.argv[1], "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "quiver-test", "AWS_SECRET_ACCESS_KEY": "quiver-test",
        "AWS_REGION": "us-east-1"}
data = pa.table({"n": pa.array(range(1, 201), pa.int64()), "part": [i % 4 for i in range(1, 201)]})
write_deltalake("s3://quiver-wh/outside-delta", data, partition_by=["part"], storage_options=opts)
print(json.dumps({"rows": data.num_rows}))
sys.stdout.flush(); os._exit(0)
"#;
    let wrote = python_json(&s3.python, script, &[&endpoint]);
    assert_eq!(wrote["rows"], 200, "{wrote}");
    s3.run(
        wh,
        "create external table ext_delta stored as delta \
         location 's3://quiver-wh/outside-delta'",
    );
    assert_eq!(
        s3.scalar(wh, "select sum(n) from ext_delta where part = 2"),
        (1..=200).filter(|n| n % 4 == 2).sum::<i64>().to_string()
    );
    assert_eq!(s3.scalar(wh, "select count(*) from ext_delta"), "200");
}

/// Two processes appending to one table on S3 at once: every row lands
/// (each commit is a conditional put of the next log entry).
#[test]
fn two_processes_append_over_s3() {
    let Some(s3) = S3::start() else {
        return;
    };
    s3.create_bucket("quiver-race");
    let wh = "s3://quiver-race/wh";
    s3.run(wh, "create table a (writer int, v bigint)");
    let script = |w: u32| {
        (0..10)
            .map(|i| {
                format!(
                    "insert into a select {w}, value from generate_series({}, {});",
                    i * 100 + 1,
                    i * 100 + 100
                )
            })
            .collect::<String>()
    };
    let children: Vec<Child> = (1..=2)
        .map(|w| {
            s3.command(wh)
                .args(["-c", &script(w)])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("quiver starts")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let counts = s3.rows(
        wh,
        "select writer, count(*) as n, count(distinct v) as d from a group by writer \
         order by writer",
    );
    assert_eq!(
        serde_json::Value::Array(counts),
        serde_json::json!([{"writer": 1, "n": 1000, "d": 1000}, {"writer": 2, "n": 1000, "d": 1000}])
    );
    assert_eq!(s3.rows(wh, "describe history a").len(), 21);
}

/// What a top 100 and a 1% SYSTEM sample fetch from the server, beside
/// what a full scan fetches: every byte the server sent to the process
/// (catalog, log, footers, pages), not only the pages DataFusion counts.
/// Opening the table alone fetches about 0.5 MB: DataFusion reads a
/// file's last 512 KiB at once to find its footer
/// (`datafusion.execution.parquet.metadata_size_hint`).
#[test]
fn top_k_and_sample_fetch_a_small_share_over_s3() {
    let Some(s3) = S3::start() else {
        return;
    };
    s3.create_bucket("quiver-bytes");
    let wh = "s3://quiver-bytes/wh";
    // Scores rise with ids, so the top rows sit in the last row groups,
    // as in benches/topk_and_sampling.py's clustered file: 80 MB in 245
    // row groups.
    s3.run(
        wh,
        "set datafusion.execution.parquet.max_row_group_size = 40960; \
         create table c as select value as id, value + random() as score \
         from generate_series(1, 10000000)",
    );
    let opening = s3.fetched_by(|| {
        s3.run(wh, "select 1 from c limit 0");
    });
    let full = s3.fetched_by(|| {
        s3.run(wh, "select sum(id), sum(score) from c");
    });
    let top = s3.fetched_by(|| {
        let rows = s3.rows(wh, "select id from c order by score desc limit 100");
        assert_eq!(rows.len(), 100);
        assert_eq!(rows[0]["id"], 10000000);
    });
    let mut sampled = 0u64;
    let sample = s3.fetched_by(|| {
        let rows = s3.rows(
            wh,
            "select count(*) as n, sum(score) as s from c \
             tablesample system (1 percent) repeatable (7)",
        );
        sampled = rows[0]["n"].as_u64().expect("a count");
        assert!(
            sampled == 0 || rows[0]["s"].as_f64().is_some_and(|s| s > 0.0),
            "{rows:?}"
        );
    });
    let share = |b: u64| b as f64 / full as f64;
    let fraction = sampled as f64 / 10_000_000.0;
    eprintln!(
        "fetched: opening {opening} B, full scan {full} B, top 100 {top} B ({:.2}%), SYSTEM 1% \
         {sample} B ({:.2}%) for {sampled} rows ({:.2}%)",
        100.0 * share(top),
        100.0 * share(sample),
        100.0 * fraction
    );
    assert!(full > 50_000_000, "the full scan fetched {full} B");
    assert!(share(top) <= 0.05, "top 100 fetched {top} of {full} B");
    // The draw hashes the file's path, which every run writes anew: how
    // many pages it takes varies (about 5 of some 490, give or take 2),
    // so the test holds the sample to what it drew. Beyond opening the
    // table, it fetches the bytes of the rows it samples and little else.
    assert!(fraction < 0.03, "SYSTEM 1% sampled {sampled} rows");
    assert!(
        share(sample - opening) <= 1.5 * fraction + 0.002,
        "SYSTEM 1% fetched {sample} of {full} B (opening {opening} B) for {:.2}% of the rows",
        100.0 * fraction
    );
}
