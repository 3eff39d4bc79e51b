//! Which locations a statement may read or write: the one path policy.
//!
//! Every plan quiver builds from SQL text (a statement, a model's `AS`
//! query) passes through [`PathPolicy::check_plan`], and every stored
//! external table through [`PathPolicy::check`] before it is opened. The
//! plan walk sees every node, however deep: a `COPY` under `EXPLAIN
//! ANALYZE`, a scan inside a view or a subquery, the target of an `INSERT`.
//!
//! Two rules:
//! - the warehouse's own folders (`catalog/`, `tables/`, `models/`, and the
//!   root, which holds them) are never a location a statement names: a
//!   `COPY` there could forge a catalog entry or overwrite a table's files
//!   past their atomic publish, and an external table there could read the
//!   catalog, with the credentials it stores;
//! - a server refuses every location outside the warehouse unless started
//!   with `--allow-outside-paths`: its paths are its own, not its clients'.
//!
//! Locations are compared as DataFusion will open them
//! ([`ListingTableUrl::parse`]): `..` resolved, percent-escapes decoded, a
//! glob cut at its fixed prefix.

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::listing::{ListingTable, ListingTableUrl};
use datafusion::datasource::source_as_provider;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{DdlStatement, LogicalPlan, TableSource};
use object_store::path::Path;

/// The warehouse's folders that no statement may name.
const OWN_FOLDERS: [&str; 3] = ["catalog", "tables", "models"];

/// How deep views may nest inside views before the walk gives up (a view
/// that refers to itself is cut off when it is opened; this bounds the rest).
const MAX_VIEW_DEPTH: usize = 64;

/// The path policy of one session (see the module docs).
#[derive(Debug, Clone)]
pub struct PathPolicy {
    /// The warehouse root's store (`file://`, `s3://bucket`) and path.
    store: String,
    root: Path,
    /// Whether locations outside the warehouse are allowed.
    outside: bool,
}

impl PathPolicy {
    /// The policy for a warehouse at `warehouse_url`; `outside` allows
    /// locations outside it.
    pub fn new(warehouse_url: &str, outside: bool) -> Result<Self> {
        let root = ListingTableUrl::parse(warehouse_url)?;
        Ok(Self {
            store: root.object_store().as_str().to_string(),
            root: root.prefix().clone(),
            outside,
        })
    }

    /// The policy a session state carries, if any (a state quiver did not
    /// build has none and checks nothing).
    pub fn of(state: &SessionState) -> Option<Arc<Self>> {
        state.config().get_extension::<Self>()
    }

    /// Refuses `location` when this policy does not allow `what` (the
    /// statement, for the message) to name it.
    pub fn check(&self, what: &str, location: &str) -> Result<()> {
        let url = ListingTableUrl::parse(location).map_err(|e| {
            DataFusionError::Plan(format!(
                "{what} '{location}': not a valid location: {}",
                e.strip_backtrace()
            ))
        })?;
        let same_store = url.object_store().as_str() == self.store;
        let inside = same_store.then(|| url.prefix().prefix_match(&self.root));
        match inside.flatten().map(|mut rest| rest.next()) {
            Some(None) => Err(own_folder(what, location, "the warehouse root")),
            Some(Some(first)) if OWN_FOLDERS.contains(&first.as_ref()) => Err(own_folder(
                what,
                location,
                &format!("the warehouse's {}/ folder", first.as_ref()),
            )),
            Some(Some(_)) => Ok(()),
            // An ancestor of the root holds the warehouse's own folders too.
            None if same_store && self.root.prefix_matches(url.prefix()) && !self.outside => Err(
                own_folder(what, location, "a folder that holds the warehouse"),
            ),
            None if self.outside => Ok(()),
            None => Err(DataFusionError::Plan(format!(
                "{what} '{location}': the path is outside the warehouse, and this server does \
                 not allow that (start it with --allow-outside-paths)"
            ))),
        }
    }

