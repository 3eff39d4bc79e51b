//! word2vec beyond the golden SQL files: files written by gensim load,
//! our files round-trip, broken files name where they broke, and item
//! vectors trained from token lists find items of the same planted group.

use std::path::PathBuf;

use crate::common::{scalar, session};

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
        .display()
        .to_string()
}

/// The vectors of `gensim_small.txt`, parsed here independently of quiver.
fn gensim_vectors() -> Vec<(String, Vec<f32>)> {
    let text = std::fs::read_to_string(fixture("gensim_small.txt")).expect("fixture");
    text.lines()
        .skip(1)
        .map(|l| {
            let mut parts = l.split(' ');
            let word = parts.next().expect("word").to_string();
            (word, parts.map(|p| p.parse().expect("float")).collect())
        })
        .collect()
}

async fn vocabulary(s: &quiver::QuiverSession, model: &str) -> Vec<(String, Vec<f32>)> {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Float32Type;
    let batches = s
        .sql(&format!(
            "SELECT word, vector FROM model_vocabulary('{model}')"
        ))
        .await
        .expect("vocabulary");
    let mut out = Vec::new();
    for b in batches {
        let words = b.column(0).as_string::<i32>();
        let vectors = b.column(1).as_fixed_size_list();
        for i in 0..b.num_rows() {
            let v = vectors.value(i);
            out.push((
                words.value(i).to_string(),
                v.as_primitive::<Float32Type>().values().to_vec(),
            ));
        }
    }
    out
}

#[tokio::test]
async fn files_written_by_gensim_load_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = session(&dir.path().join("wh")).await;
    s.sql(&format!(
        "CREATE MODEL g_txt TYPE word2vec FROM '{}'",
        fixture("gensim_small.txt")
    ))
    .await
    .expect("text");
    s.sql(&format!(
        "CREATE MODEL g_bin TYPE word2vec FROM '{}'",
        fixture("gensim_small.bin")
    ))
    .await
    .expect("binary");
    let expected = gensim_vectors();
    assert_eq!(expected.len(), 15);
    assert_eq!(vocabulary(&s, "g_txt").await, expected);
    // The binary file holds the same floats exactly; the text file holds
    // them to gensim's printed precision.
    let binary = vocabulary(&s, "g_bin").await;
    for ((w1, v1), (w2, v2)) in binary.iter().zip(&expected) {
        assert_eq!(w1, w2);
        assert!(v1.iter().zip(v2).all(|(a, b)| (a - b).abs() < 1e-6), "{w1}");
    }
    // Mixed-case vocabularies keep their case when looked up.
    assert_eq!(
        scalar(&s, "SELECT embed('g_txt', 'Café') IS NOT NULL").await,
        "true"
    );
    assert_eq!(
        scalar(&s, "SELECT embed('g_txt', '東京') IS NOT NULL").await,
        "true"
    );
}

#[tokio::test]
async fn our_files_round_trip_in_both_formats() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = session(&dir.path().join("wh")).await;
    s.sql(&format!(
        "CREATE MODEL g TYPE word2vec FROM '{}'",
        fixture("gensim_small.bin")
    ))
    .await
    .expect("import");
    let original = vocabulary(&s, "g").await;
    for (file, format) in [("out.txt", "word2vec_text"), ("out.bin", "word2vec_binary")] {
        let path = dir.path().join(file);
        s.sql(&format!(
            "COPY MODEL g TO '{}' (FORMAT {format})",
            path.display()
        ))
        .await
        .expect("copy");
        s.sql(&format!(
            "CREATE OR REPLACE MODEL back TYPE word2vec FROM '{}'",
            path.display()
        ))
        .await
        .expect("reload");
        assert_eq!(vocabulary(&s, "back").await, original, "{format}");
    }
}

