//! The `quiver` command: an interactive SQL shell with no arguments,
//! `-c SQL` and `-f FILE.sql` for scripts.

use std::io::{IsTerminal, Write};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::Result;
use futures::FutureExt;

use crate::message::{TaskPanicked, panic_message};
use crate::session::{DEFAULT_WAREHOUSE, QuiverSession, user_message};
use crate::statement;

pub mod repl;

pub use crate::output::Format;
use crate::output::{PrintError, print_stream, terminal_options};

/// quiver: SQL with machine learning in the warehouse.
///
/// With no -c or -f, starts an interactive shell (type \? for help).
/// Statements end with a semicolon; a script stops at its first error and
/// quiver exits with status 1.
#[derive(Debug, Parser)]
#[command(name = "quiver", version, about, long_about)]
pub struct Args {
    /// Run these SQL statements and exit (may be given more than once).
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    pub commands: Vec<String>,

    /// Run the statements in this file and exit (may be given more than once).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// The warehouse: a local folder (created on first use) or an
    /// s3://, gs://, az:// or memory:// URL. Credentials for object stores
    /// come from the environment (AWS_*, GOOGLE_*, AZURE_*).
    #[arg(
        short = 'w',
        long,
        env = "QUIVER_WAREHOUSE",
        default_value = DEFAULT_WAREHOUSE,
        value_name = "URL"
    )]
    pub warehouse: String,

    #[command(flatten)]
    pub cluster: crate::cluster::ClusterArg,

    /// How results are printed.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Do not print the row count and elapsed time after each statement
    /// (they are printed only when output goes to a terminal).
    #[arg(short, long)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// The whole tagging job end to end on a generated product catalogue
    /// (or your own Parquet with --input and --column).
    Demo(crate::demo::DemoArgs),
    /// An Arrow Flight SQL server over the warehouse, for notebooks (ADBC),
    /// JDBC tools such as DBeaver, and scheduled SQL.
    Serve(crate::server::ServeArgs),
    /// Reads a password from standard input and prints its argon2id hash,
    /// for a `NAME:HASH` line of `quiver serve --users-file`.
    HashPassword,
    /// Writes a self-contained HTML page that shows what models learned:
    /// word2vec's loss and nearest words, k-means' inertia, cluster sizes
    /// and centroid map, a tagger's coverage, commonest tags and samples.
    Report(ReportArgs),
    /// A cluster's scheduler (Apache Ballista) with every quiver function,
    /// planner rule and codec: `quiver --cluster df://HOST:PORT` sends it
    /// queries, `quiver executor` runs them.
    Scheduler(crate::cluster::SchedulerArgs),
    /// A cluster's executor: registers with a scheduler and runs its
    /// tasks, loading models from the warehouse.
    Executor(crate::cluster::ExecutorArgs),
}

/// `quiver report MODEL... -o FILE.html`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The models to show, one section each, in order.
    #[arg(required = true, value_name = "MODEL")]
    pub models: Vec<String>,
    /// The page to write.
    #[arg(
        short = 'o',
        long,
        default_value = "report.html",
        value_name = "FILE.html"
    )]
    pub output: PathBuf,
}

/// `quiver report`: renders the page and writes it.
async fn write_report(warehouse: &str, args: &ReportArgs) -> ExitCode {
    let session = match QuiverSession::open_with(warehouse, terminal_options()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}", user_message(&e));
            return ExitCode::from(2);
        }
    };
    let names: Vec<String> = args.models.iter().map(|m| m.to_lowercase()).collect();
    let html = match crate::report::render(session.models(), &names).await {
        Ok(html) => html,
        Err(e) => {
            eprintln!("error: {}", user_message(&e));
            return ExitCode::from(1);
        }
    };
    match std::fs::write(&args.output, html) {
        Ok(()) => {
            println!("wrote {}", args.output.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", args.output.display());
            ExitCode::from(1)
        }
    }
}

/// How a statement run ended, for the caller to decide what comes next.
pub enum Outcome {
    Ok,
    /// The statement failed; the message has been printed.
    Failed,
    /// Output is closed (the reader of a pipe went away): stop quietly.
    Closed,
}

