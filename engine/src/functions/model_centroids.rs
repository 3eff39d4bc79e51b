//! `model_centroids(model)`: a k-means model's clusters with their sizes
//! (training points assigned at the end) and centroids.

use std::sync::{Arc, LazyLock};

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl};
use datafusion::common::{Result, plan_err};
use datafusion::datasource::{MemTable, TableProvider};
use datafusion::logical_expr::Documentation;

use super::MODEL_SECTION;
use super::model_args::{literal_model_name, load_pinned, resolve};
use crate::models::kmeans::KMeans;
use crate::store::ModelStore;

/// `model_centroids` over `models`.
#[derive(Debug)]
pub struct ModelCentroids {
    models: Arc<ModelStore>,
}

impl ModelCentroids {
    pub fn new(models: Arc<ModelStore>) -> Self {
        Self { models }
    }
}

pub static MODEL_CENTROIDS_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        MODEL_SECTION,
        "Table function: a k-means model's clusters with columns `cluster_id, size, centroid`; \
         `size` is the number of training vectors assigned to the cluster at the end.",
        "SELECT * FROM model_centroids(model)",
    )
    .with_argument("model", "Name of a kmeans model, as a string literal.")
    .with_sql_example(
        "```sql\n\
         > SELECT cluster_id, size FROM model_centroids('title_clusters') ORDER BY cluster_id;\n\
         +------------+------+\n\
         | cluster_id | size |\n\
         +------------+------+\n\
         | 0          | 2    |\n\
         | 1          | 2    |\n\
         +------------+------+\n\
         ```",
    )
    .with_related_udf("cluster_assign")
    .build()
});

impl TableFunctionImpl for ModelCentroids {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        const F: &str = "model_centroids";
        if args.exprs().len() != 1 {
            return plan_err!(
                "{F}: expected 1 argument (model), got {}",
                args.exprs().len()
            );
        }
        let name = literal_model_name(F, args.exprs().first())?;
        let manifest = resolve(&self.models, F, &name, "kmeans")?;
        let model = load_pinned::<KMeans>(&self.models, F, &name, manifest.version)?;
        let batch = model.to_batch()?;
        let schema = batch.schema();
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}
