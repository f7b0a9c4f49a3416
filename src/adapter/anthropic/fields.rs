//! The helpers every part of the Anthropic request translation refuses with: an
//! `invalid_request_error`, the refusal of a key the adapter does not support, and a field's
//! value when it is there. Their own
//! room, so that `request` and `tools` both use them without importing each other.

use serde_json::{Map, Value};

use crate::adapter::api_error::TranslateError;

/// An `invalid_request_error` with `message`.
pub(super) fn invalid(message: impl Into<String>) -> TranslateError {
    TranslateError::invalid_request(message)
}

/// Refuses any key of `obj` not in `allowed`.
pub(super) fn check_keys(obj: &Map<String, Value>, allowed: &[&str], ctx: &str) -> Result<(), TranslateError> {
    match obj.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(key) => Err(invalid(format!(
            "{ctx}: field `{key}` is not supported by this adapter"
        ))),
        None => Ok(()),
    }
}

/// The field's value unless it is absent or `null`.
pub(super) fn present<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|value| !value.is_null())
}
