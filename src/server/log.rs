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

impl ProgressLog {
    /// The line `p` adds to the log, if any: one per model per stage and
    /// epoch, and one at the end.
    fn line_for(&self, p: &Progress) -> Option<String> {
        let mut logged = self.logged.lock().ok()?;
        let now = (p.stage, p.epoch);
        if p.stage == Stage::Finished {
            logged.remove(p.model.as_ref());
        } else if logged.insert(p.model.to_string(), now) == Some(now) {
            return None;
        }
        let mut line = format!(
            "progress model={} type={} stage={}",
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
        Some(line)
    }
}

impl ProgressSink for ProgressLog {
    fn report(&self, p: &Progress) {
        if let Some(line) = self.line_for(p) {
            let time = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
            eprintln!("{time} {line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn progress_logs_a_line_per_stage_and_epoch() {
        let log = ProgressLog::default();
        let model: Arc<str> = Arc::from("w");
        let mut p = Progress::new(&model, "word2vec", Stage::Reading);
        let mut lines = Vec::new();
        for rows in [8192, 16384] {
            p.rows = rows;
            lines.extend(log.line_for(&p));
        }
        p.stage = Stage::Training;
        p.epochs = 2;
        for (epoch, loss) in [(0, 3.1), (0, 3.0), (1, 2.5), (1, 2.4)] {
            p.epoch = epoch;
            p.loss = Some(loss);
            lines.extend(log.line_for(&p));
        }
        let mut end = Progress::new(&model, "word2vec", Stage::Finished);
        end.done = 1.0;
        lines.extend(log.line_for(&end));
        assert_eq!(
            lines,
            [
                "progress model=w type=word2vec stage=reading rows=8192 elapsed_s=0.0",
                "progress model=w type=word2vec stage=training epoch=1/2 rows=16384 elapsed_s=0.0 loss=3.1000",
                "progress model=w type=word2vec stage=training epoch=2/2 rows=16384 elapsed_s=0.0 loss=2.5000",
                "progress model=w type=word2vec stage=built",
            ]
        );
        // A training that failed says so, and the model may train again.
        let failed = Progress::new(&model, "word2vec", Stage::Finished);
        assert_eq!(
            log.line_for(&failed).as_deref(),
            Some("progress model=w type=word2vec stage=failed")
        );
    }
}
