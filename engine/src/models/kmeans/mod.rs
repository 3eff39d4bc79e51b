//! k-means: options, training from a query's vectors, the model (centroids
//! and cluster sizes), and its Parquet payload `centroids.parquet` with
//! columns `cluster_id UInt32, size UInt64, centroid FixedSizeList<Float32, dim>`.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeListArray, Float32Array, RecordBatch, UInt32Array,
    UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Float32Type, Schema, UInt64Type};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool};
use futures::StreamExt;
use serde_json::{Value as Json, json};

use crate::models::options::OptionReader;
use crate::models::progress::{Progress, ProgressSink, Stage};
use crate::models::stop::Stop;
use crate::random::Rng;
use crate::store::{Manifest, ModelStore};
use crate::vectors::{VectorColumn, normalize};

pub mod kernel;
pub mod train;

pub use kernel::Centroids;
use train::{Init, KMeansParams};

mod create;
pub use create::KMeansType;

/// The file a k-means version keeps its centroids in.
pub const CENTROIDS_FILE: &str = "centroids.parquet";

/// The most input vectors held in memory when the input is larger: past
/// this, training uses a uniform sample of this many (and says so in the
/// manifest). `QUIVER_KMEANS_MEMORY` (bytes) overrides the default 4 GiB.
fn memory_budget() -> usize {
    std::env::var("QUIVER_KMEANS_MEMORY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4 << 30)
}

/// Checked k-means options. `k` is required; defaults: `max_iter` 20, `tol`
/// 1e-4 (relative change of inertia), `init` 'kmeans++', `distance`
/// 'euclidean', `seed` 1, no `sample`, `threads` all cores.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansOptions {
    pub params: KMeansParams,
    pub sample: Option<usize>,
}

impl KMeansOptions {
    pub fn from_options(options: &[(String, Json)]) -> Result<Self> {
        let mut r = OptionReader::new("kmeans", options);
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1) as i64;
        let k = match r.int("k", None, 0, 1_000_000)? {
            Some(0) => {
                return Err(DataFusionError::Plan(
                    "kmeans option 'k': k = 0 makes no clusters; use k >= 1".into(),
                ));
            }
            Some(k) => k as usize,
            None => {
                return Err(DataFusionError::Plan(
                    "kmeans: option 'k' (the number of clusters) is required".into(),
                ));
            }
        };
        let params = KMeansParams {
            k,
            max_iter: r.int("max_iter", Some(20), 1, 100_000)?.unwrap_or(20) as usize,
            tol: r.float("tol", 1e-4, 0.0, 1.0)?,
            init: match r
                .choice("init", "kmeans++", &["kmeans++", "random", "kmeans||"])?
                .as_str()
            {
                "random" => Init::Random,
                "kmeans||" => Init::KMeansParallel,
                _ => Init::KMeansPlusPlus,
            },
            cosine: r.choice("distance", "euclidean", &["euclidean", "cosine"])? == "cosine",
            seed: r.int("seed", Some(1), 0, i64::MAX)?.unwrap_or(1) as u64,
            threads: r.int("threads", Some(cores), 1, 1024)?.unwrap_or(cores) as usize,
        };
        let sample = r.int("sample", None, 1, i64::MAX)?.map(|s| s as usize);
        r.finish()?;
        Ok(Self { params, sample })
    }

    pub fn to_manifest(&self, dim: usize) -> BTreeMap<String, Json> {
        let p = &self.params;
        let mut m = BTreeMap::new();
        m.insert("k".into(), json!(p.k));
        m.insert("dim".into(), json!(dim));
        m.insert("max_iter".into(), json!(p.max_iter));
        m.insert("tol".into(), json!(p.tol));
        m.insert(
            "init".into(),
            json!(match p.init {
                Init::KMeansPlusPlus => "kmeans++",
                Init::Random => "random",
                Init::KMeansParallel => "kmeans||",
            }),
        );
        m.insert(
            "distance".into(),
            json!(if p.cosine { "cosine" } else { "euclidean" }),
        );
        m.insert("seed".into(), json!(p.seed));
        m.insert("threads".into(), json!(p.threads));
        if let Some(s) = self.sample {
            m.insert("sample".into(), json!(s));
        }
        m
    }
}

/// A k-means model.
#[derive(Debug, Clone)]
pub struct KMeans {
    pub centroids: Centroids,
    pub sizes: Vec<u64>,
}

impl KMeans {
    pub fn dim(&self) -> usize {
        self.centroids.dim
    }

