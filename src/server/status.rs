//! gRPC status codes for quiver's errors: one exhaustive match on the
//! typed errors quiver makes ([`quiver_engine::error::ObjectError`]), then on
//! DataFusion's error kinds; never on message text.

use datafusion::common::DataFusionError;
use quiver_engine::error::{ObjectError, object_error};
use tonic::{Code, Status};

use crate::message::TaskPanicked;
use crate::session::user_message;

/// A DataFusion error as a gRPC status: what the user got wrong is
/// `INVALID_ARGUMENT` (or `NOT_FOUND` / `ALREADY_EXISTS`) with the message
/// the CLI would print; only failures of the server itself are `INTERNAL`.
pub fn to_status(e: &DataFusionError) -> Status {
    if caused_by::<TaskPanicked>(e) {
        return Status::internal(user_message(e));
    }
    let code = match object_error(e) {
        Some(ObjectError::NotFound(_)) => Code::NotFound,
        Some(ObjectError::AlreadyExists(_)) => Code::AlreadyExists,
        None => match e.find_root() {
            DataFusionError::ResourcesExhausted(_) => Code::ResourceExhausted,
            DataFusionError::Plan(_)
            | DataFusionError::SQL(..)
            | DataFusionError::SchemaError(..)
            | DataFusionError::NotImplemented(_)
            | DataFusionError::Configuration(_)
            | DataFusionError::Execution(_)
            | DataFusionError::ArrowError(..) => Code::InvalidArgument,
            DataFusionError::ObjectStore(e)
                if matches!(**e, object_store::Error::NotFound { .. }) =>
            {
                Code::NotFound
            }
            _ => Code::Internal,
        },
    };
    Status::new(code, user_message(e))
}

/// Whether `e`, or an error it wraps, is an `E`.
fn caused_by<E: std::error::Error + 'static>(e: &DataFusionError) -> bool {
    let mut at: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = at {
        if err.is::<E>() {
            return true;
        }
        at = err.source();
    }
    false
}
