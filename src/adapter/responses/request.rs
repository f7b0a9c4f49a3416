//! The translation of an admitted Responses request into an OpenAI chat-completions request
//! (pure: no I/O).
//!
//! Both modes: what may go upstream is the route's allow-list (`upstream_api::RESPONSES`),
//! and tools whose `type` is not `function` are stripped first
//! (`upstream_api::strip_hosted_tools`); both live with the other routes' rules.
//!
//! Translation ([`to_chat_request`]): `instructions` and the leading `developer`/`system`
//! items become one `system` message; a later `developer`/`system` item a `system` message in
//! place; `user`/`assistant` items messages with their text parts joined; `function_call`
//! items the assistant's `tool_calls` (consecutive calls merged into one assistant message);
//! `function_call_output` items `tool` messages. `reasoning` items (the model's own earlier
//! reasoning, which a chat upstream cannot take back) are dropped and counted in the notes.
//! Images, files and any other item type are a 400: never silently dropped.

use serde_json::{Map, Value, json};

use crate::adapter::api_error::TranslateError;

/// An admitted Responses request as an OpenAI chat request, and what was left out of it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChatRequest {
    /// The chat-completions body for the admitted model.
    pub(crate) body: Value,
    /// What the translation left out (for the ledger line), e.g. dropped reasoning items.
    pub(crate) notes: Vec<String>,
}

/// The chat messages being built, with the leading system text kept apart.
#[derive(Default)]
struct Messages {
    system: Vec<String>,
    messages: Vec<Value>,
    reasoning_dropped: usize,
}

impl Messages {
    /// A `developer`/`system` text: part of the leading system message until anything else
    /// came, a `system` message in place after that.
    fn system(&mut self, text: String) {
        if self.messages.is_empty() {
            self.system.push(text);
        } else {
            self.messages.push(json!({"role": "system", "content": text}));
        }
    }

    fn tool_call(&mut self, call: Value) {
        if let Some(last) = self.messages.last_mut()
            && last["role"] == "assistant"
        {
            match last.get_mut("tool_calls").and_then(Value::as_array_mut) {
                Some(calls) => calls.push(call),
                None => last["tool_calls"] = json!([call]),
            }
            return;
        }
        self.messages
            .push(json!({"role": "assistant", "content": null, "tool_calls": [call]}));
    }

    fn into_vec(self) -> Vec<Value> {
        let mut all = Vec::with_capacity(self.messages.len() + 1);
        if !self.system.is_empty() {
            all.push(json!({"role": "system", "content": self.system.join("\n\n")}));
        }
        all.extend(self.messages);
        all
    }
}

/// The text of a message's `content`: a string, or an array of text parts (`input_text`,
/// `output_text`, `text`) joined with blank lines. Anything else is a 400 naming it.
fn content_text(content: Option<&Value>, whose: &str) -> Result<String, TranslateError> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Array(parts)) => {
            let mut texts = Vec::with_capacity(parts.len());
            for part in parts {
                let kind = part.get("type").and_then(Value::as_str).unwrap_or("(no type)");
                match (kind, part.get("text").and_then(Value::as_str)) {
                    ("input_text" | "output_text" | "text", Some(text)) => texts.push(text),
                    ("refusal", _) => {
                        if let Some(text) = part.get("refusal").and_then(Value::as_str) {
                            texts.push(text);
                        }
                    }
                    (kind, _) => {
                        return Err(TranslateError::invalid_request(format!(
                            "{whose} has a `{kind}` content part; only text can be carried to \
                             this local upstream (it speaks chat completions only)"
                        )));
                    }
                }
            }
            Ok(texts.join("\n\n"))
        }
        Some(_) => Err(TranslateError::invalid_request(format!(
            "{whose} has a `content` that is neither a string nor an array"
        ))),
    }
}

/// The string field `key` of an input item, or a 400 naming it.
fn item_str<'a>(item: &'a Value, key: &str, kind: &str) -> Result<&'a str, TranslateError> {
    item.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| TranslateError::invalid_request(format!("a `{kind}` input item has no string `{key}`")))
}

