//! Model types: one folder each (`word2vec/`, `kmeans/`, `tagger/`), each
//! implementing [`ModelType`] (check options, build a version from its
//! source, write the payload) and [`LoadModel`] (read a version back).
//! [`MODEL_TYPES`] is the one registry; [`create`] is the one sequence that
//! builds and publishes a version, for every statement that makes one.
//! Adding a type touches its folder and one line of [`MODEL_TYPES`]
//! (docs/architecture.md walks through it).
//!
//! The store that versions models is [`crate::store`]; the SQL functions
//! that use them are in [`crate::functions`].

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::{DataFusionError, Result, plan_err};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::memory_pool::MemoryPool;
use futures::future::BoxFuture;
use serde_json::Value as Json;

use crate::store::{Manifest, ModelStore};

pub mod kmeans;
pub mod options;
pub mod progress;
pub mod stop;
pub mod tagger;
pub mod tokenizer;
pub mod word2vec;
pub mod word_index;

pub use progress::{NoProgress, Progress, ProgressSink, Stage};
pub use stop::Stop;

/// Field metadata keys that pin a model version in a function's result
/// field (see [`crate::functions::model_args`]): the model's name and its
/// version. Planning reads them too ([`crate::plan::balance`]).
pub const MODEL_KEY: &str = "quiver.model";
pub const VERSION_KEY: &str = "quiver.model.version";

/// Every model type `CREATE MODEL ... TYPE t` accepts, in the order error
/// messages list them.
pub static MODEL_TYPES: &[&dyn ModelType] = &[
    &word2vec::Word2VecType,
    &kmeans::KMeansType,
    &tagger::TaggerType,
];

/// The model type named `name`.
pub fn model_type(name: &str) -> Result<&'static dyn ModelType> {
    MODEL_TYPES
        .iter()
        .copied()
        .find(|t| t.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = MODEL_TYPES.iter().map(|t| t.name()).collect();
            DataFusionError::Plan(format!(
                "create model: unknown model type '{name}' (available types: {})",
                names.join(", ")
            ))
        })
}

/// What a `CREATE MODEL` statement builds from, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// `AS query`.
    Query,
    /// `FROM 'location'`.
    File,
    /// Neither: the options name other models (a tagger).
    Options,
}

/// What a `CREATE MODEL` statement builds from, ready to read.
pub enum Source {
    /// The `AS` query's text and its rows, not yet read.
    Query {
        text: String,
        rows: SendableRecordBatchStream,
    },
    /// The `FROM` location and its bytes.
    File {
        location: String,
        bytes: Vec<u8>,
    },
    Options,
}

impl Source {
    pub fn kind(&self) -> SourceKind {
        match self {
            Source::Query { .. } => SourceKind::Query,
            Source::File { .. } => SourceKind::File,
            Source::Options => SourceKind::Options,
        }
    }

    /// What the manifest records as the version's source.
    fn describe(&self) -> Option<String> {
        match self {
            Source::Query { text, .. } => Some(text.clone()),
            Source::File { location, .. } => Some(location.clone()),
            Source::Options => None,
        }
    }
}

/// Everything a model type builds a version from.
pub struct Request<'a> {
    pub name: &'a str,
    /// Options as written; keys lower-cased.
    pub options: &'a [(String, Json)],
    pub source: Source,
    /// The store, for types built from other models.
    pub models: &'a Arc<ModelStore>,
    pub progress: Arc<dyn ProgressSink>,
    /// Raised when the statement is dropped (see [`create`]); a host may
    /// raise it itself to stop a training.
    pub stop: Stop,
    /// The pool a training's memory counts against, with the session's
    /// queries (a server's pool is shared by all its sessions).
    pub memory: Arc<dyn MemoryPool>,
}

/// A version built in memory, ready to publish.
#[derive(Debug, Default)]
pub struct Built {
    /// Payload files, by name within the version's folder.
    pub files: Vec<(&'static str, Vec<u8>)>,
    /// The options after defaults were applied.
    pub options: BTreeMap<String, Json>,
    /// Training figures (loss per epoch, inertia, ...).
    pub metrics: BTreeMap<String, Json>,
    /// Other models it was built from, with the versions used.
    pub depends_on: BTreeMap<String, u64>,
}

/// One model type: how `CREATE MODEL ... TYPE <name>` checks and builds it.
#[async_trait]
pub trait ModelType: Send + Sync {
    /// The name `TYPE` takes.
    fn name(&self) -> &'static str;

    /// Checks the options and the kind of source before any data moves (at
    /// planning), with errors that name the option.
    fn check(&self, options: &[(String, Json)], source: SourceKind) -> Result<()>;

