//! The tagger as a model type: built from the current versions of a
//! word2vec and a k-means model, which it records and keeps using, and
//! learned from the texts of its `AS` query when it has one; loaded with
//! exactly those versions.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use datafusion::common::{DataFusionError, Result, plan_err};
use futures::future::BoxFuture;
use serde_json::{Value as Json, json};

use datafusion::arrow::datatypes::DataType;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::memory_pool::MemoryConsumer;
use futures::StreamExt;

use super::learn::{Evaluation, Learner, evaluate};
use super::payload::{
    CANDIDATES_FILE, PAIRS_FILE, REPORT_FILE, UNITS_FILE, associations_from_parquet,
    associations_to_parquet, lists_from_parquet, lists_to_parquet,
};
use super::{Tagger, TaggerOptions, candidate_lists, text_rows};
use crate::models::kmeans::KMeans;
use crate::models::progress::{Progress, ProgressSink, Stage};
use crate::models::stop::Stop;
use crate::models::word2vec::Word2Vec;
use crate::models::{
    Built, LoadModel, ModelType, Request, Source, SourceKind, require_type, wrong_source,
};
use crate::store::objects::get_bytes;
use crate::store::{Manifest, ModelStore};
use datafusion::execution::memory_pool::MemoryPool;

/// `CREATE MODEL t TYPE tagger OPTIONS (embedding = 'w2v', clusters = 'km',
/// ...)`: the candidate words of every cluster.
#[derive(Debug, Clone, Copy)]
pub struct TaggerType;

const NAME: &str = "tagger";
const TAKES: &str = "is built from two models, OPTIONS (embedding = '<word2vec>', clusters = '<kmeans>'), and learns from the texts of AS <query> (one text column) when given one; FROM 'file' is for word2vec";

#[async_trait]
impl ModelType for TaggerType {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check(&self, options: &[(String, Json)], source: SourceKind) -> Result<()> {
        match source {
            SourceKind::Options | SourceKind::Query => {
                TaggerOptions::from_options(options).map(|_| ())
            }
            SourceKind::File => Err(wrong_source(NAME, TAKES)),
        }
    }

    async fn build(&self, request: Request<'_>) -> Result<Built> {
        let host = Host::of(&request);
        let rows = match request.source {
            Source::Options => None,
            Source::Query { rows, .. } => Some(rows),
            Source::File { .. } => return Err(wrong_source(NAME, TAKES)),
        };
        let started = Instant::now();
        let models = request.models;
        let mut options = TaggerOptions::from_options(request.options)?;
        let em = require_type(
            models,
            "tagger option 'embedding'",
            &options.embedding,
            "word2vec",
        )
        .await?;
        let cm = require_type(
            models,
            "tagger option 'clusters'",
            &options.clusters,
            "kmeans",
        )
        .await?;
        let dim_of = |m: &Manifest| m.options.get("dim").and_then(|d| d.as_u64());
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
        let mut metrics = BTreeMap::new();
        let mut files = Vec::new();
        let tagger = match rows {
            None => {
                let (n, stopwords) = (options.candidates, options.stopwords);
                let (embedding, clusters, lists) = tokio::task::spawn_blocking(move || {
                    let lists = candidate_lists(&embedding, &clusters, n, stopwords);
                    (embedding, clusters, lists)
                })
                .await
                .map_err(|e| {
                    DataFusionError::Execution(format!("building the tagger failed: {e}"))
                })?;
                Tagger::new(embedding, clusters, options, lists?, None)
            }
            Some(rows) => {
                let (tagger, evaluation) =
                    learn(embedding, clusters, &mut options, rows, host).await?;
                let a = tagger.associations.as_ref().expect("a learned tagger");
                let (units, pairs) = associations_to_parquet(a)?;
                files.push((UNITS_FILE, units));
                files.push((PAIRS_FILE, pairs));
                files.push((REPORT_FILE, report_json(&evaluation)?));
                metrics.extend(evaluation_metrics(&evaluation));
                metrics.insert("phrases".to_string(), json!(a.phrases.len()));
                metrics.insert("pairs".to_string(), json!(a.pairs.len()));
                tagger
            }
        };
        files.push((
            CANDIDATES_FILE,
            lists_to_parquet(&tagger.lists, |u| tagger.unit_text(u).to_string())?,
        ));
        metrics.insert("clusters".to_string(), json!(tagger.lists.len()));
        metrics.insert(
            "candidates_total".to_string(),
            json!(tagger.lists.iter().map(Vec::len).sum::<usize>()),
        );
        metrics.insert(
            "build_seconds".to_string(),
            json!((started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0),
        );
        Ok(Built {
            files,
            options: tagger.options.to_manifest(tagger.embedding.dim),
            metrics,
            depends_on: BTreeMap::from([(em.name, em.version), (cm.name, cm.version)]),
        })
    }
}

/// What learning needs of a [`Request`] (whose stream is not `Sync`).
struct Host<'a> {
    name: &'a str,
    progress: Arc<dyn ProgressSink>,
    stop: Stop,
    memory: Arc<dyn MemoryPool>,
}

impl<'a> Host<'a> {
    fn of(r: &Request<'a>) -> Self {
        Self {
            name: r.name,
            progress: Arc::clone(&r.progress),
            stop: r.stop.clone(),
            memory: Arc::clone(&r.memory),
        }
    }
}

