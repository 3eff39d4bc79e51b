//! `quiver serve`: a real server on port 0 and arrow-flight's Flight SQL
//! client, as notebooks and JDBC tools use it. The server is ready when
//! `Bound::bind` returns (the socket is listening), or, for the binary,
//! when it prints its readiness line.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{CommandGetDbSchemas, CommandGetTables, SqlInfo};
use arrow_flight::{Action, CancelFlightInfoRequest, FlightInfo};
use clap::Parser;
use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::util::pretty::pretty_format_batches;
use futures::{StreamExt, TryStreamExt};
use prost::Message;
use quiver::cli::{Args, Command as Sub};
use quiver::server::{Bound, ServeArgs};
use tokio::sync::oneshot;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::common::{quiver_bin, session};

const TOKEN: &str = "analyst:flight-test-token";
const SECRET: &str = "flight-test-token";

/// `quiver serve` arguments as the command line would parse them.
fn serve_args(extra: &[&str]) -> ServeArgs {
    let mut argv = vec!["quiver", "serve", "--bind", "127.0.0.1:0"];
    argv.extend_from_slice(extra);
    match Args::try_parse_from(argv).expect("valid arguments").command {
        Some(Sub::Serve(s)) => s,
        _ => unreachable!("the serve subcommand"),
    }
}

/// A server running in this process until the returned sender is dropped.
struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(warehouse: &Path, extra: &[&str]) -> Self {
        let args = serve_args(extra);
        let bound = Bound::bind(warehouse.to_str().expect("utf-8"), &args)
            .await
            .expect("bind");
        let addr = bound.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let done = tokio::spawn(async move {
            bound
                .serve(async {
                    let _ = rx.await;
                })
                .await
                .expect("serve");
        });
        Self {
            addr,
            stop: Some(tx),
            done,
        }
    }

    async fn client(&self, token: Option<&str>) -> FlightSqlServiceClient<Channel> {
        let channel = Endpoint::new(format!("http://{}", self.addr))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
        let mut client = FlightSqlServiceClient::new(channel);
        if let Some(t) = token {
            client.set_token(t.to_string());
        }
        client
    }

    async fn stop(mut self) {
        drop(self.stop.take());
        tokio::time::timeout(Duration::from_secs(30), &mut self.done)
            .await
            .expect("the server stops")
            .expect("the server task");
    }
}

async fn fetch(client: &mut FlightSqlServiceClient<Channel>, info: FlightInfo) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    for endpoint in info.endpoint {
        let ticket = endpoint.ticket.expect("a ticket");
        let stream = client.do_get(ticket).await.expect("do_get");
        out.extend(stream.try_collect::<Vec<_>>().await.expect("rows"));
    }
    out
}

async fn query(client: &mut FlightSqlServiceClient<Channel>, sql: &str) -> Vec<RecordBatch> {
    let info = client.execute(sql.to_string(), None).await.expect(sql);
    fetch(client, info).await
}

/// Whether a client error carries gRPC status `code`.
fn has_code(err: &impl std::fmt::Display, code: tonic::Code) -> bool {
    err.to_string().contains(code.description())
}