fn add_item(messages: &mut Messages, item: &Value) -> Result<(), TranslateError> {
    let kind = item.get("type").and_then(Value::as_str);
    let role = item.get("role").and_then(Value::as_str);
    match (kind, role) {
        (Some("message") | None, Some(role)) => {
            let text = content_text(item.get("content"), &format!("a `{role}` message"))?;
            match role {
                "developer" | "system" => messages.system(text),
                "user" | "assistant" => messages.messages.push(json!({"role": role, "content": text})),
                other => {
                    return Err(TranslateError::invalid_request(format!(
                        "input message role `{other}` is not one of user, assistant, system, developer"
                    )));
                }
            }
        }
        (Some("function_call"), _) => {
            let call = json!({
                "id": item_str(item, "call_id", "function_call")?,
                "type": "function",
                "function": {
                    "name": item_str(item, "name", "function_call")?,
                    "arguments": item_str(item, "arguments", "function_call")?,
                },
            });
            messages.tool_call(call);
        }
        (Some("function_call_output"), _) => {
            let call_id = item_str(item, "call_id", "function_call_output")?;
            let output = content_text(item.get("output"), "a `function_call_output`")?;
            messages
                .messages
                .push(json!({"role": "tool", "tool_call_id": call_id, "content": output}));
        }
        (Some("reasoning"), _) => messages.reasoning_dropped += 1,
        (Some(other), _) => {
            return Err(TranslateError::invalid_request(format!(
                "input item type `{other}` cannot be carried to this local upstream (it speaks \
                 chat completions only)"
            )));
        }
        (None, None) => {
            return Err(TranslateError::invalid_request(
                "an input item has neither a `type` nor a `role`",
            ));
        }
    }
    Ok(())
}

/// A Responses function tool (`{"type":"function","name",…}`) as a chat tool.
fn chat_tool(tool: &Value) -> Result<Value, TranslateError> {
    let name = tool
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| TranslateError::invalid_request("a function tool has no `name`"))?;
    let mut function = json!({"name": name});
    for key in ["description", "parameters"] {
        if let Some(value) = tool.get(key).filter(|value| !value.is_null()) {
            function[key] = value.clone();
        }
    }
    Ok(json!({"type": "function", "function": function}))
}

/// `text.format` as a chat `response_format`, when it asks for more than plain text.
fn response_format(text: Option<&Value>) -> Result<Option<Value>, TranslateError> {
    let Some(format) = text
        .and_then(|text| text.get("format"))
        .filter(|format| !format.is_null())
    else {
        return Ok(None);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "json_object"}))),
        Some("json_schema") => {
            let mut schema = json!({});
            for key in ["name", "schema", "strict", "description"] {
                if let Some(value) = format.get(key) {
                    schema[key] = value.clone();
                }
            }
            Ok(Some(json!({"type": "json_schema", "json_schema": schema})))
        }
        other => Err(TranslateError::invalid_request(format!(
            "`text.format` type {} is not supported",
            other.unwrap_or("(none)")
        ))),
    }
}

