//! An OpenAI `chat.completion` as a Responses `response` object (pure: no I/O), and the
//! parts a streamed answer shares with it.
//!
//! The answer is honest about what a chat upstream gives: no `reasoning` output items and
//! `reasoning: {"effort": null, "summary": null}` whatever was asked, `store: false`, and
//! nothing added for `include` (there is no encrypted reasoning to include). `model` is the
//! admitted name, never the upstream's echo. A `finish_reason` of `length` makes the answer
//! `incomplete` (`max_output_tokens`); an answer without a `finish_reason` is not an answer.

use serde_json::{Map, Value, json};

use crate::adapter::api_error::TranslateError;
use crate::adapter::upstream_api::{FirstChoice, first_choice};

/// Fresh ids in OpenAI's style: `prefix_` and 24 hex digits.
pub(crate) fn new_id(prefix: &str) -> String {
    let bytes: [u8; 12] = rand::random();
    format!("{prefix}_{}", hex::encode(bytes))
}

/// The response object before any output: what the request asked for, echoed, with the
/// admitted `model`, `status: in_progress` and no usage yet.
pub(crate) fn skeleton(request: &Map<String, Value>, model: &str, id: &str) -> Value {
    let echo = |key: &str| request.get(key).cloned().unwrap_or(Value::Null);
    let created_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    json!({
        "id": id,
        "object": "response",
        "created_at": created_at,
        "status": "in_progress",
        "error": null,
        "incomplete_details": null,
        "instructions": echo("instructions"),
        "max_output_tokens": echo("max_output_tokens"),
        "model": model,
        "output": [],
        "parallel_tool_calls": request.get("parallel_tool_calls").and_then(Value::as_bool).unwrap_or(true),
        "previous_response_id": null,
        "reasoning": {"effort": null, "summary": null},
        "store": false,
        "temperature": echo("temperature"),
        "text": {"format": {"type": "text"}},
        "tool_choice": request.get("tool_choice").cloned().unwrap_or_else(|| Value::from("auto")),
        "tools": request.get("tools").cloned().unwrap_or_else(|| json!([])),
        "top_p": echo("top_p"),
        "truncation": "disabled",
        "usage": null,
        "metadata": {},
    })
}

/// Responses `usage` from the upstream's `prompt_tokens`/`completion_tokens`, or `null` when the
/// upstream sent no usage (llama-cpp-python 0.3.36 sends none in a stream): a count the
/// upstream did not give is not invented as 0.
pub(crate) fn usage(counts: Option<(u64, u64)>) -> Value {
    let Some((input_tokens, output_tokens)) = counts else {
        return Value::Null;
    };
    json!({
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    })
}

/// The two counts of an upstream `usage` object, if it is one (an absent count in it is 0).
pub(crate) fn usage_counts(usage: Option<&Value>) -> Option<(u64, u64)> {
    let usage = usage.filter(|usage| usage.is_object())?;
    let count = |key: &str| usage.get(key).and_then(Value::as_u64).unwrap_or(0);
    Some((count("prompt_tokens"), count("completion_tokens")))
}

/// A completed assistant `message` output item holding `text`.
pub(crate) fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({
        "type": "message",
        "id": id,
        "status": status,
        "role": "assistant",
        "content": if status == "in_progress" { json!([]) } else { json!([text_part(text)]) },
    })
}

/// An `output_text` content part.
pub(crate) fn text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

/// A `function_call` output item.
pub(crate) fn function_call_item(id: &str, call_id: &str, name: &str, arguments: &str, status: &str) -> Value {
    json!({
        "type": "function_call",
        "id": id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    })
}

/// Sets the final status of `response` from the upstream's `finish_reason`: `length` is
/// `incomplete` (`max_output_tokens`), anything else `completed`.
pub(crate) fn conclude(response: &mut Value, finish_reason: &str, output: Vec<Value>, counts: Option<(u64, u64)>) {
    if finish_reason == "length" {
        response["status"] = Value::from("incomplete");
        response["incomplete_details"] = json!({"reason": "max_output_tokens"});
    } else {
        response["status"] = Value::from("completed");
    }
    response["output"] = Value::Array(output);
    response["usage"] = usage(counts);
}