fn text(batches: &[RecordBatch]) -> String {
    pretty_format_batches(batches).expect("format").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_updates_and_models_are_shared_with_the_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]).await;
    let mut client = server.client(None).await;

    // DDL and DML through DoPut (statement update).
    let created = client
        .execute_update(
            "CREATE TABLE docs AS SELECT * FROM (VALUES (1, 'rust arrow flight'), (2, 'python pandas notebook'), (3, 'rust sql engine')) AS t(id, body)".into(),
            None,
        )
        .await
        .expect("create");
    assert_eq!(created, -1, "DDL reports an unknown row count");
    let inserted = client
        .execute_update("INSERT INTO docs VALUES (4, 'rust vectors')".into(), None)
        .await
        .expect("insert");
    assert_eq!(inserted, 1);

    // A query streams through GetFlightInfo + DoGet.
    let rows = query(&mut client, "SELECT count(*) AS n FROM docs").await;
    assert!(text(&rows).contains("| 4 |"), "{}", text(&rows));

    // A model trained over Flight SQL is the CLI's model too.
    query(
        &mut client,
        "CREATE MODEL w TYPE word2vec OPTIONS (dim = 8, min_count = 1, epochs = 2, seed = 1, threads = 1) AS SELECT body FROM docs",
    )
    .await;
    let cli = session(dir.path()).await;
    let models = cli.sql("SHOW MODELS").await.expect("show models");
    assert!(text(&models).contains("word2vec"), "{}", text(&models));
    // ... and a table the CLI makes is visible to the server at once.
    cli.sql("CREATE TABLE from_cli AS SELECT 42 AS answer")
        .await
        .expect("cli create");
    let rows = query(
        &mut client,
        "SELECT answer, cardinality(embed('w', 'rust')) AS d FROM from_cli",
    )
    .await;
    assert!(text(&rows).contains("| 42     | 8 |"), "{}", text(&rows));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_bind_parameters_per_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]).await;
    let mut client = server.client(None).await;
    client
        .execute_update("CREATE TABLE t (id BIGINT, name VARCHAR)".into(), None)
        .await
        .expect("create");

    // An update bound to three rows inserts three rows.
    let mut insert = client
        .prepare("INSERT INTO t VALUES ($1, $2)".into(), None)
        .await
        .expect("prepare insert");
    let params = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, false),
            Field::new("b", DataType::Utf8, true),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3])),
            Arc::new(StringArray::from(vec![Some("one"), None, Some("three")])),
        ],
    )
    .expect("params");
    insert.set_parameters(params).expect("bind");
    assert_eq!(insert.execute_update().await.expect("insert"), 3);
    insert.close().await.expect("close");

    // A parameter as a function argument and in the projection.
    let mut select = client
        .prepare(
            "SELECT upper($1) AS u, count(*) AS n FROM t WHERE id >= $2".into(),
            None,
        )
        .await
        .expect("prepare select");
    let params = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("a", DataType::Utf8, false),
            Field::new("b", DataType::Int64, false),
        ])),
        vec![
            Arc::new(StringArray::from(vec!["x", "y"])),
            Arc::new(Int64Array::from(vec![2, 3])),
        ],
    )
    .expect("params");
    select.set_parameters(params).expect("bind");
    let info = select.execute().await.expect("execute");
    let rows = fetch(&mut client, info).await;
    let shown = text(&rows);
    assert!(shown.contains("| X | 2 |"), "{shown}");
    assert!(
        shown.contains("| Y | 1 |"),
        "one result row per parameter row: {shown}"
    );

    // A NULL bound to a filter matches nothing, as in SQL.
    let rows = query(&mut client, "SELECT count(*) FROM t WHERE name IS NULL").await;
    assert!(text(&rows).contains("| 1 "), "{}", text(&rows));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_lists_tables_and_server_facts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cli = session(dir.path()).await;
    cli.sql("CREATE TABLE items (id INT, title VARCHAR); CREATE VIEW rust_items AS SELECT * FROM items WHERE title LIKE '%rust%'")
        .await
        .expect("setup");
    let server = Server::start(dir.path(), &[]).await;
    let mut client = server.client(None).await;

    let info = client.get_catalogs().await.expect("catalogs");
    assert!(text(&fetch(&mut client, info).await).contains("quiver"));

    // No catalog given: every schema (this is what DBeaver asks).
    let info = client
        .get_db_schemas(CommandGetDbSchemas {
            catalog: None,
            db_schema_filter_pattern: None,
        })
        .await
        .expect("schemas");
    let shown = text(&fetch(&mut client, info).await);
    assert!(shown.contains("public"), "{shown}");

    let info = client
        .get_tables(CommandGetTables {
            catalog: None,
            db_schema_filter_pattern: Some("public".into()),
            table_name_filter_pattern: None,
            table_types: vec![],
            include_schema: true,
        })
        .await
        .expect("tables");
    let tables = fetch(&mut client, info).await;
    let shown = text(&tables[..]);
    assert!(
        shown.contains("items") && shown.contains("TABLE"),
        "{shown}"
    );
    assert!(
        shown.contains("rust_items") && shown.contains("VIEW"),
        "{shown}"
    );
    let batch = &tables[0];
    assert!(batch.schema().field_with_name("table_schema").is_ok());

    let info = client
        .get_sql_info(vec![
            SqlInfo::FlightSqlServerName,
            SqlInfo::SqlIdentifierQuoteChar,
        ])
        .await
        .expect("sql info");
    let shown = text(&fetch(&mut client, info).await);
    assert!(shown.contains("quiver"), "{shown}");

    let info = client
        .get_xdbc_type_info(arrow_flight::sql::CommandGetXdbcTypeInfo { data_type: None })
        .await
        .expect("xdbc");
    let shown = text(&fetch(&mut client, info).await);
    assert!(
        shown.contains("VARCHAR") && shown.contains("BIGINT"),
        "{shown}"
    );

    // information_schema opens the tables as the query runs (DoGet, after
    // the FlightInfo's session is gone): dbt's catalog asks this.
    let columns = query(
        &mut client,
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2",
    )
    .await;
    let shown = text(&columns);
    assert!(
        shown.contains("| items      | title ") && shown.contains("| rust_items | id "),
        "{shown}"
    );

    let info = client.get_table_types().await.expect("table types");
    assert!(text(&fetch(&mut client, info).await).contains("VIEW"));

    let info = client
        .get_primary_keys(arrow_flight::sql::CommandGetPrimaryKeys {
            catalog: None,
            db_schema: None,
            table: "items".into(),
        })
        .await
        .expect("primary keys");
    let keys = fetch(&mut client, info).await;
    assert_eq!(keys.iter().map(RecordBatch::num_rows).sum::<usize>(), 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_errors_have_user_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]).await;
    let mut client = server.client(None).await;
    let err = client
        .execute("SELEC 1".into(), None)
        .await
        .expect_err("typo");
    let shown = err.to_string();
    assert!(
        has_code(&err, tonic::Code::InvalidArgument) && shown.contains("syntax error"),
        "{shown}"
    );
    let err = client
        .execute("SELECT * FROM nowhere".into(), None)
        .await
        .expect_err("missing table");
    assert!(has_code(&err, tonic::Code::NotFound), "{err}");
    let err = client
        .execute("SELECT embed('no_model', 'x')".into(), None)
        .await
        .expect_err("missing model");
    assert!(err.to_string().contains("no_model"), "{err}");
    let err = client
        .execute_update("CREATE TABLE a AS SELECT 1; ".into(), None)
        .await
        .and(
            client
                .execute_update("CREATE TABLE a AS SELECT 1".into(), None)
                .await,
        )
        .expect_err("exists");
    assert!(has_code(&err, tonic::Code::AlreadyExists), "{err}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_passwords_are_required_when_configured() {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = dir.path().join("users");
    // The password is stored as `quiver hash-password` prints it.
    let mut hasher = std::process::Command::new(env!("CARGO_BIN_EXE_quiver"))
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("quiver hash-password");
    std::io::Write::write_all(hasher.stdin.as_mut().expect("stdin"), b"correct horse\n")
        .expect("password");
    let out = hasher.wait_with_output().expect("hash");
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        hash.starts_with("$argon2id$") && !hash.contains("correct"),
        "{hash}"
    );
    std::fs::write(&users, format!("ana:{hash}")).expect("users file");
    let server = Server::start(
        &dir.path().join("wh"),
        &[
            "--token",
            TOKEN,
            "--users-file",
            users.to_str().expect("utf-8"),
        ],
    )
    .await;

    let mut anonymous = server.client(None).await;
    let err = anonymous
        .execute("SELECT 1".into(), None)
        .await
        .expect_err("refused");
    assert!(has_code(&err, tonic::Code::Unauthenticated), "{err}");

    let mut wrong = server.client(Some("flight-test-tokem")).await;
    let err = wrong
        .execute("SELECT 1".into(), None)
        .await
        .expect_err("refused");
    assert!(has_code(&err, tonic::Code::Unauthenticated), "{err}");

    let mut good = server.client(Some(SECRET)).await;
    query(&mut good, "SELECT 1").await;

    // Username and password: the handshake returns a bearer token.
    let mut ana = server.client(None).await;
    assert!(ana.handshake("ana", "wrong").await.is_err());
    let token = ana
        .handshake("ana", "correct horse")
        .await
        .expect("handshake");
    ana.set_token(String::from_utf8(token.to_vec()).expect("utf-8 token"));
    let rows = query(&mut ana, "SELECT 2 AS two").await;
    assert!(text(&rows).contains("| 2 "));

    // Another user cannot fetch ana's ticket.
    let info = ana.execute("SELECT 3".into(), None).await.expect("execute");
    let ticket = info.endpoint[0].ticket.clone().expect("ticket");
    let stolen = good.do_get(ticket.clone()).await;
    assert!(stolen.is_err(), "another user's ticket must not be fetched");
    let rows: Vec<RecordBatch> = ana
        .do_get(ticket)
        .await
        .expect("own ticket")
        .try_collect()
        .await
        .expect("rows");
    assert!(text(&rows).contains("| 3 "));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_beyond_loopback_needs_authentication() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut args = serve_args(&[]);
    args.bind = "0.0.0.0:0".parse().expect("addr");
    let err = Bound::bind(dir.path().to_str().expect("utf-8"), &args)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("--token"), "{err}");
    args.tokens = vec![TOKEN.into()];
    // Issue 23: not with the token in clear text, unless told the network
    // is private.
    let err = Bound::bind(dir.path().to_str().expect("utf-8"), &args)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("--insecure-transport"), "{err}");
    args.insecure_transport = true;
    Bound::bind(dir.path().to_str().expect("utf-8"), &args)
        .await
        .expect("with a token over a network said to be private, it binds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_paths_outside_the_warehouse_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outside = dir.path().join("outside.csv");
    std::fs::write(&outside, "a\n1\n").expect("csv");
    let server = Server::start(&dir.path().join("wh"), &[]).await;
    let mut client = server.client(None).await;
    let sql = format!(
        "CREATE EXTERNAL TABLE ext STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true')",
        outside.display()
    );
    let err = client
        .execute_update(sql.clone(), None)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("--allow-outside-paths"), "{err}");
    let err = client
        .execute_update(
            format!("COPY (SELECT 1) TO '{}/leak.csv'", dir.path().display()),
            None,
        )
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("outside the warehouse"), "{err}");
    server.stop().await;

    let server = Server::start(&dir.path().join("wh"), &["--allow-outside-paths"]).await;
    let mut client = server.client(None).await;
    client.execute_update(sql, None).await.expect("allowed");
    let rows = query(&mut client, "SELECT a FROM ext").await;
    assert!(text(&rows).contains("| 1 "));
    server.stop().await;
}

