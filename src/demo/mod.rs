//! `quiver demo`: the whole tagging job end to end. It generates a product
//! catalogue (or takes the user's Parquet), writes it to the warehouse, runs
//! the statements of `sql/demo/` a user would type, timing each, and reports
//! sample tags, the commonest tags per cluster and, for the generated
//! catalogue, how often the tags contain the title's true product type.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::{Result, exec_err};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::col;
use futures::TryStreamExt;

use crate::output::{Format, PrintError, print_stream, terminal_options};
use crate::session::{QuiverSession, user_message};
use crate::statement::{self, quote_ident};

pub mod catalogue;
pub mod words;

/// The pipeline, as a user would type it: the files of `sql/demo/`, built in.
pub const PIPELINE: &[(&str, &str)] = &[
    (
        "01_title_vectors.sql",
        include_str!("../../sql/demo/01_title_vectors.sql"),
    ),
    (
        "02_title_clusters.sql",
        include_str!("../../sql/demo/02_title_clusters.sql"),
    ),
    (
        "03_title_tags.sql",
        include_str!("../../sql/demo/03_title_tags.sql"),
    ),
    (
        "04_tagged_products.sql",
        include_str!("../../sql/demo/04_tagged_products.sql"),
    ),
];

/// Runs the demo: the tagging job end to end on a generated catalogue.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub cluster: crate::cluster::ClusterArg,

    /// How many product titles to generate.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,

    /// Seed of the generated catalogue (the same seed, the same titles).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// The warehouse the demo writes its tables and models to: its own
    /// folder by default, apart from ./warehouse.
    #[arg(short = 'w', long, default_value = "quiver-demo", value_name = "URL")]
    pub warehouse: String,

    /// Tag your own data instead: a Parquet file (or folder of them).
    #[arg(long, value_name = "FILE.parquet", requires = "column")]
    pub input: Option<String>,

    /// The text column of --input.
    #[arg(long, value_name = "NAME", requires = "input")]
    pub column: Option<String>,

    /// Write the generated catalogue to table `products` and stop: the
    /// start of the same job as a dbt project (sql/dbt_demo).
    #[arg(long, conflicts_with = "input")]
    pub catalogue_only: bool,

    /// Where to write the HTML report of the three models (`quiver
    /// report`).
    #[arg(
        long,
        default_value = "quiver-demo-report.html",
        value_name = "FILE.html"
    )]
    pub report: std::path::PathBuf,
}

/// Titles per generated batch (and so per write).
const GENERATE_BATCH: usize = 64 * 1024;

pub async fn run(args: DemoArgs) -> ExitCode {
    let options = crate::session::SessionOptions {
        cluster: args.cluster.cluster.clone(),
        ..terminal_options()
    };
    let session = match QuiverSession::open_with(&args.warehouse, options).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}", user_message(&e));
            return ExitCode::from(2);
        }
    };
    match pipeline(&session, &args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", user_message(&e));
            ExitCode::from(1)
        }
    }
}

