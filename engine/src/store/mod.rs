//! The model store: versioned models under `<warehouse>/models/<name>/`.
//!
//! ```text
//! models/<name>/CURRENT                 {"version": 3, "dir": "v3-<unique>"}
//! models/<name>/versions/3              {"version": 3, "dir": "v3-<unique>"}
//! models/<name>/v3-<unique>/manifest.json
//! models/<name>/v3-<unique>/<payload>.parquet
//! ```
//!
//! A new version is written into a folder of its own and published by one
//! atomic step, the `put` of `CURRENT`; a training that fails or is killed
//! before that leaves the previous version current and readable. Its
//! number is claimed first by creating `versions/<n>` with a conditional
//! put that fails if it exists (`PutMode::Create`: no-clobber on a local
//! disk, `If-None-Match` on S3): two processes replacing one model at once
//! get two numbers, the second publisher taking the next free one, and
//! `CURRENT` never moves back to a lower number. Older
//! versions stay (a tagger may pin one) until the model is dropped. Loaded
//! models are cached in the process by name and version, so a scalar function
//! evaluated over a million batches reads its model once.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use datafusion::common::{DataFusionError, Result};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutPayload};
use serde::{Deserialize, Serialize};

/// Version numbers a publisher tries before it gives up.
const MAX_CLAIMS: usize = 64;

pub mod durable;
pub mod objects;
mod vacuum;

use objects::{
    RemoveOnDrop, check_name, child_folders, delete_prefix, get_json, put_json, store_error,
    unique_name,
};

/// The manifest format this build writes; it reads this one and older ones.
pub const FORMAT_VERSION: u32 = 1;

/// What describes one version of a model: `manifest.json` in its folder.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format_version: u32,
    pub name: String,
    /// The model type: `word2vec`, `kmeans`, `tagger`.
    #[serde(rename = "type")]
    pub model_type: String,
    /// 1 for the first version, one more for each replacement.
    pub version: u64,
    /// When the version was published (RFC 3339, UTC).
    pub created: String,
    /// The options it was created with, after defaults were applied.
    #[serde(default)]
    pub options: BTreeMap<String, serde_json::Value>,
    /// Training metrics (loss per epoch, inertia, ...), type-specific.
    #[serde(default)]
    pub metrics: BTreeMap<String, serde_json::Value>,
    /// Payload files, relative to the version folder.
    #[serde(default)]
    pub files: Vec<String>,
    /// The `AS` query or `FROM` location it was built from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Other models this one was built from, with the versions used.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, u64>,
    /// The version folder, relative to the model folder (set when read).
    #[serde(default)]
    pub dir: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Pointer {
    version: u64,
    dir: String,
}

/// Versioned models under one prefix of an object store, with a cache of
/// loaded models.
#[derive(Debug)]
pub struct ModelStore {
    store: Arc<dyn ObjectStore>,
    root: Path,
    cache: Mutex<HashMap<(String, u64), Cached>>,
    /// Current manifests as recently read, for planning: a statement asks
    /// for a model's type and dimension several times while it is planned.
    recent: Mutex<HashMap<String, (Instant, Manifest)>>,
}

/// A loaded model version and the versions of other models it pins (a
/// tagger's embedding and clusters).
struct Cached {
    model: Arc<dyn Any + Send + Sync>,
    pins: BTreeMap<String, u64>,
}

impl std::fmt::Debug for Cached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached").field("pins", &self.pins).finish()
    }
}