/// Each route around the path policy that #23 found (a COPY inside CREATE
/// MODEL ... AS, under EXPLAIN ANALYZE, into the warehouse's own folders, and
/// a catalog entry forged on disk) is refused, and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_path_policy_holds_at_any_depth() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let outside = dir.path().join("outside.csv");
    std::fs::write(&outside, "a\n1\n").expect("csv");
    let server = Server::start(&wh, &[]).await;
    let mut client = server.client(None).await;
    client
        .execute_update("CREATE TABLE t AS SELECT 1 AS x".into(), None)
        .await
        .expect("a table");
    let leak = dir.path().join("leak.csv");
    let attacks = [
        format!(
            "CREATE MODEL m TYPE kmeans OPTIONS (k=1) AS COPY (SELECT 'x' AS a) TO '{}' STORED AS CSV",
            leak.display()
        ),
        format!(
            "EXPLAIN ANALYZE COPY (SELECT 1 AS a) TO '{}' STORED AS CSV",
            leak.display()
        ),
        format!(
            "COPY (SELECT 'x' AS a) TO '{}/catalog/forged.json' STORED AS JSON",
            wh.display()
        ),
        format!(
            "COPY (SELECT 1 AS x) TO 'file://{}/tables/t/x.parquet'",
            wh.display()
        ),
        format!(
            "CREATE EXTERNAL TABLE cat STORED AS JSON LOCATION '{}/catalog/'",
            wh.display()
        ),
        format!(
            "CREATE EXTERNAL TABLE root STORED AS JSON LOCATION '{}/'",
            wh.display()
        ),
    ];
    for sql in &attacks {
        let err = client
            .execute_update(sql.clone(), None)
            .await
            .expect_err(sql);
        let err = err.to_string();
        assert!(
            err.contains("outside the warehouse") || err.contains("which only quiver writes"),
            "{sql}: {err}"
        );
    }
    assert!(!leak.exists(), "nothing was written outside");
    assert!(!wh.join("catalog/forged.json").exists());
    let rows = query(&mut client, "SELECT x FROM t").await;
    assert!(text(&rows).contains("| 1 "), "the table is intact");

    // A catalog entry written on disk is checked when it is opened, and so
    // is a view over it.
    let entry = serde_json::json!({
        "kind": "external",
        "definition": format!(
            "CREATE EXTERNAL TABLE forged STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true')",
            outside.display()
        ),
        "updated": "2026-01-01T00:00:00Z",
    });
    std::fs::write(wh.join("catalog/forged.json"), entry.to_string()).expect("forge");
    let view = serde_json::json!({
        "kind": "view",
        "definition": "CREATE VIEW over_forged AS SELECT * FROM forged",
        "updated": "2026-01-01T00:00:00Z",
    });
    std::fs::write(wh.join("catalog/over_forged.json"), view.to_string()).expect("forge");
    for sql in ["SELECT * FROM forged", "SELECT * FROM over_forged"] {
        let err = client
            .execute(sql.into(), None)
            .await
            .expect_err(sql)
            .to_string();
        assert!(err.contains("outside the warehouse"), "{sql}: {err}");
    }
    server.stop().await;
}

