//! `CREATE MODEL`, `DROP MODEL`, `SHOW MODELS` and `DESCRIBE MODEL`: their
//! grammar (parsed with DataFusion's SQL tokenizer and parser) and their
//! execution against the model store.
//!
//! ```sql
//! CREATE [OR REPLACE] MODEL [IF NOT EXISTS] name TYPE type
//!   [OPTIONS (key = value, ...)] [FROM 'path-or-url'] [AS query]
//! DROP MODEL [IF EXISTS] name
//! SHOW MODELS
//! DESCRIBE MODEL name
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{DataFusionError, Result, plan_err};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Expr, UnaryOperator, Value};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;
use quiver_engine::ModelStore;
use quiver_engine::error::already_exists;
use quiver_engine::models::ProgressSink;
use quiver_engine::store::objects::check_name;
use serde_json::Value as Json;

pub use super::create::CreateModel;
use super::{create, leading_words, parse_word, text_from};

/// A parsed model statement.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelStatement {
    Create(CreateModel),
    Drop {
        name: String,
        if_exists: bool,
    },
    Show,
    Describe {
        name: String,
    },
    /// `COPY MODEL name TO 'path' [(FORMAT word2vec_text | word2vec_binary)]`
    Copy {
        name: String,
        to: String,
        format: Option<String>,
    },
}

/// Whether `sql` is a model statement (so it must not go to DataFusion's
/// parser, which does not know it).
pub fn is_model_statement(sql: &str) -> bool {
    let w = leading_words(sql, 4);
    let w: Vec<&str> = w.iter().map(String::as_str).collect();
    matches!(
        w.as_slice(),
        ["create", "model", ..]
            | ["create", "or", "replace", "model"]
            | ["drop", "model", ..]
            | ["show", "models", ..]
            | ["describe" | "desc", "model", ..]
            | ["copy", "model", ..]
    )
}

fn syntax(e: ParserError) -> DataFusionError {
    DataFusionError::Plan(format!("syntax error: {e}"))
}

fn expect_word(p: &mut Parser, word: &str, what: &str) -> Result<()> {
    if parse_word(p, word) {
        Ok(())
    } else {
        plan_err!(
            "syntax error: expected {what}, found {}",
            p.peek_token().token
        )
    }
}

/// A model name: an identifier, lower-cased unless quoted, as SQL names are.
fn parse_name(p: &mut Parser) -> Result<String> {
    let ident = p.parse_identifier().map_err(syntax)?;
    let name = if ident.quote_style.is_some() {
        ident.value
    } else {
        ident.value.to_lowercase()
    };
    check_name("model", &name)?;
    Ok(name)
}

