//! The warehouse as DataFusion sees it: a `SchemaProvider` over the catalog
//! entries, so that every table, view and external table of the warehouse is
//! there when quiver starts, without reading any of them.
//!
//! Startup lists `catalog/` once and reads the small entry documents;
//! a table's files are opened the first time a query uses it (and again
//! only when its entry changes). A table whose files are corrupt fails to
//! load with a message naming the file, and every other table still works.
//! [`WarehouseSchema::refresh`] brings the index up to date with what other
//! processes wrote; the session calls it before each statement.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{SchemaProvider, Session};
use datafusion::common::{DFSchema, DataFusionError, Result, TableReference};
use datafusion::datasource::TableProvider;
use datafusion::datasource::listing::{ListingTable, ListingTableConfig};
use datafusion::execution::SessionState;
use datafusion::logical_expr::TableType;
use datafusion::logical_expr::{CreateExternalTable, DdlStatement, LogicalPlan};
use datafusion::prelude::SessionContext;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use quiver_engine::error::already_exists;

use super::location::{self, STORE_OPTION_PREFIXES};
use super::policy::PathPolicy;
use super::secrets;
use super::table::WarehouseTable;
use super::{Entry, Warehouse, delta};

/// One indexed catalog entry: the version tag of its document and its
/// contents, or why they could not be read.
#[derive(Debug, Clone)]
struct Indexed {
    tag: String,
    entry: std::result::Result<Entry, String>,
}

tokio::task_local! {
    /// The names whose entries this task is opening right now.
    static OPENING: RefCell<HashSet<String>>;
}

/// Opened tables by name, each with the entry version and settings it was
/// opened under.
type Providers = HashMap<String, (String, Arc<dyn TableProvider>)>;

/// The default schema of a quiver session: the warehouse's tables, views and
/// external tables, plus tables registered for this session only.
pub struct WarehouseSchema {
    /// The schema's name in the `quiver` catalog.
    name: String,
    warehouse: Arc<Warehouse>,
    index: RwLock<BTreeMap<String, Indexed>>,
    providers: Mutex<Providers>,
    session_tables: RwLock<HashMap<String, Arc<dyn TableProvider>>>,
    /// The session's current state, for planning views and opening tables
    /// with the settings in force now (a `SET` after the session opened
    /// counts). It reaches the state without owning it: the state holds the
    /// catalog that holds this schema.
    state: RwLock<Option<CurrentState>>,
}

/// Reads a session's state as it is now, or `None` once the session is gone.
pub type CurrentState = Arc<dyn Fn() -> Option<SessionState> + Send + Sync>;

impl std::fmt::Debug for WarehouseSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarehouseSchema")
            .field("warehouse", &self.warehouse)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// A digest of the settings a table is opened under: a provider opened
/// before a `SET` (of `datafusion.execution.parquet.coerce_int96`, say) is
/// not used after it.
fn settings_key(state: &SessionState) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for entry in state.config_options().entries() {
        entry.key.hash(&mut hasher);
        entry.value.hash(&mut hasher);
    }
    hasher.finish()
}

/// Forgets DataFusion's cached file listings and statistics of table
/// `name`, so that a table opened anew (dropped and created again over new
/// files, here or by another process) is listed anew.
fn forget_cached_files(state: &SessionState, schema: &str, name: &str) -> Result<()> {
    let cache = &state.runtime_env().cache_manager;
    let refs = [
        TableReference::bare(name),
        TableReference::partial(schema, name),
        TableReference::full(super::CATALOG, schema, name),
    ];
    for table in &refs {
        if let Some(files) = cache.get_list_files_cache() {
            files.drop_table_entries(table)?;
        }
        if let Some(stats) = cache.get_file_statistic_cache() {
            stats.drop_table_entries(table)?;
        }
    }
    Ok(())
}

fn poisoned() -> DataFusionError {
    DataFusionError::Internal("warehouse catalog lock poisoned".to_string())
}

