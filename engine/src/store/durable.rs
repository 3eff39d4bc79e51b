//! The object store quiver writes through. It passes everything to the
//! store underneath and adds two promises:
//!
//! - **On a local disk a write is durable before it is published.** A
//!   `put` writes a staging file, syncs it, renames (or, for
//!   `PutMode::Create`, hard-links) it into place and syncs the folder; a
//!   multipart upload syncs its file and folder when it completes; folders
//!   it creates are synced into their parents. quiver publishes by putting
//!   a small document after the data it points at (a catalog entry, a
//!   model's `CURRENT`), so after a power cut a published document never
//!   points at data the disk lost. `LocalFileSystem` alone renames without
//!   a sync, which the page cache may write back in either order.
//! - **An upload dropped unfinished is aborted.** A statement cancelled,
//!   timed out or disconnected mid-write drops its writer; the upload's
//!   abort then runs on the Tokio runtime, so S3 holds no open multipart
//!   upload (with its parts billed) and a local disk no staging file.
//!
//! A process killed mid-write still leaves staging files (`<name>#<digits>`,
//! which listings skip) on a local disk and open uploads on S3: `VACUUM`
//! removes the first ([`DurableStore::staging_files`]); an S3 bucket
//! needs a lifecycle rule that aborts incomplete multipart uploads (the
//! S3 API lists them, object_store does not).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
    Result as StoreResult, UploadPart,
};

/// Syncs made so far by every [`DurableStore`] in the process: what a test
/// counts to see that a write reached the disk before it was published.
static SYNCS: AtomicU64 = AtomicU64::new(0);

/// The number of file and folder syncs made so far in this process.
pub fn syncs() -> u64 {
    SYNCS.load(Ordering::Relaxed)
}

/// See the module doc.
#[derive(Debug)]
pub struct DurableStore {
    inner: Arc<dyn ObjectStore>,
    /// Set when `inner` is the local file system (then the same object).
    local: Option<Arc<LocalFileSystem>>,
}

impl DurableStore {
    /// Over the local file system, with paths from the file system's root.
    pub fn local() -> Self {
        let fs = Arc::new(LocalFileSystem::new());
        Self {
            inner: Arc::clone(&fs) as Arc<dyn ObjectStore>,
            local: Some(fs),
        }
    }

    /// Over a remote store (S3, GCS, Azure) or one in memory.
    pub fn remote(inner: Arc<dyn ObjectStore>) -> Self {
        Self { inner, local: None }
    }

    /// The staging files under `prefix` that writes left behind: on a local
    /// disk, files named `<name>#<digits>` (listings skip them); elsewhere
    /// none.
    pub fn staging_files(&self, prefix: &Path) -> StoreResult<Vec<Staged>> {
        let Some(fs) = &self.local else {
            return Ok(Vec::new());
        };
        let root = fs.path_to_filesystem(prefix)?;
        let mut out = Vec::new();
        let mut folders = vec![root.clone()];
        while let Some(folder) = folders.pop() {
            let Ok(entries) = std::fs::read_dir(&folder) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(meta) = entry.metadata() else {
                    continue;
                };
                let path = entry.path();
                if meta.is_dir() {
                    folders.push(path);
                } else if is_staging_name(&entry.file_name().to_string_lossy()) {
                    out.push(Staged {
                        relative: path
                            .strip_prefix(&root)
                            .unwrap_or(&path)
                            .to_string_lossy()
                            .into_owned(),
                        path,
                        size: meta.len(),
                        modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    });
                }
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Removes the empty folders under `prefix` (not `prefix` itself), on a
    /// local disk; elsewhere folders do not exist. Returns how many.
    pub fn remove_empty_folders(&self, prefix: &Path) -> StoreResult<usize> {
        let Some(fs) = &self.local else {
            return Ok(0);
        };
        fn sweep(folder: &FsPath, removed: &mut usize) -> bool {
            let Ok(entries) = std::fs::read_dir(folder) else {
                return false;
            };
            let mut empty = true;
            for entry in entries.flatten() {
                let path = entry.path();
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                if !(is_dir && sweep(&path, removed) && std::fs::remove_dir(&path).is_ok()) {
                    empty = false;
                } else {
                    *removed += 1;
                }
            }
            empty
        }
        let mut removed = 0;
        sweep(&fs.path_to_filesystem(prefix)?, &mut removed);
        Ok(removed)
    }
}

/// A staging file a write left behind on a local disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Staged {
    pub path: PathBuf,
    /// The path below the prefix it was found under.
    pub relative: String,
    pub size: u64,
    pub modified: SystemTime,
}

/// Whether `name` is a staging file's: `<name>#<digits>`, as both
/// `LocalFileSystem` and this store name them.
pub fn is_staging_name(name: &str) -> bool {
    name.rsplit_once('#')
        .is_some_and(|(_, s)| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
}

impl fmt::Display for DurableStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Durable({})", self.inner)
    }
}