/// Parses one model statement (see the module doc for the grammar).
pub fn parse(sql: &str) -> Result<ModelStatement> {
    let dialect = GenericDialect {};
    let mut p = Parser::new(&dialect).try_with_sql(sql).map_err(syntax)?;
    let stmt = if p.parse_keyword(Keyword::CREATE) {
        let or_replace = p.parse_keywords(&[Keyword::OR, Keyword::REPLACE]);
        expect_word(&mut p, "model", "MODEL")?;
        let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
        if or_replace && if_not_exists {
            return plan_err!("create model: OR REPLACE and IF NOT EXISTS cannot be used together");
        }
        let name = parse_name(&mut p)?;
        expect_word(&mut p, "type", "TYPE and a model type after the model name")?;
        let model_type = p.parse_identifier().map_err(syntax)?.value.to_lowercase();
        let mut options = parse_options(&mut p)?;
        let from = if p.parse_keyword(Keyword::FROM) {
            Some(p.parse_literal_string().map_err(syntax)?)
        } else {
            None
        };
        // OPTIONS may also follow FROM 'file'.
        if from.is_some() && options.is_empty() {
            options = parse_options(&mut p)?;
        }
        let query = if p.parse_keyword(Keyword::AS) {
            let next = p.peek_token();
            // The end-of-input token has no location of its own.
            let text = if next.token == Token::EOF {
                ""
            } else {
                text_from(sql, next.span.start)
                    .trim()
                    .trim_end_matches(';')
                    .trim()
            };
            if text.is_empty() {
                return plan_err!("create model: AS must be followed by a query");
            }
            Some(text.to_string())
        } else {
            None
        };
        if query.is_none() && p.peek_token().token != Token::EOF {
            return plan_err!(
                "syntax error: expected OPTIONS, FROM or AS, found {}",
                p.peek_token().token
            );
        }
        if from.is_some() && query.is_some() {
            return plan_err!("create model: use either FROM 'file' or AS query, not both");
        }
        ModelStatement::Create(CreateModel {
            name,
            or_replace,
            if_not_exists,
            model_type,
            options,
            from,
            query,
        })
    } else if p.parse_keyword(Keyword::DROP) {
        expect_word(&mut p, "model", "MODEL")?;
        let if_exists = p.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
        ModelStatement::Drop {
            name: parse_name(&mut p)?,
            if_exists,
        }
    } else if p.parse_keyword(Keyword::COPY) {
        expect_word(&mut p, "model", "MODEL")?;
        let name = parse_name(&mut p)?;
        expect_word(&mut p, "to", "TO 'path'")?;
        let to = p.parse_literal_string().map_err(syntax)?;
        let mut format = None;
        if p.consume_token(&Token::LParen) {
            loop {
                let key = p.parse_identifier().map_err(syntax)?.value.to_lowercase();
                let _ = p.consume_token(&Token::Eq);
                let value = match p.next_token().token {
                    Token::Word(w) => w.value,
                    Token::SingleQuotedString(s) => s,
                    other => {
                        return plan_err!("copy model: unexpected {other} as the value of {key}");
                    }
                };
                match key.as_str() {
                    "format" => format = Some(value.to_lowercase()),
                    other => {
                        return plan_err!("copy model: unknown option '{other}' (options: format)");
                    }
                }
                if !p.consume_token(&Token::Comma) {
                    break;
                }
            }
            p.expect_token(&Token::RParen).map_err(syntax)?;
        }
        ModelStatement::Copy { name, to, format }
    } else if p.parse_keyword(Keyword::SHOW) {
        expect_word(&mut p, "models", "MODELS")?;
        ModelStatement::Show
    } else if p.parse_keyword(Keyword::DESCRIBE) || p.parse_keyword(Keyword::DESC) {
        expect_word(&mut p, "model", "MODEL")?;
        ModelStatement::Describe {
            name: parse_name(&mut p)?,
        }
    } else {
        return plan_err!("syntax error: not a model statement");
    };
    let is_create_with_query = matches!(&stmt, ModelStatement::Create(c) if c.query.is_some());
    if !is_create_with_query {
        let _ = p.consume_token(&Token::SemiColon);
        if p.peek_token().token != Token::EOF {
            return plan_err!(
                "syntax error: unexpected {} after the statement",
                p.peek_token().token
            );
        }
    }
    Ok(stmt)
}

/// `OPTIONS (key = value, ...)` if it comes next; keys lower-cased.
fn parse_options(p: &mut Parser) -> Result<Vec<(String, Json)>> {
    let mut options: Vec<(String, Json)> = Vec::new();
    if !parse_word(p, "options") {
        return Ok(options);
    }
    p.expect_token(&Token::LParen).map_err(syntax)?;
    if p.consume_token(&Token::RParen) {
        return Ok(options);
    }
    loop {
        let key = p.parse_identifier().map_err(syntax)?.value.to_lowercase();
        p.expect_token(&Token::Eq).map_err(syntax)?;
        let value = option_value(&key, p.parse_expr().map_err(syntax)?)?;
        if options.iter().any(|(k, _)| *k == key) {
            return plan_err!("create model: option '{key}' is given twice");
        }
        options.push((key, value));
        if !p.consume_token(&Token::Comma) {
            break;
        }
    }
    p.expect_token(&Token::RParen).map_err(syntax)?;
    Ok(options)
}