impl WarehouseSchema {
    /// What the warehouse holds, for error messages: `tables: a, b; views: v`.
    pub fn listing(&self) -> String {
        let mut tables = Vec::new();
        let mut views = Vec::new();
        for (name, entry) in self.entries() {
            match entry {
                Ok(Entry::View { .. }) => views.push(name),
                _ => tables.push(name),
            }
        }
        let mut parts = Vec::new();
        if !tables.is_empty() {
            parts.push(format!("tables: {}", tables.join(", ")));
        }
        if !views.is_empty() {
            parts.push(format!("views: {}", views.join(", ")));
        }
        if parts.is_empty() && self.name == super::SCHEMA {
            "the warehouse has no tables yet".to_string()
        } else if parts.is_empty() {
            format!("schema '{}' has no tables yet", self.name)
        } else {
            parts.join("; ")
        }
    }

    /// The `public` schema, whose objects are at the warehouse's root.
    pub fn new(warehouse: Arc<Warehouse>) -> Self {
        Self::named(super::SCHEMA, warehouse)
    }

    /// Schema `name`, whose objects are under `warehouse` (see
    /// [`Warehouse::in_schema`]).
    pub fn named(name: &str, warehouse: Arc<Warehouse>) -> Self {
        Self {
            name: name.to_string(),
            warehouse,
            index: RwLock::new(BTreeMap::new()),
            providers: Mutex::new(HashMap::new()),
            session_tables: RwLock::new(HashMap::new()),
            state: RwLock::new(None),
        }
    }

    /// Gives the schema the session whose state it plans views and opens
    /// tables with. Called once, after every function is registered.
    pub fn attach(&self, ctx: &SessionContext) {
        let weak = ctx.state_weak_ref();
        self.attach_to(Arc::new(move || weak.upgrade().map(|s| s.read().clone())));
    }

    /// As [`Self::attach`], with the session's state as `current` reads it.
    pub fn attach_to(&self, current: CurrentState) {
        if let Ok(mut s) = self.state.write() {
            *s = Some(current);
        }
    }

