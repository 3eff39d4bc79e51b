//! The errors quiver makes that a front door must tell apart from others:
//! a named object that does not exist, or exists already. They travel
//! inside DataFusion's error (as `External`), so every layer passes them on
//! with `?`, and a door maps them to its own codes with one exhaustive
//! `match` on [`ObjectError`] (the server's gRPC codes), never by reading
//! message text. Their text is the message a person reads.

use datafusion::common::DataFusionError;

/// What is wrong with a named object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectError {
    /// The table, view, model or schema does not exist.
    NotFound(String),
    /// An object of that name exists already.
    AlreadyExists(String),
}

impl std::fmt::Display for ObjectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ObjectError::NotFound(m) | ObjectError::AlreadyExists(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ObjectError {}

impl From<ObjectError> for DataFusionError {
    fn from(e: ObjectError) -> Self {
        DataFusionError::External(Box::new(e))
    }
}

/// A "does not exist" error with `message`.
pub fn not_found(message: impl Into<String>) -> DataFusionError {
    ObjectError::NotFound(message.into()).into()
}

/// An "already exists" error with `message`.
pub fn already_exists(message: impl Into<String>) -> DataFusionError {
    ObjectError::AlreadyExists(message.into()).into()
}

/// The [`ObjectError`] `e` carries, however deep DataFusion wrapped it.
pub fn object_error(e: &DataFusionError) -> Option<&ObjectError> {
    let mut at: &dyn std::error::Error = e;
    loop {
        if let Some(found) = at.downcast_ref::<ObjectError>() {
            return Some(found);
        }
        at = at.source()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_through_datafusion_wrappers() {
        let e = not_found("model 'm' does not exist").context("planning");
        assert_eq!(
            object_error(&e),
            Some(&ObjectError::NotFound("model 'm' does not exist".into()))
        );
        let shared = DataFusionError::Shared(std::sync::Arc::new(already_exists("x")));
        assert!(matches!(
            object_error(&shared),
            Some(ObjectError::AlreadyExists(_))
        ));
        assert_eq!(
            object_error(&DataFusionError::Plan("not found".into())),
            None
        );
    }
}
