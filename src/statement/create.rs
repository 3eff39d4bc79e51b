//! Creating models: `CREATE MODEL` hands the statement's source (the rows
//! of its `AS` query, the bytes of its `FROM` file, or nothing) to the
//! model type, which builds the version, and the engine publishes it
//! (`quiver_engine::models::create`); `COPY MODEL ... TO` writes a word2vec
//! model to a vector file. Options are checked when the statement is
//! planned, before any data moves; a training that fails leaves the
//! previous version of the model current.

use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{Float64Array, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{DataFusionError, Result, plan_err};
use datafusion::prelude::SessionContext;
use object_store::{ObjectStoreExt, PutPayload};
use quiver_engine::ModelStore;
use quiver_engine::models::word2vec::Word2Vec;
use quiver_engine::models::word2vec::format::{self, VectorFormat};
use quiver_engine::models::{self, ProgressSink, Request, Source, SourceKind, Stop};
use serde_json::Value as Json;

use crate::warehouse::location;

/// `CREATE MODEL`, as written.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateModel {
    pub name: String,
    pub or_replace: bool,
    pub if_not_exists: bool,
    pub model_type: String,
    /// Options in the order written; keys lower-cased.
    pub options: Vec<(String, Json)>,
    pub from: Option<String>,
    /// The text of the `AS` query.
    pub query: Option<String>,
}

impl CreateModel {
    fn source_kind(&self) -> SourceKind {
        match (&self.query, &self.from) {
            (Some(_), _) => SourceKind::Query,
            (None, Some(_)) => SourceKind::File,
            (None, None) => SourceKind::Options,
        }
    }

    /// Checks the model type, its options and the kind of source, before
    /// any data moves.
    pub fn check(&self) -> Result<()> {
        models::model_type(&self.model_type)?.check(&self.options, self.source_kind())
    }
}

/// Builds and publishes a version of the model `create` names, and answers
/// with what it made: the model, its type, its version, when it was
/// published, and the seconds it took.
pub async fn create_model(
    ctx: &SessionContext,
    store: &Arc<ModelStore>,
    create: CreateModel,
    progress: Arc<dyn ProgressSink>,
) -> Result<Vec<RecordBatch>> {
    let started = Instant::now();
    let model_type = models::model_type(&create.model_type)?;
    let source = match (create.query, create.from) {
        (Some(text), _) => {
            let plan = super::plan(&ctx.state(), &text).await?;
            if super::has_effects(&plan) {
                return plan_err!("CREATE MODEL ... AS takes a query, not a statement: {text}");
            }
            let rows = ctx
                .execute_logical_plan(plan)
                .await?
                .execute_stream()
                .await?;
            Source::Query { text, rows }
        }
        (None, Some(location)) => {
            let bytes = read_location(&location).await?;
            Source::File { location, bytes }
        }
        (None, None) => Source::Options,
    };
    let request = Request {
        name: &create.name,
        options: &create.options,
        source,
        models: store,
        progress,
        stop: Stop::new(),
        memory: Arc::clone(&ctx.runtime_env().memory_pool),
    };
    let manifest = models::create(model_type, request).await?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("model", DataType::Utf8, false),
        Field::new("type", DataType::Utf8, false),
        Field::new("version", DataType::UInt64, false),
        Field::new("created", DataType::Utf8, false),
        Field::new("seconds", DataType::Float64, false),
    ]));
    let seconds = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    Ok(vec![RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec![manifest.name])),
            Arc::new(StringArray::from(vec![manifest.model_type])),
            Arc::new(UInt64Array::from(vec![manifest.version])),
            Arc::new(StringArray::from(vec![manifest.created])),
            Arc::new(Float64Array::from(vec![seconds])),
        ],
    )?])
}

/// `COPY MODEL m TO 'path' (FORMAT word2vec_text | word2vec_binary)`.
pub async fn copy_word2vec(
    store: &Arc<ModelStore>,
    name: &str,
    to: &str,
    format: Option<&str>,
) -> Result<Vec<RecordBatch>> {
    let manifest = models::require_type(store, "copy model", name, "word2vec").await?;
    let format = match format {
        Some(f) => VectorFormat::parse(f)?,
        None if to.ends_with(".bin") => VectorFormat::Binary,
        None => VectorFormat::Text,
    };
    let model = Word2Vec::load(store, &manifest).await?;
    let bytes = format::write(&model.words, model.dim, &model.vectors, format);
    write_location(to, bytes).await?;
    Ok(vec![])
}

/// `file://` URLs as local paths; other URLs as they are.
fn local_path(path: &str) -> Option<String> {
    if let Some(rest) = path.strip_prefix("file://") {
        return Some(rest.to_string());
    }
    (!path.contains("://")).then(|| path.to_string())
}

/// Reads a whole file from a local path or an object-store URL.
async fn read_location(path: &str) -> Result<Vec<u8>> {
    if let Some(path) = local_path(path) {
        let path = path.as_str();
        return tokio::fs::read(path)
            .await
            .map_err(|e| DataFusionError::Execution(format!("cannot read {path}: {e}")));
    }
    let loc = location::parse(path, &Default::default())?;
    Ok(
        quiver_engine::store::objects::get_bytes(loc.store.as_ref(), &loc.path)
            .await?
            .to_vec(),
    )
}

/// Writes a whole file to a local path or an object-store URL, atomically
/// (a temporary file renamed into place, or one object put).
async fn write_location(path: &str, bytes: Vec<u8>) -> Result<()> {
    if let Some(path) = local_path(path) {
        let path = path.as_str();
        let tmp = format!("{path}.quiver-tmp");
        tokio::fs::write(&tmp, &bytes)
            .await
            .map_err(|e| DataFusionError::Execution(format!("cannot write {path}: {e}")))?;
        return tokio::fs::rename(&tmp, path)
            .await
            .map_err(|e| DataFusionError::Execution(format!("cannot write {path}: {e}")));
    }
    let loc = location::parse(path, &Default::default())?;
    loc.store
        .put(&loc.path, PutPayload::from(bytes))
        .await
        .map_err(|e| DataFusionError::Execution(format!("cannot write {path}: {e}")))?;
    Ok(())
}