/// Reads the `AS` query's texts and learns from them.
async fn learn(
    embedding: Arc<Word2Vec>,
    clusters: Arc<KMeans>,
    options: &mut TaggerOptions,
    mut rows: SendableRecordBatchStream,
    request: Host<'_>,
) -> Result<(Tagger, Evaluation)> {
    if rows.schema().fields().len() != 1 {
        return plan_err!(
            "tagger: the AS query must return one column of text, got {} columns",
            rows.schema().fields().len()
        );
    }
    let column = rows.schema().field(0).data_type().clone();
    if !matches!(
        column,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    ) {
        return plan_err!("tagger: the AS query must return one column of text, got {column}");
    }
    let k = clusters.centroids.k;
    let base = Tagger::new(
        embedding,
        clusters,
        options.clone(),
        vec![Vec::new(); k],
        None,
    );
    let reservation = MemoryConsumer::new(format!("tagger learning of '{}'", request.name))
        .register(&request.memory);
    let started = Instant::now();
    let mut progress = Progress::new(&Arc::from(request.name), NAME, Stage::Reading);
    let mut learner = Learner::new(&base, options);
    while let Some(batch) = rows.next().await {
        request.stop.check(NAME)?;
        let batch = batch?;
        for text in text_rows(batch.column(0))? {
            learner.add(text);
        }
        reservation.try_resize(learner.memory())?;
        progress.rows += batch.num_rows() as u64;
        progress.elapsed = started.elapsed().as_secs_f64();
        request.progress.report(&progress);
    }
    let learned = learner.finish();
    options.learned_from = Some(learned.associations.texts);
    let tagger = base.learned(options.clone(), learned.lists, learned.associations);
    let mut evaluation = evaluate(&tagger, &learned.texts);
    evaluation.nulls = learned.nulls;
    Ok((tagger, evaluation))
}

/// The evaluation's figures for the manifest (`model_metrics`).
fn evaluation_metrics(e: &Evaluation) -> BTreeMap<String, Json> {
    let share = |n: u64| {
        if e.texts == 0 {
            0.0
        } else {
            ((n as f64 / e.texts as f64) * 10_000.0).round() / 10_000.0
        }
    };
    BTreeMap::from([
        ("texts".to_string(), json!(e.texts)),
        ("null_rows".to_string(), json!(e.nulls)),
        ("coverage".to_string(), json!(share(e.tagged))),
        ("tags_per_text".to_string(), json!(share(e.tags))),
        (
            "top_tags".to_string(),
            Json::Array(
                e.top_tags
                    .iter()
                    .map(|(tag, n)| json!({"label": tag, "value": n}))
                    .collect(),
            ),
        ),
    ])
}

/// The per-cluster tags and sample texts a report shows.
fn report_json(e: &Evaluation) -> Result<Vec<u8>> {
    let clusters: Vec<Json> = e
        .clusters
        .iter()
        .enumerate()
        .map(|(j, (size, tags))| json!({"cluster_id": j, "texts": size, "top_tags": tags}))
        .collect();
    let samples: Vec<Json> = e
        .samples
        .iter()
        .map(|(text, tags)| json!({"text": text, "tags": tags}))
        .collect();
    serde_json::to_vec(&json!({"clusters": clusters, "samples": samples}))
        .map_err(|e| DataFusionError::Execution(format!("tagger report: {e}")))
}

impl LoadModel for Tagger {
    const TYPE: &'static str = NAME;

    fn load_version(
        models: Arc<ModelStore>,
        manifest: Manifest,
        who: String,
    ) -> BoxFuture<'static, Result<Arc<Self>>> {
        Box::pin(async move { load(&models, &manifest, &who).await })
    }
}

/// Loads a tagger and the exact versions of the models it was built from.
async fn load(models: &Arc<ModelStore>, manifest: &Manifest, who: &str) -> Result<Arc<Tagger>> {
    let options = TaggerOptions::from_manifest(manifest)?;
    let pinned = |dep: &str| -> Result<u64> {
        manifest.depends_on.get(dep).copied().ok_or_else(|| {
            DataFusionError::Execution(format!(
                "{who}: tagger '{}' does not record which '{dep}' it used",
                manifest.name
            ))
        })
    };
    let (ev, cv) = (pinned(&options.embedding)?, pinned(&options.clusters)?);
    let gone = |dep: &str, v: u64| {
        DataFusionError::Execution(format!(
            "{who}: tagger '{}' was built on version {v} of model '{dep}', which no longer exists; rebuild the tagger",
            manifest.name
        ))
    };
    let em = models
        .version(&options.embedding, ev)
        .await?
        .ok_or_else(|| gone(&options.embedding, ev))?;
    let cm = models
        .version(&options.clusters, cv)
        .await?
        .ok_or_else(|| gone(&options.clusters, cv))?;
    let me = Arc::clone(models);
    let manifest = manifest.clone();
    let path = models.file_path(&manifest, CANDIDATES_FILE);
    models
        .load(&manifest.clone(), || async move {
            let embedding = Word2Vec::load(&me, &em).await?;
            let clusters = KMeans::load(&me, &cm).await?;
            let store = me.object_store().as_ref();
            let bytes = get_bytes(store, &path).await?;
            let associations = match options.learned_from {
                None => None,
                Some(texts) => {
                    let (up, pp) = (
                        me.file_path(&manifest, UNITS_FILE),
                        me.file_path(&manifest, PAIRS_FILE),
                    );
                    let (u, p) = (get_bytes(store, &up).await?, get_bytes(store, &pp).await?);
                    let v = embedding.len() as u32;
                    Some(associations_from_parquet(
                        u,
                        p,
                        texts,
                        v,
                        (up.as_ref(), pp.as_ref()),
                    )?)
                }
            };
            let units = embedding.len() + associations.as_ref().map_or(0, |a| a.phrases.len());
            let lists = lists_from_parquet(bytes, clusters.centroids.k, units, path.as_ref())?;
            Ok(Tagger::new(
                embedding,
                clusters,
                options,
                lists,
                associations,
            ))
        })
        .await
}
