//! The warehouse: one root URL that holds everything a user creates.
//!
//! ```text
//! <root>/catalog/<name>.json           one entry per table, view or external table
//! <root>/tables/<name>/_delta_log/     a table's Delta log (module `delta`)
//! <root>/tables/<name>/<unique>/*.parquet   table data, one folder per write
//! ```
//!
//! `<name>` is the object's name when it is letters, digits and `_` not
//! starting with a digit; any other name (a quoted `"foo.bar"`) is stored
//! escaped, as `0` and then the name with every other byte written `-xx`
//! (see [`stored_name`]).
//!
//! ```text
//! <root>/models/<name>/...             the model store (quiver_engine::store)
//! ```
//!
//! A write puts its Parquet files in a new folder and then commits them to
//! the table's Delta log, one atomic put of the next version. A statement
//! that fails or is killed half-way leaves the previous version in place;
//! two processes appending to one table both land, and of two replacing it
//! the last one wins. Tables written before Delta have an entry listing
//! their files (`Entry::Table`); they are read as they are and become Delta
//! tables at their first write.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use datafusion::common::{DataFusionError, Result, plan_err};
use datafusion::execution::runtime_env::RuntimeEnv;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use quiver_engine::ModelStore;
use quiver_engine::store::durable::DurableStore;
use quiver_engine::store::objects::{
    RESERVED_PREFIX, delete_prefix, get_json, list_all, put_json, store_error, unique_name,
};
use serde::{Deserialize, Serialize};
use url::Url;

/// The catalog and schema a session's unqualified names resolve in: the
/// warehouse's tables and views live in this one schema.
pub const CATALOG: &str = "quiver";
pub const SCHEMA: &str = "public";

pub mod catalog;
pub mod deletion_vectors;
pub mod delta;
pub mod external_delta;
pub mod location;
pub mod policy;
pub mod rows;
pub mod schemas;
pub mod secrets;
pub mod table;
pub mod vacuum;

pub use catalog::WarehouseSchema;

/// How long opening a remote warehouse may take before quiver says it
/// cannot be reached.
const OPEN_TIMEOUT: Duration = Duration::from_secs(20);

/// One catalog entry: `<root>/catalog/<name>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// A table quiver wrote: its Parquet files, relative to the root, and
    /// what its CREATE declared beyond the columns' types.
    Table {
        files: Vec<String>,
        #[serde(flatten)]
        declared: Declared,
        updated: String,
    },
    /// A Delta Lake table quiver wrote, at `tables/<name>/`: its files and
    /// history are its `_delta_log/`'s; the entry names it and keeps what
    /// its CREATE declared. Written when the table is created, not by
    /// later writes (which commit to the log).
    Delta {
        #[serde(flatten)]
        declared: Declared,
        updated: String,
    },
    /// `CREATE VIEW`: the statement, planned again when the view is used.
    View { definition: String, updated: String },
    /// `CREATE EXTERNAL TABLE`: the statement; the data is the user's.
    /// `partitions` are the partition columns its CREATE settled on
    /// (declared or inferred from the folders then): opening it again takes
    /// them as they are, as DataFusion's table would, and does not infer or
    /// check them again over what was written since. `None` in entries
    /// written before they were kept.
    External {
        definition: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        partitions: Option<Vec<String>>,
        updated: String,
    },
}

impl Entry {
    pub fn kind(&self) -> &'static str {
        match self {
            Entry::Table { .. } | Entry::Delta { .. } => "table",
            Entry::View { .. } => "view",
            Entry::External { .. } => "external table",
        }
    }

    /// [`Self::kind`] with its article: "a view", "an external table".
    pub fn a_kind(&self) -> &'static str {
        match self {
            Entry::Table { .. } | Entry::Delta { .. } => "a table",
            Entry::View { .. } => "a view",
            Entry::External { .. } => "an external table",
        }
    }
}

/// What a table's CREATE declared that its Parquet files do not hold: column
/// `DEFAULT`s (SQL expressions), `PRIMARY KEY` / `UNIQUE` keys, and the
/// types of run-end encoded columns (Parquet stores them decoded, and the
/// Arrow schema in the file says only the values' type). Kept in the
/// table's catalog entry; writes to an existing table keep them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Declared {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub defaults: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<Key>,
    /// Column name to its Arrow type, as `DataType`'s text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub types: BTreeMap<String, String>,
}