/// A query long enough to cancel: a cross join of two million-row series.
const LONG: &str =
    "SELECT a.value * b.value AS x FROM generate_series(1, 100000) a, generate_series(1, 100000) b";

async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_timeout_and_disconnect_stop_queries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--query-timeout", "2s"]).await;
    let mut client = server.client(None).await;

    // Cancelled before its DoGet: the DoGet is refused.
    let info = client.execute(LONG.into(), None).await.expect("execute");
    let request = CancelFlightInfoRequest {
        info: Some(info.clone()),
    };
    let action = Action::new("CancelFlightInfo", request.encode_to_vec());
    let result: Vec<_> = client
        .do_action(action)
        .await
        .expect("cancel")
        .try_collect()
        .await
        .expect("cancel result");
    let status = arrow_flight::CancelFlightInfoResult::decode(result[0].body.clone())
        .expect("decode")
        .status;
    assert_eq!(status, arrow_flight::CancelStatus::Cancelled as i32);
    let ticket = info.endpoint[0].ticket.clone().expect("ticket");
    let Err(err) = client.do_get(ticket).await else {
        panic!("a cancelled query was fetched");
    };
    assert!(err.to_string().contains("cancelled"), "{err}");

    // Cancelled while streaming: the stream ends with CANCELLED.
    let info = client.execute(LONG.into(), None).await.expect("execute");
    let ticket = info.endpoint[0].ticket.clone().expect("ticket");
    let mut stream = client.do_get(ticket).await.expect("do_get");
    stream.try_next().await.expect("first batch");
    let request = CancelFlightInfoRequest { info: Some(info) };
    client
        .do_action(Action::new("CancelFlightInfo", request.encode_to_vec()))
        .await
        .expect("cancel");
    let mut ended = None;
    while let Some(item) = stream.next().await {
        if let Err(e) = item {
            ended = Some(e.to_string());
            break;
        }
    }
    let ended = ended.expect("the stream ends with an error");
    assert!(ended.contains("cancelled"), "{ended}");

    // Past --query-timeout: DEADLINE_EXCEEDED.
    let info = client.execute(LONG.into(), None).await.expect("execute");
    let ticket = info.endpoint[0].ticket.clone().expect("ticket");
    let stream = client.do_get(ticket).await.expect("do_get");
    let err = stream.try_collect::<Vec<_>>().await.expect_err("timed out");
    assert!(err.to_string().contains("--query-timeout"), "{err}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_frees_its_query() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = serve_args(&[]);
    let bound = Bound::bind(dir.path().to_str().expect("utf-8"), &args)
        .await
        .expect("bind");
    let addr = bound.local_addr().expect("addr");
    let state = bound.service().running_counter();
    let (tx, rx) = oneshot::channel::<()>();
    let done = tokio::spawn(async move {
        bound
            .serve(async {
                let _ = rx.await;
            })
            .await
            .expect("serve")
    });
    let server = Server {
        addr,
        stop: Some(tx),
        done,
    };
    let mut client = server.client(None).await;
    let info = client.execute(LONG.into(), None).await.expect("execute");
    let ticket = info.endpoint[0].ticket.clone().expect("ticket");
    let mut stream = client.do_get(ticket).await.expect("do_get");
    stream.try_next().await.expect("first batch");
    assert_eq!(state(), 1, "the query runs");
    drop(stream);
    drop(client);
    wait_until("the server drops the query", || state() == 0).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limit_fails_a_query_with_resource_exhausted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &["--query-memory", "4MiB"]).await;
    let mut client = server.client(None).await;
    let info = client
        .execute(
            "SELECT array_agg(value) FROM generate_series(1, 5000000)".into(),
            None,
        )
        .await
        .expect("planned");
    let ticket = info.endpoint[0].ticket.clone().expect("ticket");
    let result = match client.do_get(ticket).await {
        Ok(stream) => stream
            .try_collect::<Vec<_>>()
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let err = result.expect_err("over the limit");
    assert!(
        err.contains(tonic::Code::ResourceExhausted.description()),
        "{err}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_encrypted_connections() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let cert_pem = cert.cert.pem();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, &cert_pem).expect("cert");
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).expect("key");
    let server = Server::start(
        &dir.path().join("wh"),
        &[
            "--tls-cert",
            cert_path.to_str().expect("utf-8"),
            "--tls-key",
            key_path.to_str().expect("utf-8"),
        ],
    )
    .await;
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&cert_pem))
        .domain_name("localhost");
    let channel = Endpoint::new(format!("https://localhost:{}", server.addr.port()))
        .expect("endpoint")
        .tls_config(tls)
        .expect("tls")
        .connect()
        .await
        .expect("TLS connect");
    let mut client = FlightSqlServiceClient::new(channel);
    let rows = query(&mut client, "SELECT 'secret' AS s").await;
    assert!(text(&rows).contains("secret"));

    // A plaintext client cannot talk to it.
    let mut plain = server.client(None).await;
    assert!(plain.execute("SELECT 1".into(), None).await.is_err());
    server.stop().await;
}

