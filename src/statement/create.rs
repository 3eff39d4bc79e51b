//! Creating models: training one from the rows of an `AS` query, importing
//! one `FROM` a file, and `COPY MODEL ... TO` a file. Options are checked
//! before any data moves; a training that fails leaves the previous version
//! of the model current.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use datafusion::arrow::array::RecordBatch;
use datafusion::common::{DataFusionError, Result, plan_err};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::SessionContext;
use object_store::{ObjectStoreExt, PutPayload};
use quiver_udfs::ModelStore;
use quiver_udfs::model::kmeans::{self, CENTROIDS_FILE, KMeans, KMeansOptions};
use quiver_udfs::model::options::OptionReader;
use quiver_udfs::model::tagger::{CANDIDATES_FILE, Tagger, TaggerOptions, candidate_lists};
use quiver_udfs::model::tokenizer::Tokenizer;
use quiver_udfs::model::word2vec::format::{self, VectorFormat};
use quiver_udfs::model::word2vec::{self, Progress, VECTORS_FILE, Word2Vec, Word2VecOptions};
use serde_json::json;

use super::model::CreateModel;
use crate::warehouse::location;

/// Plans and starts a model's `AS` query.
async fn query_stream(ctx: &SessionContext, query: &str) -> Result<SendableRecordBatchStream> {
    let plan = super::plan(&ctx.state(), query).await?;
    ctx.execute_logical_plan(plan).await?.execute_stream().await
}

/// A progress line on standard error, rewritten in place, when standard
/// error is a terminal; nothing otherwise.
fn progress_reporter() -> Arc<dyn Fn(Progress) + Send + Sync> {
    if !std::io::stderr().is_terminal() {
        return Arc::new(|_| {});
    }
    let last = Mutex::new(Instant::now());
    Arc::new(move |p: Progress| {
        let Ok(mut last) = last.lock() else { return };
        if last.elapsed().as_millis() < 250 && p.done < 1.0 {
            return;
        }
        *last = Instant::now();
        let left = if p.done > 0.0 {
            p.elapsed * (1.0 - p.done) / p.done
        } else {
            0.0
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2Kword2vec: epoch {}/{} {:>3.0}%  {:.0}k words/s  loss {:.3}  {:.0}s left",
            p.epoch + 1,
            p.epochs,
            p.done * 100.0,
            p.words_per_sec / 1000.0,
            p.loss,
            left
        );
        let _ = err.flush();
    })
}

fn end_progress() {
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K");
    }
}

/// `CREATE MODEL m TYPE word2vec ...`: trains from `AS query` or imports
/// `FROM 'file'`.
pub async fn word2vec(
    ctx: &SessionContext,
    models: &Arc<ModelStore>,
    create: CreateModel,
) -> Result<Vec<RecordBatch>> {
    match (&create.query, &create.from) {
        (Some(query), None) => {
            let options = Word2VecOptions::from_options(&create.options)?;
            let stream = query_stream(ctx, query).await?;
            let trained = word2vec::train_from_stream(stream, &options, progress_reporter()).await;
            end_progress();
            let trained = trained?;
            let payload = trained.model.to_parquet()?;
            let mut version = models.begin(&create.name, "word2vec").await?;
            if let Err(e) = version.put(VECTORS_FILE, payload).await {
                let _ = version.abort().await;
                return Err(e);
            }
            version
                .publish(
                    options.to_manifest(),
                    trained.metrics,
                    Some(query.clone()),
                    BTreeMap::new(),
                )
                .await?;
            Ok(vec![])
        }
        (None, Some(from)) => {
            let mut r = OptionReader::new("word2vec (FROM a file)", &create.options);
            let format_name = r.choice(
                "format",
                "auto",
                &["auto", "word2vec_text", "word2vec_binary"],
            )?;
            let lowercase = r.choice("lowercase", "auto", &["auto", "true", "false"])?;
            r.finish()?;
            let bytes = read_location(from).await?;
            let format = if format_name == "auto" {
                VectorFormat::sniff(&bytes)
            } else {
                VectorFormat::parse(&format_name)?
            };
            let vectors = format::read(from, &bytes, format)?;
            // Vectors trained with case (fastText's, say) keep it: lower-case
            // lookups would miss "iPhone".
            let lowercase = match lowercase.as_str() {
                "auto" => !vectors
                    .words
                    .iter()
                    .any(|w| w.chars().any(char::is_uppercase)),
                other => other == "true",
            };
            let tokenizer = Tokenizer { lowercase };
            let counts = vec![0; vectors.words.len()];
            let model = Word2Vec::new(
                vectors.words,
                counts,
                vectors.values,
                vectors.dim,
                tokenizer,
            )?;
            let mut options = BTreeMap::new();
            options.insert("dim".to_string(), json!(model.dim));
            options.insert(
                "format".to_string(),
                json!(if format == VectorFormat::Text {
                    "word2vec_text"
                } else {
                    "word2vec_binary"
                }),
            );
            options.insert(
                "tokenizer".to_string(),
                serde_json::to_value(tokenizer).unwrap_or_default(),
            );
            let mut metrics = BTreeMap::new();
            metrics.insert("vocabulary".to_string(), json!(model.len()));
            let mut version = models.begin(&create.name, "word2vec").await?;
            version.put(VECTORS_FILE, model.to_parquet()?).await?;
            version
                .publish(options, metrics, Some(from.clone()), BTreeMap::new())
                .await?;
            Ok(vec![])
        }
        (None, None) => plan_err!(
            "create model: a word2vec model needs AS <query> (to train) or FROM '<file>' (to import)"
        ),
        (Some(_), Some(_)) => {
            plan_err!("create model: use either FROM 'file' or AS query, not both")
        }
    }
}