async fn pipeline(session: &QuiverSession, args: &DemoArgs) -> Result<()> {
    let total = Instant::now();
    let steps = PIPELINE.len() + 1;
    let generated = args.input.is_none();
    // The demo owns `products`: whichever kind a previous run left goes.
    if session.sql("DROP TABLE IF EXISTS products").await.is_err() {
        session.sql("DROP VIEW products").await?;
    }
    let start = step_start(1, steps, "the catalogue");
    match (&args.input, &args.column) {
        (Some(input), Some(column)) => {
            let sql = format!(
                "DROP TABLE IF EXISTS demo_input;
                 CREATE EXTERNAL TABLE demo_input STORED AS PARQUET LOCATION '{}';
                 CREATE VIEW products AS SELECT {} AS title FROM demo_input",
                input.replace('\'', "''"),
                quote_ident(column),
            );
            session.sql(&sql).await?;
            let rows = count(session, "SELECT count(*) FROM products").await?;
            step_end(start, &format!("{rows} rows of {input}, column {column}"));
        }
        _ if args.cluster.cluster.is_some() => {
            // The titles are generated here, in this process: a cluster has
            // nothing to read them from. The rest of the job runs there.
            let local = QuiverSession::open(&args.warehouse).await?;
            generate(&local, args.rows, args.seed).await?;
            step_end(
                start,
                &format!(
                    "{} generated titles (seed {}) written to table products",
                    args.rows, args.seed
                ),
            );
        }
        _ => {
            generate(session, args.rows, args.seed).await?;
            step_end(
                start,
                &format!(
                    "{} generated titles (seed {}) written to table products",
                    args.rows, args.seed
                ),
            );
        }
    }
    if args.catalogue_only {
        return Ok(());
    }
    for (i, (file, text)) in PIPELINE.iter().enumerate() {
        let start = step_start(i + 2, steps, &describe(file, text));
        for stmt in statement::split(text)? {
            session
                .execute(&stmt)
                .await?
                .try_collect::<Vec<_>>()
                .await?;
        }
        step_end(start, &format!("sql/demo/{file}"));
    }
    report(session, generated).await?;
    let names = ["title_vectors", "title_clusters", "title_tags"].map(String::from);
    let html = crate::report::render(session.models(), &names).await?;
    std::fs::write(&args.report, html).map_err(|e| {
        datafusion::common::DataFusionError::Execution(format!(
            "cannot write {}: {e}",
            args.report.display()
        ))
    })?;
    println!(
        "\nthe whole job took {:.1} s. Explore it: quiver --warehouse {}\n\
         What the models learned, with charts: {}",
        total.elapsed().as_secs_f64(),
        args.warehouse,
        args.report.display()
    );
    Ok(())
}

/// Writes `rows` generated titles to the warehouse table `products`,
/// streaming: batches are generated as the writer asks for them, in `id`
/// order, so memory does not grow with `--rows`.
async fn generate(session: &QuiverSession, rows: u64, seed: u64) -> Result<()> {
    if rows == 0 {
        return exec_err!("demo: --rows must be at least 1");
    }
    let source = Arc::new(Generated { seed, rows });
    let table = StreamingTable::try_new(catalogue::schema(), vec![source])?
        .with_sort_order(vec![col("id").sort(true, false)]);
    session
        .ctx()
        .register_table("generated_catalogue", Arc::new(table))?;
    let written = session
        .sql("CREATE TABLE products AS SELECT * FROM generated_catalogue")
        .await;
    session.ctx().deregister_table("generated_catalogue")?;
    written.map(|_| ())
}

/// The generated catalogue as one stream of batches.
#[derive(Debug)]
struct Generated {
    seed: u64,
    rows: u64,
}

impl PartitionStream for Generated {
    fn schema(&self) -> &SchemaRef {
        static SCHEMA: std::sync::LazyLock<SchemaRef> = std::sync::LazyLock::new(catalogue::schema);
        &SCHEMA
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (seed, rows) = (self.seed, self.rows);
        let batches = (0..rows).step_by(GENERATE_BATCH).map(move |start| {
            Ok(catalogue::batch(
                seed,
                start,
                GENERATE_BATCH.min((rows - start) as usize),
            ))
        });
        Box::pin(RecordBatchStreamAdapter::new(
            catalogue::schema(),
            futures::stream::iter(batches),
        ))
    }
}