    /// Builds a version: reads the source, trains, and encodes the payload.
    async fn build(&self, request: Request<'_>) -> Result<Built>;
}

/// Builds a version of `request.name` with `model_type` and publishes it:
/// the one sequence every statement that creates a version goes through.
/// A build or a write that fails leaves the previous version current and
/// nothing of the new one behind. Dropping the returned future (a
/// cancelled statement, a timeout, a client gone) raises `request.stop`,
/// so the training threads stop too, and removes what the version wrote.
pub async fn create(model_type: &dyn ModelType, request: Request<'_>) -> Result<Manifest> {
    model_type.check(request.options, request.source.kind())?;
    let armed = request.stop.raise_on_drop();
    let models = Arc::clone(request.models);
    let name = request.name.to_string();
    let progress = Arc::clone(&request.progress);
    let source = request.source.describe();
    let built = model_type.build(request).await;
    // Reported whether or not the build succeeded: a terminal clears its
    // line, a log closes the model's entry.
    let mut finished = Progress::new(
        &Arc::from(name.as_str()),
        model_type.name(),
        Stage::Finished,
    );
    finished.done = f64::from(u8::from(built.is_ok()));
    progress.report(&finished);
    let published = publish(&models, &name, model_type.name(), source, built?).await;
    armed.disarm();
    published
}

/// Writes `built` as a new version of `name` and makes it current; on any
/// failure, removes what it wrote.
pub async fn publish(
    models: &ModelStore,
    name: &str,
    model_type: &str,
    source: Option<String>,
    built: Built,
) -> Result<Manifest> {
    let mut version = models.begin(name, model_type).await?;
    for (file, bytes) in built.files {
        if let Err(e) = version.put(file, bytes).await {
            let _ = version.abort().await;
            return Err(e);
        }
    }
    version
        .publish(built.options, built.metrics, source, built.depends_on)
        .await
}

/// A source a type does not take: the error says what it takes instead.
pub(crate) fn wrong_source(model_type: &str, takes: &str) -> DataFusionError {
    DataFusionError::Plan(format!("create model: a {model_type} model {takes}"))
}

/// A loaded model type that functions use: loads a version, through the
/// store's cache, so a process reads each version once.
pub trait LoadModel: std::any::Any + Send + Sync + Sized {
    /// The type's name, as [`ModelType::name`].
    const TYPE: &'static str;

    /// Loads `manifest`'s version; `who` names the caller in errors.
    fn load_version(
        models: Arc<ModelStore>,
        manifest: Manifest,
        who: String,
    ) -> BoxFuture<'static, Result<Arc<Self>>>;
}

/// The current version of `name`, which must be a model of type `expected`:
/// `who` (a function, an option, a statement) names the caller in errors.
pub async fn require_type(
    models: &ModelStore,
    who: &str,
    name: &str,
    expected: &str,
) -> Result<Manifest> {
    let m = models.require(who, name).await?;
    check_type(who, &m, expected)?;
    Ok(m)
}

/// Fails unless `manifest` is of type `expected`.
pub fn check_type(who: &str, manifest: &Manifest, expected: &str) -> Result<()> {
    if manifest.model_type != expected {
        return plan_err!(
            "{who}: model '{}' is a {} model; {who} needs a {expected} model",
            manifest.name,
            manifest.model_type
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use datafusion::arrow::array::{RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;

    use super::*;

    /// Issue 23: a training whose statement is dropped (cancelled, timed
    /// out, its client gone) stops its threads, rather than running on for
    /// every epoch asked for, and publishes nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_training_stops_its_threads() {
        let schema = Arc::new(Schema::new(vec![Field::new("t", DataType::Utf8, false)]));
        let texts: Vec<String> = (0..20_000)
            .map(|i| {
                format!(
                    "word{} word{} word{} word{}",
                    i % 97,
                    i % 89,
                    i % 83,
                    i % 79
                )
            })
            .collect();
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(StringArray::from(texts))],
        )
        .expect("batch");
        let rows = Box::pin(RecordBatchStreamAdapter::new(
            schema,
            futures::stream::iter([Ok(batch)]),
        ));
        let training = Arc::new(Mutex::new(false));
        let seen = Arc::clone(&training);
        let sink: Arc<dyn ProgressSink> = Arc::new(move |p: &Progress| {
            if p.stage == Stage::Training
                && let Ok(mut s) = seen.lock()
            {
                *s = true;
            }
        });
        let models = ModelStore::in_memory();
        let options = vec![
            ("epochs".to_string(), serde_json::json!(10_000)),
            ("min_count".to_string(), serde_json::json!(1)),
        ];
        let task = {
            let (models, sink) = (Arc::clone(&models), Arc::clone(&sink));
            tokio::spawn(async move {
                let request = Request {
                    name: "m",
                    options: &options,
                    source: Source::Query {
                        text: "SELECT t".into(),
                        rows,
                    },
                    models: &models,
                    progress: sink,
                    stop: Stop::new(),
                    memory: Arc::new(
                        datafusion::execution::memory_pool::UnboundedMemoryPool::default(),
                    ),
                };
                create(&word2vec::Word2VecType, request).await
            })
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !*training.lock().expect("lock") {
            assert!(
                !task.is_finished(),
                "the training ended before it was dropped"
            );
            assert!(Instant::now() < deadline, "training never started");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        task.abort();
        assert!(task.await.expect_err("aborted").is_cancelled());
        // The training thread holds a clone of the sink until it returns.
        let stopped = Instant::now() + Duration::from_secs(20);
        while Arc::strong_count(&sink) > 1 {
            assert!(
                Instant::now() < stopped,
                "the training threads ran on after the statement was dropped"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(models.names().await.expect("names").is_empty());
    }
}
