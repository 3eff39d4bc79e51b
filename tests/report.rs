//! `quiver report` and the demo's report, rendered by a real browser:
//! headless Chromium (Debian's `chromium`, which scripts/test installs)
//! loads the page, runs its script and dumps the DOM it ended with. The
//! page's script counts the charts and their marks into the body's data
//! attributes, and counts script errors; Chromium's log carries any
//! console message.

use std::path::Path;
use std::process::Command;

use crate::common::{quiver, quiver_bin, stderr, stdout};

/// The browser: $QUIVER_CHROMIUM, else `chromium` on PATH. Missing is a
/// failure, not a skip: the test set-up installs it.
fn chromium() -> String {
    std::env::var("QUIVER_CHROMIUM").unwrap_or_else(|_| "chromium".to_string())
}

/// The body's `data-name` attribute in a dumped DOM.
fn attribute(dom: &str, name: &str) -> Option<String> {
    let body = &dom[dom.find("<body")?..];
    let tag = &body[..body.find('>')?];
    let at = tag.find(&format!("{name}=\""))? + name.len() + 2;
    Some(tag[at..].split('"').next()?.to_string())
}

/// Renders `page` in headless Chromium: (the DOM after scripts ran,
/// Chromium's log).
fn render(page: &Path, profile: &Path) -> (String, String) {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} (scripts/test installs it): {e}", chromium()));
    assert!(out.status.success(), "chromium failed: {}", stderr(&out));
    (stdout(&out), stderr(&out))
}

/// Checks a rendered page: at least `charts` charts, each with marks and
/// a size on screen, no script error, no console message.
fn check(page: &Path, profile: &Path, charts: usize) -> String {
    let (dom, log) = render(page, profile);
    let get = |name: &str| -> usize {
        attribute(&dom, name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} on <body>: the page's script did not run:\n{dom}"))
    };
    assert!(get("data-charts") >= charts, "{dom}");
    assert_eq!(get("data-empty-charts"), 0, "a chart drew nothing");
    assert!(get("data-marks") >= 4 * charts, "{dom}");
    assert_eq!(get("data-errors"), 0, "script errors");
    let console: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    dom
}

#[test]
fn the_demo_and_quiver_report_write_pages_a_browser_renders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let page = dir.path().join("demo.html");
    let out = Command::new(quiver_bin())
        .args(["demo", "--rows", "3000", "--seed", "5", "--warehouse"])
        .arg(&wh)
        .arg("--report")
        .arg(&page)
        .output()
        .expect("run quiver demo");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&page.display().to_string()));
    // word2vec's loss, k-means' inertia, sizes and map, the tagger's tags.
    let dom = check(&page, &dir.path().join("profile"), 5);
    for section in ["title_vectors", "title_clusters", "title_tags"] {
        assert!(dom.contains(&format!("id=\"{section}\"")), "{section}");
    }
    assert!(dom.contains("coverage"), "the tagger's coverage is shown");

    // One model, by `quiver report`.
    let one = dir.path().join("tags.html");
    let out = quiver(
        &wh,
        &["report", "title_tags", "-o", one.to_str().expect("utf-8")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let dom = check(&one, &dir.path().join("profile"), 1);
    assert!(!dom.contains("id=\"title_vectors\""));

    // Unknown models and non-models are clear errors, and write nothing.
    let none = dir.path().join("none.html");
    let out = quiver(
        &wh,
        &["report", "nope", "-o", none.to_str().expect("utf-8")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("model 'nope' does not exist"),
        "{}",
        stderr(&out)
    );
    assert!(!none.exists());
}