/// `CREATE MODEL c TYPE kmeans OPTIONS (k = ...) AS SELECT <vector> ...`.
pub async fn kmeans(
    ctx: &SessionContext,
    models: &Arc<ModelStore>,
    create: CreateModel,
) -> Result<Vec<RecordBatch>> {
    if create.from.is_some() {
        return plan_err!(
            "create model: a kmeans model is trained AS <query>; FROM 'file' is for word2vec"
        );
    }
    let Some(query) = &create.query else {
        return plan_err!(
            "create model: a kmeans model needs AS <query> returning one vector column"
        );
    };
    let options = KMeansOptions::from_options(&create.options)?;
    let stream = query_stream(ctx, query).await?;
    let (model, metrics) = kmeans::train_from_stream(stream, &options).await?;
    let mut version = models.begin(&create.name, "kmeans").await?;
    if let Err(e) = version.put(CENTROIDS_FILE, model.to_parquet()?).await {
        let _ = version.abort().await;
        return Err(e);
    }
    version
        .publish(
            options.to_manifest(model.dim()),
            metrics,
            Some(query.clone()),
            BTreeMap::new(),
        )
        .await?;
    Ok(vec![])
}

/// `CREATE MODEL t TYPE tagger OPTIONS (embedding = 'w2v', clusters = 'km',
/// ...)`: the candidate words of every cluster, from the current versions of
/// both models, which the tagger records and keeps using.
pub async fn tagger(models: &Arc<ModelStore>, create: CreateModel) -> Result<Vec<RecordBatch>> {
    if create.query.is_some() || create.from.is_some() {
        return plan_err!(
            "create model: a tagger is built from two models, OPTIONS (embedding = '<word2vec>',              clusters = '<kmeans>'), without AS or FROM"
        );
    }
    let started = Instant::now();
    let options = TaggerOptions::from_options(&create.options)?;
    let model_of = |option: &str, name: &str, expected: &str| {
        let (models, option, name, expected) = (
            Arc::clone(models),
            option.to_string(),
            name.to_string(),
            expected.to_string(),
        );
        async move {
            let m = models
                .require(&format!("tagger option '{option}'"), &name)
                .await?;
            if m.model_type != expected {
                return plan_err!(
                    "tagger option '{option}': model '{name}' is a {} model; expected a {expected} model",
                    m.model_type
                );
            }
            Ok(m)
        }
    };
    let em = model_of("embedding", &options.embedding, "word2vec").await?;
    let cm = model_of("clusters", &options.clusters, "kmeans").await?;
    let dim_of = |m: &quiver_udfs::Manifest| m.options.get("dim").and_then(|d| d.as_u64());
    if dim_of(&em) != dim_of(&cm) {
        return plan_err!(
            "tagger: embedding '{}' has {} dimensions but clusters '{}' have {}; train the clusters on embed('{}', ...)",
            em.name,
            dim_of(&em).unwrap_or(0),
            cm.name,
            dim_of(&cm).unwrap_or(0),
            em.name
        );
    }
    let embedding = Word2Vec::load(models, &em).await?;
    let clusters = KMeans::load(models, &cm).await?;
    let (n, stopwords) = (options.candidates, options.stopwords);
    let (embedding, lists) = tokio::task::spawn_blocking(move || {
        let lists = candidate_lists(&embedding, &clusters, n, stopwords);
        (embedding, lists)
    })
    .await
    .map_err(|e| DataFusionError::Execution(format!("building the tagger failed: {e}")))?;
    let lists = lists?;
    let payload = Tagger::lists_to_parquet(&embedding, &lists)?;
    let mut metrics = BTreeMap::new();
    metrics.insert("clusters".to_string(), json!(lists.len()));
    metrics.insert(
        "candidates_total".to_string(),
        json!(lists.iter().map(Vec::len).sum::<usize>()),
    );
    metrics.insert(
        "build_seconds".to_string(),
        json!((started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0),
    );
    let depends_on = BTreeMap::from([(em.name.clone(), em.version), (cm.name.clone(), cm.version)]);
    let mut version = models.begin(&create.name, "tagger").await?;
    if let Err(e) = version.put(CANDIDATES_FILE, payload).await {
        let _ = version.abort().await;
        return Err(e);
    }
    version
        .publish(
            options.to_manifest(embedding.dim),
            metrics,
            None,
            depends_on,
        )
        .await?;
    Ok(vec![])
}

/// `COPY MODEL m TO 'path' (FORMAT word2vec_text | word2vec_binary)`.
pub async fn copy_word2vec(
    models: &Arc<ModelStore>,
    name: &str,
    to: &str,
    format: Option<&str>,
) -> Result<Vec<RecordBatch>> {
    let manifest = models.require("copy model", name).await?;
    if manifest.model_type != "word2vec" {
        return plan_err!(
            "copy model: model '{name}' is a {} model; only word2vec models can be copied to a vector file",
            manifest.model_type
        );
    }
    let format = match format {
        Some(f) => VectorFormat::parse(f)?,
        None if to.ends_with(".bin") => VectorFormat::Binary,
        None => VectorFormat::Text,
    };
    let model = Word2Vec::load(models, &manifest).await?;
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
        quiver_udfs::objects::get_bytes(loc.store.as_ref(), &loc.path)
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
