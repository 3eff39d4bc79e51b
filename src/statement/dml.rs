//! `DELETE`, `UPDATE`, `MERGE INTO` and `TRUNCATE` on warehouse tables
//! (#24), as Delta Lake's copy-on-write: a first pass finds the files that
//! hold rows the statement changes; a second reads only those files and
//! writes the rows they keep, changed or not, as one new file; one commit
//! removes the old files and adds the new one. Files without such rows are
//! neither read twice nor written.
//!
//! The statement runs on one snapshot of the table. When another writer
//! commits first a change that conflicts with it (removes a file it read,
//! changes the schema), nothing is committed and it runs again on the newer
//! snapshot; an append by another writer does not conflict, and its rows
//! are not seen (the statement is ordered before it).
//!
//! DataFusion's own path (`TableProvider::delete_from` and the like) is not
//! used: it hands a table only the filters it can extract from the plan,
//! and a `WHERE` with a subquery would lose them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::arrow::array::{Array, AsArray, RecordBatch, UInt64Array};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Int64Type, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::catalog::default_table_source::{provider_as_source, source_as_provider};
use datafusion::common::{Column, DataFusionError, Result, ScalarValue, TableReference};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::functions_aggregate::expr_fn::{count, max};
use datafusion::logical_expr::dml::{MergeIntoAction, MergeIntoClauseKind, MergeIntoOp};
use datafusion::logical_expr::{
    DmlStatement, Expr, ExprSchemable, Filter, JoinType, LogicalPlan, LogicalPlanBuilder,
    Projection, SubqueryAlias, TableScanBuilder, WriteOp, col, lit, when,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use datafusion::sql::unparser::expr_to_sql;
use deltalake_core::protocol::{DeltaOperation, MergePredicate};
use futures::StreamExt;

use crate::warehouse::delta::{self, COMMIT_ATTEMPTS, DataFile};
use crate::warehouse::rows::{FILE_COLUMN, ROW_COLUMN};
use crate::warehouse::table::{Unpublished, WarehouseTable, write_file};
use crate::warehouse::{Warehouse, WarehouseSchema};

/// The columns that mark, in a `MERGE`'s join, that a row has a target
/// row and a source row, and the clause that fires for it.
const TARGET_MARK: &str = "__quiver_target";
const SOURCE_MARK: &str = "__quiver_source";
const ACTION: &str = "__quiver_action";
const KEEP: &str = "__quiver_keep";

/// Whether quiver runs `op` itself on a warehouse table (see the module
/// doc); `INSERT` goes through the table's sink.
pub fn changes_in_place(op: &WriteOp) -> bool {
    matches!(
        op,
        WriteOp::Delete | WriteOp::Update | WriteOp::Truncate | WriteOp::MergeInto(_)
    )
}

/// The statement's word, for messages.
fn verb(op: &WriteOp) -> &'static str {
    match op {
        WriteOp::Delete => "DELETE",
        WriteOp::Update => "UPDATE",
        WriteOp::Truncate => "TRUNCATE",
        WriteOp::MergeInto(_) => "MERGE INTO",
        _ => "INSERT",
    }
}

/// What one run of a statement on one snapshot changes.
struct Change {
    /// Positions in the snapshot's file list of the files it removes.
    removed: Vec<usize>,
    added: Option<Unpublished>,
    /// Rows deleted, updated or inserted: the statement's result.
    count: u64,
}

impl Change {
    fn none() -> Self {
        Self {
            removed: Vec::new(),
            added: None,
            count: 0,
        }
    }
}

