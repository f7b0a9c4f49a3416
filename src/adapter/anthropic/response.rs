//! OpenAI `chat.completion` → Anthropic `message` (pure: no I/O).
//!
//! `{id, type: "message", role: "assistant", model, content, stop_reason, stop_sequence,
//! usage}`: `id` is the caller's message id and `model` the admitted name, never the
//! upstream's echo (local servers echo any name they are asked for). Content is the text (one
//! `text` block, omitted when empty) followed by one `tool_use` block per tool call, `input`
//! parsed from the `arguments` JSON string — invalid JSON or a non-object is an `api_error`.
//! `stop_reason`: `length` → `max_tokens`; any tool call present (and not truncated) →
//! `tool_use`; `content_filter` → `refusal`; `stop` → `end_turn`, or `stop_sequence` when
//! the upstream names the matched stop string in the choice's non-standard `stop_reason`
//! field (vLLM does; servers that don't say which stop matched give `end_turn`, since the
//! OpenAI API cannot tell a stop string from end-of-turn); anything else → `end_turn`.
//! `usage` maps `prompt_tokens`/`completion_tokens` to `input_tokens`/`output_tokens`,
//! 0 when the upstream sends none. Upstream reasoning fields are not requested and ignored.

use serde_json::{Value, json};

use crate::adapter::api_error::TranslateError;
use crate::adapter::upstream_api::{FirstChoice, first_choice};

/// An upstream error object's message, for an `api_error`. Not shortened here: the caller
/// redacts the run's secrets first and cuts after, so that a cut never leaves a secret's prefix.
pub(super) fn upstream_error_message(error: &Value) -> String {
    let text = match error {
        Value::String(text) => text.clone(),
        other => other
            .get("message")
            .and_then(Value::as_str)
            .map_or_else(|| other.to_string(), str::to_owned),
    };
    format!("the upstream reported an error: {text}")
}

/// Parses a tool call's `arguments` (a JSON string; some servers send the object itself)
/// into the `input` object.
pub(super) fn parse_arguments(arguments: Option<&Value>, name: &str) -> Result<Value, TranslateError> {
    let parsed = match arguments {
        None | Some(Value::Null) => return Ok(json!({})),
        Some(Value::String(text)) if text.trim().is_empty() => return Ok(json!({})),
        Some(Value::String(text)) => serde_json::from_str::<Value>(text).map_err(|err| {
            TranslateError::api(format!(
                "the upstream's arguments for tool `{name}` are not valid JSON ({err})"
            ))
        })?,
        Some(other) => other.clone(),
    };
    if parsed.is_object() {
        Ok(parsed)
    } else {
        Err(TranslateError::api(format!(
            "the upstream's arguments for tool `{name}` are not a JSON object"
        )))
    }
}

/// The Anthropic `(stop_reason, stop_sequence)` for an OpenAI finish.
pub(super) fn stop_reason(
    finish_reason: Option<&str>,
    matched_stop: Option<&str>,
    has_tool_use: bool,
) -> (&'static str, Value) {
    match finish_reason {
        Some("length") => ("max_tokens", Value::Null),
        _ if has_tool_use => ("tool_use", Value::Null),
        Some("content_filter") => ("refusal", Value::Null),
        Some("stop") => match matched_stop {
            Some(stop) => ("stop_sequence", json!(stop)),
            None => ("end_turn", Value::Null),
        },
        _ => ("end_turn", Value::Null),
    }
}

/// `prompt_tokens` and `completion_tokens` of an OpenAI `usage` object, 0 when absent.
pub(super) fn usage_counts(usage: Option<&Value>) -> (u64, u64) {
    let count = |key: &str| {
        usage
            .and_then(|usage| usage.get(key))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    (count("prompt_tokens"), count("completion_tokens"))
}

/// The text of an OpenAI message `content` (string, null, or an array of text parts).
fn response_text(content: Option<&Value>) -> Result<String, TranslateError> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Array(parts)) => parts
            .iter()
            .map(|part| {
                part.get("text")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| TranslateError::api("the upstream sent a non-text content part"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|texts| texts.concat()),
        Some(_) => Err(TranslateError::api("the upstream's message content is not a string")),
    }
}

pub(super) fn generated_tool_id(message_id: &str, index: usize) -> String {
    format!("toolu_{message_id}_{index}")
}

