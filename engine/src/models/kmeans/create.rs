//! k-means as a model type: trained `AS` a query that returns one column of
//! vectors.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::Result;
use futures::future::BoxFuture;
use serde_json::Value as Json;

use super::{CENTROIDS_FILE, KMeans, KMeansOptions, train_from_stream};
use crate::models::progress::{Progress, Stage};
use crate::models::{Built, LoadModel, ModelType, Request, Source, SourceKind, wrong_source};
use crate::store::{Manifest, ModelStore};

/// `CREATE MODEL c TYPE kmeans OPTIONS (k = ...) AS SELECT <vector> ...`.
#[derive(Debug, Clone, Copy)]
pub struct KMeansType;

const NAME: &str = "kmeans";
const TAKES: &str =
    "is trained AS <query> returning one vector column; FROM 'file' is for word2vec";

#[async_trait]
impl ModelType for KMeansType {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check(&self, options: &[(String, Json)], source: SourceKind) -> Result<()> {
        match source {
            SourceKind::Query => KMeansOptions::from_options(options).map(|_| ()),
            _ => Err(wrong_source(NAME, TAKES)),
        }
    }

    async fn build(&self, request: Request<'_>) -> Result<Built> {
        let Source::Query { rows, .. } = request.source else {
            return Err(wrong_source(NAME, TAKES));
        };
        let options = KMeansOptions::from_options(request.options)?;
        let progress = Progress::new(&Arc::from(request.name), NAME, Stage::Reading);
        let (model, metrics) = train_from_stream(
            rows,
            &options,
            progress,
            request.progress,
            request.stop,
            &request.memory,
        )
        .await?;
        Ok(Built {
            files: vec![(CENTROIDS_FILE, model.to_parquet()?)],
            options: options.to_manifest(model.dim()),
            metrics,
            depends_on: BTreeMap::new(),
        })
    }
}

impl LoadModel for KMeans {
    const TYPE: &'static str = NAME;

    fn load_version(
        models: Arc<ModelStore>,
        manifest: Manifest,
        _who: String,
    ) -> BoxFuture<'static, Result<Arc<Self>>> {
        Box::pin(async move { KMeans::load(&models, &manifest).await })
    }
}