    pub fn centroid_array(&self) -> Result<FixedSizeListArray> {
        Ok(FixedSizeListArray::try_new(
            Arc::new(Field::new("item", DataType::Float32, true)),
            self.dim() as i32,
            Arc::new(Float32Array::from(self.centroids.values.clone())),
            None,
        )?)
    }

    pub fn to_parquet(&self) -> Result<Vec<u8>> {
        crate::store::objects::parquet_bytes(&self.to_batch()?)
    }

    /// `cluster_id, size, centroid`: the payload, and `model_centroids`.
    pub fn to_batch(&self) -> Result<RecordBatch> {
        let centroids = self.centroid_array()?;
        let schema = Arc::new(Schema::new(vec![
            Field::new("cluster_id", DataType::UInt32, false),
            Field::new("size", DataType::UInt64, false),
            Field::new("centroid", Array::data_type(&centroids).clone(), false),
        ]));
        Ok(RecordBatch::try_new(
            schema,
            vec![
                Arc::new(UInt32Array::from_iter_values(0..self.centroids.k as u32)) as ArrayRef,
                Arc::new(UInt64Array::from(self.sizes.clone())),
                Arc::new(centroids),
            ],
        )?)
    }

    pub fn from_parquet(bytes: bytes::Bytes, cosine: bool, file: &str) -> Result<Self> {
        let bad =
            |why: String| DataFusionError::Execution(format!("kmeans model file {file}: {why}"));
        let batches =
            crate::store::objects::parquet_batches(bytes).map_err(|e| bad(e.to_string()))?;
        let (mut values, mut sizes, mut dim) = (Vec::new(), Vec::new(), 0usize);
        for batch in batches {
            let (Some(size), Some(centroid)) = (
                batch.column_by_name("size"),
                batch.column_by_name("centroid"),
            ) else {
                return Err(bad("expected columns cluster_id, size, centroid".into()));
            };
            let (Some(size), Some(centroid)) = (
                size.as_primitive_opt::<UInt64Type>(),
                centroid.as_fixed_size_list_opt(),
            ) else {
                return Err(bad("columns size, centroid have the wrong types".into()));
            };
            dim = centroid.value_length() as usize;
            let v = centroid
                .values()
                .as_primitive_opt::<Float32Type>()
                .ok_or_else(|| bad("centroids are not Float32".into()))?;
            let start = centroid.value_offset(0).max(0) as usize;
            values.extend_from_slice(&v.values()[start..start + centroid.len() * dim]);
            sizes.extend(size.values().iter().copied());
        }
        if dim == 0 || sizes.is_empty() {
            return Err(bad("no centroids".into()));
        }
        Ok(Self {
            centroids: Centroids::new(values, dim, cosine),
            sizes,
        })
    }

    pub async fn load(models: &ModelStore, manifest: &Manifest) -> Result<Arc<Self>> {
        let cosine = manifest.options.get("distance").and_then(|d| d.as_str()) == Some("cosine");
        let path = models.file_path(manifest, CENTROIDS_FILE);
        let store = Arc::clone(models.object_store());
        models
            .load(manifest, || async move {
                let bytes = crate::store::objects::get_bytes(store.as_ref(), &path).await?;
                Self::from_parquet(bytes, cosine, path.as_ref())
            })
            .await
    }
}

/// Bytes per chunk while collecting vectors: 65,536 rows at dimension 100,
/// and whole rows of any dimension (at least one).
const CHUNK_BYTES: usize = 65_536 * 100 * 4;

/// Floats in a chunk of rows of `dim` floats.
fn chunk_floats(dim: usize) -> usize {
    (CHUNK_BYTES / (4 * dim.max(1))).max(1) * dim
}

/// Vectors as they stream in: chunks of exact size, then one flat buffer
/// copied chunk by chunk, each chunk unmapped once copied. A growing `Vec`
/// would hold the vectors twice while it reallocates, and so would chunks
/// from the allocator: mimalloc keeps freed memory resident for a second
/// before returning it, longer than the copy takes (k-means over the
/// 824,511 PyPI title vectors peaked at 852 MiB with such chunks, 469 MiB
/// with the allocator told to return memory at once). Chunks mapped from
/// the operating system go back to it when dropped, so this holds the
/// vectors once plus one chunk (the flat buffer's pages become resident
/// only as they are written).
#[derive(Default)]
struct Collected {
    chunks: Vec<Chunk>,
    current: Option<Chunk>,
    flat: Option<Vec<f32>>,
}

impl Collected {
    fn push(&mut self, row: &[f32]) -> Result<()> {
        if let Some(flat) = &mut self.flat {
            flat.extend_from_slice(row);
            return Ok(());
        }
        let current = match &mut self.current {
            Some(current) => current,
            None => self.current.insert(Chunk::new(chunk_floats(row.len()))?),
        };
        current.push(row);
        if current.is_full()
            && let Some(full) = self.current.take()
        {
            self.chunks.push(full);
        }
        Ok(())
    }