/// The binary: readiness line on stdout, requests logged on stderr, a clean
/// exit on SIGTERM; and the Python notebook snippet (ADBC) against it when
/// `QUIVER_TEST_PYTHON` names a Python with adbc-driver-flightsql, pyarrow
/// and pandas (scripts/test sets it up; CI runs that).
#[test]
fn binary_serves_until_sigterm_and_passes_the_notebook_snippet() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(quiver_bin())
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--token",
            TOKEN,
            "--warehouse",
        ])
        .arg(dir.path())
        .env_remove("QUIVER_WAREHOUSE")
        .env_remove("QUIVER_TOKENS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start quiver serve");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut ready = String::new();
    stdout.read_line(&mut ready).expect("readiness line");
    let url = ready
        .split_whitespace()
        .find(|w| w.starts_with("grpc://"))
        .unwrap_or_else(|| panic!("no address in {ready:?}"))
        .to_string();

    let python = std::env::var("QUIVER_TEST_PYTHON").ok();
    let snippet = python.as_ref().map(|py| {
        Command::new(py)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/notebook.py"))
            .args([&url, SECRET])
            .output()
            .expect("run python")
    });

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {log}", out.status);
    assert!(log.contains("signal received"), "{log}");
    assert!(
        ready.contains(&format!("{}", dir.path().display())),
        "serves the --warehouse given after serve: {ready}"
    );

    match snippet {
        Some(o) => {
            let printed = String::from_utf8_lossy(&o.stdout);
            assert!(
                o.status.success() && printed.contains("all notebook checks passed"),
                "the notebook snippet failed:\n{printed}\n{}",
                String::from_utf8_lossy(&o.stderr)
            );
            // Every request was logged with its user.
            assert!(log.contains("user=analyst rpc=DoGet"), "{log}");
        }
        None => eprintln!(
            "QUIVER_TEST_PYTHON is not set: the ADBC notebook snippet was not run (scripts/test runs it)"
        ),
    }
}

/// The server opens a session per request: a dropped session must free its
/// catalog (the schema and the session state referred to each other, and
/// every request leaked both until this test's fix).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_session_is_freed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = session(dir.path()).await;
    s.sql("CREATE TABLE t AS SELECT 1 AS a; SELECT * FROM t")
        .await
        .expect("use the session");
    let schema = Arc::downgrade(s.schema());
    drop(s);
    assert!(
        schema.upgrade().is_none(),
        "the warehouse schema outlived its session"
    );
}