#[tokio::test]
async fn broken_vector_files_name_where_they_broke() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = session(&dir.path().join("wh")).await;
    let text = std::fs::read_to_string(fixture("gensim_small.txt")).expect("fixture");
    let truncated = dir.path().join("truncated.txt");
    std::fs::write(&truncated, &text[..text.len() / 2]).expect("write");
    let err = s
        .sql(&format!(
            "CREATE MODEL t TYPE word2vec FROM '{}'",
            truncated.display()
        ))
        .await
        .expect_err("truncated")
        .to_string();
    assert!(err.contains("truncated.txt: line"), "{err}");
    let binary = std::fs::read(fixture("gensim_small.bin")).expect("fixture");
    let cut = dir.path().join("cut.bin");
    std::fs::write(&cut, &binary[..binary.len() - 10]).expect("write");
    for sql in [
        format!(
            "CREATE MODEL t TYPE word2vec FROM '{}' OPTIONS (format = 'word2vec_binary')",
            cut.display()
        ),
        format!(
            "CREATE MODEL t TYPE word2vec OPTIONS (format = 'word2vec_binary') FROM '{}'",
            cut.display()
        ),
        format!("CREATE MODEL t TYPE word2vec FROM '{}'", cut.display()),
    ] {
        let err = s.sql(&sql).await.expect_err("cut").to_string();
        assert!(err.contains("cut.bin: byte"), "{sql}: {err}");
    }
    let err = s
        .sql("CREATE MODEL t TYPE word2vec FROM '/no/such/file.txt'")
        .await
        .expect_err("missing")
        .to_string();
    assert!(err.contains("cannot read /no/such/file.txt"), "{err}");
    assert!(
        s.sql("SHOW MODELS")
            .await
            .expect("show")
            .iter()
            .all(|b| b.num_rows() == 0),
        "no partial model"
    );
}

/// The recommender case: item vectors from click sessions given as token
/// lists; items of a planted group are each other's neighbours.
#[tokio::test]
async fn item_vectors_from_token_lists() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = session(&dir.path().join("wh")).await;
    // 2,000 sessions of 6 clicks; a session stays in one of 4 groups of
    // 10 items ("item-<group>-<n>").
    s.sql(
        "CREATE TABLE events AS
         SELECT value / 6 AS session, value AS ts,
                'item-' || ((value / 6) % 4) || '-' || ((value * 7919) % 10) AS item
         FROM generate_series(0, 11999)",
    )
    .await
    .expect("events");
    s.sql(
        "CREATE MODEL items TYPE word2vec OPTIONS (dim = 16, min_count = 1, epochs = 5, threads = 1, window = 3)
         AS SELECT array_agg(item ORDER BY ts) FROM events GROUP BY session",
    )
    .await
    .expect("train");
    assert_eq!(
        scalar(
            &s,
            "SELECT count(*) FROM nearest_words('items', 'item-2-3', 5) WHERE word LIKE 'item-2-%'"
        )
        .await,
        "5"
    );
    // Token lists are taken as they are: no tokenizing of "item-2-3".
    assert_eq!(
        scalar(&s, "SELECT count(*) FROM model_vocabulary('items')").await,
        "40"
    );
    assert_eq!(
        scalar(
            &s,
            "SELECT embed('items', ['item-1-1', 'unknown']) IS NOT NULL"
        )
        .await,
        "true"
    );
}

#[tokio::test]
async fn long_and_non_latin_texts_embed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = session(&dir.path().join("wh")).await;
    s.sql(
        "CREATE TABLE t AS SELECT * FROM (VALUES ('東京 タワー 観光'), ('東京 駅 弁当'), ('café crème brûlée'), ('café au lait')) v(x)",
    )
    .await
    .expect("table");
    s.sql("CREATE MODEL m TYPE word2vec OPTIONS (dim = 4, min_count = 1, epochs = 1) AS SELECT x FROM t")
        .await
        .expect("train");
    assert_eq!(
        scalar(&s, "SELECT count(*) FROM model_vocabulary('m')").await,
        "10"
    );
    let long = "東京 ".repeat(300_000);
    assert_eq!(
        scalar(&s, &format!("SELECT embed('m', '{long}') IS NOT NULL")).await,
        "true"
    );
}