/// The message of an upstream `error` object.
pub(crate) fn upstream_error_message(error: &Value) -> String {
    let text = error
        .get("message")
        .and_then(Value::as_str)
        .map_or_else(|| error.to_string(), str::to_owned);
    format!("the local upstream reported an error: {text}")
}

/// A non-streamed `chat.completion` → the finished `response` (built on `skeleton`).
pub(crate) fn from_chat_completion(completion: &Value, mut response: Value) -> Result<Value, TranslateError> {
    if let Some(error) = completion.get("error").filter(|error| !error.is_null()) {
        return Err(TranslateError::api(upstream_error_message(error)));
    }
    let FirstChoice {
        message, finish_reason, ..
    } = first_choice(completion).map_err(TranslateError::api)?;
    let mut output = Vec::new();
    match message.get("content") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) if text.is_empty() => {}
        Some(Value::String(text)) => output.push(message_item(&new_id("msg"), text, "completed")),
        Some(_) => return Err(TranslateError::api("the upstream's message content is not a string")),
    }
    let calls = match message.get("tool_calls") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(calls)) => calls.as_slice(),
        Some(_) => return Err(TranslateError::api("the upstream's tool_calls is not an array")),
    };
    for call in calls {
        let function = call
            .get("function")
            .ok_or_else(|| TranslateError::api("an upstream tool call has no function"))?;
        let name = function
            .get("name")
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty())
            .ok_or_else(|| TranslateError::api("an upstream tool call has no function name"))?;
        let arguments = match function.get("arguments") {
            None | Some(Value::Null) => "{}".to_owned(),
            Some(Value::String(arguments)) => arguments.clone(),
            Some(other) => other.to_string(),
        };
        let call_id = call
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map_or_else(|| new_id("call"), str::to_owned);
        output.push(function_call_item(
            &new_id("fc"),
            &call_id,
            name,
            &arguments,
            "completed",
        ));
    }
    conclude(
        &mut response,
        finish_reason,
        output,
        usage_counts(completion.get("usage")),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Map<String, Value> {
        match json!({"model": "m", "instructions": "be brief", "tools": [], "reasoning": {"effort": "high"}}) {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn a_text_and_tool_call_answer_becomes_a_response_with_no_invented_reasoning() {
        let completion = json!({
            "model": "whatever-the-server-says",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": "Let me look.",
                "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"}}]
            }}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 4}
        });
        let response =
            from_chat_completion(&completion, skeleton(&request(), "admitted", "resp_1")).expect("translates");
        assert_eq!(response["model"], "admitted");
        assert_eq!(response["status"], "completed");
        assert_eq!(response["reasoning"], json!({"effort": null, "summary": null}));
        assert_eq!(response["instructions"], "be brief");
        let output = response["output"].as_array().expect("output");
        assert_eq!(output.len(), 2);
        assert_eq!(output[0]["content"][0]["text"], "Let me look.");
        assert_eq!(output[1]["type"], "function_call");
        assert_eq!(output[1]["call_id"], "call_9");
        assert_eq!(output[1]["arguments"], "{\"cmd\":\"ls\"}");
        assert!(output.iter().all(|item| item["type"] != "reasoning"));
        assert_eq!(response["usage"]["total_tokens"], 15);
    }

    #[test]
    fn length_is_incomplete_and_a_missing_finish_reason_is_an_error() {
        let cut = json!({"choices": [{"finish_reason": "length", "message": {"content": "Par"}}]});
        let response = from_chat_completion(&cut, skeleton(&request(), "m", "resp_1")).expect("translates");
        assert_eq!(response["status"], "incomplete");
        assert_eq!(response["incomplete_details"]["reason"], "max_output_tokens");
        let unfinished = json!({"choices": [{"message": {"content": "Par"}}]});
        assert!(from_chat_completion(&unfinished, skeleton(&request(), "m", "resp_1")).is_err());
        let error = json!({"error": {"message": "boom"}});
        assert!(from_chat_completion(&error, skeleton(&request(), "m", "resp_1")).is_err());
    }
}
