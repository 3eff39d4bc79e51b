//! The tagger as a model type: built from the current versions of a
//! word2vec and a k-means model, which it records and keeps using; loaded
//! with exactly those versions.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use datafusion::common::{DataFusionError, Result, plan_err};
use futures::future::BoxFuture;
use serde_json::{Value as Json, json};

use super::{CANDIDATES_FILE, Tagger, TaggerOptions, candidate_lists};
use crate::models::kmeans::KMeans;
use crate::models::word2vec::Word2Vec;
use crate::models::{
    Built, LoadModel, ModelType, Request, Source, SourceKind, require_type, wrong_source,
};
use crate::store::{Manifest, ModelStore};

/// `CREATE MODEL t TYPE tagger OPTIONS (embedding = 'w2v', clusters = 'km',
/// ...)`: the candidate words of every cluster.
#[derive(Debug, Clone, Copy)]
pub struct TaggerType;

const NAME: &str = "tagger";
const TAKES: &str = "is built from two models, OPTIONS (embedding = '<word2vec>', clusters = '<kmeans>'), without AS or FROM";

#[async_trait]
impl ModelType for TaggerType {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check(&self, options: &[(String, Json)], source: SourceKind) -> Result<()> {
        match source {
            SourceKind::Options => TaggerOptions::from_options(options).map(|_| ()),
            _ => Err(wrong_source(NAME, TAKES)),
        }
    }

    async fn build(&self, request: Request<'_>) -> Result<Built> {
        if !matches!(request.source, Source::Options) {
            return Err(wrong_source(NAME, TAKES));
        }
        let started = Instant::now();
        let models = request.models;
        let options = TaggerOptions::from_options(request.options)?;
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
        Ok(Built {
            files: vec![(CANDIDATES_FILE, payload)],
            options: options.to_manifest(embedding.dim),
            metrics,
            depends_on: BTreeMap::from([(em.name, em.version), (cm.name, cm.version)]),
        })
    }
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
    let path = models.file_path(manifest, CANDIDATES_FILE);
    models
        .load(manifest, || async move {
            let embedding = Word2Vec::load(&me, &em).await?;
            let clusters = KMeans::load(&me, &cm).await?;
            let bytes = crate::store::objects::get_bytes(me.object_store().as_ref(), &path).await?;
            let lists = Tagger::lists_from_parquet(
                bytes,
                clusters.centroids.k,
                embedding.len(),
                path.as_ref(),
            )?;
            Ok(Tagger::new(embedding, clusters, options, lists))
        })
        .await
}