    /// The vectors as one buffer, flattening them on first use.
    fn flat(&mut self) -> &mut Vec<f32> {
        if self.flat.is_none() {
            let total = self
                .chunks
                .iter()
                .chain(&self.current)
                .map(|c| c.filled().len())
                .sum::<usize>();
            let mut flat = Vec::with_capacity(total);
            for chunk in self.chunks.drain(..).chain(self.current.take()) {
                flat.extend_from_slice(chunk.filled());
            }
            self.flat = Some(flat);
        }
        self.flat.get_or_insert_with(Vec::new)
    }
}

/// Floats in memory mapped from the operating system, returned to it when
/// dropped.
struct Chunk {
    map: memmap2::MmapMut,
    /// Floats written so far.
    len: usize,
    /// Floats the mapping holds.
    capacity: usize,
}

impl Chunk {
    fn new(capacity: usize) -> Result<Self> {
        let map =
            memmap2::MmapMut::map_anon(capacity * std::mem::size_of::<f32>()).map_err(|e| {
                DataFusionError::ResourcesExhausted(format!(
                    "kmeans: cannot allocate {} MB for the input vectors: {e}",
                    capacity * std::mem::size_of::<f32>() / 1_000_000
                ))
            })?;
        Ok(Self {
            map,
            len: 0,
            capacity,
        })
    }

    fn is_full(&self) -> bool {
        self.len >= self.capacity
    }

    /// Appends `row`, which must fit (chunks hold whole rows).
    fn push(&mut self, row: &[f32]) {
        let (start, end) = (self.len, self.len + row.len());
        self.floats_mut()[start..end].copy_from_slice(row);
        self.len = end;
    }

    fn filled(&self) -> &[f32] {
        &self.floats()[..self.len]
    }

    #[allow(unsafe_code)]
    fn floats(&self) -> &[f32] {
        // SAFETY: the mapping is page-aligned, `capacity` floats long, and
        // every bit pattern is a valid f32; the borrow of `self` keeps it
        // mapped and unchanged.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().cast::<f32>(), self.capacity) }
    }

    #[allow(unsafe_code)]
    fn floats_mut(&mut self) -> &mut [f32] {
        // SAFETY: as in `floats`, with the mutable borrow of `self` making
        // this the only view of the mapping.
        unsafe {
            std::slice::from_raw_parts_mut(self.map.as_mut_ptr().cast::<f32>(), self.capacity)
        }
    }
}