fn io_error(source: std::io::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: "LocalFileSystem",
        source: Box::new(source),
    }
}

fn sync_file(file: &File) -> std::io::Result<()> {
    file.sync_all()?;
    SYNCS.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

fn sync_folder(folder: &FsPath) -> std::io::Result<()> {
    File::open(folder)?.sync_all()?;
    SYNCS.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Creates `folder` and any missing parents, syncing each new folder's
/// parent so that the new entry survives a power cut.
fn create_folders(folder: &FsPath) -> std::io::Result<()> {
    if folder.is_dir() {
        return Ok(());
    }
    if let Some(parent) = folder.parent() {
        create_folders(parent)?;
    }
    match std::fs::create_dir(folder) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e),
    }
    match folder.parent() {
        Some(parent) => sync_folder(parent),
        None => Ok(()),
    }
}

/// A staging name no other writer picks: `<path>#<digits>`.
fn staging_path(path: &FsPath) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = path.as_os_str().to_owned();
    name.push(format!("#{}{:06}", std::process::id(), n % 1_000_000));
    name.into()
}

/// A new staging file in `folder`, made again if it went missing since
/// [`create_folders`]: `DROP TABLE`, `DROP SCHEMA` and `VACUUM` remove the
/// warehouse's empty folders, and a concurrent write's fresh folder is
/// empty until this file is in it (two dbt snapshots at once lost one
/// this way).
fn open_staging(folder: &FsPath, staging: &FsPath) -> std::io::Result<File> {
    let mut attempts = 0;
    loop {
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(staging)
        {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempts < 5 => {
                attempts += 1;
                create_folders(folder)?;
            }
            opened => return opened,
        }
    }
}

