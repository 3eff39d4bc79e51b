//! Planning SQL text as quiver's SQL reads it: DataFusion's dialect, with
//! two rewrites (below). Every place that plans user SQL (statements, stored
//! view definitions, a model's `AS` query) goes through [`plan_sql`].

use std::ops::ControlFlow;

use datafusion::common::Result;
use datafusion::execution::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::{
    AccessExpr, Expr as SqlExpr, Merge, MergeAction, MergeClauseKind, MergeInsertKind,
    Statement as SqlStatement, TableFactor, Value, visit_expressions, visit_expressions_mut,
};

/// Plans one SQL statement as DataFusion does, after one rewrite: a field
/// of a function's result may be named without quotes,
/// `cluster_assign('m', v).cluster_id`, as in DuckDB and BigQuery
/// (DataFusion itself takes only `.'cluster_id'` or `['cluster_id']`).
pub async fn plan_sql(state: &SessionState, sql: &str) -> Result<LogicalPlan> {
    let dialect = state.config().options().sql_parser.dialect;
    let mut statement = state.sql_to_statement(sql, &dialect)?;
    if let datafusion::sql::parser::Statement::Statement(s) = &mut statement {
        let _ = visit_expressions_mut(s.as_mut(), |e| {
            if let SqlExpr::CompoundFieldAccess { root, access_chain } = e {
                // After a name, the dots that follow it belong to the name
                // (`t.col['k']`: column `col` of table `t`), as DataFusion
                // reads them; only the dots after a call, a subscript or a
                // parenthesis name fields.
                let mut naming = matches!(
                    root.as_ref(),
                    SqlExpr::Identifier(_) | SqlExpr::CompoundIdentifier(_)
                );
                for access in access_chain.iter_mut() {
                    match access {
                        AccessExpr::Dot(SqlExpr::Identifier(_)) if naming => {}
                        AccessExpr::Dot(SqlExpr::Identifier(id)) => {
                            let name = Value::SingleQuotedString(id.value.clone());
                            *access = AccessExpr::Dot(SqlExpr::Value(name.into()));
                        }
                        _ => naming = false,
                    }
                }
            }
            ControlFlow::<()>::Continue(())
        });
        if let SqlStatement::Merge(merge) = s.as_mut() {
            qualify_merge_inserts(merge);
        }
    }
    state.statement_to_plan(statement).await
}

/// In `MERGE ... WHEN NOT MATCHED [AND p] THEN INSERT ... VALUES (...)`
/// there is no target row, so a bare column name there is the source's, as
/// in PostgreSQL, Delta Lake and DuckDB; DataFusion resolves it against
/// target and source together and calls a name both have ambiguous (dbt's
/// snapshots write `values ("id", ...)`). Bare names there are qualified
/// with the source's alias or table name. An expression with a subquery is
/// left as written: a bare name inside it may be the subquery's own.
fn qualify_merge_inserts(merge: &mut Merge) {
    let source = match &merge.source {
        TableFactor::Table { alias: Some(a), .. } | TableFactor::Derived { alias: Some(a), .. } => {
            a.name.clone()
        }
        TableFactor::Table { name, .. } => match name.0.last().and_then(|p| p.as_ident()) {
            Some(ident) => ident.clone(),
            None => return,
        },
        _ => return,
    };
    let qualify = |expr: &mut SqlExpr| {
        let has_subquery = visit_expressions(expr, |e| match e {
            SqlExpr::Subquery(_) | SqlExpr::Exists { .. } | SqlExpr::InSubquery { .. } => {
                ControlFlow::Break(())
            }
            _ => ControlFlow::Continue(()),
        })
        .is_break();
        if has_subquery {
            return;
        }
        let _ = visit_expressions_mut(expr, |e| {
            if let SqlExpr::Identifier(ident) = e {
                *e = SqlExpr::CompoundIdentifier(vec![source.clone(), ident.clone()]);
            }
            ControlFlow::<()>::Continue(())
        });
    };
    for clause in &mut merge.clauses {
        if !matches!(
            clause.clause_kind,
            MergeClauseKind::NotMatched | MergeClauseKind::NotMatchedByTarget
        ) {
            continue;
        }
        if let Some(predicate) = &mut clause.predicate {
            qualify(predicate);
        }
        if let MergeAction::Insert(insert) = &mut clause.action
            && let MergeInsertKind::Values(values) = &mut insert.kind
        {
            for row in &mut values.rows {
                row.content.iter_mut().for_each(qualify);
            }
        }
    }
}
