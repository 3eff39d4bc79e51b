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

/// The single value a query returns, formatted.
pub async fn scalar(session: &QuiverSession, sql: &str) -> String {
    let batches = session.sql(sql).await.expect(sql);
    let batch = batches.iter().find(|b| b.num_rows() > 0).expect("one row");
    datafusion::arrow::util::display::array_value_to_string(batch.column(0), 0)
        .expect("displayable")
}