/// An option's value: a number, a string, a boolean or a bare word.
fn option_value(key: &str, expr: Expr) -> Result<Json> {
    let number = |s: &str, negative: bool| -> Result<Json> {
        let text = if negative {
            format!("-{s}")
        } else {
            s.to_string()
        };
        if let Ok(i) = text.parse::<i64>() {
            return Ok(Json::from(i));
        }
        text.parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Json::Number)
            .ok_or_else(|| {
                DataFusionError::Plan(format!("option '{key}': '{text}' is not a number"))
            })
    };
    match expr {
        Expr::Value(v) => match v.value {
            Value::Number(n, _) => number(&n, false),
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Ok(Json::String(s)),
            Value::Boolean(b) => Ok(Json::Bool(b)),
            Value::Null => Ok(Json::Null),
            other => plan_err!("option '{key}': unsupported value {other}"),
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match *expr {
            Expr::Value(v) => match v.value {
                Value::Number(n, _) => number(&n, true),
                other => plan_err!("option '{key}': unsupported value -{other}"),
            },
            other => plan_err!("option '{key}': unsupported value -{other}"),
        },
        Expr::Identifier(ident) => Ok(Json::String(ident.value)),
        other => plan_err!("option '{key}': expected a number, a string or a boolean, got {other}"),
    }
}

fn string_batch(columns: &[&str], rows: Vec<Vec<String>>) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(*c, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let arrays = (0..columns.len())
        .map(|i| {
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r[i].as_str()),
            )) as Arc<dyn datafusion::arrow::array::Array>
        })
        .collect();
    Ok(RecordBatch::try_new(schema, arrays)?)
}