/// An admitted (pinned, tools stripped) Responses request → the chat request for `model`.
/// `reasoning`, `include` and `store` are not sent: a chat upstream neither reasons visibly
/// nor stores answers, and the answer says so (no reasoning items, `store: false`).
pub(crate) fn to_chat_request(request: &Map<String, Value>, model: &str) -> Result<ChatRequest, TranslateError> {
    let mut messages = Messages::default();
    match request.get("instructions") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => messages.system(text.clone()),
        Some(_) => return Err(TranslateError::invalid_request("`instructions` must be a string")),
    }
    match request.get("input") {
        Some(Value::String(text)) => messages.messages.push(json!({"role": "user", "content": text})),
        Some(Value::Array(items)) => {
            for item in items {
                add_item(&mut messages, item)?;
            }
        }
        _ => {
            return Err(TranslateError::invalid_request(
                "`input` must be a string or an array of input items",
            ));
        }
    }
    let mut notes = Vec::new();
    if messages.reasoning_dropped > 0 {
        notes.push(format!(
            "{} reasoning input item(s) not sent (a chat-completions upstream cannot take them)",
            messages.reasoning_dropped
        ));
    }
    let mut body = json!({"model": model, "messages": messages.into_vec()});
    if let Some(Value::Array(tools)) = request.get("tools")
        && !tools.is_empty()
    {
        body["tools"] = Value::Array(tools.iter().map(chat_tool).collect::<Result<_, _>>()?);
    }
    match request.get("tool_choice") {
        None | Some(Value::Null) => {}
        Some(Value::String(choice)) => body["tool_choice"] = Value::from(choice.as_str()),
        Some(Value::Object(choice)) => {
            let name = choice
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| TranslateError::invalid_request("`tool_choice` names no function"))?;
            body["tool_choice"] = json!({"type": "function", "function": {"name": name}});
        }
        Some(_) => return Err(TranslateError::invalid_request("`tool_choice` is malformed")),
    }
    for key in ["parallel_tool_calls", "temperature", "top_p", "seed", "top_k", "min_p"] {
        if let Some(value) = request.get(key).filter(|value| !value.is_null()) {
            body[key] = value.clone();
        }
    }
    if let Some(limit) = request.get("max_output_tokens").filter(|value| !value.is_null()) {
        body["max_tokens"] = limit.clone();
    }
    if let Some(format) = response_format(request.get("text"))? {
        body["response_format"] = format;
    }
    if request.get("stream").and_then(Value::as_bool) == Some(true) {
        body["stream"] = Value::Bool(true);
        body["stream_options"] = json!({"include_usage": true});
    }
    Ok(ChatRequest { body, notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODEL: &str = "smollm2-135m-instruct";

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("an object"),
        }
    }

    #[test]
    fn codex_like_input_becomes_chat_messages() {
        let request = object(json!({
            "model": MODEL,
            "instructions": "You are Codex.",
            "input": [
                {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "sandbox rules"}]},
                {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "more rules"}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "AGENTS.md"}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list files"}]},
                {"type": "reasoning", "summary": [], "encrypted_content": "opaque"},
                {"type": "function_call", "call_id": "call_1", "name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"},
                {"type": "function_call", "call_id": "call_2", "name": "exec_command", "arguments": "{\"cmd\":\"pwd\"}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "a.txt"},
                {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "/w"}]},
                {"type": "message", "role": "developer", "content": "late note"},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "done"}]}
            ],
            "tools": [{"type": "function", "name": "exec_command", "description": "run", "parameters": {"type": "object"}, "strict": false}],
            "tool_choice": "auto",
            "parallel_tool_calls": false,
            "max_output_tokens": 64,
            "reasoning": {"summary": "auto"},
            "include": ["reasoning.encrypted_content"],
            "store": false,
            "stream": true
        }));
        let chat = to_chat_request(&request, MODEL).expect("translates");
        let body = chat.body;
        assert_eq!(
            body["messages"],
            json!([
                {"role": "system", "content": "You are Codex.\n\nsandbox rules\n\nmore rules"},
                {"role": "user", "content": "AGENTS.md"},
                {"role": "user", "content": "list files"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "exec_command", "arguments": "{\"cmd\":\"pwd\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "a.txt"},
                {"role": "tool", "tool_call_id": "call_2", "content": "/w"},
                {"role": "system", "content": "late note"},
                {"role": "assistant", "content": "done"}
            ])
        );
        assert_eq!(
            body["tools"],
            json!([{"type": "function", "function": {"name": "exec_command", "description": "run", "parameters": {"type": "object"}}}])
        );
        assert_eq!(body["max_tokens"], 64);
        assert_eq!(body["stream_options"], json!({"include_usage": true}));
        assert_eq!(body["parallel_tool_calls"], false);
        for absent in [
            "reasoning",
            "include",
            "store",
            "input",
            "instructions",
            "max_output_tokens",
        ] {
            assert!(body.get(absent).is_none(), "{absent} must not go upstream");
        }
        assert_eq!(chat.notes.len(), 1, "{:?}", chat.notes);
        assert!(chat.notes[0].starts_with("1 reasoning"));
    }

    #[test]
    fn what_cannot_be_carried_is_refused_not_dropped() {
        for input in [
            json!([{"role": "user", "content": [{"type": "input_image", "image_url": "data:x"}]}]),
            json!([{"type": "web_search_call", "id": "ws_1"}]),
            json!([{"type": "item_reference", "id": "msg_1"}]),
            json!([{"role": "tool", "content": "x"}]),
            json!([{"type": "function_call", "name": "f", "arguments": "{}"}]),
            json!(7),
        ] {
            let request = object(json!({"model": MODEL, "input": input}));
            let err = to_chat_request(&request, MODEL).expect_err("refused");
            assert_eq!(err.kind.status(), 400, "{input}");
        }
    }

    #[test]
    fn a_plain_string_input_and_json_schema_format() {
        let request = object(json!({
            "input": "hi",
            "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}, "strict": true}}
        }));
        let body = to_chat_request(&request, MODEL).expect("translates").body;
        assert_eq!(body["messages"], json!([{"role": "user", "content": "hi"}]));
        assert_eq!(body["model"], MODEL);
        assert_eq!(body["response_format"]["json_schema"]["name"], "x");
        assert!(body.get("stream").is_none());
    }
}