/// OpenAI `chat.completion` JSON → Anthropic `message` JSON. `model` is the admitted name
/// (never the upstream's echo) and `message_id` the id to report.
pub(crate) fn from_openai_response(response: &Value, model: &str, message_id: &str) -> Result<Value, TranslateError> {
    if let Some(error) = response.get("error").filter(|error| !error.is_null()) {
        return Err(TranslateError::api(upstream_error_message(error)));
    }
    let FirstChoice {
        choice,
        message,
        finish_reason,
    } = first_choice(response).map_err(TranslateError::api)?;

    let mut content = Vec::new();
    let text = response_text(message.get("content"))?;
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    let calls = match message.get("tool_calls") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(calls)) => calls.as_slice(),
        Some(_) => {
            return Err(TranslateError::api("the upstream's tool_calls is not an array"));
        }
    };
    for (i, call) in calls.iter().enumerate() {
        let function = call
            .get("function")
            .ok_or_else(|| TranslateError::api("an upstream tool call has no function"))?;
        let name = function
            .get("name")
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty())
            .ok_or_else(|| TranslateError::api("an upstream tool call has no function name"))?;
        let id = call
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map_or_else(|| generated_tool_id(message_id, i), str::to_owned);
        let input = parse_arguments(function.get("arguments"), name)?;
        content.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
    }

    let (reason, stop_sequence) = stop_reason(
        Some(finish_reason),
        choice.get("stop_reason").and_then(Value::as_str),
        !calls.is_empty(),
    );
    let (input_tokens, output_tokens) = usage_counts(response.get("usage"));
    Ok(json!({
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": stop_sequence,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::anthropic::test_support::MODEL;
    use crate::adapter::anthropic::to_openai_request;
    use crate::adapter::api_error::ErrorType;

    // ---- responses

    fn completion(message: Value, finish: &str, usage: Value) -> Value {
        json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "claude-sonnet-4-6",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage,
        })
    }

    #[test]
    fn text_response_becomes_an_anthropic_message_with_the_admitted_model() {
        let response = completion(
            json!({"role": "assistant", "content": "The capital of France is Paris."}),
            "stop",
            json!({"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20}),
        );
        let out = from_openai_response(&response, MODEL, "msg_1").unwrap();
        assert_eq!(
            out,
            json!({
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": MODEL,
                "content": [{"type": "text", "text": "The capital of France is Paris."}],
                "stop_reason": "end_turn",
                "stop_sequence": null,
                "usage": {"input_tokens": 12, "output_tokens": 8},
            })
        );
    }

    #[test]
    fn missing_usage_counts_zero() {
        let mut response = completion(json!({"role": "assistant", "content": "x"}), "stop", Value::Null);
        if let Some(obj) = response.as_object_mut() {
            obj.remove("usage");
        }
        let out = from_openai_response(&response, MODEL, "msg_1").unwrap();
        assert_eq!(out["usage"], json!({"input_tokens": 0, "output_tokens": 0}));
    }

    #[test]
    fn finish_reasons_map_to_stop_reasons() {
        let text = json!({"role": "assistant", "content": "x"});
        let reason =
            |finish: &str| from_openai_response(&completion(text.clone(), finish, json!({})), MODEL, "m").unwrap();
        assert_eq!(reason("stop")["stop_reason"], "end_turn");
        assert_eq!(reason("length")["stop_reason"], "max_tokens");
        assert_eq!(reason("content_filter")["stop_reason"], "refusal");
        // vLLM names the matched stop string.
        let mut response = completion(text.clone(), "stop", json!({}));
        response["choices"][0]["stop_reason"] = json!("END");
        let out = from_openai_response(&response, MODEL, "m").unwrap();
        assert_eq!(out["stop_reason"], "stop_sequence");
        assert_eq!(out["stop_sequence"], "END");
    }

    #[test]
    fn tool_calls_become_tool_use_blocks() {
        let response = completion(
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_9", "type": "function", "function": {"name": "weather", "arguments": "{\"city\": \"Paris\"}"}},
                {"type": "function", "function": {"name": "noop", "arguments": ""}},
            ]}),
            "tool_calls",
            json!({"prompt_tokens": 3, "completion_tokens": 4}),
        );
        let out = from_openai_response(&response, MODEL, "msg_7").unwrap();
        assert_eq!(
            out["content"],
            json!([
                {"type": "tool_use", "id": "call_9", "name": "weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_msg_7_1", "name": "noop", "input": {}},
            ])
        );
        assert_eq!(out["stop_reason"], "tool_use");
        // Some servers say "stop" even when they called a tool.
        let mut response = response.clone();
        response["choices"][0]["finish_reason"] = json!("stop");
        assert_eq!(
            from_openai_response(&response, MODEL, "m").unwrap()["stop_reason"],
            "tool_use"
        );
    }

    #[test]
    fn invalid_tool_arguments_and_broken_answers_are_api_errors() {
        for arguments in ["{\"city\": ", "[1, 2]"] {
            let response = completion(
                json!({"role": "assistant", "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "weather", "arguments": arguments}}]}),
                "tool_calls",
                json!({}),
            );
            let err = from_openai_response(&response, MODEL, "m").unwrap_err();
            assert_eq!(err.kind, ErrorType::Api);
            assert!(err.message.contains("weather"), "{err}");
        }
        let err = from_openai_response(&json!({"choices": []}), MODEL, "m").unwrap_err();
        assert_eq!(err.kind, ErrorType::Api);
        let err = from_openai_response(&json!({"error": {"message": "boom"}}), MODEL, "m").unwrap_err();
        assert!(err.message.contains("boom"), "{err}");
    }

    #[test]
    fn tool_call_round_trip_preserves_id_name_and_input() {
        let input = json!({"path": "src/main.rs", "lines": [1, 2], "opts": {"follow": true}});
        let anthropic_turn = json!({"type": "tool_use", "id": "toolu_abc", "name": "read_file", "input": input});
        let body = json!({"model": MODEL, "max_tokens": 64, "messages": [
            {"role": "user", "content": "read it"},
            {"role": "assistant", "content": [anthropic_turn.clone()]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_abc", "content": "fn main() {}"}]},
        ]});
        let out = to_openai_request(&body, MODEL).unwrap();
        let assistant = out["messages"][1].clone();
        assert_eq!(out["messages"][2]["tool_call_id"], "toolu_abc");
        // The upstream answers with the same call; translating back gives the same block.
        let response = completion(assistant, "tool_calls", json!({}));
        let back = from_openai_response(&response, MODEL, "msg_r").unwrap();
        assert_eq!(back["content"], json!([anthropic_turn]));
    }
}