/// A declared key, by column names. As in DataFusion, a key is a promise
/// the planner relies on (functional dependencies, join and DISTINCT
/// elimination), not a check made on writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Key {
    PrimaryKey { columns: Vec<String> },
    Unique { columns: Vec<String> },
}

/// Whether a table write adds to the table or replaces its contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    Append,
    Replace,
}

/// A warehouse opened at a root URL.
#[derive(Debug)]
pub struct Warehouse {
    url: String,
    store_url: Url,
    store: Arc<dyn ObjectStore>,
    /// The same store, for what only it can do (staging files, folders).
    durable: Arc<DurableStore>,
    root: Path,
}

impl Warehouse {
    /// Opens the warehouse at `location` (a path or URL), creating a local
    /// one on first use, and checks that it can be listed.
    pub async fn open(location: &str) -> Result<Arc<Self>> {
        crate::install_crypto_provider();
        let loc = location::parse(location, &HashMap::new())?;
        let warehouse = Arc::new(Self {
            url: loc.url,
            store_url: loc.store_url,
            store: Arc::clone(&loc.store) as Arc<dyn ObjectStore>,
            durable: loc.store,
            root: loc.path,
        });
        let catalog = warehouse.catalog_dir();
        let probe = warehouse.store.list_with_delimiter(Some(&catalog));
        match tokio::time::timeout(OPEN_TIMEOUT, probe).await {
            Ok(Ok(_)) | Ok(Err(object_store::Error::NotFound { .. })) => Ok(warehouse),
            Ok(Err(e)) => Err(DataFusionError::Configuration(format!(
                "warehouse '{location}' cannot be read: {e}"
            ))),
            Err(_) => Err(DataFusionError::Configuration(format!(
                "warehouse '{location}' cannot be reached: no answer in {}s",
                OPEN_TIMEOUT.as_secs()
            ))),
        }
    }

    /// The root URL, ending in `/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The same store as [`Self::store`], for what only it does (staging
    /// files and folders on a local disk).
    pub fn durable(&self) -> &Arc<DurableStore> {
        &self.durable
    }

    /// Makes the warehouse's store known to DataFusion, so that scans of its
    /// tables find it.
    pub fn register_store(&self, runtime: &RuntimeEnv) {
        runtime.register_object_store(&self.store_url, Arc::clone(&self.store));
    }

    /// The model store under `<root>/models`.
    pub fn models(&self) -> ModelStore {
        ModelStore::new(Arc::clone(&self.store), self.path("models"))
    }

    /// A path under the root.
    pub fn path(&self, relative: &str) -> Path {
        let mut p = self.root.clone();
        for part in relative.split('/').filter(|s| !s.is_empty()) {
            p = p.join(part);
        }
        p
    }

    /// The URL of a file under the root.
    pub fn file_url(&self, relative: &str) -> String {
        format!("{}{relative}", self.url)
    }

    pub(crate) fn catalog_dir(&self) -> Path {
        self.path("catalog")
    }

    /// The name of the object a catalog entry at `location` describes
    /// (`catalog/<name>.json`); `None` for anything else in the folder.
    pub(crate) fn entry_name(location: &Path) -> Option<String> {
        location
            .filename()
            .and_then(|f| f.strip_suffix(".json"))
            .and_then(name_from_stored)
    }

    fn entry_path(&self, name: &str) -> Path {
        let stored = stored_name(name);
        self.catalog_dir().join(format!("{stored}.json").as_str())
    }

    /// The folder (relative to the root) that holds table `name`'s data.
    pub(crate) fn table_dir(name: &str) -> String {
        format!("tables/{}", stored_name(name))
    }

    pub async fn read_entry(&self, name: &str) -> Result<Option<Entry>> {
        get_json(self.store.as_ref(), &self.entry_path(name)).await
    }

    pub async fn put_entry(&self, name: &str, entry: &Entry) -> Result<()> {
        check_object_name("table", name)?;
        put_json(self.store.as_ref(), &self.entry_path(name), entry).await
    }