fn json_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Executes a model statement; the result is what the statement shows.
pub async fn execute(
    ctx: &SessionContext,
    models: &Arc<ModelStore>,
    stmt: ModelStatement,
    progress: Arc<dyn ProgressSink>,
) -> Result<Vec<RecordBatch>> {
    match stmt {
        ModelStatement::Show => {
            let list = models.list().await?;
            let schema = Arc::new(Schema::new(vec![
                Field::new("name", DataType::Utf8, false),
                Field::new("type", DataType::Utf8, false),
                Field::new("version", DataType::UInt64, false),
                Field::new("created", DataType::Utf8, false),
            ]));
            let batch = RecordBatch::try_new(
                schema,
                vec![
                    Arc::new(StringArray::from_iter_values(
                        list.iter().map(|m| m.name.as_str()),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        list.iter().map(|m| m.model_type.as_str()),
                    )),
                    Arc::new(UInt64Array::from_iter_values(
                        list.iter().map(|m| m.version),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        list.iter().map(|m| m.created.as_str()),
                    )),
                ],
            )?;
            Ok(vec![batch])
        }
        ModelStatement::Describe { name } => {
            let m = models.require("describe model", &name).await?;
            let mut rows = vec![
                vec!["name".to_string(), m.name.clone()],
                vec!["type".to_string(), m.model_type.clone()],
                vec!["version".to_string(), m.version.to_string()],
                vec!["created".to_string(), m.created.clone()],
            ];
            if let Some(source) = &m.source {
                rows.push(vec!["source".to_string(), source.clone()]);
            }
            for (k, v) in &m.options {
                rows.push(vec![format!("option.{k}"), json_text(v)]);
            }
            for (k, v) in &m.metrics {
                rows.push(vec![format!("metric.{k}"), json_text(v)]);
            }
            for (dep, version) in &m.depends_on {
                let current = models.current(dep).await?.map(|c| c.version);
                let state = match current {
                    Some(v) if v == *version => "current".to_string(),
                    Some(v) => format!("stale: '{dep}' is now version {v}"),
                    None => format!("stale: '{dep}' was dropped"),
                };
                rows.push(vec![
                    format!("depends_on.{dep}"),
                    format!("version {version} ({state})"),
                ]);
            }
            Ok(vec![string_batch(&["property", "value"], rows)?])
        }
        ModelStatement::Drop { name, if_exists } => {
            if !models.drop_model(&name).await? && !if_exists {
                models.require("drop model", &name).await?;
            }
            Ok(vec![])
        }
        ModelStatement::Create(create) => {
            if let Some(existing) = models.current(&create.name).await? {
                if create.if_not_exists {
                    return Ok(vec![]);
                }
                if !create.or_replace {
                    return Err(already_exists(format!(
                        "create model: model '{}' already exists ({} version {}); use CREATE OR \
                         REPLACE MODEL to train a new version",
                        create.name, existing.model_type, existing.version
                    )));
                }
            }
            create::create_model(ctx, models, create, progress).await
        }
        ModelStatement::Copy { name, to, format } => {
            create::copy_word2vec(models, &name, &to, format.as_deref()).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_full_create_form() {
        let sql = "CREATE OR REPLACE MODEL Title_Vectors TYPE word2vec \
                   OPTIONS (dim = 100, alpha = 0.025, algorithm = 'cbow', shift = -2, fast = true) \
                   AS SELECT title FROM products WHERE x = ';';";
        let ModelStatement::Create(c) = parse(sql).expect("parse") else {
            panic!("not a create");
        };
        assert_eq!(c.name, "title_vectors");
        assert!(c.or_replace && !c.if_not_exists);
        assert_eq!(c.model_type, "word2vec");
        assert_eq!(
            c.options,
            vec![
                ("dim".to_string(), Json::from(100)),
                ("alpha".to_string(), Json::from(0.025)),
                ("algorithm".to_string(), Json::from("cbow")),
                ("shift".to_string(), Json::from(-2)),
                ("fast".to_string(), Json::from(true)),
            ]
        );
        assert_eq!(
            c.query.as_deref(),
            Some("SELECT title FROM products WHERE x = ';'")
        );
    }

    #[test]
    fn parses_the_other_statements() {
        assert_eq!(
            parse("drop model if exists m").expect("parse"),
            ModelStatement::Drop {
                name: "m".into(),
                if_exists: true
            }
        );
        assert_eq!(parse("SHOW MODELS;").expect("parse"), ModelStatement::Show);
        assert_eq!(
            parse("describe model \"M\"").expect("parse"),
            ModelStatement::Describe { name: "M".into() }
        );
        let ModelStatement::Create(c) =
            parse("create model if not exists v type word2vec from '/tmp/v.txt'").expect("parse")
        else {
            panic!("not a create");
        };
        assert_eq!(c.from.as_deref(), Some("/tmp/v.txt"));
    }

    #[test]
    fn errors_name_what_is_wrong() {
        for (sql, expected) in [
            ("create model m", "expected TYPE"),
            (
                "create model m type w options (a = 1, a = 2)",
                "option 'a' is given twice",
            ),
            ("create model m type w options (a = [1])", "option 'a'"),
            (
                "create model m type w garbage",
                "expected OPTIONS, FROM or AS",
            ),
            (
                "create or replace model if not exists m type w",
                "cannot be used together",
            ),
            (
                "create model m type w as ",
                "AS must be followed by a query",
            ),
            ("drop model m extra", "unexpected"),
            (
                "create model `a/b` type w",
                "model name 'a/b' is not allowed",
            ),
        ] {
            let err = parse(sql).expect_err(sql).to_string();
            assert!(err.contains(expected), "{sql}: {err}");
        }
    }

    #[test]
    fn recognises_model_statements() {
        assert!(is_model_statement("  create or replace model x type y"));
        assert!(is_model_statement("DESC MODEL x"));
        assert!(!is_model_statement("create table model (a int)"));
        assert!(!is_model_statement("select * from models"));
    }
}