/// Drops from `cache` every version that was replaced: it keeps, for each
/// model, the newest version cached (or `newest`, a version just
/// published), and the versions the kept ones pin. A query that holds a
/// dropped model keeps it until it ends; a later one loads it again.
fn evict_replaced(cache: &mut HashMap<(String, u64), Cached>, newest: Option<(&str, u64)>) {
    let mut top: HashMap<String, u64> = HashMap::new();
    for (name, version) in cache.keys() {
        let v = top.entry(name.clone()).or_insert(*version);
        *v = (*v).max(*version);
    }
    if let Some((name, version)) = newest {
        let v = top.entry(name.to_string()).or_insert(version);
        *v = (*v).max(version);
    }
    let mut keep: std::collections::HashSet<(String, u64)> = top.into_iter().collect();
    loop {
        let pinned: Vec<(String, u64)> = keep
            .iter()
            .filter_map(|k| cache.get(k))
            .flat_map(|c| c.pins.iter().map(|(n, v)| (n.clone(), *v)))
            .filter(|k| !keep.contains(k))
            .collect();
        if pinned.is_empty() {
            break;
        }
        keep.extend(pinned);
    }
    cache.retain(|k, _| keep.contains(k));
}

/// How long a current manifest read for planning is reused. Replacements
/// made in this process are seen at once (they clear it); ones made by
/// another process after at most this long.
const RECENT: Duration = Duration::from_secs(1);

/// Runs `fut` to completion from synchronous code (a scalar function's
/// planning or evaluation), whether or not the caller is inside a Tokio
/// runtime: the future runs on a small runtime of its own while the caller
/// waits. Model reads are rare (once per model version per process), so the
/// wait is cheap; blocking the caller's runtime instead could deadlock it.
pub fn block_on<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> Result<T> {
    static LOADER: LazyLock<std::io::Result<tokio::runtime::Runtime>> = LazyLock::new(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("quiver-model-loader")
            .enable_all()
            .build()
    });
    let runtime = LOADER
        .as_ref()
        .map_err(|e| DataFusionError::Internal(format!("cannot start the model loader: {e}")))?;
    let (tx, rx) = std::sync::mpsc::channel();
    runtime.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv()
        .map_err(|_| DataFusionError::Internal("the model loader stopped".to_string()))
}

impl ModelStore {
    /// A store of models under `root` (normally `<warehouse>/models`).
    pub fn new(store: Arc<dyn ObjectStore>, root: Path) -> Self {
        Self {
            store,
            root,
            cache: Mutex::new(HashMap::new()),
            recent: Mutex::new(HashMap::new()),
        }
    }

    /// A store that lives in memory only: for tests and for hosts that do
    /// not persist models.
    pub fn in_memory() -> Arc<Self> {
        Arc::new(Self::new(Arc::new(InMemory::new()), Path::from("models")))
    }

    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    fn model_dir(&self, name: &str) -> Path {
        self.root.clone().join(name)
    }

    /// The path of `file` inside the folder of the version `manifest` describes.
    pub fn file_path(&self, manifest: &Manifest, file: &str) -> Path {
        self.model_dir(&manifest.name)
            .join(manifest.dir.as_str())
            .join(file)
    }

    /// The names of all models, sorted.
    pub async fn names(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for name in child_folders(self.store.as_ref(), &self.root).await? {
            // A folder without CURRENT is a model whose first training never
            // finished, or one being dropped: not a model.
            if self.current(&name).await?.is_some() {
                names.push(name);
            }
        }
        Ok(names)
    }

    /// The current version of `name`, if the model exists.
    pub async fn current(&self, name: &str) -> Result<Option<Manifest>> {
        let dir = self.model_dir(name);
        let Some(pointer) =
            get_json::<Pointer>(self.store.as_ref(), &dir.clone().join("CURRENT")).await?
        else {
            return Ok(None);
        };
        self.read_manifest(name, &pointer.dir).await
    }

    /// A given version of `name`, current or not.
    pub async fn version(&self, name: &str, version: u64) -> Result<Option<Manifest>> {
        let claim = self.claim_path(name, version);
        if let Some(pointer) = get_json::<Pointer>(self.store.as_ref(), &claim).await?
            && let Some(m) = self.read_manifest(name, &pointer.dir).await?
        {
            return Ok(Some(m));
        }
        // Versions published before numbers were claimed.
        let prefix = format!("v{version}-");
        for dir in child_folders(self.store.as_ref(), &self.model_dir(name)).await? {
            if dir.starts_with(&prefix)
                && let Some(m) = self.read_manifest(name, &dir).await?
                && m.version == version
            {
                return Ok(Some(m));
            }
        }
        Ok(None)
    }