    /// Removes `name` from the catalog; for a table quiver wrote, its data too.
    pub async fn drop_entry(&self, name: &str) -> Result<Option<Entry>> {
        let entry = self.read_entry(name).await?;
        if entry.is_some() {
            match self.store.delete(&self.entry_path(name)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(store_error(format!("dropping '{name}'"), e)),
            }
        }
        if let Some(Entry::Table { .. } | Entry::Delta { .. }) = entry {
            delete_prefix(self.store.as_ref(), &self.path(&Self::table_dir(name))).await?;
            // On a local disk, the folders the files were in.
            self.durable
                .remove_empty_folders(&self.path("tables"))
                .map_err(|e| store_error(format!("dropping '{name}'"), e))?;
        }
        Ok(entry)
    }

    /// A fresh folder for one write of table `name`, relative to the root.
    pub fn new_write_dir(&self, name: &str) -> String {
        format!("{}/{}", Self::table_dir(name), unique_name())
    }

    /// Commits `file` (written under the table's folder) to table `name`,
    /// added to or replacing what it had: the one atomic step of a write
    /// (a Delta commit). `declared` is what a table being created declares;
    /// a write to an existing table (`None`) keeps what it has. A table of
    /// the layout before Delta becomes a Delta table at its first write.
    pub async fn publish_table(
        &self,
        name: &str,
        file: &delta::WrittenFile,
        mode: WriteMode,
        schema: &datafusion::arrow::datatypes::Schema,
        declared: Option<Declared>,
    ) -> Result<()> {
        let entry = self.read_entry(name).await?;
        let (old_layout, kept) = match &entry {
            Some(Entry::Table {
                files, declared, ..
            }) => (files.clone(), declared.clone()),
            Some(Entry::Delta { declared, .. }) => (Vec::new(), declared.clone()),
            Some(other) if mode == WriteMode::Append => {
                return plan_err!("cannot write to '{name}': it is {}", other.a_kind());
            }
            // A new table: the types its files will not say.
            _ => (
                Vec::new(),
                Declared {
                    types: table::declared_types(schema),
                    ..Declared::default()
                },
            ),
        };
        delta::commit(self, name, Some(file), mode, schema, &old_layout).await?;
        let is_delta = matches!(entry, Some(Entry::Delta { .. }));
        if !is_delta || declared.is_some() {
            let entry = Entry::Delta {
                declared: declared.unwrap_or(kept),
                updated: now(),
            };
            self.put_entry(name, &entry).await?;
        }
        Ok(())
    }
}

impl Warehouse {
    /// Table `name` as a Delta table, converting a table of the layout
    /// before Delta (whose columns are `schema`) first, as its first write
    /// would: for statements that change its files in place (DML).
    pub async fn delta_table(
        &self,
        name: &str,
        schema: &datafusion::arrow::datatypes::Schema,
    ) -> Result<deltalake_core::DeltaTable> {
        if let Some(Entry::Table {
            files, declared, ..
        }) = self.read_entry(name).await?
        {
            delta::commit(self, name, None, WriteMode::Append, schema, &files).await?;
            let entry = Entry::Delta {
                declared,
                updated: now(),
            };
            self.put_entry(name, &entry).await?;
        }
        delta::load(self, name).await?.ok_or_else(|| {
            DataFusionError::Execution(format!(
                "table '{name}' cannot be changed: its folder has no Delta log"
            ))
        })
    }

    /// Copies every object of table `name`'s folder (its log and data) to
    /// table `to_name`'s folder in `to` (this warehouse or another schema's
    /// of it), server-side where the store can.
    pub async fn copy_table(&self, name: &str, to: &Warehouse, to_name: &str) -> Result<()> {
        let from_dir = self.path(&Self::table_dir(name));
        let to_dir = Self::table_dir(to_name);
        for meta in list_all(self.store.as_ref(), &from_dir).await? {
            let Some(parts) = meta.location.prefix_match(&from_dir) else {
                continue;
            };
            let relative: Vec<String> = parts.map(|p| p.as_ref().to_string()).collect();
            let target = to.path(&format!("{to_dir}/{}", relative.join("/")));
            self.store
                .copy(&meta.location, &target)
                .await
                .map_err(|e| store_error(format!("renaming '{name}' to '{to_name}'"), e))?;
        }
        Ok(())
    }