async fn report(session: &QuiverSession, generated: bool) -> Result<()> {
    let order = if generated { "ORDER BY id" } else { "" };
    show(
        session,
        "Sample titles and their tags",
        &format!("SELECT title, tags FROM tagged_products {order} LIMIT 12"),
    )
    .await?;
    show(
        session,
        "The largest clusters and their commonest tags",
        "WITH counts AS (
             SELECT cluster_id, tag, count(*) AS n
             FROM (SELECT cluster_id, unnest(tags) AS tag FROM tagged_products)
             GROUP BY cluster_id, tag),
         ranked AS (
             SELECT *, row_number() OVER (PARTITION BY cluster_id ORDER BY n DESC, tag) AS r
             FROM counts),
         sizes AS (SELECT cluster_id, count(*) AS titles FROM tagged_products GROUP BY cluster_id)
         SELECT s.cluster_id, s.titles,
                string_agg(r.tag || ' (' || r.n || ')', ', ' ORDER BY r.r) AS top_tags
         FROM sizes s JOIN ranked r ON r.cluster_id = s.cluster_id AND r.r <= 5
         GROUP BY s.cluster_id, s.titles
         ORDER BY s.titles DESC, s.cluster_id
         LIMIT 8",
    )
    .await?;
    // A tag is right when one of its words is the type's word: "t-shirt"
    // and "screen protector" are right for "shirt" and "protector".
    let words = |tags: &str| format!("string_to_array(replace({tags}, '-', ' '), ' ')");
    let hit = format!(
        "CASE WHEN array_has({}, type_word) THEN 1.0 ELSE 0.0 END",
        words("array_to_string(tags, ' ')")
    );
    let first = format!(
        "CASE WHEN array_has({}, type_word) THEN 1.0 ELSE 0.0 END",
        words("tags[1]")
    );
    if generated {
        show(
            session,
            "How often the tags contain the title's true product type, by industry",
            &format!(
                "SELECT industry, count(*) AS titles,
                        round(100 * avg({hit}), 1) AS percent_right,
                        round(100 * avg({first}), 1) AS percent_first,
                        round(avg(cardinality(tags)), 2) AS tags_per_title
                 FROM tagged_products GROUP BY industry ORDER BY percent_right DESC"
            ),
        )
        .await?;
        let share = session
            .sql(&format!("SELECT avg({hit}) FROM tagged_products"))
            .await?;
        let share = first_f64(&share).unwrap_or(0.0);
        let first = session
            .sql(&format!("SELECT avg({first}) FROM tagged_products"))
            .await?;
        let first = first_f64(&first).unwrap_or(0.0);
        println!(
            "\n{:.1}% of titles have their true product type among their tags, \
             {:.1}% as the first tag.\n(1% of titles misspell their type: no tagger can find those.)",
            100.0 * share,
            100.0 * first
        );
    } else {
        show(
            session,
            "Tags per title",
            "SELECT cardinality(tags) AS tags, count(*) AS titles FROM tagged_products \
             GROUP BY 1 ORDER BY 1",
        )
        .await?;
    }
    Ok(())
}

/// Prints a titled query result as a table.
async fn show(session: &QuiverSession, title: &str, sql: &str) -> Result<()> {
    println!("\n{title}:");
    let stream = session.execute(sql).await?;
    let mut out = std::io::stdout().lock();
    print_stream(stream, Format::Table, &mut out)
        .await
        .map_err(|e| match e {
            PrintError::Query(e) => e,
            PrintError::Output(e) => e.into(),
        })?;
    Ok(())
}

async fn count(session: &QuiverSession, sql: &str) -> Result<i64> {
    let batches = session.sql(sql).await?;
    Ok(first_f64(&batches).unwrap_or(0.0) as i64)
}

fn first_f64(batches: &[RecordBatch]) -> Option<f64> {
    let b = batches.iter().find(|b| b.num_rows() > 0)?;
    let v = cast(b.column(0), &DataType::Float64).ok()?;
    let v = v.as_primitive::<Float64Type>();
    v.is_valid(0).then(|| v.value(0))
}

/// The first comment line of a pipeline file, without its step number.
fn describe(file: &str, text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("-- "))
        .map(|l| l.split_once(": ").map_or(l, |(_, rest)| rest).to_string())
        .unwrap_or_else(|| file.to_string())
}

fn step_start(i: usize, steps: usize, what: &str) -> Instant {
    println!("[{i}/{steps}] {what}");
    let _ = std::io::stdout().flush();
    Instant::now()
}

fn step_end(start: Instant, what: &str) {
    println!("      {:.1} s: {what}", start.elapsed().as_secs_f64());
}
