//! The server's request log: one line per request on standard error,
//! `time user=... rpc=... kind=... rows=... ms=... status=...`.

use std::fmt::Arguments;

use quiver_engine::models::{Progress, ProgressSink, Stage};

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

/// Training progress in the log: one line when a model's training starts
/// reading its input, one per epoch (k-means: when it starts training),
/// and one when it ends, `time progress model=... type=... stage=...`.
#[derive(Debug, Default)]
pub struct ProgressLog {
    /// Per model in training, the stage and epoch last logged.
    logged: std::sync::Mutex<std::collections::HashMap<String, (Stage, usize)>>,
}

impl ProgressSink for ProgressLog {
    fn report(&self, p: &Progress) {
        let Ok(mut logged) = self.logged.lock() else {
            return;
        };
        let now = (p.stage, p.epoch);
        if p.stage == Stage::Finished {
            logged.remove(p.model.as_ref());
        } else if logged.insert(p.model.to_string(), now) == Some(now) {
            return;
        }
        let time = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
        let mut line = format!(
            "{time} progress model={} type={} stage={}",
            p.model,
            p.model_type,
            match p.stage {
                Stage::Reading => "reading",
                Stage::Training => "training",
                Stage::Finished if p.done >= 1.0 => "built",
                Stage::Finished => "failed",
            }
        );
        if p.stage == Stage::Training && p.epochs > 0 {
            line += &format!(" epoch={}/{}", p.epoch + 1, p.epochs);
        }
        if p.stage != Stage::Finished {
            line += &format!(" rows={} elapsed_s={:.1}", p.rows, p.elapsed);
        }
        if let Some(loss) = p.loss {
            line += &format!(" loss={loss:.4}");
        }
        eprintln!("{line}");
    }
}