    /// The URL under which DataFusion finds the warehouse's store (see
    /// [`Self::register_store`]).
    pub fn object_store_url(&self) -> Result<datafusion::execution::object_store::ObjectStoreUrl> {
        datafusion::execution::object_store::ObjectStoreUrl::parse(
            &self.store_url[..url::Position::BeforePath],
        )
    }
}

/// A schema besides `public`, as its marker `schemas/<name>.json` records
/// it. Its tables, views and external tables live in `schemas/<name>/`,
/// laid out as the root lays out `public`'s.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SchemaMarker {
    name: String,
    created: String,
}

impl Warehouse {
    /// The folder (relative to the root) of schema `name`'s objects.
    pub(crate) fn schema_dir(name: &str) -> String {
        format!("schemas/{}", stored_name(name))
    }

    /// Schema `name`'s objects as a warehouse of their own, rooted at
    /// `schemas/<name>/` on the same store.
    pub fn in_schema(&self, name: &str) -> Arc<Warehouse> {
        let dir = Self::schema_dir(name);
        Arc::new(Warehouse {
            url: format!("{}{dir}/", self.url),
            store_url: self.store_url.clone(),
            store: Arc::clone(&self.store),
            durable: Arc::clone(&self.durable),
            root: self.path(&dir),
        })
    }

    /// The schemas besides `public`, sorted (one listing of `schemas/`).
    pub async fn schema_names(&self) -> Result<Vec<String>> {
        let listed = match self
            .store
            .list_with_delimiter(Some(&self.path("schemas")))
            .await
        {
            Ok(listed) => listed.objects,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(store_error("listing the schemas", e)),
        };
        let mut names: Vec<String> = listed
            .iter()
            .filter_map(|meta| Self::entry_name(&meta.location))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Creates schema `name`; `Ok(false)` when it exists already.
    pub async fn create_schema(&self, name: &str) -> Result<bool> {
        check_object_name("schema", name)?;
        let marker = SchemaMarker {
            name: name.to_string(),
            created: now(),
        };
        let bytes = serde_json::to_vec_pretty(&marker)
            .map_err(|e| DataFusionError::Internal(format!("schema marker: {e}")))?;
        let path = self.path(&format!("{}.json", Self::schema_dir(name)));
        let options = object_store::PutOptions::from(object_store::PutMode::Create);
        match self.store.put_opts(&path, bytes.into(), options).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(store_error(format!("creating schema '{name}'"), e)),
        }
    }

    /// Removes schema `name` and everything in it: its objects first, its
    /// marker last, so that a drop cut short leaves the schema there, with
    /// what it had left, rather than a folder no schema owns.
    pub async fn drop_schema(&self, name: &str) -> Result<()> {
        let dir = Self::schema_dir(name);
        delete_prefix(self.store.as_ref(), &self.path(&dir)).await?;
        self.durable
            .remove_empty_folders(&self.path("schemas"))
            .map_err(|e| store_error(format!("dropping schema '{name}'"), e))?;
        match self.store.delete(&self.path(&format!("{dir}.json"))).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error(format!("dropping schema '{name}'"), e)),
        }
    }
}

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The longest stored name: a file name holds 255 bytes, and the catalog
/// entry adds `.json`.
const MAX_STORED_NAME: usize = 240;

/// Whether `name` is stored as it is: letters, digits and `_`, not starting
/// with a digit (every name quiver accepted before quoted names).
fn is_plain(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The form of a table or view name in the warehouse's folders: a plain
/// name as it is; any other as `0` (no plain name starts with a digit) and
/// then the name with every byte other than a letter, digit or `_` written
/// `-xx` in lowercase hex. Safe as one path segment on every object store
/// and file system: no `/`, `.`, `%` or upper-case escapes.
pub fn stored_name(name: &str) -> std::borrow::Cow<'_, str> {
    if is_plain(name) {
        return name.into();
    }
    let mut out = String::with_capacity(name.len() + 1);
    out.push('0');
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' {
            out.push(b as char);
        } else {
            out.push_str(&format!("-{b:02x}"));
        }
    }
    out.into()
}

