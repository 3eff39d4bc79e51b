//! Shared handling of model arguments: the model name must be a literal,
//! the model is resolved when the query is planned (its type checked, its
//! dimension known), and that version is pinned in the result field's
//! metadata so that evaluation uses exactly the version planning saw, even
//! if the model is replaced meanwhile (and on a Ballista executor).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{DataFusionError, Result, ScalarValue, plan_err};
use datafusion::logical_expr::{Expr, ReturnFieldArgs};

use crate::models::{LoadModel, check_type};
use crate::store::{Manifest, ModelStore, block_on};

pub use crate::models::{MODEL_KEY, VERSION_KEY};

/// The model name from a function's first argument, which must be a
/// non-NULL string literal.
pub fn model_name(function: &str, arg: Option<&ScalarValue>) -> Result<String> {
    match arg {
        Some(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
        ) => Ok(s.clone()),
        Some(other) if other.is_null() => plan_err!("{function}: the model name is NULL"),
        _ => plan_err!(
            "{function}: argument 1 must be a model name in quotes, e.g. {function}('title_vectors', ...)"
        ),
    }
}

/// The current version of model `name`, which must be of `model_type`.
pub fn resolve(
    models: &Arc<ModelStore>,
    function: &str,
    name: &str,
    model_type: &str,
) -> Result<Manifest> {
    let m = models.require_blocking(function, name)?;
    check_type(function, &m, model_type)?;
    Ok(m)
}

/// The current version of the model a scalar function's first argument
/// names (a literal), which must be of `model_type`: what every model
/// function's `return_field_from_args` starts with.
pub fn resolve_first_arg(
    models: &Arc<ModelStore>,
    function: &str,
    args: &ReturnFieldArgs,
    model_type: &str,
) -> Result<Manifest> {
    let name = model_name(function, args.scalar_arguments.first().copied().flatten())?;
    resolve(models, function, &name, model_type)
}

/// A result field that pins `manifest`'s version.
///
/// The pin is said twice: in the field's metadata, and in its name
/// (`embed[title_vectors@3]`), which is all of a result field that
/// DataFusion's wire form of a physical plan keeps. A cluster's executor
/// reads it from the name ([`pinned`]); the name is not a column name (a
/// projection names its columns).
pub fn pinned_field(function: &str, data_type: DataType, manifest: &Manifest) -> Field {
    Field::new(
        format!("{function}[{}@{}]", manifest.name, manifest.version),
        data_type,
        true,
    )
    .with_metadata(HashMap::from([
        (MODEL_KEY.to_string(), manifest.name.clone()),
        (VERSION_KEY.to_string(), manifest.version.to_string()),
    ]))
}

/// The model and version pinned in a result field: its metadata, or its
/// name where the metadata was lost on the wire (see [`pinned_field`]).
pub fn pinned(function: &str, field: &Field) -> Result<(String, u64)> {
    let meta = field.metadata();
    if let (Some(name), Some(version)) = (
        meta.get(MODEL_KEY),
        meta.get(VERSION_KEY).and_then(|v| v.parse().ok()),
    ) {
        return Ok((name.clone(), version));
    }
    field
        .name()
        .strip_prefix(function)
        .and_then(|rest| rest.strip_prefix('['))
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|pin| pin.rsplit_once('@'))
        .and_then(|(name, version)| Some((name.to_string(), version.parse().ok()?)))
        .ok_or_else(|| {
            DataFusionError::Internal(format!(
                "{function}: the result field carries no model version"
            ))
        })
}

/// The dimension recorded in a manifest's options.
pub fn dim_of(function: &str, manifest: &Manifest) -> Result<usize> {
    manifest
        .options
        .get("dim")
        .and_then(|d| d.as_u64())
        .filter(|&d| d > 0)
        .map(|d| d as usize)
        .ok_or_else(|| {
            DataFusionError::Execution(format!(
                "{function}: model '{}' has no dimension in its manifest",
                manifest.name
            ))
        })
}

/// Version `version` of model `name`, loaded once per process: from the
/// cache without waiting when it is there.
pub fn load_pinned<T: LoadModel>(
    models: &Arc<ModelStore>,
    function: &str,
    name: &str,
    version: u64,
) -> Result<Arc<T>> {
    if let Some(model) = models.cached_model::<T>(name, version) {
        return Ok(model);
    }
    let manifest = models.version_blocking(function, name, version)?;
    block_on(T::load_version(
        Arc::clone(models),
        manifest,
        function.to_string(),
    ))?
}

/// A table function's literal model-name argument.
pub fn literal_model_name(function: &str, expr: Option<&Expr>) -> Result<String> {
    match expr {
        Some(Expr::Literal(v, _)) => model_name(function, Some(v)),
        Some(other) => plan_err!(
            "{function}: argument 1 must be a model name in quotes, e.g. {function}('title_vectors'), got {other}"
        ),
        None => plan_err!("{function}: argument 1 (the model name) is missing"),
    }
}

/// A table function's literal positive-integer argument.
pub fn literal_count(function: &str, what: &str, expr: Option<&Expr>) -> Result<usize> {
    let value = match expr {
        Some(Expr::Literal(v, _)) => match v {
            ScalarValue::Int8(Some(k)) => Some(*k as i64),
            ScalarValue::Int16(Some(k)) => Some(*k as i64),
            ScalarValue::Int32(Some(k)) => Some(*k as i64),
            ScalarValue::Int64(Some(k)) => Some(*k),
            ScalarValue::UInt8(Some(k)) => Some(*k as i64),
            ScalarValue::UInt16(Some(k)) => Some(*k as i64),
            ScalarValue::UInt32(Some(k)) => Some(*k as i64),
            ScalarValue::UInt64(Some(k)) => i64::try_from(*k).ok(),
            _ => None,
        },
        _ => None,
    };
    match value {
        Some(k) if k > 0 => Ok(k as usize),
        Some(k) => plan_err!("{function}: {what} must be at least 1, got {k}"),
        None => plan_err!(
            "{function}: {what} must be a whole number literal, got {}",
            expr.map(|e| e.to_string())
                .unwrap_or_else(|| "nothing".into())
        ),
    }
}

/// `PartialEq`, `Eq` and `Hash` for a function struct that holds the model
/// store: two instances are the same function when they share the store.
#[macro_export]
macro_rules! same_store_identity {
    ($ty:ident) => {
        impl PartialEq for $ty {
            fn eq(&self, other: &Self) -> bool {
                std::sync::Arc::ptr_eq(&self.models, &other.models)
            }
        }
        impl Eq for $ty {}
        impl std::hash::Hash for $ty {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                std::sync::Arc::as_ptr(&self.models).hash(state);
            }
        }
    };
}
