//! `quiver demo`: the whole tagging job, run as a user runs it, on a small
//! generated catalogue and on a user's own Parquet file.

use std::process::Command;

use crate::common::{quiver, quiver_bin, stderr, stdout};

fn demo(args: &[&str]) -> std::process::Output {
    Command::new(quiver_bin())
        .arg("demo")
        .args(args)
        .output()
        .expect("run quiver demo")
}

#[test]
fn runs_the_pipeline_on_a_generated_catalogue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let wh_arg = wh.to_str().expect("utf-8 path");
    let report = dir.path().join("report.html");
    let report_arg = report.to_str().expect("utf-8 path");
    let args = &[
        "--rows",
        "4000",
        "--seed",
        "3",
        "--warehouse",
        wh_arg,
        "--report",
        report_arg,
    ];
    let out = demo(args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(report.exists(), "the demo writes its report");
    let text = stdout(&out);
    for step in ["[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]"] {
        assert!(text.contains(step), "no step {step} in:\n{text}");
    }
    // "95.8% of titles have their true product type among their tags,
    // 59.2% as the first tag." (the tagger learned from the titles, issue
    // 27; before it, 96.1 to 96.7% and 28 to 30%). Training on two threads
    // is not reproducible to the bit; a broken tagger falls far below
    // either bound (issue 23: the test took any share from 0 to 100%).
    // The first-tag bound is well above the last title word's 15%
    // (docs/demo.md); 4,000 titles in 100 clusters leave each cluster 40
    // titles to learn from, so the share is lower than on 1M titles (85%).
    let (among, first) = text
        .lines()
        .find_map(|l| l.split_once("% of titles have their true product type among their tags, "))
        .and_then(|(among, rest)| {
            let first = rest.split_once("% as the first tag")?.0;
            Some((
                among.trim().parse::<f64>().ok()?,
                first.trim().parse::<f64>().ok()?,
            ))
        })
        .unwrap_or_else(|| panic!("no share line in:\n{text}"));
    assert!(among >= 90.0, "{among}% among the tags:\n{text}");
    assert!(first >= 40.0, "{first}% first:\n{text}");

    // Every title was tagged into the table, and every word of every tag
    // (a phrase such as "t-shirt" has two) is a word of its title; the
    // models the SQL files name are in the warehouse.
    let check = quiver(
        &wh,
        &[
            "--format",
            "csv",
            "-c",
            "SELECT count(*) AS n, \
               sum(CASE WHEN array_has_all(string_to_array(regexp_replace(lower(title), '[^a-z0-9]+', ' ', 'g'), ' '), \
                 string_to_array(regexp_replace(array_to_string(tags, ' '), '[^a-z0-9]+', ' ', 'g'), ' ')) \
                 OR cardinality(tags) = 0 THEN 1 ELSE 0 END) AS words_of_title, \
               count(DISTINCT industry) AS industries \
             FROM tagged_products",
        ],
    );
    assert!(check.status.success(), "{}", stderr(&check));
    assert_eq!(
        stdout(&check),
        "n,words_of_title,industries\n4000,4000,14\n"
    );
    let models = quiver(&wh, &["--format", "csv", "-c", "SHOW MODELS"]);
    assert!(models.status.success(), "{}", stderr(&models));
    for name in ["title_vectors", "title_clusters", "title_tags"] {
        assert!(stdout(&models).contains(name), "{}", stdout(&models));
    }

    // The same seed gives the same catalogue.
    let again = demo(args);
    assert!(again.status.success(), "{}", stderr(&again));
    let titles = |o: &std::process::Output| {
        stdout(o)
            .lines()
            .skip_while(|l| !l.starts_with("Sample titles"))
            .take(6)
            .map(|l| l.split('|').nth(1).unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(titles(&out), titles(&again));
}

#[test]
fn tags_a_users_own_parquet_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("mine.parquet");
    let setup = quiver(
        &dir.path().join("scratch"),
        &[
            "-c",
            &format!(
                "COPY (SELECT value AS n, \
                 ['Euro', 'Classic', 'Family', 'Nonna', 'Alpine', 'Otterbox', 'Spigen', 'Casetify', 'Acme', 'Zeta', 'Nova'][value % 11 + 1] \
                 || CASE value % 2 WHEN 0 THEN ' Pizza ' || ['Pepperoni', 'Cheese', 'Veggie', 'Tuna', 'Ham', 'Onion', 'Olive'][value % 7 + 1] \
                 ELSE ' case for Apple iPhone ' || ['pink', 'black', 'clear', 'blue', 'red', 'green', 'gold'][value % 7 + 1] END \
                 || ' ' || ['small', 'large', 'medium'][value % 3 + 1] AS \"Product Name\" \
                 FROM generate_series(1, 2000)) TO '{}' STORED AS PARQUET",
                file.display()
            ),
        ],
    );
    assert!(setup.status.success(), "{}", stderr(&setup));
    let wh = dir.path().join("wh");
    let out = demo(&[
        "--input",
        file.to_str().expect("utf-8 path"),
        "--column",
        "Product Name",
        "--warehouse",
        wh.to_str().expect("utf-8 path"),
        "--report",
        dir.path().join("r.html").to_str().expect("utf-8 path"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("2000 rows of"), "{text}");
    assert!(text.contains("Tags per title"), "{text}");
    assert!(!text.contains("true product type"), "{text}");
}

#[test]
fn input_needs_a_column_and_rows_must_be_positive() {
    let out = demo(&["--input", "x.parquet"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--column"), "{}", stderr(&out));
    let dir = tempfile::tempdir().expect("tempdir");
    let out = demo(&[
        "--rows",
        "0",
        "--warehouse",
        dir.path().to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--rows must be at least 1"),
        "{}",
        stderr(&out)
    );
}