/// The name a stored name stands for; `None` for a file name quiver did not
/// write (it is then not a catalog entry).
pub fn name_from_stored(stored: &str) -> Option<String> {
    if is_plain(stored) {
        return Some(stored.to_string());
    }
    let escaped = stored.strip_prefix('0')?;
    let mut bytes = Vec::with_capacity(escaped.len());
    let mut rest = escaped.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'-' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else if b.is_ascii_alphanumeric() || b == b'_' {
            bytes.push(b);
            rest = tail;
        } else {
            return None;
        }
    }
    let name = String::from_utf8(bytes).ok()?;
    // Only the one encoding of a name is its entry.
    (stored_name(&name) == stored).then_some(name)
}

/// Checks that `name` can name a table or view: any non-empty name (quoted
/// names may hold any character; they are stored escaped), short enough to
/// be a file name, and not one of quiver's own.
pub fn check_object_name(kind: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return plan_err!("{kind} name must not be empty");
    }
    if name.starts_with(RESERVED_PREFIX) {
        return plan_err!(
            "{kind} name '{name}' is not allowed: names starting with {RESERVED_PREFIX} are \
             quiver's own (it reads bound parameters and ingested batches through them)"
        );
    }
    if stored_name(name).len() > MAX_STORED_NAME {
        return plan_err!(
            "{kind} name '{name}' is too long: at most {MAX_STORED_NAME} bytes as stored \
             (a character other than a letter, digit or _ takes 3)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain names are stored as they are (so older warehouses still read);
    /// any other name round-trips through an escaped form that is one safe
    /// path segment and never a plain name.
    #[test]
    fn names_are_stored_safely_and_read_back() {
        assert_eq!(stored_name("title_vectors2"), "title_vectors2");
        for name in [
            "foo.bar",
            "foo.bar.baz",
            "Foo Bar",
            "1abc",
            "a/b/../c",
            "..",
            "%2e",
            "-",
            "0",
            "naïve",
            "tab\tle",
        ] {
            let stored = stored_name(name);
            assert!(stored.starts_with('0'), "{name} -> {stored}");
            assert!(
                stored
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
                "{name} -> {stored}"
            );
            assert_eq!(name_from_stored(&stored).as_deref(), Some(name));
        }
        for foreign in ["", "foo.bar", "0foo.bar", "0-2", "0-zz", "0-61", "README"] {
            let back = name_from_stored(foreign);
            assert!(
                back.is_none() || foreign == "README",
                "{foreign:?} -> {back:?}"
            );
        }
        assert!(check_object_name("table", "foo.bar").is_ok());
        assert!(check_object_name("table", "").is_err());
        assert!(check_object_name("table", "__quiver_params").is_err());
        assert!(check_object_name("table", &".".repeat(100)).is_err());
    }

    /// Entries written before keys were kept (`defaults` beside `files`)
    /// still read, and an entry with keys reads back as written.
    #[test]
    fn table_entries_read_old_and_new() {
        let old = r#"{"kind":"table","files":["tables/t/a/part-0.parquet"],
            "defaults":{"c":"500"},"updated":"2026-11-01T00:00:00Z"}"#;
        let Entry::Table { declared, .. } = serde_json::from_str(old).expect("an old entry reads")
        else {
            panic!("a table entry");
        };
        assert_eq!(declared.defaults.get("c").map(String::as_str), Some("500"));
        assert!(declared.keys.is_empty());

        // A run-end encoded type is kept as its text, which reads back.
        use datafusion::arrow::datatypes::{DataType, Field};
        let ree = DataType::RunEndEncoded(
            Arc::new(Field::new("run_ends", DataType::Int32, false)),
            Arc::new(Field::new("values", DataType::Utf8, true)),
        );
        let parsed: DataType = ree.to_string().parse().expect("the type's text parses");
        assert_eq!(parsed, ree);

        let new = Entry::Table {
            files: vec!["tables/t/b/part-0.parquet".into()],
            declared: Declared {
                defaults: BTreeMap::new(),
                keys: vec![
                    Key::PrimaryKey {
                        columns: vec!["x".into()],
                    },
                    Key::Unique {
                        columns: vec!["y".into(), "z".into()],
                    },
                ],
                types: BTreeMap::from([("r".to_string(), ree.to_string())]),
            },
            updated: now(),
        };
        let text = serde_json::to_string(&new).expect("an entry writes");
        assert!(
            !text.contains("defaults"),
            "empty defaults are left out: {text}"
        );
        let back: Entry = serde_json::from_str(&text).expect("it reads back");
        assert_eq!(back, new);
    }
}