/// Runs `dml` on warehouse table `name` and returns its result, one row
/// with the count of rows it changed (as DataFusion's DML does). `None`
/// when `name` is not a table of the warehouse (a session's own table),
/// which DataFusion changes itself.
pub async fn run(
    ctx: &SessionContext,
    schema: &WarehouseSchema,
    name: &str,
    dml: &DmlStatement,
) -> Result<Option<RecordBatch>> {
    let provider = source_as_provider(&dml.target)?;
    let Some(target) = provider.downcast_ref::<WarehouseTable>() else {
        if schema.is_session_table(name) {
            return Ok(None);
        }
        let kind = schema
            .entries()
            .into_iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, e)| e.ok())
            .map(|e| e.a_kind())
            .unwrap_or("not a table");
        return Err(DataFusionError::Plan(format!(
            "cannot run {} on '{name}': it is {kind}, and only tables quiver manages change \
             rows",
            verb(&dml.op)
        )));
    };
    // DataFusion's analyzer checks and coerces the statement's expressions
    // (an ON or WHEN condition must be boolean), as it would had it run it.
    let state = ctx.state();
    let analyzed = state.analyzer().execute_and_check(
        LogicalPlan::Dml(dml.clone()),
        state.config_options(),
        |_, _| {},
    )?;
    let LogicalPlan::Dml(dml) = &analyzed else {
        return Err(DataFusionError::Internal(format!(
            "{} on '{name}' was analyzed into another statement",
            verb(&dml.op)
        )));
    };
    let warehouse = schema.warehouse();
    for _ in 0..COMMIT_ATTEMPTS {
        let table = warehouse.delta_table(name, &target.schema()).await?;
        let files = delta::data_files(&table, name)?;
        delta::check_files_exist(warehouse, name, &files).await?;
        let job = Job {
            ctx,
            warehouse,
            name,
            target,
            table: &dml.table_name,
            files: &files,
        };
        let (change, operation) = match &dml.op {
            WriteOp::Delete => job.delete(&dml.input).await?,
            WriteOp::Update => job.update(&dml.input).await?,
            WriteOp::Truncate => job.truncate().await?,
            WriteOp::MergeInto(op) => job.merge(&dml.input, op).await?,
            other => {
                return Err(DataFusionError::Internal(format!(
                    "{} is not run in place",
                    verb(other)
                )));
            }
        };
        if change.removed.is_empty() && change.added.is_none() {
            return Ok(Some(count_batch(change.count)));
        }
        let removed: Vec<DataFile> = change.removed.iter().map(|&i| files[i].clone()).collect();
        let added = change.added.as_ref().map(|a| &a.file);
        let committed = delta::commit_change(name, &table, &removed, added, operation).await;
        // Not committed: another writer's commit conflicts, and the
        // statement runs again on its snapshot.
        if Unpublished::settle(change.added, committed).await? {
            return Ok(Some(count_batch(change.count)));
        }
    }
    Err(DataFusionError::Execution(format!(
        "{} on table '{name}' could not be committed after {COMMIT_ATTEMPTS} attempts: other \
         writers kept changing the files it read",
        verb(&dml.op)
    )))
}

fn count_batch(count: u64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new(
        "count",
        DataType::UInt64,
        false,
    )]));
    RecordBatch::try_new(schema, vec![Arc::new(UInt64Array::from(vec![count]))])
        .expect("one UInt64 column matches its schema")
}

/// One run of a statement on one snapshot of the table.
struct Job<'a> {
    ctx: &'a SessionContext,
    warehouse: &'a Warehouse,
    name: &'a str,
    target: &'a WarehouseTable,
    /// The table as the statement names it (the qualifier of its columns).
    table: &'a TableReference,
    files: &'a [DataFile],
}

