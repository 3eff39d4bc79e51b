//! The dbt adapter (adapters/dbt-quiver) under dbt's own adapter test
//! suite (dbt-tests-adapter) and the demo dbt project, run by pytest from
//! the test venv against this build's `quiver` binary. The adapter starts
//! `quiver serve` itself (its local mode) on a free loopback port.

use std::path::Path;
use std::process::Command;

use crate::common::{quiver_bin, test_python};

/// Runs pytest on `tests` (relative to the adapter's folder) and fails with
/// pytest's output unless every test passed. pytest's exit 5 ("no tests
/// collected") is a failure too: a suite that found nothing proved nothing.
fn pytest(tests: &str) {
    let Some(python) = test_python() else {
        return;
    };
    let adapter = Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters/dbt-quiver");
    let out = Command::new(python)
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:warnings",
        ])
        .arg(tests)
        .current_dir(&adapter)
        // The adapter from this checkout, not an installed copy.
        .env("PYTHONPATH", &adapter)
        .env("QUIVER_BIN", quiver_bin())
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .env_remove("QUIVER_WAREHOUSE")
        .output()
        .expect("run pytest");
    let printed = String::from_utf8_lossy(&out.stdout);
    let code = out.status.code();
    assert!(
        code == Some(0),
        "pytest {tests} exited {code:?} (5: no tests collected):\n{}\n{}",
        tail(&printed, 20_000),
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = printed.lines().last().unwrap_or_default();
    assert!(
        summary.contains(" passed") && !summary.contains("failed"),
        "{summary}"
    );
    eprintln!("pytest {tests}: {summary}");
}

fn tail(text: &str, bytes: usize) -> &str {
    let mut start = text.len().saturating_sub(bytes);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[test]
fn dbt_adapter_test_suite() {
    pytest("tests/functional");
}