/// `payload` written durably at `path` (see the module doc).
fn put_durably(path: &FsPath, payload: &PutPayload, create: bool) -> StoreResult<PutResult> {
    let folder = path
        .parent()
        .ok_or_else(|| io_error(std::io::Error::other("a file needs a folder")))?;
    create_folders(folder).map_err(io_error)?;
    let staging = staging_path(path);
    let written = (|| {
        let mut file = open_staging(folder, &staging)?;
        for chunk in payload.iter() {
            file.write_all(chunk)?;
        }
        sync_file(&file)?;
        Ok::<_, std::io::Error>(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&staging);
        return Err(io_error(e));
    }
    let placed = if create {
        let linked = std::fs::hard_link(&staging, path);
        let _ = std::fs::remove_file(&staging);
        linked.map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                object_store::Error::AlreadyExists {
                    path: path.to_string_lossy().into_owned(),
                    source: Box::new(source),
                }
            } else {
                io_error(source)
            }
        })
    } else {
        std::fs::rename(&staging, path).map_err(|e| {
            let _ = std::fs::remove_file(&staging);
            io_error(e)
        })
    };
    placed?;
    sync_folder(folder).map_err(io_error)?;
    Ok(PutResult {
        e_tag: None,
        version: None,
    })
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl ObjectStore for DurableStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> StoreResult<PutResult> {
        let plain = opts.attributes.is_empty() && opts.tags.encoded().is_empty();
        match (&self.local, &opts.mode) {
            (Some(fs), PutMode::Overwrite | PutMode::Create) if plain => {
                let path = fs.path_to_filesystem(location)?;
                let create = opts.mode == PutMode::Create;
                tokio::task::spawn_blocking(move || put_durably(&path, &payload, create))
                    .await
                    .map_err(|e| io_error(std::io::Error::other(e)))?
            }
            _ => self.inner.put_opts(location, payload, opts).await,
        }
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> StoreResult<Box<dyn MultipartUpload>> {
        let path = match &self.local {
            Some(fs) => {
                let path = fs.path_to_filesystem(location)?;
                if let Some(folder) = path.parent() {
                    let folder = folder.to_path_buf();
                    tokio::task::spawn_blocking(move || create_folders(&folder))
                        .await
                        .map_err(|e| io_error(std::io::Error::other(e)))?
                        .map_err(io_error)?;
                }
                Some(path)
            }
            None => None,
        };
        let upload = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(GuardedUpload {
            upload: Some(upload),
            path,
        }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> StoreResult<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> StoreResult<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, StoreResult<Path>>,
    ) -> BoxStream<'static, StoreResult<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, StoreResult<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, StoreResult<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> StoreResult<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> StoreResult<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> StoreResult<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

/// A multipart upload that syncs its local file when it completes and is
/// aborted when dropped unfinished.
#[derive(Debug)]
struct GuardedUpload {
    /// `None` once completed or aborted.
    upload: Option<Box<dyn MultipartUpload>>,
    /// The local file the upload becomes, if it is local.
    path: Option<PathBuf>,
}

fn finished() -> object_store::Error {
    object_store::Error::Generic {
        store: "DurableStore",
        source: "the upload was already completed or aborted".into(),
    }
}

#[async_trait]
impl MultipartUpload for GuardedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        match &mut self.upload {
            Some(upload) => upload.put_part(data),
            None => Box::pin(async { Err(finished()) }),
        }
    }

    async fn complete(&mut self) -> StoreResult<PutResult> {
        let mut upload = self.upload.take().ok_or_else(finished)?;
        let result = upload.complete().await?;
        if let Some(path) = self.path.clone() {
            tokio::task::spawn_blocking(move || {
                sync_file(&File::open(&path)?)?;
                match path.parent() {
                    Some(folder) => sync_folder(folder),
                    None => Ok(()),
                }
            })
            .await
            .map_err(|e| io_error(std::io::Error::other(e)))?
            .map_err(io_error)?;
        }
        Ok(result)
    }

    async fn abort(&mut self) -> StoreResult<()> {
        let mut upload = self.upload.take().ok_or_else(finished)?;
        upload.abort().await
    }
}

impl Drop for GuardedUpload {
    fn drop(&mut self) {
        if let Some(mut upload) = self.upload.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                let _ = upload.abort().await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use object_store::memory::InMemory;
    use object_store::{ObjectStoreExt, PutPayloadMut};

    use super::*;

    #[test]
    fn a_folder_swept_away_before_the_staging_file_is_made_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = dir.path().join("tables/t/write-1");
        create_folders(&folder).expect("folders");
        // What a concurrent DROP TABLE's sweep of empty folders does.
        std::fs::remove_dir(&folder).expect("swept");
        let staging = folder.join("part.parquet#1");
        open_staging(&folder, &staging).expect("made again");
        assert!(staging.is_file());
    }

    fn at(dir: &FsPath, relative: &str) -> Path {
        let full = dir.join(relative);
        Path::parse(full.to_str().expect("utf-8").trim_start_matches('/')).expect("path")
    }