/// Runs the command line and returns the process's exit status.
pub async fn main(args: Args) -> ExitCode {
    match args.command {
        Some(Command::Demo(demo)) => return crate::demo::run(demo).await,
        Some(Command::HashPassword) => return hash_password(),
        Some(Command::Report(report)) => return write_report(&args.warehouse, &report).await,
        Some(Command::Serve(serve)) => {
            return match crate::server::run(&args.warehouse, &serve).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {}", user_message(&e));
                    ExitCode::from(2)
                }
            };
        }
        Some(Command::Scheduler(scheduler)) => {
            return exit_on(crate::cluster::run_scheduler(&args.warehouse, &scheduler).await);
        }
        Some(Command::Executor(executor)) => {
            return exit_on(crate::cluster::run_executor(&args.warehouse, &executor).await);
        }
        None => {}
    }
    let options = crate::session::SessionOptions {
        cluster: args.cluster.cluster.clone(),
        ..terminal_options()
    };
    let session = match QuiverSession::open_with(&args.warehouse, options).await {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("error: {}", user_message(&e));
            return ExitCode::from(2);
        }
    };
    let timing = !args.quiet && std::io::stdout().is_terminal();
    if args.commands.is_empty() && args.files.is_empty() {
        return repl::run(session, args.format, !args.quiet).await;
    }
    let mut scripts: Vec<(String, String)> = args
        .commands
        .iter()
        .map(|c| ("-c".to_string(), c.clone()))
        .collect();
    for file in &args.files {
        match std::fs::read_to_string(file) {
            Ok(text) => scripts.push((file.display().to_string(), text)),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", file.display());
                return ExitCode::from(2);
            }
        }
    }
    for (_, text) in scripts {
        match run_script(&session, &text, args.format, timing).await {
            Outcome::Ok => {}
            Outcome::Failed => return ExitCode::from(1),
            Outcome::Closed => return ExitCode::SUCCESS,
        }
    }
    ExitCode::SUCCESS
}

/// The exit status of a process that runs until stopped: 2 with the error
/// when it could not run or stopped on one.
fn exit_on(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", user_message(&e));
            ExitCode::from(2)
        }
    }
}

/// `quiver hash-password`: the first line of standard input, hashed. The
/// password is read from a pipe or the terminal, never from the command
/// line, where other users could see it.
fn hash_password() -> ExitCode {
    if std::io::stdin().is_terminal() {
        eprintln!("password (the line is echoed; pipe it in to avoid that):");
    }
    let mut line = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("error: cannot read the password: {e}");
        return ExitCode::from(2);
    }
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        eprintln!("error: the password is empty");
        return ExitCode::from(2);
    }
    match crate::server::auth::hash_password(password) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", user_message(&e));
            ExitCode::from(2)
        }
    }
}

/// Runs each statement of `text`, printing results; stops at the first error.
pub async fn run_script(
    session: &QuiverSession,
    text: &str,
    format: Format,
    timing: bool,
) -> Outcome {
    let statements = match statement::split(text) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}", user_message(&e));
            return Outcome::Failed;
        }
    };
    for stmt in statements {
        match run_statement(session, &stmt, format, timing).await {
            Outcome::Ok => {}
            other => return other,
        }
    }
    Outcome::Ok
}

/// Runs one statement and prints its result to standard output.
pub async fn run_statement(
    session: &QuiverSession,
    stmt: &str,
    format: Format,
    timing: bool,
) -> Outcome {
    let start = Instant::now();
    let mut stdout = std::io::stdout().lock();
    // A panic under the statement (a corrupt file can make parquet-rs
    // panic) is the statement's error, not the end of the process.
    let run = async {
        match session.execute(stmt).await {
            Ok(stream) => print_stream(stream, format, &mut stdout).await,
            Err(e) => Err(PrintError::Query(e)),
        }
    };
    let result = match AssertUnwindSafe(run).catch_unwind().await {
        Ok(result) => result,
        Err(payload) => Err(PrintError::Query(
            TaskPanicked(panic_message(payload)).into(),
        )),
    };
    match result {
        Ok(rows) => {
            if timing {
                let _ = writeln!(
                    stdout,
                    "{rows} row{} in {:.3} s",
                    if rows == 1 { "" } else { "s" },
                    start.elapsed().as_secs_f64()
                );
            }
            Outcome::Ok
        }
        Err(PrintError::Query(e)) => {
            eprintln!("error: {}", user_message(&e));
            Outcome::Failed
        }
        Err(PrintError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Outcome::Closed,
        Err(PrintError::Output(e)) => {
            eprintln!("error: cannot write the result: {e}");
            Outcome::Failed
        }
    }
}

/// The tables, views and models of the session's warehouse, for `\d`.
pub async fn objects(session: &QuiverSession) -> Result<RecordBatch> {
    session.schema().refresh().await?;
    let mut rows: Vec<(String, String)> = session
        .schema()
        .entries()
        .into_iter()
        .map(|(name, entry)| {
            let kind = match entry {
                Ok(e) => e.kind().to_string(),
                Err(_) => "table (cannot be read)".to_string(),
            };
            (name, kind)
        })
        .collect();
    for m in session.models().list().await? {
        rows.push((
            m.name.clone(),
            format!("model ({} v{})", m.model_type, m.version),
        ));
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.0.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.1.as_str()),
            )),
        ],
    )?)
}