    fn claim_path(&self, name: &str, version: u64) -> Path {
        self.model_dir(name)
            .join("versions")
            .join(version.to_string().as_str())
    }

    /// Claims the first free version number from `version` on for the
    /// folder `dir`: the number this process publishes as.
    async fn claim(&self, name: &str, mut version: u64, dir: &str) -> Result<u64> {
        for _ in 0..MAX_CLAIMS {
            let pointer = Pointer {
                version,
                dir: dir.to_string(),
            };
            let bytes = serde_json::to_vec(&pointer)
                .map_err(|e| DataFusionError::Internal(format!("claim: {e}")))?;
            let path = self.claim_path(name, version);
            match self
                .store
                .put_opts(&path, PutPayload::from(bytes), PutMode::Create.into())
                .await
            {
                Ok(_) => return Ok(version),
                Err(object_store::Error::AlreadyExists { .. }) => version += 1,
                // A store without conditional puts: the number is not
                // guarded, as before (the last publisher wins).
                Err(object_store::Error::NotImplemented { .. }) => return Ok(version),
                Err(e) => return Err(store_error(format!("claiming {path}"), e)),
            }
        }
        Err(DataFusionError::Execution(format!(
            "model '{name}': {MAX_CLAIMS} version numbers from {version} on were taken by \
             other writers while this one published; try again"
        )))
    }

    async fn read_manifest(&self, name: &str, dir: &str) -> Result<Option<Manifest>> {
        let path = self.model_dir(name).join(dir).join("manifest.json");
        let manifest: Option<Manifest> = get_json(self.store.as_ref(), &path).await?;
        Ok(manifest.map(|mut m| {
            m.dir = dir.to_string();
            m
        }))
    }

    /// The current version of every model.
    pub async fn list(&self) -> Result<Vec<Manifest>> {
        let mut out = Vec::new();
        for name in child_folders(self.store.as_ref(), &self.root).await? {
            if let Some(m) = self.current(&name).await? {
                out.push(m);
            }
        }
        Ok(out)
    }

    /// The current version of `name`, or an error that names what exists:
    /// `embed: model 'x' does not exist (models: a, b)`.
    pub async fn require(&self, who: &str, name: &str) -> Result<Manifest> {
        match self.current(name).await? {
            Some(m) => Ok(m),
            None => {
                let names = self.names().await?;
                let known = if names.is_empty() {
                    "there are no models yet".to_string()
                } else {
                    format!("models: {}", names.join(", "))
                };
                Err(crate::error::not_found(format!(
                    "{who}: model '{name}' does not exist ({known})"
                )))
            }
        }
    }

