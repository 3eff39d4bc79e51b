//! The interactive shell: line editing and history (rustyline), statements
//! over several lines until a `;`, and backslash commands.

use std::process::ExitCode;
use std::sync::Arc;

use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use super::{Format, Outcome, objects, run_script};
use crate::output::print_stream;
use crate::session::{QuiverSession, user_message};
use crate::statement;

const HELP: &str = "\
Statements end with ';' and may span lines. Commands:
  \\?          this help
  \\d          list the warehouse's tables, views and models
  \\q          quit (or Ctrl-D)
Ctrl-C clears the statement being typed.
Try: SHOW TABLES;  SHOW MODELS;  SELECT cosine_similarity([1.0, 0.0], [1.0, 1.0]);";

fn history_path() -> Option<std::path::PathBuf> {
    std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".quiver_history"))
}

/// Runs the shell until `\q` or end of input.
pub async fn run(session: Arc<QuiverSession>, format: Format, timing: bool) -> ExitCode {
    let mut editor = match DefaultEditor::new() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot start the shell: {e}");
            return ExitCode::from(2);
        }
    };
    let history = history_path();
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!(
        "quiver {} on {} (\\? for help, \\q to quit)",
        env!("CARGO_PKG_VERSION"),
        session.warehouse().url()
    );
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            "quiver> "
        } else {
            "   ...> "
        };
        match editor.readline(prompt) {
            Ok(line) => {
                let trimmed = line.trim();
                if buffer.is_empty() && trimmed.starts_with('\\') {
                    let _ = editor.add_history_entry(trimmed);
                    match trimmed {
                        "\\q" | "\\quit" => break,
                        "\\?" | "\\h" | "\\help" => println!("{HELP}"),
                        "\\d" => match objects(&session).await {
                            Ok(batch) => {
                                let stream = Box::pin(
                                    datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                                        batch.schema(),
                                        futures::stream::iter(vec![Ok(batch)]),
                                    ),
                                );
                                let _ = print_stream(stream, format, &mut std::io::stdout()).await;
                            }
                            Err(e) => eprintln!("error: {}", user_message(&e)),
                        },
                        other => eprintln!("error: unknown command {other} (\\? for help)"),
                    }
                    continue;
                }
                if !buffer.is_empty() {
                    buffer.push('\n');
                }
                buffer.push_str(&line);
                if statement::is_complete(&buffer) {
                    let _ = editor.add_history_entry(buffer.as_str());
                    let text = std::mem::take(&mut buffer);
                    if let Outcome::Closed = run_script(&session, &text, format, timing).await {
                        break;
                    }
                }
            }
            Err(ReadlineError::Interrupted) => buffer.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("error: {e}");
                break;
            }
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    ExitCode::SUCCESS
}