/// A tagger keeps the model versions it was built from; DESCRIBE MODEL says
/// when they are stale, and a dropped one is a clear error.
#[tokio::test]
async fn tagger_pins_its_models() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = dir.path().join("wh");
    let s = session(&wh).await;
    s.sql(
        "CREATE TABLE titles AS SELECT CASE value % 2 WHEN 0 THEN 'cheese pizza' ELSE 'iphone case' END AS title FROM generate_series(1, 400);
         CREATE MODEL w TYPE word2vec OPTIONS (dim = 4, min_count = 1, epochs = 1) AS SELECT title FROM titles;
         CREATE MODEL c TYPE kmeans OPTIONS (k = 2) AS SELECT embed('w', title) FROM titles;
         CREATE MODEL t TYPE tagger OPTIONS (embedding = 'w', clusters = 'c');
         CREATE OR REPLACE MODEL w TYPE word2vec OPTIONS (dim = 4, min_count = 1, epochs = 1) AS SELECT title FROM titles",
    )
    .await
    .expect("models");
    let described = s.sql("DESCRIBE MODEL t").await.expect("describe");
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&described)
        .expect("format")
        .to_string();
    assert!(
        text.contains("version 1 (stale: 'w' is now version 2)"),
        "{text}"
    );
    assert!(text.contains("version 1 (current)"), "{text}");
    s.sql("DROP MODEL w").await.expect("drop");
    // A new process has nothing cached: the dropped version is an error.
    let s = session(&wh).await;
    let err = s
        .sql("SELECT tag('t', 'cheese pizza')")
        .await
        .expect_err("dropped")
        .to_string();
    assert!(
        err.contains("tagger 't' was built on version 1 of model 'w', which no longer exists; rebuild the tagger"),
        "{err}"
    );
}

/// Training reports its progress to the sink the host gives the session
/// (issue 22: the statement layer used to draw on stderr itself): rows as
/// they are read, every epoch in order, and the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_reports_progress_to_the_host_sink() {
    use std::sync::{Arc, Mutex};

    use quiver::session::SessionOptions;
    use quiver_engine::models::{Progress, Stage};

    let dir = tempfile::tempdir().expect("tempdir");
    let seen: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let options = SessionOptions {
        progress: Arc::new(move |p: &Progress| sink.lock().expect("lock").push(p.clone())),
        ..Default::default()
    };
    let s = quiver::QuiverSession::open_with(dir.path().to_str().expect("utf-8"), options)
        .await
        .expect("session");
    s.sql(
        "CREATE TABLE t AS SELECT 'red pizza ' || (value % 7) AS title FROM generate_series(1, 30000); \
         CREATE MODEL m TYPE word2vec OPTIONS (dim = 8, min_count = 1, epochs = 3, threads = 1, seed = 1) \
         AS SELECT title FROM t",
    )
    .await
    .expect("trained");
    let seen = seen.lock().expect("lock");
    assert!(
        seen.iter()
            .all(|p| &*p.model == "m" && p.model_type == "word2vec")
    );
    let reading: Vec<u64> = seen
        .iter()
        .filter(|p| p.stage == Stage::Reading)
        .map(|p| p.rows)
        .collect();
    assert_eq!(reading.last(), Some(&30_000), "{reading:?}");
    assert!(reading.windows(2).all(|w| w[0] < w[1]), "{reading:?}");
    let epochs: Vec<usize> = seen
        .iter()
        .filter(|p| p.stage == Stage::Training)
        .map(|p| p.epoch)
        .collect();
    assert_eq!(epochs.first(), Some(&0), "{epochs:?}");
    assert_eq!(epochs.last(), Some(&2), "{epochs:?}");
    assert!(epochs.windows(2).all(|w| w[0] <= w[1]), "{epochs:?}");
    assert!(
        seen.iter()
            .filter(|p| p.stage == Stage::Training)
            .all(|p| p.epochs == 3 && p.loss.is_some())
    );
    let last = seen.last().expect("reports");
    assert_eq!((last.stage, last.done), (Stage::Finished, 1.0));
}
