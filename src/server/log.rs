//! The server's request log: one line per request on standard error,
//! `time user=... rpc=... kind=... rows=... ms=... status=...`.

use std::fmt::Arguments;

/// Writes one log line for `user`'s `rpc`.
pub fn line(user: &str, rpc: &str, rest: Arguments<'_>) {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
    eprintln!("{now} user={user} rpc={rpc} {rest}");
}

/// What kind of statement `sql` is, for the log: its first two words,
/// lower-cased (`select`, `create table`, `insert into`).
pub fn kind(sql: &str) -> String {
    let words = crate::statement::leading_words(sql, 3);
    match words.first().map(String::as_str) {
        Some("create" | "drop" | "copy" | "describe" | "show" | "insert") => {
            let mut w: Vec<&str> = words.iter().map(String::as_str).take(3).collect();
            if w.get(1) != Some(&"or") {
                w.truncate(2);
            }
            w.join("-")
        }
        Some(first) => first.to_string(),
        None => "empty".to_string(),
    }
}