impl Job<'_> {
    /// `DELETE FROM t [WHERE p]`: the files with rows where `p` holds are
    /// rewritten with the rows where it does not (false or NULL).
    async fn delete(&self, input: &LogicalPlan) -> Result<(Change, DeltaOperation)> {
        let (predicate, base) = match input {
            LogicalPlan::Filter(f) => (Some(&f.predicate), f.input.as_ref()),
            LogicalPlan::Limit(_) => {
                return self.refuse("DELETE ... LIMIT (which rows a limit picks is not defined)");
            }
            other => (None, other),
        };
        self.check_stable("DELETE", "WHERE", predicate)?;
        let operation = DeltaOperation::Delete {
            predicate: predicate.map(sql_text),
        };
        let (affected, count) = self.matching_files(base, predicate).await?;
        if affected.is_empty() {
            return Ok((Change::none(), operation));
        }
        let kept = match predicate {
            Some(p) => {
                let rows = self.retarget(base, &affected)?;
                let kept = filter(rows, Expr::IsNotTrue(Box::new(p.clone())))?;
                Some(self.execute(table_columns(kept)?).await?)
            }
            None => None,
        };
        let added = self.write(kept, affected.len() == self.files.len()).await?;
        let change = Change {
            removed: affected,
            added,
            count,
        };
        Ok((change, operation))
    }

    /// `UPDATE t SET ... [WHERE p]`: the files with rows where `p` holds are
    /// rewritten, those rows changed and the others as they were.
    async fn update(&self, input: &LogicalPlan) -> Result<(Change, DeltaOperation)> {
        let LogicalPlan::Projection(assignments) = input else {
            return Err(DataFusionError::Internal(format!(
                "UPDATE of '{}': unexpected plan {input}",
                self.name
            )));
        };
        let (predicate, base) = match assignments.input.as_ref() {
            LogicalPlan::Filter(f) => (Some(&f.predicate), f.input.as_ref()),
            other => (None, other),
        };
        if !is_target_scan(base, self.table) {
            return self.refuse("UPDATE ... FROM; MERGE INTO changes rows from another table");
        }
        self.check_stable("UPDATE", "WHERE", predicate)?;
        let operation = DeltaOperation::Update {
            predicate: predicate.map(sql_text),
        };
        let (affected, count) = self.matching_files(base, predicate).await?;
        if affected.is_empty() {
            return Ok((Change::none(), operation));
        }
        let rows = self.retarget(base, &affected)?;
        let changed_rows = match predicate {
            Some(p) => filter(rows.clone(), p.clone())?,
            None => rows.clone(),
        };
        let changed = LogicalPlan::Projection(Projection::try_new(
            assignments.expr.clone(),
            Arc::new(changed_rows),
        )?);
        let all = match predicate {
            Some(p) => {
                let unchanged = filter(rows, Expr::IsNotTrue(Box::new(p.clone())))?;
                LogicalPlanBuilder::from(changed)
                    .union(table_columns(unchanged)?)?
                    .build()?
            }
            None => changed,
        };
        let stream = self.execute(all).await?;
        let added = self.write(Some(stream), true).await?;
        let change = Change {
            removed: affected,
            added,
            count,
        };
        Ok((change, operation))
    }

    /// `TRUNCATE t`: every file removed, one empty file (which keeps the
    /// table's exact column types) added.
    async fn truncate(&self) -> Result<(Change, DeltaOperation)> {
        let operation = DeltaOperation::Delete { predicate: None };
        let all: Vec<usize> = (0..self.files.len()).collect();
        let scan = self.scan(&all, false)?;
        let count = self.per_file_counts(scan).await?.iter().map(|c| c.1).sum();
        let added = self.write(None, true).await?;
        let change = Change {
            removed: all,
            added,
            count,
        };
        Ok((change, operation))
    }

    /// `MERGE INTO t USING s ON c WHEN ...`: the target's files with rows
    /// that some source row matches (every file, with a `WHEN NOT MATCHED BY
    /// SOURCE` clause) are joined with the source; each joined row takes
    /// the first clause that applies to it. A `MERGE` that only inserts
    /// rewrites no file.
    async fn merge(
        &self,
        source: &LogicalPlan,
        op: &MergeIntoOp,
    ) -> Result<(Change, DeltaOperation)> {
        self.check_stable("MERGE INTO", "ON", Some(&op.on))?;
        for clause in &op.clauses {
            self.check_stable("MERGE INTO", "WHEN", clause.predicate.as_ref())?;
        }
        let operation = merge_operation(op);
        let kinds = |f: fn(&MergeIntoClauseKind) -> bool| op.clauses.iter().any(|c| f(&c.kind));
        let by_source = kinds(|k| *k == MergeIntoClauseKind::NotMatchedBySource);
        let rewrites = by_source || kinds(|k| *k == MergeIntoClauseKind::Matched);
        let inserts = kinds(MergeIntoClauseKind::is_not_matched_by_target);
        let all: Vec<usize> = (0..self.files.len()).collect();
        let target_files = if rewrites {
            let affected = self.matched_files(source, &op.on).await?;
            if by_source { all.clone() } else { affected }
        } else {
            all.clone()
        };
        if target_files.is_empty() && !inserts {
            return Ok((Change::none(), operation));
        }
        let marked = |plan: LogicalPlan, mark: &str| -> Result<LogicalPlan> {
            let mut exprs = columns(&plan, |_| true);
            exprs.push(lit(true).alias(mark));
            LogicalPlanBuilder::from(plan).project(exprs)?.build()
        };
        let target = marked(self.scan(&target_files, false)?, TARGET_MARK)?;
        let join = match (rewrites, inserts) {
            (true, true) => JoinType::Full,
            (true, false) => JoinType::Left,
            (false, _) => JoinType::Right,
        };
        let joined = LogicalPlanBuilder::from(target)
            .join_on(marked(source.clone(), SOURCE_MARK)?, join, [op.on.clone()])?
            .build()?;
        let plan = self.merge_rows(joined, op, rewrites)?;
        let changed = Arc::new(AtomicU64::new(0));
        let stream = self.execute(plan).await?;
        let table_width = self.target.schema().fields().len();
        let stream = merged_rows(stream, table_width, Arc::clone(&changed));
        let removed = if rewrites { target_files } else { Vec::new() };
        let added = self
            .write(Some(stream), removed.len() == self.files.len())
            .await?;
        let count = changed.load(Ordering::Relaxed);
        if count == 0 {
            if let Some(added) = added {
                added.remove().await?;
            }
            return Ok((Change::none(), operation));
        }
        let change = Change {
            removed,
            added,
            count,
        };
        Ok((change, operation))
    }

    /// The rows a `MERGE` writes, from the join of the target's rows with
    /// the source's: the table's columns, the clause that fired
    /// ([`ACTION`], 0 for none) and whether the row stays ([`KEEP`]).
    fn merge_rows(
        &self,
        joined: LogicalPlan,
        op: &MergeIntoOp,
        rewrites: bool,
    ) -> Result<LogicalPlan> {
        let has_target = col(TARGET_MARK).is_not_null();
        let has_source = col(SOURCE_MARK).is_not_null();
        let mut action: Option<datafusion::logical_expr::conditional_expressions::CaseBuilder> =
            None;
        let (mut deletes, mut inserts) = (Vec::new(), Vec::new());
        for (i, clause) in op.clauses.iter().enumerate() {
            let number = lit(i as i32 + 1);
            let applies = match clause.kind {
                MergeIntoClauseKind::Matched => has_target.clone().and(has_source.clone()),
                MergeIntoClauseKind::NotMatchedBySource => col(SOURCE_MARK).is_null(),
                _ => col(TARGET_MARK).is_null(),
            };
            let applies = match &clause.predicate {
                Some(p) => applies.and(p.clone().is_true()),
                None => applies,
            };
            match clause.action {
                MergeIntoAction::Delete => deletes.push(number.clone()),
                MergeIntoAction::Insert { .. } => inserts.push(number.clone()),
                MergeIntoAction::Update(_) => {}
            }
            action = Some(match action {
                None => when(applies, number),
                Some(mut case) => case.when(applies, number),
            });
        }
        let action = match action {
            Some(mut case) => case.otherwise(lit(0i32))?,
            None => lit(0i32),
        };
        let mut exprs = columns(&joined, |_| true);
        exprs.push(action.alias(ACTION));
        let with_action = LogicalPlanBuilder::from(joined).project(exprs)?.build()?;
        let schema = Arc::clone(with_action.schema());
        let fired = |numbers: &[Expr]| -> Expr {
            if numbers.is_empty() {
                lit(false)
            } else {
                col(ACTION).in_list(numbers.to_vec(), false)
            }
        };
        let keep = if rewrites {
            has_target
                .and(Expr::Not(Box::new(fired(&deletes))))
                .or(fired(&inserts))
        } else {
            fired(&inserts)
        };
        let table_schema = self.target.schema();
        let mut out = Vec::with_capacity(table_schema.fields().len() + 2);
        for (position, field) in table_schema.fields().iter().enumerate() {
            let current = Expr::Column(Column::new(Some(self.table.clone()), field.name()));
            let mut value: Option<datafusion::logical_expr::conditional_expressions::CaseBuilder> =
                None;
            for (i, clause) in op.clauses.iter().enumerate() {
                let new = match &clause.action {
                    MergeIntoAction::Update(assignments) => assignments
                        .iter()
                        .find(|(c, _)| c == field.name())
                        .map(|(_, e)| e.clone()),
                    MergeIntoAction::Insert { columns, values } => Some(if columns.is_empty() {
                        values[position].clone()
                    } else {
                        match columns.iter().position(|c| c == field.name()) {
                            Some(j) => values[j].clone(),
                            None => match self.target.get_column_default(field.name()) {
                                Some(default) => default.clone(),
                                None => lit(ScalarValue::try_from(field.data_type())?),
                            },
                        }
                    }),
                    MergeIntoAction::Delete => None,
                };
                if let Some(new) = new {
                    let new = new.cast_to(field.data_type(), schema.as_ref())?;
                    let fires = col(ACTION).eq(lit(i as i32 + 1));
                    value = Some(match value {
                        None => when(fires, new),
                        Some(mut case) => case.when(fires, new),
                    });
                }
            }
            let value = match value {
                Some(mut case) => case.otherwise(current)?,
                None => current,
            };
            out.push(value.alias(field.name()));
        }
        out.push(col(ACTION));
        out.push(keep.alias(KEEP));
        LogicalPlanBuilder::from(with_action).project(out)?.build()
    }

    /// The files (positions in [`Self::files`]) that hold a row some source
    /// row matches; an error when a target row matches more than one (which
    /// source row's values it would take is not defined).
    async fn matched_files(&self, source: &LogicalPlan, on: &Expr) -> Result<Vec<usize>> {
        let all: Vec<usize> = (0..self.files.len()).collect();
        let file = Expr::Column(Column::new(Some(self.table.clone()), FILE_COLUMN));
        let row = Expr::Column(Column::new(Some(self.table.clone()), ROW_COLUMN));
        let plan = LogicalPlanBuilder::from(self.scan(&all, true)?)
            .join_on(source.clone(), JoinType::Inner, [on.clone()])?
            .aggregate(vec![file.clone(), row], vec![count(lit(1)).alias("n")])?
            .aggregate(vec![file], vec![max(col("n")).alias("most")])?
            .build()?;
        let batches = self.ctx.execute_logical_plan(plan).await?.collect().await?;
        let mut files = Vec::new();
        for batch in &batches {
            let positions = batch
                .column(0)
                .as_primitive::<datafusion::arrow::datatypes::UInt32Type>();
            let most = batch.column(1).as_primitive::<Int64Type>();
            for i in 0..batch.num_rows() {
                if most.value(i) > 1 {
                    return Err(DataFusionError::Execution(format!(
                        "MERGE INTO '{}': a row of the table matches {} rows of the source; \
                         each row may match at most one when the statement changes matched \
                         rows (make the ON condition or the source unique)",
                        self.name,
                        most.value(i)
                    )));
                }
                files.push(positions.value(i) as usize);
            }
        }
        files.sort_unstable();
        Ok(files)
    }

    /// The files with rows of `base` (the table's scan) where `predicate`
    /// holds, and how many rows that is.
    async fn matching_files(
        &self,
        base: &LogicalPlan,
        predicate: Option<&Expr>,
    ) -> Result<(Vec<usize>, u64)> {
        let all: Vec<usize> = (0..self.files.len()).collect();
        let rows = self.retarget(base, &all)?;
        let rows = match predicate {
            Some(p) => filter(rows, p.clone())?,
            None => rows,
        };
        let counts = self.per_file_counts(rows).await?;
        let total = counts.iter().map(|c| c.1).sum();
        let mut files: Vec<usize> = counts.into_iter().map(|c| c.0).collect();
        files.sort_unstable();
        Ok((files, total))
    }

    /// Rows of `plan` per file that has any.
    async fn per_file_counts(&self, plan: LogicalPlan) -> Result<Vec<(usize, u64)>> {
        let plan = LogicalPlanBuilder::from(plan)
            .aggregate(
                vec![Expr::Column(Column::from_name(FILE_COLUMN))],
                vec![count(lit(1)).alias("n")],
            )?
            .build()?;
        let batches = self.ctx.execute_logical_plan(plan).await?.collect().await?;
        let mut out = Vec::new();
        for batch in &batches {
            let positions = batch
                .column(0)
                .as_primitive::<datafusion::arrow::datatypes::UInt32Type>();
            let counts = batch.column(1).as_primitive::<Int64Type>();
            for i in 0..batch.num_rows() {
                out.push((positions.value(i) as usize, counts.value(i).max(0) as u64));
            }
        }
        Ok(out)
    }

    /// A scan of the files at `positions`, named as the statement names the
    /// table.
    fn scan(&self, positions: &[usize], row_numbers: bool) -> Result<LogicalPlan> {
        let files: Vec<DataFile> = positions.iter().map(|&i| self.files[i].clone()).collect();
        let rows = self.target.rows(&files, row_numbers)?;
        let source = provider_as_source(Arc::new(rows));
        Ok(LogicalPlan::TableScan(
            TableScanBuilder::new(self.table.clone(), source).build()?,
        ))
    }

    /// `base` (the table's scan, perhaps under an alias) over the files at
    /// `positions`, with [`FILE_COLUMN`] telling each row's file.
    fn retarget(&self, base: &LogicalPlan, positions: &[usize]) -> Result<LogicalPlan> {
        match base {
            LogicalPlan::TableScan(scan) if scan.table_name.resolved_eq(self.table) => {
                self.scan(positions, false)
            }
            LogicalPlan::SubqueryAlias(alias) => {
                Ok(LogicalPlan::SubqueryAlias(SubqueryAlias::try_new(
                    Arc::new(self.retarget(&alias.input, positions)?),
                    alias.alias.clone(),
                )?))
            }
            other => Err(DataFusionError::Internal(format!(
                "DML on '{}': unexpected plan {other}",
                self.name
            ))),
        }
    }

    async fn execute(&self, plan: LogicalPlan) -> Result<SendableRecordBatchStream> {
        self.ctx
            .execute_logical_plan(plan)
            .await?
            .execute_stream()
            .await
    }

    /// Writes `rows` as a new file of the table, with the table's exact
    /// column types; no file when there are none, unless `keep_empty` (the
    /// statement removes every file, and an empty one keeps the table's
    /// types).
    async fn write(
        &self,
        rows: Option<SendableRecordBatchStream>,
        keep_empty: bool,
    ) -> Result<Option<Unpublished>> {
        let schema = self.target.schema();
        let rows = match rows {
            Some(rows) => conform(rows, Arc::clone(&schema), self.name),
            None => Box::pin(RecordBatchStreamAdapter::new(
                Arc::clone(&schema),
                futures::stream::empty(),
            )),
        };
        let options = self.ctx.copied_config().options().execution.parquet.clone();
        let written = write_file(self.warehouse, self.name, &schema, rows, &options).await?;
        if written.file.rows == Some(0) && !keep_empty {
            written.remove().await?;
            return Ok(None);
        }
        Ok(Some(written))
    }

    fn check_stable(&self, what: &str, clause: &str, predicate: Option<&Expr>) -> Result<()> {
        if predicate.is_some_and(|p| p.is_volatile()) {
            return Err(DataFusionError::Plan(format!(
                "{what} '{}': the {clause} condition calls a volatile function (such as \
                 random()), which quiver evaluates once to find the files to rewrite and again \
                 to rewrite them; pick the rows into a table first",
                self.name
            )));
        }
        Ok(())
    }

    fn refuse<T>(&self, what: &str) -> Result<T> {
        Err(DataFusionError::NotImplemented(format!(
            "table '{}': {what} is not supported",
            self.name
        )))
    }
}

