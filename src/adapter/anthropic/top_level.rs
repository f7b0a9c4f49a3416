//! The top level of an Anthropic request in translation: every field translated or dropped
//! (`upstream_api::MESSAGES_TRANSLATION`, anything else refused), and the fields whose value
//! decides whether the request can be translated at all (`thinking`, `context_management`,
//! `output_config`, `top_k`). The rules are in the `request` module's docs.

use serde_json::{Map, Value};

use super::fields::{check_keys, invalid, present};
use crate::adapter::api_error::TranslateError;
use crate::adapter::upstream_api::MESSAGES_TRANSLATION;

/// The request body as an object whose every top-level field is translated or ignored.
pub(super) fn request_object(body: &Value) -> Result<&Map<String, Value>, TranslateError> {
    let obj = body
        .as_object()
        .ok_or_else(|| invalid("the request body must be a JSON object"))?;
    for (key, value) in obj {
        let key = key.as_str();
        if MESSAGES_TRANSLATION.drops(key) {
            continue;
        }
        if !MESSAGES_TRANSLATION.forwards(key) {
            return Err(invalid(format!(
                "request field `{key}` is not supported by this adapter"
            )));
        }
        if key == "thinking" && !value.is_null() {
            let kind = value.get("type").and_then(Value::as_str);
            if !matches!(kind, Some("disabled" | "adaptive")) {
                return Err(invalid(
                    "`thinking` is not supported: extended thinking cannot be requested from \
                     the local model (only {\"type\": \"disabled\"} or {\"type\": \"adaptive\"} \
                     is accepted)",
                ));
            }
        }
    }
    if let Some(management) = present(obj, "context_management") {
        check_context_management(management)?;
    }
    if let Some(config) = present(obj, "output_config") {
        let config = config
            .as_object()
            .ok_or_else(|| invalid("`output_config` must be an object"))?;
        check_keys(config, &["effort", "format"], "output_config")?;
        if present(config, "format").is_some() {
            return Err(invalid(
                "output_config: `format` (structured outputs) is not supported: the local model \
                 cannot be held to a JSON schema through this adapter",
            ));
        }
    }
    if let Some(top_k) = present(obj, "top_k")
        && !top_k.is_u64()
    {
        return Err(invalid("`top_k` must be a non-negative integer"));
    }
    Ok(obj)
}

/// Accepts `context_management` whose every edit is a `clear_thinking_*` edit (Claude Code
/// sends `{"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}` on every request):
/// the local model never thinks and thinking blocks are refused on input, so clearing them
/// cannot change what it sees. Any other edit (e.g. `clear_tool_uses_*`, which would change
/// the conversation) is refused; nothing of it is forwarded.
fn check_context_management(management: &Value) -> Result<(), TranslateError> {
    let management = management
        .as_object()
        .ok_or_else(|| invalid("`context_management` must be an object"))?;
    check_keys(management, &["edits"], "context_management")?;
    let edits = management
        .get("edits")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("context_management: `edits` must be an array"))?;
    for (index, edit) in edits.iter().enumerate() {
        let kind = edit.get("type").and_then(Value::as_str).unwrap_or_default();
        if !kind.starts_with("clear_thinking_") {
            return Err(invalid(format!(
                "context_management.edits[{index}]: edit type {kind:?} is not supported: only \
                 clear_thinking_* edits are accepted (the local model never thinks); other edits \
                 would change the conversation the model sees"
            )));
        }
    }
    Ok(())
}
