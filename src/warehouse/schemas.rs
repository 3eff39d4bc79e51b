//! The `quiver` catalog as DataFusion sees it: `public` (the objects at the
//! warehouse's root) and every schema `CREATE SCHEMA` made, each a
//! [`WarehouseSchema`] over its folder `schemas/<name>/`. Schemas persist
//! as markers (`schemas/<name>.json`); [`WarehouseCatalog::refresh`] finds
//! those other processes made or dropped.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use datafusion::catalog::{CatalogProvider, SchemaProvider};
use datafusion::common::{DataFusionError, Result, plan_err};
use datafusion::prelude::SessionContext;
use quiver_engine::error::{already_exists, not_found};

use super::catalog::CurrentState;
use super::{SCHEMA, Warehouse, WarehouseSchema};

/// The catalog of a quiver session.
pub struct WarehouseCatalog {
    warehouse: Arc<Warehouse>,
    schemas: RwLock<BTreeMap<String, Arc<WarehouseSchema>>>,
    /// Schemas registered for this session only, through DataFusion's API
    /// (`CatalogProvider::register_schema`); SQL makes warehouse schemas.
    session_schemas: RwLock<BTreeMap<String, Arc<dyn SchemaProvider>>>,
    /// The session's state, for the schemas found after it attached.
    state: RwLock<Option<CurrentState>>,
}

impl std::fmt::Debug for WarehouseCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarehouseCatalog")
            .field("warehouse", &self.warehouse.url())
            .finish_non_exhaustive()
    }
}

fn poisoned() -> DataFusionError {
    DataFusionError::Internal("warehouse schema list lock poisoned".to_string())
}

impl WarehouseCatalog {
    /// The catalog of `warehouse`, whose `public` schema is `public`.
    pub fn new(warehouse: Arc<Warehouse>, public: Arc<WarehouseSchema>) -> Self {
        Self {
            warehouse,
            schemas: RwLock::new(BTreeMap::from([(SCHEMA.to_string(), public)])),
            session_schemas: RwLock::new(BTreeMap::new()),
            state: RwLock::new(None),
        }
    }

    /// Gives every schema, now and later, the session it plans with.
    pub fn attach(&self, ctx: &SessionContext) {
        let weak = ctx.state_weak_ref();
        let current: CurrentState = Arc::new(move || weak.upgrade().map(|s| s.read().clone()));
        for schema in self.all() {
            schema.attach_to(Arc::clone(&current));
        }
        if let Ok(mut s) = self.state.write() {
            *s = Some(current);
        }
    }

    /// Schema `name` of the warehouse, if it has one.
    /// The warehouse whose schemas these are.
    pub fn warehouse(&self) -> &Arc<Warehouse> {
        &self.warehouse
    }

    pub fn get(&self, name: &str) -> Option<Arc<WarehouseSchema>> {
        self.schemas.read().ok()?.get(name).cloned()
    }

    fn all(&self) -> Vec<Arc<WarehouseSchema>> {
        self.schemas
            .read()
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Brings the list of schemas, and each schema's index, up to date
    /// with the warehouse (one listing of `schemas/`, one of each schema's
    /// catalog).
    pub async fn refresh(&self) -> Result<()> {
        let names = self.warehouse.schema_names().await?;
        {
            let current = self.state.read().map_err(|_| poisoned())?.clone();
            let mut schemas = self.schemas.write().map_err(|_| poisoned())?;
            schemas.retain(|name, _| name == SCHEMA || names.contains(name));
            for name in names {
                schemas.entry(name.clone()).or_insert_with(|| {
                    let schema = WarehouseSchema::named(&name, self.warehouse.in_schema(&name));
                    if let Some(current) = &current {
                        schema.attach_to(Arc::clone(current));
                    }
                    Arc::new(schema)
                });
            }
        }
        for schema in self.all() {
            schema.refresh().await?;
        }
        Ok(())
    }

    /// `CREATE SCHEMA [IF NOT EXISTS] name`.
    pub async fn create(&self, name: &str, if_not_exists: bool) -> Result<()> {
        let in_session = self
            .session_schemas
            .read()
            .map_err(|_| poisoned())?
            .contains_key(name);
        if name == SCHEMA || in_session || !self.warehouse.create_schema(name).await? {
            if if_not_exists {
                return Ok(());
            }
            return Err(already_exists(format!("schema '{name}' already exists")));
        }
        self.refresh().await
    }

    /// `DROP SCHEMA [IF EXISTS] name [CASCADE | RESTRICT]`: without CASCADE
    /// a schema that holds anything stays, with an error saying what.
    pub async fn drop(&self, name: &str, if_exists: bool, cascade: bool) -> Result<()> {
        if name == SCHEMA {
            return plan_err!("schema '{SCHEMA}' is the warehouse's own and cannot be dropped");
        }
        self.refresh().await?;
        let Some(schema) = self.get(name) else {
            let session = self
                .session_schemas
                .read()
                .map_err(|_| poisoned())?
                .get(name)
                .cloned();
            if let Some(session) = session {
                if !cascade && !session.table_names().is_empty() {
                    return plan_err!(
                        "schema '{name}' is not empty (tables: {}); DROP SCHEMA {name} CASCADE \
                         drops it with everything in it",
                        session.table_names().join(", ")
                    );
                }
                self.session_schemas
                    .write()
                    .map_err(|_| poisoned())?
                    .remove(name);
                return Ok(());
            }
            if if_exists {
                return Ok(());
            }
            return Err(not_found(format!(
                "schema '{name}' does not exist (schemas: {})",
                self.schema_names().join(", ")
            )));
        };
        if !cascade && !schema.entries().is_empty() {
            return plan_err!(
                "schema '{name}' is not empty ({}); DROP SCHEMA {name} CASCADE drops it with \
                 everything in it",
                schema.listing()
            );
        }
        self.warehouse.drop_schema(name).await?;
        self.refresh().await
    }
}

impl CatalogProvider for WarehouseCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .schemas
            .read()
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default();
        if let Ok(session) = self.session_schemas.read() {
            names.extend(session.keys().cloned());
        }
        names.sort();
        names.dedup();
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if let Some(schema) = self.get(name) {
            return Some(schema as Arc<dyn SchemaProvider>);
        }
        self.session_schemas.read().ok()?.get(name).cloned()
    }

    /// A schema for this session only (a library's or a test's), beside the
    /// warehouse's; a warehouse schema's name is refused.
    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        if self.get(name).is_some() {
            return Err(already_exists(format!(
                "schema '{name}' is a schema of the warehouse"
            )));
        }
        Ok(self
            .session_schemas
            .write()
            .map_err(|_| poisoned())?
            .insert(name.to_string(), schema))
    }

    fn deregister_schema(
        &self,
        name: &str,
        _cascade: bool,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        if self.get(name).is_some() {
            return plan_err!("schema '{name}': DROP SCHEMA drops the warehouse's schemas");
        }
        Ok(self
            .session_schemas
            .write()
            .map_err(|_| poisoned())?
            .remove(name))
    }
}