    /// Starts a new version of `name`: files are written into its own folder
    /// and nothing is visible until [`VersionWriter::publish`].
    pub async fn begin(&self, name: &str, model_type: &str) -> Result<VersionWriter<'_>> {
        check_name("model", name)?;
        let previous = self.current(name).await?.map(|m| m.version).unwrap_or(0);
        let version = previous + 1;
        let dir = format!("v{version}-{}", unique_name());
        let prefix = self.model_dir(name).join(dir.as_str());
        Ok(VersionWriter {
            models: self,
            name: name.to_string(),
            model_type: model_type.to_string(),
            version,
            dir,
            files: Vec::new(),
            unpublished: RemoveOnDrop::new(Arc::clone(&self.store), prefix),
        })
    }

    /// Drops `name`: first `CURRENT` (the model is gone at once), then its
    /// folder. Returns whether it existed.
    pub async fn drop_model(&self, name: &str) -> Result<bool> {
        let dir = self.model_dir(name);
        let existed = self.current(name).await?.is_some();
        match self.store.delete(&dir.clone().join("CURRENT")).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(store_error(format!("dropping model '{name}'"), e)),
        }
        delete_prefix(self.store.as_ref(), &dir).await?;
        self.forget(name);
        self.cache
            .lock()
            .map_err(|_| DataFusionError::Internal("model cache poisoned".into()))?
            .retain(|(n, _), _| n != name);
        Ok(existed)
    }

    /// The loaded model of `manifest`'s version, loading it with `load` the
    /// first time. Versions never change once published, so the cache never
    /// goes stale; a replaced model is a new key.
    pub async fn load<T, F, Fut>(&self, manifest: &Manifest, load: F) -> Result<Arc<T>>
    where
        T: Any + Send + Sync,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let key = (manifest.name.clone(), manifest.version);
        if let Some(hit) = self.cached(&key) {
            return hit.downcast::<T>().map_err(|_| {
                DataFusionError::Internal(format!(
                    "model '{}' is cached as another type",
                    manifest.name
                ))
            });
        }
        let loaded = Arc::new(load().await?);
        let mut cache = self
            .cache
            .lock()
            .map_err(|_| DataFusionError::Internal("model cache poisoned".into()))?;
        cache.insert(
            key,
            Cached {
                model: Arc::clone(&loaded) as Arc<dyn Any + Send + Sync>,
                pins: manifest.depends_on.clone(),
            },
        );
        evict_replaced(&mut cache, None);
        Ok(loaded)
    }

    fn cached(&self, key: &(String, u64)) -> Option<Arc<dyn Any + Send + Sync>> {
        self.cache
            .lock()
            .ok()?
            .get(key)
            .map(|c| Arc::clone(&c.model))
    }

    /// The loaded model of version `version` of `name`, if it is cached.
    pub fn cached_model<T: Any + Send + Sync>(&self, name: &str, version: u64) -> Option<Arc<T>> {
        self.cached(&(name.to_string(), version))?
            .downcast::<T>()
            .ok()
    }

    /// Forgets the recently read manifest of `name` (after it changed here).
    pub fn forget(&self, name: &str) {
        if let Ok(mut r) = self.recent.lock() {
            r.remove(name);
        }
    }

    /// The current manifest of `name` for synchronous callers (planning),
    /// or the error [`Self::require`] gives. Reused for a second.
    pub fn require_blocking(self: &Arc<Self>, who: &str, name: &str) -> Result<Manifest> {
        if let Some((at, m)) = self.recent.lock().ok().and_then(|r| r.get(name).cloned())
            && at.elapsed() < RECENT
        {
            return Ok(m);
        }
        let (me, who_owned, name_owned) = (Arc::clone(self), who.to_string(), name.to_string());
        let m = block_on(async move { me.require(&who_owned, &name_owned).await })??;
        if let Ok(mut r) = self.recent.lock() {
            r.insert(name.to_string(), (Instant::now(), m.clone()));
        }
        Ok(m)
    }

    /// A given version of `name` for synchronous callers.
    pub fn version_blocking(
        self: &Arc<Self>,
        who: &str,
        name: &str,
        version: u64,
    ) -> Result<Manifest> {
        if let Some((_, m)) = self.recent.lock().ok().and_then(|r| r.get(name).cloned())
            && m.version == version
        {
            return Ok(m);
        }
        let (me, name_owned) = (Arc::clone(self), name.to_string());
        block_on(async move { me.version(&name_owned, version).await })??.ok_or_else(|| {
            DataFusionError::Execution(format!(
                "{who}: version {version} of model '{name}' no longer exists (it was dropped)"
            ))
        })
    }
}

/// A model version being written. Dropping it without publishing (a
/// training that failed or whose statement was dropped) removes what it
/// wrote and leaves the previous version current.
pub struct VersionWriter<'a> {
    models: &'a ModelStore,
    name: String,
    model_type: String,
    version: u64,
    dir: String,
    files: Vec<String>,
    /// Removes the version's folder unless it is published.
    unpublished: RemoveOnDrop,
}