/// Whether `plan` is a scan of `table`, perhaps under an alias.
fn is_target_scan(plan: &LogicalPlan, table: &TableReference) -> bool {
    match plan {
        LogicalPlan::TableScan(scan) => scan.table_name.resolved_eq(table),
        LogicalPlan::SubqueryAlias(alias) => is_target_scan(&alias.input, table),
        _ => false,
    }
}

fn filter(plan: LogicalPlan, predicate: Expr) -> Result<LogicalPlan> {
    Ok(LogicalPlan::Filter(Filter::try_new(
        predicate,
        Arc::new(plan),
    )?))
}

/// The columns of `plan` that `keep` accepts, as expressions.
fn columns(plan: &LogicalPlan, keep: impl Fn(&str) -> bool) -> Vec<Expr> {
    plan.schema()
        .iter()
        .filter(|(_, f)| keep(f.name()))
        .map(|(q, f)| Expr::Column(Column::from((q, f))))
        .collect()
}

/// `plan` without the columns DML adds ([`FILE_COLUMN`], [`ROW_COLUMN`]).
fn table_columns(plan: LogicalPlan) -> Result<LogicalPlan> {
    let exprs = columns(&plan, |name| name != FILE_COLUMN && name != ROW_COLUMN);
    LogicalPlanBuilder::from(plan).project(exprs)?.build()
}

