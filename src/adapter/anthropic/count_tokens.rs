//! What `POST /v1/messages/count_tokens` counts (pure: no I/O).
//!
//! `count_tokens_text` flattens what would be sent upstream (system, messages, tool calls
//! and results, tool definitions) into one text for the upstream's tokenizer;
//! [`estimate_input_tokens`] is the fallback estimate: ⌈characters / 4⌉ of that same text.

use serde_json::Value;

use super::request::translate_conversation;
use super::top_level::request_object;
use crate::adapter::api_error::TranslateError;

/// Characters per token assumed by [`estimate_input_tokens`].
pub(crate) const ESTIMATE_CHARS_PER_TOKEN: u64 = 4;

/// The text llama.cpp's `/tokenize` should count for `POST /v1/messages/count_tokens`.
///
/// The request is validated like a Messages request (minus the `max_tokens` requirement;
/// unsupported content is refused the same way) and what would be sent upstream is
/// flattened, one line group per item, in order: `system: …`, `user: …`, `assistant: …`,
/// each tool call as `tool_call NAME: ARGUMENTS`, each tool result as `tool ID: …`, then
/// each tool definition as `tool NAME: DESCRIPTION` followed by its JSON schema. The
/// chat template's own special tokens are not included, so the count is a few tokens per
/// message lower than what the model sees.
pub(crate) fn count_tokens_text(body: &Value) -> Result<String, TranslateError> {
    let obj = request_object(body)?;
    let conversation = translate_conversation(obj)?;
    let mut lines = Vec::new();
    for message in &conversation.messages {
        let role = message.get("role").and_then(Value::as_str).unwrap_or("user");
        let text = message.get("content").and_then(Value::as_str).unwrap_or("");
        match role {
            "tool" => {
                let id = message.get("tool_call_id").and_then(Value::as_str).unwrap_or("");
                lines.push(format!("tool {id}: {text}"));
            }
            _ if !text.is_empty() => lines.push(format!("{role}: {text}")),
            _ => {}
        }
        for call in message
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let function = call.get("function");
            let name = function
                .and_then(|function| function.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let arguments = function
                .and_then(|function| function.get("arguments"))
                .and_then(Value::as_str)
                .unwrap_or("");
            lines.push(format!("tool_call {name}: {arguments}"));
        }
    }
    for tool in conversation.tools.iter().flatten() {
        let function = tool.get("function");
        let field = |key: &str| {
            function
                .and_then(|function| function.get(key))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let schema = function
            .and_then(|function| function.get("parameters"))
            .map(Value::to_string)
            .unwrap_or_default();
        lines.push(format!("tool {}: {}\n{schema}", field("name"), field("description")));
    }
    Ok(lines.join("\n"))
}

/// `count_tokens` fallback when the upstream has no tokenizer: ⌈characters / 4⌉ of
/// `count_tokens_text` (so system, messages, tool calls, results and tool schemas all
/// count). For a request that text cannot be built for, the whole body's compact JSON is
/// counted instead. The caller must flag the result as an estimate.
pub fn estimate_input_tokens(body: &Value) -> u64 {
    let text = count_tokens_text(body).unwrap_or_else(|_| body.to_string());
    let chars = text.chars().count() as u64;
    chars.div_ceil(ESTIMATE_CHARS_PER_TOKEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::anthropic::test_support::MODEL;
    use serde_json::json;

    // ---- count_tokens

    #[test]
    fn count_tokens_text_covers_system_messages_and_tools() {
        let body = json!({
            "model": MODEL,
            "system": "SYS",
            "messages": [
                {"role": "user", "content": "Q"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"k": 1}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "R"}]},
            ],
            "tools": [{"name": "f", "description": "D", "input_schema": {"type": "object"}}],
        });
        let text = count_tokens_text(&body).unwrap();
        assert_eq!(
            text,
            "system: SYS\nuser: Q\ntool_call f: {\"k\":1}\ntool t1: R\ntool f: D\n{\"type\":\"object\"}"
        );
        let bad = json!({"model": MODEL, "messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}]});
        assert!(count_tokens_text(&bad).unwrap_err().message.contains("`image`"));
    }

    #[test]
    fn estimate_is_chars_over_four_rounded_up() {
        let body = json!({"model": MODEL, "messages": [{"role": "user", "content": "abcd"}]});
        // "user: abcd" = 10 chars → 3.
        assert_eq!(estimate_input_tokens(&body), 3);
        let body = json!({"model": MODEL, "system": "ééééééé", "messages": [{"role": "user", "content": "abcd"}]});
        // "system: ééééééé\nuser: abcd" = 26 chars (not bytes) → 7.
        assert_eq!(estimate_input_tokens(&body), 7);
    }
}