/// Trains from the first column of `input` (any vector expression).
/// `progress` hears of the rows read, and when training starts.
pub async fn train_from_stream(
    mut input: SendableRecordBatchStream,
    options: &KMeansOptions,
    progress: Progress,
    sink: Arc<dyn ProgressSink>,
    stop: Stop,
    memory: &Arc<dyn MemoryPool>,
) -> Result<(KMeans, BTreeMap<String, Json>)> {
    let reservation =
        MemoryConsumer::new(format!("kmeans training of '{}'", progress.model)).register(memory);
    if input.schema().fields().len() != 1 {
        return Err(DataFusionError::Plan(format!(
            "kmeans: the AS query must return one column of vectors, got {} columns",
            input.schema().fields().len()
        )));
    }
    let started = std::time::Instant::now();
    let cosine = options.params.cosine;
    let mut dim = 0usize;
    let mut collected = Collected::default();
    let (mut rows, mut nulls, mut nonfinite, mut seen) = (0u64, 0u64, 0u64, 0u64);
    let mut rng = Rng::new(options.params.seed ^ 0x5eed);
    let mut capacity = options.sample.unwrap_or(usize::MAX);
    let mut row = Vec::new();
    let mut reading = progress;
    while let Some(batch) = input.next().await {
        stop.check("kmeans")?;
        let batch = batch?;
        reading.rows += batch.num_rows() as u64;
        reading.elapsed = started.elapsed().as_secs_f64();
        sink.report(&reading);
        // The vectors held so far (a reservoir stops growing at its size).
        reservation.try_resize((seen as usize).min(capacity) * dim * 4)?;
        let column = VectorColumn::try_new(batch.column(0), "kmeans")?;
        let column = column.rows("kmeans")?;
        for i in 0..column.len() {
            rows += 1;
            let Some(d) = column.dim_of(i) else {
                nulls += 1;
                continue;
            };
            if d == 0 {
                // An empty vector is no point in any space.
                nonfinite += 1;
                continue;
            }
            if dim == 0 {
                dim = d;
                row = vec![0.0f32; d];
                capacity = capacity.min((memory_budget() / (4 * d)).max(1));
            }
            if d != dim {
                return Err(DataFusionError::Plan(format!(
                    "kmeans: input vectors have different dimensions: {dim} and {d}"
                )));
            }
            if !column.read_finite(i, &mut row, "kmeans")? || (cosine && !normalize(&mut row)) {
                nonfinite += 1;
                continue;
            }
            // Reservoir sampling (Algorithm R) once past the capacity.
            seen += 1;
            if (seen as usize) <= capacity {
                collected.push(&row)?;
            } else {
                let j = rng.below(seen) as usize;
                if j < capacity {
                    collected.flat()[j * dim..(j + 1) * dim].copy_from_slice(&row);
                }
            }
        }
    }
    reservation.try_resize((seen as usize).min(capacity) * dim * 4)?;
    let points = std::mem::take(collected.flat());
    if dim == 0 || points.is_empty() {
        return Err(DataFusionError::Plan(format!(
            "kmeans: no usable input vectors ({rows} rows: {nulls} NULL, {nonfinite} empty or with NaN, infinite or NULL components{})",
            if cosine { " or of length zero" } else { "" }
        )));
    }
    let read_seconds = started.elapsed().as_secs_f64();
    let params = options.params.clone();
    reading.stage = Stage::Training;
    reading.elapsed = read_seconds;
    sink.report(&reading);
    let n = points.len() / dim;
    let trained = tokio::task::spawn_blocking(move || train::train(&points, dim, &params, &stop))
        .await
        .map_err(|e| DataFusionError::Execution(format!("kmeans training failed: {e}")))??;
    let mut metrics = BTreeMap::new();
    metrics.insert("inertia".into(), json!(trained.inertia));
    metrics.insert("final_inertia".into(), json!(trained.final_inertia));
    metrics.insert("iterations".into(), json!(trained.iterations));
    metrics.insert("davies_bouldin".into(), json!(trained.davies_bouldin));
    metrics.insert("input_rows".into(), json!(rows));
    metrics.insert("trained_rows".into(), json!(n));
    metrics.insert("skipped_null".into(), json!(nulls));
    metrics.insert("skipped_invalid".into(), json!(nonfinite));
    metrics.insert("sampled".into(), json!((seen as usize) > n));
    metrics.insert("reseeded_clusters".into(), json!(trained.reseeded));
    metrics.insert(
        "init_seconds".into(),
        json!((trained.init_seconds * 1000.0).round() / 1000.0),
    );
    metrics.insert(
        "read_seconds".into(),
        json!((read_seconds * 1000.0).round() / 1000.0),
    );
    metrics.insert(
        "train_seconds".into(),
        json!(((started.elapsed().as_secs_f64() - read_seconds) * 1000.0).round() / 1000.0),
    );
    Ok((
        KMeans {
            centroids: trained.centroids,
            sizes: trained.sizes,
        },
        metrics,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows across several mapped chunks come back flat and in order, and
    /// rows pushed after flattening are appended to the flat buffer.
    #[test]
    fn collected_rows_flatten_in_order_across_chunks() {
        let dim = 3;
        let rows = chunk_floats(dim) / dim * 2 + 5;
        let mut collected = Collected::default();
        for i in 0..rows {
            let v = i as f32;
            collected.push(&[v, -v, 0.5]).expect("push");
        }
        assert_eq!(
            collected.chunks.len(),
            2,
            "two full chunks and a partial one"
        );
        let flat = collected.flat();
        assert_eq!(flat.len(), rows * dim);
        for (i, row) in flat.chunks(dim).enumerate() {
            assert_eq!(row, [i as f32, -(i as f32), 0.5], "row {i}");
        }
        flat[0] = 7.0;
        collected
            .push(&[1.0, 2.0, 3.0])
            .expect("push after flattening");
        let flat = collected.flat();
        assert_eq!(flat.len(), (rows + 1) * dim);
        assert_eq!(flat[0], 7.0);
        assert_eq!(&flat[rows * dim..], [1.0, 2.0, 3.0]);
    }

    /// Chunks hold whole rows, about 26 MB of them, and at least one row
    /// of any dimension (65,536 rows of 4,096 floats would map 1 GB).
    #[test]
    fn chunks_hold_whole_rows_of_bounded_size() {
        assert_eq!(chunk_floats(100), 65_536 * 100);
        assert_eq!(chunk_floats(4096), 1_600 * 4096);
        assert_eq!(chunk_floats(10_000_000), 10_000_000);
        assert_eq!(chunk_floats(3) % 3, 0);
    }
}
