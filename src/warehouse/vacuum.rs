//! `VACUUM`: removes what interrupted writes left in the warehouse.
//!
//! Writes put their data in folders of their own and publish it by one
//! atomic put (module doc of [`super`]). A statement that fails, or is
//! cancelled, timed out or disconnected, removes its folder itself; a
//! process that is killed cannot, and leaves
//! - table files no catalog entry lists (an unpublished write, files an
//!   `INSERT OVERWRITE` replaced, the data of a table whose entry is gone),
//!   and of a Delta table the files no version needs that was current
//!   within the retention period (an uncommitted write, files replaced or
//!   removed before it),
//! - model files no published version refers to
//!   ([`ModelStore::unreferenced`]),
//! - on a local disk, staging files (`<name>#<digits>`) of puts and uploads
//!   cut short.
//!
//! None of it is visible to quiver's readers, which read only what entries
//! list, but it takes space and another engine listing a table's folder
//! would read it. Only objects last written before the retention period
//! are removed, so a write in progress in another process keeps its files:
//! the period must be longer than any write takes.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use datafusion::common::Result;
use object_store::{ObjectMeta, ObjectStoreExt};
use quiver_engine::ModelStore;
use quiver_engine::store::objects::{list_all, store_error};

use super::{Entry, Warehouse, delta};

/// One object `VACUUM` removed (or, in a dry run, would remove).
#[derive(Debug, Clone, PartialEq)]
pub struct Leftover {
    /// Relative to the warehouse root.
    pub path: String,
    pub bytes: u64,
    pub reason: &'static str,
}

/// Finds what interrupted writes left that is older than `retain`, and
/// unless `dry_run` removes it. Sorted by path.
pub async fn vacuum(
    warehouse: &Warehouse,
    models: Option<&ModelStore>,
    retain: Duration,
    dry_run: bool,
) -> Result<Vec<Leftover>> {
    sweep(warehouse, None, models, retain, dry_run).await
}

/// [`vacuum`] of table `name` alone (`VACUUM t`): the files of its folder
/// that no version within the retention period reads, or that its entry
/// does not list. Models and staging files are left to `VACUUM`.
pub async fn vacuum_table(
    warehouse: &Warehouse,
    name: &str,
    retain: Duration,
    dry_run: bool,
) -> Result<Vec<Leftover>> {
    sweep(warehouse, Some(name), None, retain, dry_run).await
}

async fn sweep(
    warehouse: &Warehouse,
    only: Option<&str>,
    models: Option<&ModelStore>,
    retain: Duration,
    dry_run: bool,
) -> Result<Vec<Leftover>> {
    let cutoff_time = SystemTime::now() - retain;
    let cutoff: DateTime<Utc> = cutoff_time.into();
    let store = warehouse.store();
    let relative = |meta: &ObjectMeta| -> String {
        meta.location
            .prefix_match(&warehouse.path(""))
            .map(|parts| {
                parts
                    .map(|p| p.as_ref().to_string())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .unwrap_or_else(|| meta.location.to_string())
    };

    let mut listed: HashSet<String> = HashSet::new();
    let mut tables: HashSet<String> = HashSet::new();
    // Delta tables: what no version within the retention period needs.
    let mut delta_tables: HashSet<String> = HashSet::new();
    let mut removable: HashSet<String> = HashSet::new();
    let catalog = warehouse.catalog_dir();
    for meta in &list_all(store.as_ref(), &catalog).await? {
        let Some(name) = Warehouse::entry_name(&meta.location) else {
            continue;
        };
        if only.is_some_and(|only| only != name) {
            continue;
        }
        match warehouse.read_entry(&name).await? {
            Some(Entry::Table { files, .. }) => {
                tables.insert(Warehouse::table_dir(&name));
                listed.extend(files);
            }
            Some(Entry::Delta { .. }) => {
                delta_tables.insert(Warehouse::table_dir(&name));
                removable.extend(delta::unreferenced(warehouse, &name, cutoff).await?);
            }
            _ => {}
        }
    }

    let mut found: Vec<(ObjectMeta, &'static str)> = Vec::new();
    let data = match only {
        Some(name) => warehouse.path(&Warehouse::table_dir(name)),
        None => warehouse.path("tables"),
    };
    for meta in list_all(store.as_ref(), &data).await? {
        let path = relative(&meta);
        if meta.last_modified >= cutoff || listed.contains(&path) {
            continue;
        }
        let table = path.split('/').take(2).collect::<Vec<_>>().join("/");
        if delta_tables.contains(&table) {
            if removable.contains(&path) {
                found.push((
                    meta,
                    "table file no version within the retention period reads",
                ));
            }
            continue;
        }
        let reason = if tables.contains(&table) {
            "table file no entry lists"
        } else {
            "data of a table that does not exist"
        };
        found.push((meta, reason));
    }
    if let Some(models) = models {
        found.extend(models.unreferenced(cutoff).await?);
    }

    let mut out: Vec<Leftover> = found
        .iter()
        .map(|(meta, reason)| Leftover {
            path: relative(meta),
            bytes: meta.size,
            reason,
        })
        .collect();
    // Staging files anywhere under the root, a schema's folder included:
    // listed by the root's vacuum, the one given the models.
    let root = warehouse.path("");
    let staged = match models {
        Some(_) => warehouse
            .durable()
            .staging_files(&root)
            .map_err(|e| store_error("listing staging files", e))?,
        None => Vec::new(),
    };
    let staged: Vec<_> = staged
        .into_iter()
        .filter(|f| f.modified < cutoff_time)
        .collect();
    out.extend(staged.iter().map(|file| Leftover {
        path: file.relative.clone(),
        bytes: file.size,
        reason: "staging file of an interrupted put",
    }));
    out.sort_by(|a, b| a.path.cmp(&b.path));
    if dry_run {
        return Ok(out);
    }
    for (meta, _) in &found {
        match store.delete(&meta.location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(store_error(format!("removing {}", meta.location), e)),
        }
    }
    for file in &staged {
        match std::fs::remove_file(&file.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(datafusion::common::DataFusionError::Execution(format!(
                    "removing {}: {e}",
                    file.path.display()
                )));
            }
        }
    }
    for folder in ["tables", "models"] {
        warehouse
            .durable()
            .remove_empty_folders(&warehouse.path(folder))
            .map_err(|e| store_error(format!("removing empty folders of {folder}"), e))?;
    }
    Ok(out)
}