    /// A put on a local disk syncs the file and its folder before it
    /// returns, leaves no staging file, and `Create` refuses to replace.
    #[tokio::test]
    async fn local_puts_are_synced_and_leave_nothing_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = DurableStore::local();
        let doc = at(dir.path(), "catalog/t.json");
        let before = syncs();
        store.put(&doc, PutPayload::from("one")).await.expect("put");
        // The file, its folder, and the new folder in its parent.
        assert!(syncs() - before >= 3, "{} syncs", syncs() - before);
        store.put(&doc, PutPayload::from("two")).await.expect("put");
        let got = store
            .get(&doc)
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes");
        assert_eq!(&got[..], b"two");
        let err = store
            .put_opts(&doc, PutPayload::from("three"), PutMode::Create.into())
            .await
            .expect_err("exists");
        assert!(
            matches!(err, object_store::Error::AlreadyExists { .. }),
            "{err}"
        );
        let claim = at(dir.path(), "models/m/versions/1");
        store
            .put_opts(&claim, PutPayload::from("x"), PutMode::Create.into())
            .await
            .expect("create");
        assert!(
            store
                .staging_files(&at(dir.path(), ""))
                .expect("staged")
                .is_empty()
        );
        let names: Vec<_> = std::fs::read_dir(dir.path().join("catalog"))
            .expect("read")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec!["t.json"]);
    }

    #[tokio::test]
    async fn a_completed_local_upload_is_synced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = DurableStore::local();
        let file = at(dir.path(), "tables/t/w1/part-0.parquet");
        let mut upload = store.put_multipart(&file).await.expect("upload");
        upload
            .put_part(PutPayload::from("abc"))
            .await
            .expect("part");
        let before = syncs();
        upload.complete().await.expect("complete");
        assert!(syncs() - before >= 2);
        assert_eq!(
            std::fs::read(dir.path().join("tables/t/w1/part-0.parquet")).expect("read"),
            b"abc"
        );
    }

    /// A store whose uploads record whether they were aborted.
    #[derive(Debug, Default)]
    struct Recording {
        memory: InMemory,
        aborted: Arc<Mutex<u32>>,
    }

    impl fmt::Display for Recording {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "Recording")
        }
    }

    #[derive(Debug)]
    struct RecordingUpload(Arc<Mutex<u32>>, PutPayloadMut);

    #[async_trait]
    impl MultipartUpload for RecordingUpload {
        fn put_part(&mut self, data: PutPayload) -> UploadPart {
            for chunk in data.iter() {
                self.1.push(chunk.clone());
            }
            Box::pin(async { Ok(()) })
        }
        async fn complete(&mut self) -> StoreResult<PutResult> {
            Ok(PutResult {
                e_tag: None,
                version: None,
            })
        }
        async fn abort(&mut self) -> StoreResult<()> {
            *self.0.lock().expect("lock") += 1;
            Ok(())
        }
    }

    #[async_trait]
    impl ObjectStore for Recording {
        async fn put_opts(
            &self,
            location: &Path,
            payload: PutPayload,
            opts: PutOptions,
        ) -> StoreResult<PutResult> {
            self.memory.put_opts(location, payload, opts).await
        }
        async fn put_multipart_opts(
            &self,
            _: &Path,
            _: PutMultipartOptions,
        ) -> StoreResult<Box<dyn MultipartUpload>> {
            Ok(Box::new(RecordingUpload(
                Arc::clone(&self.aborted),
                PutPayloadMut::new(),
            )))
        }
        async fn get_opts(&self, location: &Path, options: GetOptions) -> StoreResult<GetResult> {
            self.memory.get_opts(location, options).await
        }
        fn delete_stream(
            &self,
            locations: BoxStream<'static, StoreResult<Path>>,
        ) -> BoxStream<'static, StoreResult<Path>> {
            self.memory.delete_stream(locations)
        }
        fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, StoreResult<ObjectMeta>> {
            self.memory.list(prefix)
        }
        async fn list_with_delimiter(&self, prefix: Option<&Path>) -> StoreResult<ListResult> {
            self.memory.list_with_delimiter(prefix).await
        }
        async fn copy_opts(&self, from: &Path, to: &Path, o: CopyOptions) -> StoreResult<()> {
            self.memory.copy_opts(from, to, o).await
        }
    }

    /// Issue 23: an upload dropped before it completes (its statement was
    /// cancelled) is aborted, so no multipart upload stays open; one that
    /// completed is not.
    #[tokio::test]
    async fn a_dropped_upload_is_aborted() {
        let recording = Recording::default();
        let aborted = Arc::clone(&recording.aborted);
        let store = DurableStore::remote(Arc::new(recording));
        let path = Path::from("tables/t/w/part-0.parquet");
        let mut done = store.put_multipart(&path).await.expect("upload");
        done.put_part(PutPayload::from("x")).await.expect("part");
        done.complete().await.expect("complete");
        drop(done);
        let mut dropped = store.put_multipart(&path).await.expect("upload");
        dropped.put_part(PutPayload::from("x")).await.expect("part");
        drop(dropped);
        // The abort runs as a task of its own; let it.
        for _ in 0..100 {
            if *aborted.lock().expect("lock") > 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(*aborted.lock().expect("lock"), 1);
    }

    #[test]
    fn staging_names() {
        assert!(is_staging_name("part-0.parquet#1"));
        assert!(is_staging_name("t.json#123000004"));
        assert!(!is_staging_name("t.json"));
        assert!(!is_staging_name("a#b"));
        assert!(!is_staging_name("a#"));
    }
}