fn sql_text(expr: &Expr) -> String {
    expr_to_sql(expr)
        .map(|sql| sql.to_string())
        .unwrap_or_else(|_| expr.to_string())
}

fn merge_operation(op: &MergeIntoOp) -> DeltaOperation {
    let predicates = |f: fn(&MergeIntoClauseKind) -> bool| {
        op.clauses
            .iter()
            .filter(|c| f(&c.kind))
            .map(|c| MergePredicate {
                action_type: match c.action {
                    MergeIntoAction::Update(_) => "update",
                    MergeIntoAction::Insert { .. } => "insert",
                    MergeIntoAction::Delete => "delete",
                }
                .to_string(),
                predicate: c.predicate.as_ref().map(sql_text),
            })
            .collect()
    };
    DeltaOperation::Merge {
        predicate: None,
        merge_predicate: Some(sql_text(&op.on)),
        matched_predicates: predicates(|k| *k == MergeIntoClauseKind::Matched),
        not_matched_predicates: predicates(MergeIntoClauseKind::is_not_matched_by_target),
        not_matched_by_source_predicates: predicates(|k| {
            *k == MergeIntoClauseKind::NotMatchedBySource
        }),
    }
}

/// A `MERGE`'s rows ([`Job::merge_rows`]) as the table's: counts the rows
/// a clause fired for into `changed`, drops those that do not stay, and
/// the two columns that say so.
fn merged_rows(
    rows: SendableRecordBatchStream,
    width: usize,
    changed: Arc<AtomicU64>,
) -> SendableRecordBatchStream {
    let schema = Arc::new(
        rows.schema()
            .project(&(0..width).collect::<Vec<_>>())
            .expect("the table's columns come first"),
    );
    let out = rows.map(move |batch| {
        let batch = batch?;
        let action = batch.column(width).as_primitive::<Int32Type>();
        let fired = action.iter().filter(|a| a.is_some_and(|a| a != 0)).count();
        changed.fetch_add(fired as u64, Ordering::Relaxed);
        let keep = batch.column(width + 1).as_boolean().clone();
        let kept = filter_record_batch(&batch, &keep)?;
        Ok(kept.project(&(0..width).collect::<Vec<_>>())?)
    });
    Box::pin(RecordBatchStreamAdapter::new(schema, out))
}

/// `rows` with `schema`'s exact types and names (a union or a projection
/// may widen a type or rename nothing but lose a field's metadata), and
/// an error naming the column when a NOT NULL column would hold a NULL.
pub(crate) fn conform(
    rows: SendableRecordBatchStream,
    schema: SchemaRef,
    table: &str,
) -> SendableRecordBatchStream {
    let table = table.to_string();
    let target = Arc::clone(&schema);
    let out = rows.map(move |batch| {
        let batch = batch?;
        let mut columns = Vec::with_capacity(target.fields().len());
        for (field, column) in target.fields().iter().zip(batch.columns()) {
            if !field.is_nullable() && column.null_count() > 0 {
                return Err(DataFusionError::Execution(format!(
                    "table '{table}': column '{}' is NOT NULL, and the statement would set it \
                     to NULL",
                    field.name()
                )));
            }
            columns.push(if column.data_type() == field.data_type() {
                Arc::clone(column)
            } else {
                cast(column, field.data_type())?
            });
        }
        Ok(RecordBatch::try_new(Arc::clone(&target), columns)?)
    });
    Box::pin(RecordBatchStreamAdapter::new(schema, out))
}