    /// The schema's name in the `quiver` catalog.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn state(&self) -> Result<SessionState> {
        self.state
            .read()
            .map_err(|_| poisoned())?
            .as_ref()
            .and_then(|current| current())
            .ok_or_else(|| {
                DataFusionError::Internal(
                    "the warehouse schema is not attached to a session".into(),
                )
            })
    }

    pub fn warehouse(&self) -> &Arc<Warehouse> {
        &self.warehouse
    }

    /// Re-reads the catalog listing and every entry that changed since.
    pub async fn refresh(&self) -> Result<()> {
        let store = self.warehouse.store();
        let dir = self.warehouse.catalog_dir();
        let metas: Vec<_> = match store.list(Some(&dir)).try_collect().await {
            Ok(m) => m,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => {
                return Err(quiver_engine::store::objects::store_error(
                    "listing the catalog",
                    e,
                ));
            }
        };
        let known = self.index.read().map_err(|_| poisoned())?.clone();
        let mut fresh = BTreeMap::new();
        let mut to_read = Vec::new();
        for meta in metas {
            let Some(name) = Warehouse::entry_name(&meta.location) else {
                continue;
            };
            let tag = format!("{:?}/{}/{}", meta.e_tag, meta.last_modified, meta.size);
            match known.get(&name) {
                Some(old) if old.tag == tag => {
                    fresh.insert(name, old.clone());
                }
                _ => to_read.push((name, tag, meta.location)),
            }
        }
        let read: Vec<(String, Indexed)> = futures::stream::iter(to_read)
            .map(|(name, tag, path)| async move {
                let entry = match store.get(&path).await {
                    Ok(got) => match got.bytes().await {
                        Ok(bytes) => serde_json::from_slice::<Entry>(&bytes)
                            .map_err(|e| format!("{} is not a valid catalog entry: {e}", path)),
                        Err(e) => Err(format!("reading {path}: {e}")),
                    },
                    Err(e) => Err(format!("reading {path}: {e}")),
                };
                (name, Indexed { tag, entry })
            })
            .buffer_unordered(16)
            .collect()
            .await;
        fresh.extend(read);
        *self.index.write().map_err(|_| poisoned())? = fresh;
        Ok(())
    }

    /// The persistent entries, by name.
    pub fn entries(&self) -> Vec<(String, std::result::Result<Entry, String>)> {
        self.index
            .read()
            .map(|idx| {
                idx.iter()
                    .map(|(k, v)| (k.clone(), v.entry.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `name` is a table registered for this session only.
    pub fn is_session_table(&self, name: &str) -> bool {
        self.session_tables
            .read()
            .map(|t| t.contains_key(name))
            .unwrap_or(false)
    }

    /// Forgets the cached provider of `name` (after quiver changed it).
    pub fn invalidate(&self, name: &str) {
        if let Ok(mut p) = self.providers.lock() {
            p.remove(name);
        }
        if let Ok(mut idx) = self.index.write() {
            idx.remove(name);
        }
    }

    async fn open(
        &self,
        state: &SessionState,
        name: &str,
        entry: &Entry,
    ) -> Result<Arc<dyn TableProvider>> {
        forget_cached_files(state, &self.name, name)?;
        match entry {
            Entry::Table {
                files, declared, ..
            } => Ok(Arc::new(
                WarehouseTable::open(state, Arc::clone(&self.warehouse), name, files, declared)
                    .await?,
            )),
            Entry::Delta { declared, .. } => {
                let table = delta::load(&self.warehouse, name).await?.ok_or_else(|| {
                    DataFusionError::Execution(format!(
                        "table '{name}' cannot be loaded: its folder has no Delta log"
                    ))
                })?;
                let files = delta::files(&table, name)?;
                Ok(Arc::new(
                    WarehouseTable::open(
                        state,
                        Arc::clone(&self.warehouse),
                        name,
                        &files,
                        declared,
                    )
                    .await?,
                ))
            }
            Entry::View { definition, .. } => {
                match quiver_engine::plan::sql::plan_sql(state, definition).await {
                    Ok(LogicalPlan::Ddl(DdlStatement::CreateView(view))) => Ok(Arc::new(
                        ViewTable::new(view.input.as_ref().clone(), Some(definition.clone())),
                    )),
                    Ok(_) => Err(DataFusionError::Internal(format!(
                        "the definition of view '{name}' is not a CREATE VIEW"
                    ))),
                    Err(e) => Err(DataFusionError::Plan(format!(
                        "view '{name}' cannot be planned: {}",
                        e.strip_backtrace()
                    ))),
                }
            }
            Entry::External {
                definition,
                partitions,
                ..
            } => {
                match quiver_engine::plan::sql::plan_sql(state, definition).await {
                    Ok(LogicalPlan::Ddl(DdlStatement::CreateExternalTable(cmd))) => {
                        // A stored entry is checked like a new statement:
                        // the catalog is files, and files can be changed.
                        if let Some(policy) = PathPolicy::of(state) {
                            for location in &cmd.locations {
                                policy.check(&format!("external table '{name}'"), location)?;
                            }
                        }
                        create_external(state, &cmd, partitions.as_deref())
                            .await
                            .map_err(|e| {
                                DataFusionError::Plan(format!(
                                    "external table '{name}' cannot be opened: {}",
                                    e.strip_backtrace()
                                ))
                            })
                    }
                    Ok(_) => Err(DataFusionError::Internal(format!(
                        "the definition of '{name}' is not a CREATE EXTERNAL TABLE"
                    ))),
                    Err(e) => Err(e),
                }
            }
        }
    }
}

/// The partition columns of an external table DataFusion opened (a listing
/// table: files in folders); `None` for a table of another kind.
pub fn partition_names(table: &dyn TableProvider) -> Option<Vec<String>> {
    let listing = table.downcast_ref::<ListingTable>()?;
    Some(
        listing
            .options()
            .table_partition_cols
            .iter()
            .map(|(name, _)| name.clone())
            .collect(),
    )
}

/// Opens an external table as DataFusion would, after giving DataFusion the
/// object store its location needs (built from the environment and the
/// statement's `aws.*` / `gcp.*` / `azure.*` options, which are removed from
/// what the file format sees).
///
/// `partitions` are the partition columns the table's CREATE settled on,
/// when it is opened again from its stored definition: DataFusion infers
/// and checks partitions when a table is created, against the folders as
/// they are then, and never after; a table opened again takes them as they
/// were, whatever was written since (a stray file at the root, another
/// table's folders beside its own).
pub async fn create_external(
    state: &SessionState,
    cmd: &CreateExternalTable,
    partitions: Option<&[String]>,
) -> Result<Arc<dyn TableProvider>> {
    let mut cmd = cmd.clone();
    // The definition a table shows (information_schema, SHOW CREATE).
    cmd.definition = cmd.definition.as_deref().map(secrets::redact);
    let store_options: HashMap<String, String> = cmd
        .options
        .iter()
        .filter(|(k, _)| STORE_OPTION_PREFIXES.iter().any(|p| k.starts_with(p)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    cmd.options.retain(|k, _| !store_options.contains_key(k));
    for url in &cmd.locations {
        if location::needs_store(url) {
            let loc = location::parse(url, &store_options)?;
            state
                .runtime_env()
                .register_object_store(&loc.store_url, loc.store);
        }
    }
    let file_type = cmd.file_type.to_uppercase();
    let factory = state.table_factories().get(&file_type).ok_or_else(|| {
        let mut known: Vec<&String> = state.table_factories().keys().collect();
        known.sort();
        DataFusionError::Plan(format!(
            "unknown file type '{}' (known: {})",
            cmd.file_type,
            known
                .iter()
                .map(|k| k.to_lowercase())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let Some(partitions) = partitions else {
        return factory.create(state as &dyn Session, &cmd).await;
    };
    // The factory without partitions and without inferring any, so that it
    // neither infers nor checks them; the settled ones are then added.
    let mut plain_state = state.clone();
    plain_state
        .config_mut()
        .options_mut()
        .execution
        .listing_table_factory_infer_partitions = false;
    let declared = Arc::clone(cmd.schema.inner());
    let mut plain = cmd.clone();
    plain.table_partition_cols.clear();
    if !declared.fields().is_empty() {
        let files: Vec<usize> = (0..declared.fields().len())
            .filter(|&i| !partitions.contains(declared.field(i).name()))
            .collect();
        plain.schema = Arc::new(DFSchema::try_from(declared.project(&files)?)?);
    }
    let table = factory.create(&plain_state as &dyn Session, &plain).await?;
    if partitions.is_empty() {
        return Ok(table);
    }
    let Some(listing) = table.downcast_ref::<ListingTable>() else {
        return Ok(table);
    };
    // Typed as DataFusion types them: as declared, else dictionary strings.
    let columns = partitions
        .iter()
        .map(|name| {
            let data_type = match declared.field_with_name(name) {
                Ok(field) => field.data_type().clone(),
                Err(_) => {
                    DataType::Dictionary(Box::new(DataType::UInt16), Box::new(DataType::Utf8))
                }
            };
            (name.clone(), data_type)
        })
        .collect();
    let config = ListingTableConfig::new_with_multi_paths(listing.table_paths().clone())
        .with_listing_options(listing.options().clone().with_table_partition_cols(columns))
        .with_schema(listing.schema());
    let reopened = ListingTable::try_new(config)?
        .with_cache(state.runtime_env().cache_manager.get_file_statistic_cache())
        .with_definition(cmd.definition.clone())
        .with_constraints(cmd.constraints.clone())
        .with_column_defaults(cmd.column_defaults.clone());
    Ok(Arc::new(reopened))
}

#[async_trait]
impl SchemaProvider for WarehouseSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .index
            .read()
            .map(|idx| idx.keys().cloned().collect())
            .unwrap_or_default();
        if let Ok(t) = self.session_tables.read() {
            names.extend(t.keys().cloned());
        }
        names.sort();
        names.dedup();
        names
    }

    /// The kind from the catalog entry, without opening the table or
    /// planning the view: `information_schema.tables` lists every entry,
    /// and one view whose table was dropped or renamed must not make the
    /// listing fail (dbt lists a schema's relations before each run, and
    /// renames tables under their views in every table materialization).
    async fn table_type(&self, name: &str) -> Result<Option<TableType>> {
        if let Some(t) = self
            .session_tables
            .read()
            .map_err(|_| poisoned())?
            .get(name)
        {
            return Ok(Some(t.table_type()));
        }
        let index = self.index.read().map_err(|_| poisoned())?;
        Ok(index.get(name).map(|indexed| match &indexed.entry {
            Ok(Entry::View { .. }) => TableType::View,
            _ => TableType::Base,
        }))
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(t) = self
            .session_tables
            .read()
            .map_err(|_| poisoned())?
            .get(name)
        {
            return Ok(Some(Arc::clone(t)));
        }
        let Some(indexed) = self
            .index
            .read()
            .map_err(|_| poisoned())?
            .get(name)
            .cloned()
        else {
            return Ok(None);
        };
        let entry = indexed.entry.map_err(|why| {
            DataFusionError::Execution(format!("'{name}' cannot be loaded: {why}"))
        })?;
        let state = self.state()?;
        let mut key = format!("{}|{:x}", indexed.tag, settings_key(&state));
        let cached = self
            .providers
            .lock()
            .map_err(|_| poisoned())?
            .get(name)
            .cloned();
        if let Entry::Delta { .. } = entry {
            // Writes commit to the table's log, not its entry: a table is
            // opened again when its log has a newer version, here or by
            // another process (one listing of the log from the version
            // opened last).
            let from = cached
                .as_ref()
                .and_then(|(k, _)| k.rsplit_once("|v"))
                .and_then(|(_, v)| v.parse::<i64>().ok())
                .unwrap_or(0);
            let version = delta::latest_version(&self.warehouse, name, from)
                .await?
                .unwrap_or(-1);
            key = format!("{key}|v{version}");
        }
        if let Some((opened, provider)) = cached
            && opened == key
        {
            return Ok(Some(provider));
        }
        // Planning a view's or external table's own definition asks for its
        // name again (DataFusion resolves every name in a statement), and a
        // view may refer to itself through others: an entry being opened is
        // not there for its own definition, so cycles end instead of
        // recursing without end.
        let opening = OPENING.try_with(|o| o.borrow().contains(name));
        if opening == Ok(true) {
            return Ok(None);
        }
        let provider = match opening {
            Ok(_) => {
                OPENING.with(|o| o.borrow_mut().insert(name.to_string()));
                let result = self.open(&state, name, &entry).await;
                OPENING.with(|o| o.borrow_mut().remove(name));
                result?
            }
            Err(_) => {
                let scope = RefCell::new(HashSet::from([name.to_string()]));
                OPENING
                    .scope(scope, self.open(&state, name, &entry))
                    .await?
            }
        };
        self.providers
            .lock()
            .map_err(|_| poisoned())?
            .insert(name.to_string(), (key, Arc::clone(&provider)));
        Ok(Some(provider))
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        if self
            .index
            .read()
            .map_err(|_| poisoned())?
            .contains_key(&name)
        {
            return Err(already_exists(format!(
                "'{name}' already exists in the warehouse"
            )));
        }
        Ok(self
            .session_tables
            .write()
            .map_err(|_| poisoned())?
            .insert(name, table))
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        Ok(self
            .session_tables
            .write()
            .map_err(|_| poisoned())?
            .remove(name))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.is_session_table(name)
            || self
                .index
                .read()
                .map(|idx| idx.contains_key(name))
                .unwrap_or(false)
    }
}