    /// Checks every location `plan` reads or writes, at any depth.
    pub fn check_plan(&self, plan: &LogicalPlan) -> Result<()> {
        self.check_plan_at(plan, 0)
    }

    fn check_plan_at(&self, plan: &LogicalPlan, depth: usize) -> Result<()> {
        if depth > MAX_VIEW_DEPTH {
            return Err(DataFusionError::Plan(format!(
                "views nest more than {MAX_VIEW_DEPTH} deep"
            )));
        }
        plan.apply_with_subqueries(|node| {
            match node {
                LogicalPlan::Copy(copy) => self.check("COPY", &copy.output_url)?,
                LogicalPlan::Ddl(DdlStatement::CreateExternalTable(create)) => {
                    for location in &create.locations {
                        self.check("CREATE EXTERNAL TABLE", location)?;
                    }
                }
                LogicalPlan::TableScan(scan) => {
                    let what = format!("table '{}'", scan.table_name);
                    self.check_source(&what, &scan.source, depth)?;
                }
                LogicalPlan::Dml(dml) => {
                    let what = format!("{} '{}'", dml.op, dml.table_name);
                    self.check_source(&what, &dml.target, depth)?;
                }
                _ => {}
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .map(|_| ())
    }

    /// Checks the files a table reads (an external table's locations) and
    /// what a view's plan reads.
    fn check_source(&self, what: &str, source: &Arc<dyn TableSource>, depth: usize) -> Result<()> {
        if let Some(view) = source.get_logical_plan() {
            return self.check_plan_at(&view, depth + 1);
        }
        let Ok(provider) = source_as_provider(source) else {
            return Ok(());
        };
        self.check_provider(what, provider.as_ref())
    }

    /// Checks an opened table's locations: a listing table's paths.
    pub fn check_provider(&self, what: &str, provider: &dyn TableProvider) -> Result<()> {
        if let Some(listing) = provider.downcast_ref::<ListingTable>() {
            for path in listing.table_paths() {
                self.check(what, path.as_str())?;
            }
        }
        Ok(())
    }
}

fn own_folder(what: &str, location: &str, which: &str) -> DataFusionError {
    DataFusionError::Plan(format!(
        "{what} '{location}': the path is {which}, which only quiver writes"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(outside: bool) -> PathPolicy {
        PathPolicy::new("file:///srv/wh/", outside).expect("policy")
    }

    #[test]
    fn inside_the_warehouse_is_allowed_but_its_own_folders() {
        let p = policy(false);
        p.check("COPY", "/srv/wh/exports/x.csv").expect("inside");
        p.check("COPY", "file:///srv/wh/exports/")
            .expect("inside, as a URL");
        for own in [
            "/srv/wh/catalog/x.json",
            "/srv/wh/tables/t/part.parquet",
            "/srv/wh/models/m/",
            "/srv/wh/",
            "/srv/wh",
            "file:///srv/wh/cat%61log/x.json",
            "/srv/wh/exports/../catalog/x.json",
            "/srv/wh/catal*/",
        ] {
            let err = p.check("COPY", own).expect_err(own).to_string();
            assert!(err.contains("which only quiver writes"), "{own}: {err}");
            let err = policy(true).check("COPY", own).expect_err(own).to_string();
            assert!(err.contains("which only quiver writes"), "{own}: {err}");
        }
    }

    #[test]
    fn outside_is_refused_unless_allowed() {
        for outside in [
            "/tmp/x.csv",
            "/srv/wh/../x.csv",
            "/srv/wh-other/x.csv",
            "s3://bucket/x",
            "file:///etc/passwd",
            "/srv/",
        ] {
            let err = policy(false).check("COPY", outside).expect_err(outside);
            assert!(err.to_string().contains("outside") || err.to_string().contains("holds"));
        }
        policy(true).check("COPY", "/tmp/x.csv").expect("allowed");
        policy(true).check("COPY", "/srv/").expect("allowed");
    }
}
