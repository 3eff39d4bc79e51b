//! Planning SQL text as quiver's SQL reads it: DataFusion's dialect, with
//! one rewrite (below). Every place that plans user SQL (statements, stored
//! view definitions, a model's `AS` query) goes through [`plan_sql`].

use std::ops::ControlFlow;

use datafusion::common::Result;
use datafusion::execution::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::{AccessExpr, Expr as SqlExpr, Value, visit_expressions_mut};

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
    }
    state.statement_to_plan(statement).await
}