impl VersionWriter<'_> {
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Where `file` goes in this version's folder (for streaming writers).
    pub fn path(&self, file: &str) -> Path {
        self.models
            .model_dir(&self.name)
            .join(self.dir.as_str())
            .join(file)
    }

    /// Writes a whole payload file.
    pub async fn put(&mut self, file: &str, bytes: Vec<u8>) -> Result<()> {
        let path = self.path(file);
        self.models
            .store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(|e| store_error(format!("writing {path}"), e))?;
        self.record(file);
        Ok(())
    }

    /// Records a file written through [`Self::path`] as part of the payload.
    pub fn record(&mut self, file: &str) {
        if !self.files.iter().any(|f| f == file) {
            self.files.push(file.to_string());
        }
    }

    /// Writes the manifest and makes this version current, atomically.
    pub async fn publish(
        self,
        options: BTreeMap<String, serde_json::Value>,
        metrics: BTreeMap<String, serde_json::Value>,
        source: Option<String>,
        depends_on: BTreeMap<String, u64>,
    ) -> Result<Manifest> {
        // From here on the folder may become current: a publish that fails
        // half-way leaves it for VACUUM, never removes it under a reader.
        self.unpublished.disarm();
        let version = self
            .models
            .claim(&self.name, self.version, &self.dir)
            .await?;
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            name: self.name.clone(),
            model_type: self.model_type.clone(),
            version,
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            options,
            metrics,
            files: self.files.clone(),
            source,
            depends_on,
            dir: self.dir.clone(),
        };
        let store = self.models.store.as_ref();
        let dir = self.models.model_dir(&self.name);
        put_json(
            store,
            &dir.clone().join(self.dir.as_str()).join("manifest.json"),
            &manifest,
        )
        .await?;
        let pointer = Pointer {
            version,
            dir: self.dir.clone(),
        };
        // A writer that claimed a higher number and published first keeps
        // `CURRENT`.
        let current = self.models.current(&self.name).await?;
        if current.is_none_or(|c| c.version < version) {
            put_json(store, &dir.clone().join("CURRENT"), &pointer).await?;
        }
        self.models.forget(&self.name);
        if let Ok(mut cache) = self.models.cache.lock() {
            evict_replaced(&mut cache, Some((&self.name, version)));
        }
        Ok(manifest)
    }

    /// Removes what this version wrote: for a training that failed.
    pub async fn abort(self) -> Result<()> {
        self.unpublished.remove().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn publish(models: &ModelStore, name: &str, payload: &[u8]) -> Manifest {
        let mut w = models.begin(name, "test").await.expect("begin");
        w.put("payload.bin", payload.to_vec()).await.expect("put");
        w.publish(BTreeMap::new(), BTreeMap::new(), None, BTreeMap::new())
            .await
            .expect("publish")
    }

    #[tokio::test]
    async fn versions_replace_and_stay_readable() {
        let models = ModelStore::in_memory();
        let v1 = publish(&models, "m", b"one").await;
        let v2 = publish(&models, "m", b"two").await;
        assert_eq!((v1.version, v2.version), (1, 2));
        let current = models.current("m").await.expect("read").expect("exists");
        assert_eq!(current.version, 2);
        let old = models.version("m", 1).await.expect("read").expect("kept");
        assert_eq!(old.dir, v1.dir);
        assert_eq!(models.names().await.expect("names"), vec!["m".to_string()]);
    }

    /// Issue 23: two writers that began from the same version (two
    /// processes running CREATE OR REPLACE MODEL at once) publish two
    /// numbers, and CURRENT ends at the higher, on a local disk as in memory.
    #[tokio::test]
    async fn two_writers_never_publish_one_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        let local =
            object_store::local::LocalFileSystem::new_with_prefix(dir.path()).expect("local store");
        for models in [
            ModelStore::in_memory(),
            Arc::new(ModelStore::new(Arc::new(local), Path::from("models"))),
        ] {
            publish(&models, "m", b"one").await;
            let mut a = models.begin("m", "test").await.expect("begin");
            let mut b = models.begin("m", "test").await.expect("begin");
            assert_eq!((a.version(), b.version()), (2, 2));
            a.put("payload.bin", b"a".to_vec()).await.expect("put");
            b.put("payload.bin", b"b".to_vec()).await.expect("put");
            let b = b.publish(BTreeMap::new(), BTreeMap::new(), None, BTreeMap::new());
            let b = b.await.expect("b");
            let a = a.publish(BTreeMap::new(), BTreeMap::new(), None, BTreeMap::new());
            let a = a.await.expect("a");
            assert_eq!((b.version, a.version), (2, 3));
            let current = models.current("m").await.expect("read").expect("exists");
            assert_eq!((current.version, &current.dir), (3, &a.dir));
            let two = models.version("m", 2).await.expect("read").expect("kept");
            assert_eq!(two.dir, b.dir);
        }
    }

    #[tokio::test]
    async fn unpublished_version_is_invisible() {
        let models = ModelStore::in_memory();
        publish(&models, "m", b"one").await;
        let mut w = models.begin("m", "test").await.expect("begin");
        w.put("payload.bin", b"half".to_vec()).await.expect("put");
        drop(w);
        assert_eq!(
            models.current("m").await.expect("read").map(|m| m.version),
            Some(1)
        );
        let mut w = models.begin("fresh", "test").await.expect("begin");
        w.put("payload.bin", b"x".to_vec()).await.expect("put");
        w.abort().await.expect("abort");
        assert_eq!(models.names().await.expect("names"), vec!["m".to_string()]);
    }

    #[tokio::test]
    async fn unknown_model_error_lists_models() {
        let models = ModelStore::in_memory();
        publish(&models, "title_vectors", b"x").await;
        let err = models
            .require("embed", "title_vec")
            .await
            .expect_err("missing");
        assert!(
            err.to_string()
                .contains("embed: model 'title_vec' does not exist (models: title_vectors)"),
            "{err}"
        );
        assert!(models.drop_model("title_vectors").await.expect("drop"));
        assert!(!models.drop_model("title_vectors").await.expect("drop"));
        let err = models.require("embed", "x").await.expect_err("missing");
        assert!(err.to_string().contains("there are no models yet"), "{err}");
    }

    #[tokio::test]
    async fn cache_loads_once_per_version() {
        let models = ModelStore::in_memory();
        let m = publish(&models, "m", b"x").await;
        let mut loads = 0;
        for _ in 0..3 {
            let v = models
                .load(&m, || {
                    loads += 1;
                    async { Ok(42u32) }
                })
                .await
                .expect("load");
            assert_eq!(*v, 42);
        }
        assert_eq!(loads, 1);
    }

    /// Issue 23: the cache keeps a model's newest version and what cached
    /// versions pin, and lets replaced versions go.
    #[tokio::test]
    async fn replaced_versions_leave_the_cache() {
        let models = ModelStore::in_memory();
        let v1 = publish(&models, "m", b"1").await;
        models.load(&v1, || async { Ok(1u32) }).await.expect("load");
        let mut tagger = publish(&models, "t", b"t").await;
        tagger.depends_on = BTreeMap::from([("m".to_string(), 1)]);
        models
            .load(&tagger, || async { Ok(9u32) })
            .await
            .expect("load");
        let v2 = publish(&models, "m", b"2").await;
        models.load(&v2, || async { Ok(2u32) }).await.expect("load");
        assert!(models.cached_model::<u32>("m", 1).is_some(), "pinned by t");
        publish(&models, "t", b"t2").await;
        assert!(
            models.cached_model::<u32>("t", 1).is_none(),
            "t was replaced"
        );
        assert!(
            models.cached_model::<u32>("m", 1).is_none(),
            "nothing pins m 1"
        );
        assert_eq!(models.cached_model::<u32>("m", 2).as_deref(), Some(&2));
    }

    #[test]
    fn names_must_be_path_safe() {
        assert!(check_name("model", "title_vectors2").is_ok());
        for bad in ["", "a/b", "../x", "9lives", "a b"] {
            assert!(check_name("model", bad).is_err(), "{bad}");
        }
    }
}
