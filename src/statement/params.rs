//! Bound parameters: `$1`, `$2`, ... (and JDBC's `?`) in a statement sent
//! by a client with values bound to it.
//!
//! DataFusion infers a placeholder's type from what it is compared with or
//! inserted into, but not from a function argument or a projection, so
//! `SELECT embed('m', $1)` would fail to plan. Once values are bound their
//! types are known: each placeholder becomes `CAST($n AS <type of value n>)`
//! before planning, and the values then replace the placeholders.

use std::ops::ControlFlow;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, ScalarValue, plan_err};
use datafusion::sql::sqlparser::ast::{Expr, Statement, Value, visit_expressions_mut};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// `sql` with `?` placeholders numbered `$1`, `$2`, ... in order, and each
/// placeholder cast to the type of its bound value. Returns `sql` as
/// written when it has neither `?` nor bound values.
pub fn typed_placeholders(sql: &str, params: &[ScalarValue]) -> Result<String> {
    if params.is_empty() && !(sql.contains('?') && has_placeholders(sql)) {
        return Ok(sql.to_string());
    }
    let mut statement = match parse_one(sql) {
        Ok(s) => s,
        // Statements only DataFusion's parser knows (COPY, CREATE EXTERNAL
        // TABLE): with nothing bound, leave them to it.
        Err(_) if params.is_empty() => return Ok(sql.to_string()),
        Err(e) => return Err(e),
    };
    let mut next = 0usize;
    let mut failure = None;
    let _ = visit_expressions_mut(&mut statement, |e| {
        let Expr::Value(v) = e else {
            return ControlFlow::Continue(());
        };
        let Value::Placeholder(name) = &v.value else {
            return ControlFlow::Continue(());
        };
        let name = if name == "?" {
            next += 1;
            format!("${next}")
        } else {
            name.clone()
        };
        let index = name
            .strip_prefix('$')
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n >= 1);
        let Some(index) = index else {
            failure = Some(format!(
                "parameter '{name}': parameters are written $1, $2, ... or ?"
            ));
            return ControlFlow::Break(());
        };
        let typed = params
            .get(index - 1)
            .and_then(|value| sql_type(&value.data_type()))
            .map(|ty| format!("CAST({name} AS {ty})"))
            .unwrap_or(name);
        match Parser::new(&GenericDialect {})
            .try_with_sql(&typed)
            .and_then(|mut p| p.parse_expr())
        {
            Ok(expr) => *e = expr,
            Err(err) => {
                failure = Some(err.to_string());
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    if let Some(why) = failure {
        return plan_err!("{why}");
    }
    Ok(statement.to_string())
}

/// The table [`insert_from_params`] reads bound rows from; its columns are
/// `p1`, `p2`, ... for `$1`, `$2`, ....
pub const PARAMS_TABLE: &str = "__quiver_params";

/// `INSERT INTO t [(cols)] VALUES (<exprs of $1, $2, ...>)` bound to many
/// rows (`executemany`) as one statement: `INSERT INTO t [(cols)] SELECT
/// <exprs of p1, p2, ...> FROM __quiver_params`. Running it once writes
/// one file instead of one per row; the rows inserted are the same as one
/// execution per row. `None` when `sql` is not such an INSERT.
pub fn insert_from_params(sql: &str) -> Result<Option<String>> {
    let numbered = typed_placeholders(sql, &[])?;
    let mut statement = parse_one(&numbered)?;
    let Statement::Insert(insert) = &mut statement else {
        return Ok(None);
    };
    if insert.on.is_some() || insert.returning.is_some() || insert.output.is_some() {
        return Ok(None);
    }
    let Some(source) = insert.source.as_mut() else {
        return Ok(None);
    };
    let row = match source.body.as_ref() {
        datafusion::sql::sqlparser::ast::SetExpr::Values(values)
            if values.rows.len() == 1
                && source.with.is_none()
                && source.order_by.is_none()
                && source.limit_clause.is_none() =>
        {
            values.rows[0].content.clone()
        }
        _ => return Ok(None),
    };
    let mut exprs = Vec::with_capacity(row.len());
    for mut expr in row {
        let _ = visit_expressions_mut(&mut expr, |e| {
            if let Expr::Value(v) = e
                && let Value::Placeholder(name) = &v.value
                && let Some(n) = name.strip_prefix('$')
            {
                *e = Expr::CompoundIdentifier(vec![
                    PARAMS_TABLE.into(),
                    datafusion::sql::sqlparser::ast::Ident::with_quote('"', format!("p{n}")),
                ]);
            }
            ControlFlow::<()>::Continue(())
        });
        exprs.push(expr.to_string());
    }
    let select = format!("SELECT {} FROM {PARAMS_TABLE}", exprs.join(", "));
    let query = Parser::new(&GenericDialect {})
        .try_with_sql(&select)
        .and_then(|mut p| p.parse_query())
        .map_err(|e| DataFusionError::Plan(format!("syntax error: {e}")))?;
    *source = query;
    Ok(Some(statement.to_string()))
}

/// Whether `sql` has a placeholder (`$n` or `?`) outside strings and
/// comments.
pub fn has_placeholders(sql: &str) -> bool {
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    Tokenizer::new(&GenericDialect {}, sql)
        .tokenize()
        .map(|tokens| tokens.iter().any(|t| matches!(t, Token::Placeholder(_))))
        .unwrap_or(false)
}

fn parse_one(sql: &str) -> Result<Statement> {
    let mut statements = Parser::parse_sql(&GenericDialect {}, sql)
        .map_err(|e| DataFusionError::Plan(format!("syntax error: {e}")))?;
    if statements.len() != 1 {
        return plan_err!(
            "expected one statement with parameters, found {}",
            statements.len()
        );
    }
    Ok(statements.remove(0))
}

/// The SQL name of an Arrow type, for the types a client binds; `None`
/// leaves the placeholder to DataFusion's own inference.
fn sql_type(t: &DataType) -> Option<String> {
    Some(match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR".into(),
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INT".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::UInt8 => "TINYINT UNSIGNED".into(),
        DataType::UInt16 => "SMALLINT UNSIGNED".into(),
        DataType::UInt32 => "INT UNSIGNED".into(),
        DataType::UInt64 => "BIGINT UNSIGNED".into(),
        DataType::Float16 | DataType::Float32 => "REAL".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Timestamp(_, None) => "TIMESTAMP".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "BYTEA".into(),
        DataType::Decimal128(p, s) => format!("DECIMAL({p}, {s})"),
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            format!("{}[]", sql_type(f.data_type())?)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casts_placeholders_to_their_values_types() {
        let sql = typed_placeholders(
            "SELECT embed('m', $1) WHERE x = $2",
            &[ScalarValue::from("a b"), ScalarValue::Int64(Some(3))],
        )
        .expect("rewrite");
        assert_eq!(
            sql,
            "SELECT embed('m', CAST($1 AS VARCHAR)) WHERE x = CAST($2 AS BIGINT)"
        );
    }

    #[test]
    fn numbers_question_marks_in_order() {
        let sql = typed_placeholders("INSERT INTO t VALUES (?, ?)", &[]).expect("rewrite");
        assert_eq!(sql, "INSERT INTO t VALUES ($1, $2)");
        assert_eq!(
            typed_placeholders("SELECT '?'", &[]).expect("rewrite"),
            "SELECT '?'"
        );
        assert!(has_placeholders("select $1"));
        assert_eq!(
            insert_from_params("INSERT INTO t (a, b) VALUES (?, upper(?))")
                .expect("rewrite")
                .as_deref(),
            Some(
                "INSERT INTO t (a, b) SELECT __quiver_params.\"p1\", upper(__quiver_params.\"p2\") FROM __quiver_params"
            )
        );
        assert_eq!(
            insert_from_params("INSERT INTO t SELECT $1").expect("rewrite"),
            None
        );
        assert!(!has_placeholders("select '$1' -- ?"));
    }
}
