//! Test helpers shared by the translation's unit tests: a minimal valid request and the
//! refusal of one.

use serde_json::{Value, json};

use super::to_openai_request;
use crate::adapter::api_error::TranslateError;

pub(super) const MODEL: &str = "smollm2-135m-instruct";

pub(super) fn request(extra: Value) -> Value {
    let mut body = json!({
        "model": MODEL,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            body.insert(key.clone(), value.clone());
        }
    }
    body
}

pub(super) fn refused(body: &Value) -> TranslateError {
    match to_openai_request(body, MODEL) {
        Ok(out) => panic!("expected a refusal, got {out}"),
        Err(err) => err,
    }
}
