//! Anthropic Messages API ⇄ OpenAI chat-completions translation (pure: no I/O).
//!
//! The adapter speaks Anthropic's `POST /v1/messages` to Case and the OpenAI
//! `POST /v1/chat/completions` API to the local upstream. This module holds only the
//! translation; the server calls it:
//!
//! * [`to_openai_request`] — Anthropic request → OpenAI request for the admitted model;
//! * [`from_openai_response`] — OpenAI `chat.completion` → Anthropic `message`;
//! * [`SseParser`] + [`StreamTranslator`] — upstream SSE bytes → `data:` payloads →
//!   Anthropic stream events, one upstream chunk at a time (nothing is held back to the end);
//! * [`count_tokens_text`] / [`estimate_input_tokens`] — `POST /v1/messages/count_tokens`;
//! * [`ErrorType`], [`TranslateError`], [`error_body`] — errors in Anthropic's shape.
//!
//! # Request translation
//! * `system` (string, or an array of `text` blocks joined with `\n`) → a leading
//!   `system` message. `user`/`assistant` turns with string content or `text` blocks
//!   (several text blocks of one turn are joined with `\n`). Any other role is refused.
//! * `max_tokens` (required; a positive integer) → `max_tokens`; `temperature`, `top_p`
//!   carried over (numbers, range left to the upstream); `stop_sequences` → `stop`
//!   (omitted when empty); `stream` carried over, and a streaming request also asks for
//!   `stream_options: {"include_usage": true}`. `model` is always the admitted name the
//!   caller passes, never the client's.
//! * `tools` `[{name, description, input_schema}]` → `[{type: function, function: {name,
//!   description, parameters}}]`. `tool_choice` `auto`/`any`/`tool`/`none` →
//!   `"auto"`/`"required"`/`{type: function, function: {name}}`/`"none"`;
//!   `disable_parallel_tool_use: true` → `parallel_tool_calls: false`.
//! * Assistant `tool_use` blocks → one assistant message with `tool_calls` (`arguments` is
//!   the `input` object serialised as JSON); its text blocks become `content` (`null` when
//!   there is no text). OpenAI cannot interleave text and calls, so the text of a turn comes
//!   first and the calls after it.
//! * User `tool_result` blocks → `role: tool` messages with `tool_call_id`, emitted in block
//!   order *before* the rest of that user turn's text (OpenAI requires tool results to follow
//!   the assistant's calls directly). Their content (string, or `text` blocks joined with
//!   `\n`) is prefixed with `[tool error] ` when `is_error` is true, so the model still
//!   learns the call failed.
//! * `cache_control` on blocks and tools is accepted and dropped: it is a caching hint with
//!   no effect on the answer. Text-block `citations` are accepted only when absent, `null`
//!   or empty.
//! * `thinking` is accepted as `{"type": "disabled"}` and as `{"type": "adaptive"}` (the
//!   model decides whether to think; the local model never does, which that contract allows).
//!   `enabled` and `between_tools` ask for thinking and are refused.
//! * A final assistant turn (a "prefill") is forwarded as the last message; whether the
//!   upstream continues it or starts a new turn depends on its chat template.
//!
//! **Refused, never silently dropped** (`invalid_request_error` naming the field or block
//! type): `image`, `document`, `search_result`, `thinking`, `redacted_thinking`, server-tool
//! blocks and every other unknown content-block type (the upstream is reached through a
//! text-and-function-calls API; dropping them would change what the model is asked);
//! server tools (any tool `type` other than `custom`); extended thinking; structured outputs
//! (`output_config.format`); `container`, `mcp_servers`, `context_management` and **every
//! other unknown top-level field** — an
//! unknown field may carry meaning (or routing) we cannot honour. Unknown keys inside
//! messages, blocks, tools and `tool_choice` are refused likewise.
//!
//! **Accepted and ignored** ([`IGNORED_FIELDS`]): `metadata` (it carries a user id; never
//! forwarded), `service_tier` (no tiers locally), `top_k` (validated as an integer, then
//! dropped: the OpenAI chat API has no `top_k`, and forwarding non-standard sampling fields
//! to some servers would be refused or silently ignored anyway), and the hints current SDKs
//! (anthropic 2.x) send that change where, how fast or how cheaply Anthropic would answer but
//! not what is asked: top-level `cache_control`, `speed`, `inference_geo`, `diagnostics`, and
//! `output_config` when it carries only `effort` (there is no effort knob on a local model).
//!
//! # Response translation
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
//!
//! # Streaming
//! [`StreamTranslator`] emits `message_start` and `ping` first, then per upstream chunk:
//! `content_block_start` (a `text` block, or a `tool_use` block with empty `input`), and
//! `content_block_delta` (`text_delta`, or `input_json_delta` with each `arguments` fragment
//! in arrival order). A block is closed (`content_block_stop`) when the next one starts — text
//! followed by a tool call closes the text first. [`StreamTranslator::finish`] closes the
//! open block and sends `message_delta` (`stop_reason`, `stop_sequence`, `usage`) and
//! `message_stop`. Token counts are known only at the end, so `message_start` reports 0
//! and `message_delta` carries both counts. A stream that ends without a `finish_reason`,
//! a tool call whose arguments do not form a JSON object, or fragments of an already-closed
//! tool call end the stream with an Anthropic `error` event instead of `message_stop`:
//! the client must not mistake a truncated answer for a complete one.
//!
//! # Token counting
//! [`count_tokens_text`] flattens what would be sent upstream (system, messages, tool calls
//! and results, tool definitions) into one text for the upstream's tokenizer;
//! [`estimate_input_tokens`] is the fallback estimate: ⌈characters / 4⌉ of that same text.

use serde_json::{Map, Value, json};

/// The Anthropic error types this adapter produces, each with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// 400: the request is malformed or asks for something unsupported.
    InvalidRequest,
    /// 401: missing or wrong credentials.
    Authentication,
    /// 403: the credentials may not do this.
    Permission,
    /// 404: no such resource.
    NotFound,
    /// 413: the request is too large.
    RequestTooLarge,
    /// 429: rate limited.
    RateLimit,
    /// 500: an internal error (including an upstream answer we cannot translate).
    Api,
    /// 529: temporarily overloaded.
    Overloaded,
}

impl ErrorType {
    /// The wire name, e.g. `invalid_request_error`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorType::InvalidRequest => "invalid_request_error",
            ErrorType::Authentication => "authentication_error",
            ErrorType::Permission => "permission_error",
            ErrorType::NotFound => "not_found_error",
            ErrorType::RequestTooLarge => "request_too_large",
            ErrorType::RateLimit => "rate_limit_error",
            ErrorType::Api => "api_error",
            ErrorType::Overloaded => "overloaded_error",
        }
    }

    /// The HTTP status Anthropic uses for this type.
    pub fn status(&self) -> u16 {
        match self {
            ErrorType::InvalidRequest => 400,
            ErrorType::Authentication => 401,
            ErrorType::Permission => 403,
            ErrorType::NotFound => 404,
            ErrorType::RequestTooLarge => 413,
            ErrorType::RateLimit => 429,
            ErrorType::Api => 500,
            ErrorType::Overloaded => 529,
        }
    }

    /// The type to report to the client when the upstream answered with HTTP `status`.
    ///
    /// 400/422 and other unlisted 4xx → `invalid_request_error` (the upstream rejected the
    /// content, e.g. a prompt longer than its context); 413 → `request_too_large`; 429 →
    /// `rate_limit_error`; 503/529 → `overloaded_error`; everything else → `api_error`.
    /// Upstream 401/403/404 are deliberately `api_error`: the client authenticated to the
    /// adapter and the model is pinned, so they mean the harness's upstream credential or
    /// URL is wrong — reporting `authentication_error` would blame the client's token.
    pub fn from_upstream_status(status: u16) -> ErrorType {
        match status {
            401 | 403 | 404 => ErrorType::Api,
            413 => ErrorType::RequestTooLarge,
            429 => ErrorType::RateLimit,
            503 | 529 => ErrorType::Overloaded,
            400..=499 => ErrorType::InvalidRequest,
            _ => ErrorType::Api,
        }
    }
}

/// A request that cannot be translated, or an upstream answer that cannot be translated back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TranslateError {
    /// The Anthropic error type (and so the HTTP status).
    pub kind: ErrorType,
    /// A message for the client; never contains headers or secrets.
    pub message: String,
}

impl TranslateError {
    /// An `invalid_request_error`.
    pub fn invalid_request(message: impl Into<String>) -> TranslateError {
        TranslateError {
            kind: ErrorType::InvalidRequest,
            message: message.into(),
        }
    }

    /// An `api_error` (the upstream's answer could not be translated).
    pub fn api(message: impl Into<String>) -> TranslateError {
        TranslateError {
            kind: ErrorType::Api,
            message: message.into(),
        }
    }

    /// This error as an Anthropic error body (see [`error_body`]).
    pub fn to_body(&self) -> Value {
        error_body(self.kind, &self.message)
    }
}

/// The Anthropic error body: `{"type":"error","error":{"type":…,"message":…}}`.
pub fn error_body(kind: ErrorType, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind.as_str(), "message": message}})
}

/// Top-level request fields that are accepted and never forwarded (see the module docs).
pub const IGNORED_FIELDS: &[&str] = &[
    "metadata",
    "service_tier",
    "top_k",
    "cache_control",
    "speed",
    "inference_geo",
    "diagnostics",
    "output_config",
];

/// Top-level request fields that are translated.
const TRANSLATED_FIELDS: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "system",
    "temperature",
    "top_p",
    "stop_sequences",
    "stream",
    "tools",
    "tool_choice",
    "thinking",
];

/// Characters per token assumed by [`estimate_input_tokens`].
pub const ESTIMATE_CHARS_PER_TOKEN: u64 = 4;

/// Prefix of a `role: tool` message whose `tool_result` had `is_error: true`.
const TOOL_ERROR_PREFIX: &str = "[tool error] ";

fn invalid(message: impl Into<String>) -> TranslateError {
    TranslateError::invalid_request(message)
}

/// Refuses any key of `obj` not in `allowed`.
fn check_keys(obj: &Map<String, Value>, allowed: &[&str], ctx: &str) -> Result<(), TranslateError> {
    match obj.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(key) => Err(invalid(format!(
            "{ctx}: field `{key}` is not supported by this adapter"
        ))),
        None => Ok(()),
    }
}

/// Why a content block type is refused.
fn why_unsupported(block_type: &str) -> &'static str {
    match block_type {
        "image" | "document" | "search_result" => "the local model is reached through a text-only chat API",
        "thinking" | "redacted_thinking" => "extended thinking is not supported",
        t if t.starts_with("server_tool") || t.ends_with("_tool_result") || t.contains("mcp") => {
            "server and MCP tools are not supported; only client tools are"
        }
        _ => "it has no equivalent in the upstream's OpenAI chat API",
    }
}

fn unsupported_block(ctx: &str, block_type: &str) -> TranslateError {
    invalid(format!(
        "{ctx}: content block type `{block_type}` is not supported: {}",
        why_unsupported(block_type)
    ))
}

fn block_type<'a>(block: &'a Value, ctx: &str) -> Result<&'a str, TranslateError> {
    block
        .as_object()
        .and_then(|obj| obj.get("type"))
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{ctx}: a content block must be an object with a `type`")))
}

/// The text of a `text` block, checking its fields.
fn text_block(block: &Value, ctx: &str) -> Result<String, TranslateError> {
    let obj = block
        .as_object()
        .ok_or_else(|| invalid(format!("{ctx}: a text block must be an object")))?;
    check_keys(obj, &["type", "text", "cache_control", "citations"], ctx)?;
    match obj.get("citations") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) if list.is_empty() => {}
        Some(_) => {
            return Err(invalid(format!(
                "{ctx}: text blocks with `citations` are not supported"
            )));
        }
    }
    obj.get("text")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| invalid(format!("{ctx}: `text` must be a string")))
}

/// String content, or an array of `text` blocks joined with `\n`.
fn flat_text(content: &Value, ctx: &str) -> Result<String, TranslateError> {
    match content {
        Value::String(text) => Ok(text.clone()),
        Value::Array(blocks) => {
            let mut texts = Vec::with_capacity(blocks.len());
            for (j, block) in blocks.iter().enumerate() {
                let bctx = format!("{ctx}[{j}]");
                match block_type(block, &bctx)? {
                    "text" => texts.push(text_block(block, &bctx)?),
                    other => return Err(unsupported_block(&bctx, other)),
                }
            }
            Ok(texts.join("\n"))
        }
        _ => Err(invalid(format!("{ctx}: must be a string or an array of text blocks"))),
    }
}

/// The `role: tool` message for one `tool_result` block.
fn tool_result_message(block: &Value, ctx: &str) -> Result<Value, TranslateError> {
    let obj = block
        .as_object()
        .ok_or_else(|| invalid(format!("{ctx}: must be an object")))?;
    check_keys(
        obj,
        &["type", "tool_use_id", "content", "is_error", "cache_control"],
        ctx,
    )?;
    let id = obj
        .get("tool_use_id")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{ctx}: `tool_use_id` must be a string")))?;
    let text = match obj.get("content") {
        None | Some(Value::Null) => String::new(),
        Some(content) => flat_text(content, &format!("{ctx}.content"))?,
    };
    let is_error = match obj.get("is_error") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => return Err(invalid(format!("{ctx}: `is_error` must be a boolean"))),
    };
    let text = if is_error {
        format!("{TOOL_ERROR_PREFIX}{text}")
    } else {
        text
    };
    Ok(json!({"role": "tool", "tool_call_id": id, "content": text}))
}

/// One OpenAI `tool_calls` entry for a `tool_use` block.
fn tool_call(block: &Value, ctx: &str) -> Result<Value, TranslateError> {
    let obj = block
        .as_object()
        .ok_or_else(|| invalid(format!("{ctx}: must be an object")))?;
    check_keys(obj, &["type", "id", "name", "input", "cache_control"], ctx)?;
    let id = obj
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{ctx}: `id` must be a string")))?;
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{ctx}: `name` must be a string")))?;
    let input = obj
        .get("input")
        .filter(|input| input.is_object())
        .ok_or_else(|| invalid(format!("{ctx}: `input` must be an object")))?;
    Ok(json!({
        "id": id,
        "type": "function",
        "function": {"name": name, "arguments": input.to_string()},
    }))
}

/// A turn's content blocks, or `None` when the content is a plain string (one message as it is).
fn turn_blocks<'a>(content: &'a Value, ctx: &str) -> Result<Option<&'a [Value]>, TranslateError> {
    match content {
        Value::String(_) => Ok(None),
        Value::Array(blocks) if !blocks.is_empty() => Ok(Some(blocks)),
        _ => Err(invalid(format!(
            "{ctx}.content: must be a string or a non-empty array of content blocks"
        ))),
    }
}

fn translate_user(content: &Value, ctx: &str, out: &mut Vec<Value>) -> Result<(), TranslateError> {
    let Some(blocks) = turn_blocks(content, ctx)? else {
        out.push(json!({"role": "user", "content": content}));
        return Ok(());
    };
    let mut texts = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        let bctx = format!("{ctx}.content[{j}]");
        match block_type(block, &bctx)? {
            "text" => texts.push(text_block(block, &bctx)?),
            "tool_result" => out.push(tool_result_message(block, &bctx)?),
            "tool_use" => {
                return Err(invalid(format!("{bctx}: `tool_use` blocks belong in assistant turns")));
            }
            other => return Err(unsupported_block(&bctx, other)),
        }
    }
    if !texts.is_empty() {
        out.push(json!({"role": "user", "content": texts.join("\n")}));
    }
    Ok(())
}

fn translate_assistant(content: &Value, ctx: &str, out: &mut Vec<Value>) -> Result<(), TranslateError> {
    let Some(blocks) = turn_blocks(content, ctx)? else {
        out.push(json!({"role": "assistant", "content": content}));
        return Ok(());
    };
    let mut texts = Vec::new();
    let mut calls = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        let bctx = format!("{ctx}.content[{j}]");
        match block_type(block, &bctx)? {
            "text" => texts.push(text_block(block, &bctx)?),
            "tool_use" => calls.push(tool_call(block, &bctx)?),
            "tool_result" => {
                return Err(invalid(format!("{bctx}: `tool_result` blocks belong in user turns")));
            }
            other => return Err(unsupported_block(&bctx, other)),
        }
    }
    let mut message = Map::new();
    message.insert("role".into(), json!("assistant"));
    let content = if texts.is_empty() && !calls.is_empty() {
        Value::Null
    } else {
        Value::String(texts.join("\n"))
    };
    message.insert("content".into(), content);
    if !calls.is_empty() {
        message.insert("tool_calls".into(), Value::Array(calls));
    }
    out.push(Value::Object(message));
    Ok(())
}

fn translate_tools(tools: &Value) -> Result<Vec<Value>, TranslateError> {
    let list = tools.as_array().ok_or_else(|| invalid("`tools` must be an array"))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, tool) in list.iter().enumerate() {
        let ctx = format!("tools[{i}]");
        let obj = tool
            .as_object()
            .ok_or_else(|| invalid(format!("{ctx}: must be an object")))?;
        match obj.get("type") {
            None | Some(Value::Null) => {}
            Some(Value::String(kind)) if kind == "custom" => {}
            Some(other) => {
                let kind = other.as_str().map_or_else(|| other.to_string(), str::to_owned);
                return Err(invalid(format!(
                    "{ctx}: tool type `{kind}` is not supported: server tools run on Anthropic's \
                     servers; only client tools (name, description, input_schema) are"
                )));
            }
        }
        check_keys(
            obj,
            &["type", "name", "description", "input_schema", "cache_control"],
            &ctx,
        )?;
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("{ctx}: `name` must be a string")))?;
        let schema = obj
            .get("input_schema")
            .filter(|schema| schema.is_object())
            .ok_or_else(|| invalid(format!("{ctx}: `input_schema` must be an object")))?;
        let mut function = Map::new();
        function.insert("name".into(), json!(name));
        match obj.get("description") {
            None | Some(Value::Null) => {}
            Some(Value::String(text)) => {
                function.insert("description".into(), json!(text));
            }
            Some(_) => return Err(invalid(format!("{ctx}: `description` must be a string"))),
        }
        function.insert("parameters".into(), schema.clone());
        out.push(json!({"type": "function", "function": function}));
    }
    Ok(out)
}

/// `tool_choice` → (OpenAI `tool_choice`, `parallel_tool_calls: false` wanted).
fn translate_tool_choice(choice: &Value) -> Result<(Value, bool), TranslateError> {
    let ctx = "tool_choice";
    let obj = choice
        .as_object()
        .ok_or_else(|| invalid("`tool_choice` must be an object"))?;
    check_keys(obj, &["type", "name", "disable_parallel_tool_use"], ctx)?;
    let serial = match obj.get("disable_parallel_tool_use") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => {
            return Err(invalid("tool_choice: `disable_parallel_tool_use` must be a boolean"));
        }
    };
    let mapped = match obj.get("type").and_then(Value::as_str) {
        Some("auto") => json!("auto"),
        Some("any") => json!("required"),
        Some("none") => return Ok((json!("none"), false)),
        Some("tool") => {
            let name = obj
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("tool_choice: type `tool` needs a `name`"))?;
            json!({"type": "function", "function": {"name": name}})
        }
        Some(other) => {
            return Err(invalid(format!(
                "tool_choice: type `{other}` is not supported (use auto, any, tool or none)"
            )));
        }
        None => return Err(invalid("tool_choice: `type` must be a string")),
    };
    Ok((mapped, serial))
}

/// The request body as an object whose every top-level field is translated or ignored.
fn request_object(body: &Value) -> Result<&Map<String, Value>, TranslateError> {
    let obj = body
        .as_object()
        .ok_or_else(|| invalid("the request body must be a JSON object"))?;
    for (key, value) in obj {
        let key = key.as_str();
        if IGNORED_FIELDS.contains(&key) {
            continue;
        }
        if !TRANSLATED_FIELDS.contains(&key) {
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

/// The field's value unless it is absent or `null`.
fn present<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|value| !value.is_null())
}

/// The conversation translated into OpenAI messages, tools and tool choice.
struct Conversation {
    messages: Vec<Value>,
    tools: Option<Vec<Value>>,
    tool_choice: Option<(Value, bool)>,
}

fn translate_conversation(obj: &Map<String, Value>) -> Result<Conversation, TranslateError> {
    let mut messages = Vec::new();
    if let Some(system) = present(obj, "system") {
        let text = flat_text(system, "system")?;
        if !text.is_empty() {
            messages.push(json!({"role": "system", "content": text}));
        }
    }
    let list = present(obj, "messages")
        .and_then(Value::as_array)
        .filter(|list| !list.is_empty())
        .ok_or_else(|| invalid("`messages` must be a non-empty array"))?;
    for (i, message) in list.iter().enumerate() {
        let ctx = format!("messages[{i}]");
        let message = message
            .as_object()
            .ok_or_else(|| invalid(format!("{ctx}: must be an object")))?;
        check_keys(message, &["role", "content"], &ctx)?;
        let content = message
            .get("content")
            .ok_or_else(|| invalid(format!("{ctx}: `content` is required")))?;
        match message.get("role").and_then(Value::as_str) {
            Some("user") => translate_user(content, &ctx, &mut messages)?,
            Some("assistant") => translate_assistant(content, &ctx, &mut messages)?,
            Some(other) => {
                return Err(invalid(format!(
                    "{ctx}: role `{other}` is not supported (use user or assistant; the system \
                     prompt goes in the top-level `system` field)"
                )));
            }
            None => return Err(invalid(format!("{ctx}: `role` must be a string"))),
        }
    }
    let tools = present(obj, "tools").map(translate_tools).transpose()?;
    let tool_choice = present(obj, "tool_choice").map(translate_tool_choice).transpose()?;
    Ok(Conversation {
        messages,
        tools,
        tool_choice,
    })
}

fn number_field(obj: &Map<String, Value>, key: &str) -> Result<Option<Value>, TranslateError> {
    match present(obj, key) {
        None => Ok(None),
        Some(value) if value.is_number() => Ok(Some(value.clone())),
        Some(_) => Err(invalid(format!("`{key}` must be a number"))),
    }
}

/// Anthropic request JSON → OpenAI `chat.completions` request JSON for `model` (the caller
/// has already checked the requested model; its name is never taken from `body`).
///
/// `stream` is carried over; a streaming request also gets
/// `"stream_options": {"include_usage": true}`. See the module docs for every rule and for
/// what is refused.
pub fn to_openai_request(body: &Value, model: &str) -> Result<Value, TranslateError> {
    let obj = request_object(body)?;
    let max_tokens = match present(obj, "max_tokens") {
        None => return Err(invalid("`max_tokens` is required")),
        Some(value) => value
            .as_u64()
            .filter(|n| *n > 0)
            .ok_or_else(|| invalid("`max_tokens` must be a positive integer"))?,
    };
    let conversation = translate_conversation(obj)?;

    let mut out = Map::new();
    out.insert("model".into(), json!(model));
    out.insert("messages".into(), Value::Array(conversation.messages));
    out.insert("max_tokens".into(), json!(max_tokens));
    for key in ["temperature", "top_p"] {
        if let Some(value) = number_field(obj, key)? {
            out.insert(key.into(), value);
        }
    }
    if let Some(stops) = present(obj, "stop_sequences") {
        let stops = stops
            .as_array()
            .filter(|list| list.iter().all(Value::is_string))
            .ok_or_else(|| invalid("`stop_sequences` must be an array of strings"))?;
        if !stops.is_empty() {
            out.insert("stop".into(), Value::Array(stops.clone()));
        }
    }
    if let Some(stream) = present(obj, "stream") {
        let stream = stream.as_bool().ok_or_else(|| invalid("`stream` must be a boolean"))?;
        out.insert("stream".into(), json!(stream));
        if stream {
            out.insert("stream_options".into(), json!({"include_usage": true}));
        }
    }
    if let Some(tools) = conversation.tools {
        out.insert("tools".into(), Value::Array(tools));
    }
    if let Some((choice, serial)) = conversation.tool_choice {
        out.insert("tool_choice".into(), choice);
        if serial {
            out.insert("parallel_tool_calls".into(), json!(false));
        }
    }
    Ok(Value::Object(out))
}

/// An upstream error object's message, for an `api_error`. Not shortened here: the caller
/// redacts the run's secrets first and cuts after, so that a cut never leaves a secret's prefix.
fn upstream_error_message(error: &Value) -> String {
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
fn parse_arguments(arguments: Option<&Value>, name: &str) -> Result<Value, TranslateError> {
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
fn stop_reason(finish_reason: Option<&str>, matched_stop: Option<&str>, has_tool_use: bool) -> (&'static str, Value) {
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
fn usage_counts(usage: Option<&Value>) -> (u64, u64) {
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

fn generated_tool_id(message_id: &str, index: usize) -> String {
    format!("toolu_{message_id}_{index}")
}

/// OpenAI `chat.completion` JSON → Anthropic `message` JSON. `model` is the admitted name
/// (never the upstream's echo) and `message_id` the id to report.
pub fn from_openai_response(response: &Value, model: &str, message_id: &str) -> Result<Value, TranslateError> {
    if let Some(error) = response.get("error").filter(|error| !error.is_null()) {
        return Err(TranslateError::api(upstream_error_message(error)));
    }
    let choice = response
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|choices| choices.first())
        .ok_or_else(|| TranslateError::api("the upstream's answer has no choices"))?;
    let message = choice
        .get("message")
        .filter(|message| message.is_object())
        .ok_or_else(|| TranslateError::api("the upstream's choice has no message"))?;
    // As for a stream: an answer without a finish_reason is incomplete, not an answer.
    let finish_reason = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .ok_or_else(|| TranslateError::api("the upstream's answer has no finish_reason; the answer is incomplete"))?;

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

/// One SSE event to send to the Anthropic client.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    /// The `event:` name, e.g. `content_block_delta`.
    pub event: &'static str,
    /// The `data:` JSON (its `type` equals `event`).
    pub data: Value,
}

impl SseEvent {
    /// An Anthropic `error` event, for a failure after the stream has started.
    pub fn error(kind: ErrorType, message: &str) -> SseEvent {
        SseEvent {
            event: "error",
            data: error_body(kind, message),
        }
    }

    /// The wire form: `event: NAME\ndata: {json}\n\n` (the JSON is compact, one line).
    pub fn to_bytes(&self) -> bytes::Bytes {
        bytes::Bytes::from(format!("event: {}\ndata: {}\n\n", self.event, self.data))
    }
}

fn event(name: &'static str, data: Value) -> SseEvent {
    SseEvent { event: name, data }
}

/// One upstream tool call being streamed (keyed by its OpenAI `index`).
#[derive(Debug)]
struct StreamedTool {
    openai_index: u64,
    id: Option<String>,
    name: Option<String>,
    /// Arguments received before the name was known (not yet sent).
    pending: String,
    /// Every argument fragment sent so far, to check the whole is a JSON object.
    arguments: String,
    /// The Anthropic content-block index once the block has started.
    block: Option<u64>,
    closed: bool,
}

/// The block currently open on the Anthropic side.
#[derive(Debug, Clone, Copy)]
enum OpenBlock {
    Text(u64),
    /// Position in `StreamTranslator::tools`.
    Tool(usize),
}

/// Incremental OpenAI-stream → Anthropic-stream translator: every upstream chunk yields its
/// Anthropic events at once (nothing is held back to the end).
///
/// Call [`start`](Self::start) (optional: the first `on_chunk`/`finish` does it), then
/// [`on_chunk`](Self::on_chunk) per upstream `data:` object, then [`finish`](Self::finish)
/// on `data: [DONE]` or when the upstream ends. After an `Err` from `on_chunk`, send
/// [`SseEvent::error`] and end the stream; the translator is then finished.
#[derive(Debug)]
pub struct StreamTranslator {
    model: String,
    message_id: String,
    started: bool,
    finished: bool,
    next_block: u64,
    open: Option<OpenBlock>,
    tools: Vec<StreamedTool>,
    finish_reason: Option<String>,
    matched_stop: Option<String>,
    input_tokens: u64,
    output_tokens: u64,
}

impl StreamTranslator {
    /// A translator reporting `model` (the admitted name) and `message_id`.
    pub fn new(model: &str, message_id: &str) -> Self {
        StreamTranslator {
            model: model.to_owned(),
            message_id: message_id.to_owned(),
            started: false,
            finished: false,
            next_block: 0,
            open: None,
            tools: Vec::new(),
            finish_reason: None,
            matched_stop: None,
            input_tokens: 0,
            output_tokens: 0,
        }
    }

    /// `message_start` and `ping`, the first time it is called; nothing afterwards.
    pub fn start(&mut self) -> Vec<SseEvent> {
        if self.started {
            return Vec::new();
        }
        self.started = true;
        vec![
            event(
                "message_start",
                json!({"type": "message_start", "message": {
                    "id": self.message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": {"input_tokens": 0, "output_tokens": 0},
                }}),
            ),
            event("ping", json!({"type": "ping"})),
        ]
    }

    /// Translates one parsed upstream `data:` object into the events it makes available.
    pub fn on_chunk(&mut self, chunk: &Value) -> Result<Vec<SseEvent>, TranslateError> {
        if self.finished {
            return Err(TranslateError::api(
                "the upstream sent data after the end of the stream",
            ));
        }
        let mut events = self.start();
        match self.apply_chunk(chunk, &mut events) {
            Ok(()) => Ok(events),
            Err(err) => {
                self.finished = true;
                Err(err)
            }
        }
    }

    fn apply_chunk(&mut self, chunk: &Value, events: &mut Vec<SseEvent>) -> Result<(), TranslateError> {
        if let Some(error) = chunk.get("error").filter(|error| !error.is_null()) {
            return Err(TranslateError::api(upstream_error_message(error)));
        }
        if let Some(usage) = chunk.get("usage").filter(|usage| usage.is_object()) {
            (self.input_tokens, self.output_tokens) = usage_counts(Some(usage));
        }
        let choices = match chunk.get("choices") {
            None | Some(Value::Null) => return Ok(()),
            Some(Value::Array(choices)) => choices,
            Some(_) => {
                return Err(TranslateError::api("the upstream's choices is not an array"));
            }
        };
        // Only one choice is ever requested (no `n`); other indices are not ours.
        for choice in choices
            .iter()
            .filter(|choice| choice.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
        {
            if let Some(delta) = choice.get("delta") {
                if let Some(text) = delta.get("content").and_then(Value::as_str)
                    && !text.is_empty()
                {
                    self.on_text(text, events)?;
                }
                if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
                    for (position, call) in calls.iter().enumerate() {
                        self.on_tool_fragment(call, position as u64, events)?;
                    }
                }
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                self.finish_reason = Some(reason.to_owned());
            }
            if let Some(stop) = choice.get("stop_reason").and_then(Value::as_str) {
                self.matched_stop = Some(stop.to_owned());
            }
        }
        Ok(())
    }

    fn on_text(&mut self, text: &str, events: &mut Vec<SseEvent>) -> Result<(), TranslateError> {
        let index = match self.open {
            Some(OpenBlock::Text(index)) => index,
            _ => {
                self.close_open(events)?;
                let index = self.next_block;
                self.next_block += 1;
                self.open = Some(OpenBlock::Text(index));
                events.push(event(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": index,
                           "content_block": {"type": "text", "text": ""}}),
                ));
                index
            }
        };
        events.push(event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index,
                   "delta": {"type": "text_delta", "text": text}}),
        ));
        Ok(())
    }

    fn on_tool_fragment(
        &mut self,
        call: &Value,
        position: u64,
        events: &mut Vec<SseEvent>,
    ) -> Result<(), TranslateError> {
        let openai_index = call.get("index").and_then(Value::as_u64).unwrap_or(position);
        let slot = match self.tools.iter().position(|tool| tool.openai_index == openai_index) {
            Some(slot) => slot,
            None => {
                self.tools.push(StreamedTool {
                    openai_index,
                    id: None,
                    name: None,
                    pending: String::new(),
                    arguments: String::new(),
                    block: None,
                    closed: false,
                });
                self.tools.len() - 1
            }
        };
        let function = call.get("function");
        let fragment = match function.and_then(|function| function.get("arguments")) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
        };
        {
            let tool = &mut self.tools[slot];
            if tool.closed {
                return Err(TranslateError::api(format!(
                    "the upstream sent more of tool call {openai_index} after another block began"
                )));
            }
            if tool.id.is_none()
                && let Some(id) = call.get("id").and_then(Value::as_str).filter(|id| !id.is_empty())
            {
                tool.id = Some(id.to_owned());
            }
            if tool.name.is_none()
                && let Some(name) = function
                    .and_then(|function| function.get("name"))
                    .and_then(Value::as_str)
                    .filter(|name| !name.is_empty())
            {
                tool.name = Some(name.to_owned());
            }
            if tool.block.is_none() {
                tool.pending.push_str(&fragment);
                if tool.name.is_none() {
                    // Nothing can be started before the name is known.
                    return Ok(());
                }
            }
        }
        let (block, fragment) = match self.tools[slot].block {
            Some(block) => (block, fragment),
            None => {
                self.close_open(events)?;
                let block = self.next_block;
                self.next_block += 1;
                let tool = &mut self.tools[slot];
                tool.block = Some(block);
                let id = tool
                    .id
                    .clone()
                    .unwrap_or_else(|| generated_tool_id(&self.message_id, slot));
                let name = tool.name.clone().unwrap_or_default();
                self.open = Some(OpenBlock::Tool(slot));
                events.push(event(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": block,
                           "content_block": {"type": "tool_use", "id": id, "name": name,
                                             "input": {}}}),
                ));
                (block, std::mem::take(&mut tool.pending))
            }
        };
        if !fragment.is_empty() {
            self.tools[slot].arguments.push_str(&fragment);
            events.push(event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": block,
                       "delta": {"type": "input_json_delta", "partial_json": fragment}}),
            ));
        }
        Ok(())
    }

    /// Closes the open block, if any; a tool block's arguments must form a JSON object.
    fn close_open(&mut self, events: &mut Vec<SseEvent>) -> Result<(), TranslateError> {
        let index = match self.open.take() {
            None => return Ok(()),
            Some(OpenBlock::Text(index)) => index,
            Some(OpenBlock::Tool(slot)) => {
                let tool = &mut self.tools[slot];
                tool.closed = true;
                let name = tool.name.clone().unwrap_or_default();
                parse_arguments(Some(&Value::String(tool.arguments.clone())), &name)?;
                tool.block.unwrap_or_default()
            }
        };
        events.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
        Ok(())
    }

    /// Ends the stream: closes the open block, then `message_delta` (stop reason, usage)
    /// and `message_stop` — or an `error` event when the answer is incomplete or invalid
    /// (no `finish_reason`, a nameless tool call, arguments that are not a JSON object).
    /// Returns nothing when already finished.
    pub fn finish(&mut self) -> Vec<SseEvent> {
        if self.finished {
            return Vec::new();
        }
        let mut events = self.start();
        self.finished = true;
        if let Err(err) = self.close_all(&mut events) {
            events.push(SseEvent::error(err.kind, &err.message));
            return events;
        }
        let has_tool_use = self.tools.iter().any(|tool| tool.block.is_some());
        let (reason, stop_sequence) = stop_reason(
            self.finish_reason.as_deref(),
            self.matched_stop.as_deref(),
            has_tool_use,
        );
        events.push(event(
            "message_delta",
            json!({"type": "message_delta",
                   "delta": {"stop_reason": reason, "stop_sequence": stop_sequence},
                   "usage": {"input_tokens": self.input_tokens,
                             "output_tokens": self.output_tokens}}),
        ));
        events.push(event("message_stop", json!({"type": "message_stop"})));
        events
    }

    fn close_all(&mut self, events: &mut Vec<SseEvent>) -> Result<(), TranslateError> {
        self.close_open(events)?;
        if let Some(tool) = self.tools.iter().find(|tool| tool.block.is_none()) {
            return Err(TranslateError::api(format!(
                "the upstream streamed tool call {} without a function name",
                tool.openai_index
            )));
        }
        if self.finish_reason.is_none() {
            return Err(TranslateError::api(
                "the upstream stream ended before a finish_reason; the answer is incomplete",
            ));
        }
        Ok(())
    }
}

/// One `data:` payload of an upstream SSE stream.
#[derive(Debug, Clone, PartialEq)]
pub enum SseData {
    /// A JSON chunk.
    Json(Value),
    /// The `[DONE]` sentinel.
    Done,
}

/// Largest SSE event (pending line plus accumulated data) the parser holds, in bytes.
const MAX_SSE_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// Parses raw upstream SSE bytes incrementally into `data:` payloads.
///
/// Bytes may be split anywhere (mid-line, mid-UTF-8 character, between `\r` and `\n`).
/// Lines end with `\n`, `\r\n` or `\r`; a blank line ends an event; `:` lines are comments;
/// several `data:` lines of one event are joined with `\n` (per the SSE spec); `event:`,
/// `id:` and `retry:` are ignored. A leading UTF-8 BOM is skipped. An event still
/// incomplete when the stream ends is discarded, as the SSE spec says.
#[derive(Debug, Default)]
pub struct SseParser {
    buffer: Vec<u8>,
    data: Option<String>,
    seen_start: bool,
}

impl SseParser {
    /// An empty parser.
    pub fn new() -> Self {
        SseParser::default()
    }

    /// Feeds `bytes`; returns every payload completed by them, in order. Errors
    /// (`api_error`) on invalid UTF-8, invalid JSON, or an event over 16 MiB.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseData>, TranslateError> {
        self.buffer.extend_from_slice(bytes);
        if !self.seen_start {
            if self.buffer.len() < 3 && b"\xEF\xBB\xBF".starts_with(&self.buffer) {
                return Ok(Vec::new());
            }
            self.seen_start = true;
            if self.buffer.starts_with(b"\xEF\xBB\xBF") {
                self.buffer.drain(..3);
            }
        }
        let mut out = Vec::new();
        let mut consumed = 0;
        loop {
            let rest = &self.buffer[consumed..];
            let Some(end) = rest.iter().position(|b| *b == b'\n' || *b == b'\r') else {
                break;
            };
            let next = if rest[end] == b'\r' {
                match rest.get(end + 1) {
                    None => break, // a `\n` may follow in the next push
                    Some(b'\n') => end + 2,
                    Some(_) => end + 1,
                }
            } else {
                end + 1
            };
            let line = std::str::from_utf8(&rest[..end])
                .map_err(|_| TranslateError::api("the upstream stream is not valid UTF-8"))?
                .to_owned();
            consumed += next;
            if let Some(payload) = self.on_line(&line)? {
                out.push(payload);
            }
        }
        self.buffer.drain(..consumed);
        let held = self.buffer.len() + self.data.as_ref().map_or(0, String::len);
        if held > MAX_SSE_EVENT_BYTES {
            return Err(TranslateError::api(
                "the upstream sent a stream event larger than 16 MiB",
            ));
        }
        Ok(out)
    }

    fn on_line(&mut self, line: &str) -> Result<Option<SseData>, TranslateError> {
        if line.is_empty() {
            let Some(data) = self.data.take() else {
                return Ok(None);
            };
            if data.trim() == "[DONE]" {
                return Ok(Some(SseData::Done));
            }
            return serde_json::from_str(&data).map(SseData::Json).map(Some).map_err(|err| {
                TranslateError::api(format!("the upstream sent a stream event that is not JSON ({err})"))
            });
        }
        if line.starts_with(':') {
            return Ok(None);
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        if field == "data" {
            match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            }
        }
        Ok(None)
    }
}

/// The text llama.cpp's `/tokenize` should count for `POST /v1/messages/count_tokens`.
///
/// The request is validated like a Messages request (minus the `max_tokens` requirement;
/// unsupported content is refused the same way) and what would be sent upstream is
/// flattened, one line group per item, in order: `system: …`, `user: …`, `assistant: …`,
/// each tool call as `tool_call NAME: ARGUMENTS`, each tool result as `tool ID: …`, then
/// each tool definition as `tool NAME: DESCRIPTION` followed by its JSON schema. The
/// chat template's own special tokens are not included, so the count is a few tokens per
/// message lower than what the model sees.
pub fn count_tokens_text(body: &Value) -> Result<String, TranslateError> {
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
/// [`count_tokens_text`] (so system, messages, tool calls, results and tool schemas all
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

    const MODEL: &str = "smollm2-135m-instruct";

    fn request(extra: Value) -> Value {
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

    fn refused(body: &Value) -> TranslateError {
        match to_openai_request(body, MODEL) {
            Ok(out) => panic!("expected a refusal, got {out}"),
            Err(err) => err,
        }
    }

    fn names(events: &[SseEvent]) -> Vec<&'static str> {
        events.iter().map(|event| event.event).collect()
    }

    // ---- errors

    #[test]
    fn error_types_have_anthropic_names_and_statuses() {
        let all = [
            (ErrorType::InvalidRequest, "invalid_request_error", 400),
            (ErrorType::Authentication, "authentication_error", 401),
            (ErrorType::Permission, "permission_error", 403),
            (ErrorType::NotFound, "not_found_error", 404),
            (ErrorType::RequestTooLarge, "request_too_large", 413),
            (ErrorType::RateLimit, "rate_limit_error", 429),
            (ErrorType::Api, "api_error", 500),
            (ErrorType::Overloaded, "overloaded_error", 529),
        ];
        for (kind, name, status) in all {
            assert_eq!(kind.as_str(), name);
            assert_eq!(kind.status(), status);
        }
    }

    #[test]
    fn upstream_statuses_map_to_client_error_types() {
        assert_eq!(ErrorType::from_upstream_status(400), ErrorType::InvalidRequest);
        assert_eq!(ErrorType::from_upstream_status(422), ErrorType::InvalidRequest);
        assert_eq!(ErrorType::from_upstream_status(413), ErrorType::RequestTooLarge);
        assert_eq!(ErrorType::from_upstream_status(429), ErrorType::RateLimit);
        assert_eq!(ErrorType::from_upstream_status(503), ErrorType::Overloaded);
        assert_eq!(ErrorType::from_upstream_status(500), ErrorType::Api);
        // The upstream credential is the harness's, not the client's.
        assert_eq!(ErrorType::from_upstream_status(401), ErrorType::Api);
        assert_eq!(ErrorType::from_upstream_status(404), ErrorType::Api);
    }

    #[test]
    fn error_body_has_anthropic_shape() {
        assert_eq!(
            error_body(ErrorType::RateLimit, "slow down"),
            json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
        );
        let err = TranslateError::invalid_request("bad");
        assert_eq!(err.to_string(), "bad");
        assert_eq!(err.to_body()["error"]["type"], "invalid_request_error");
    }

    // ---- requests

    #[test]
    fn basic_request_maps_parameters_and_pins_the_model() {
        let body = request(json!({
            "model": "claude-sonnet-4-6",
            "system": "be brief",
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 40,
            "stop_sequences": ["END", "STOP"],
            "metadata": {"user_id": "u-123"},
            "service_tier": "auto",
        }));
        let out = to_openai_request(&body, MODEL).unwrap();
        assert_eq!(
            out,
            json!({
                "model": MODEL,
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "hi"},
                ],
                "max_tokens": 64,
                "temperature": 0.2,
                "top_p": 0.9,
                "stop": ["END", "STOP"],
            })
        );
        let text = out.to_string();
        assert!(!text.contains("u-123"), "metadata must never be forwarded");
        assert!(!text.contains("top_k"));
    }

    #[test]
    fn system_text_blocks_and_user_text_blocks_are_joined() {
        let body = request(json!({
            "system": [
                {"type": "text", "text": "rule one", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "rule two"},
            ],
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "c"}]},
                {"role": "user", "content": "d"},
            ],
        }));
        let out = to_openai_request(&body, MODEL).unwrap();
        assert_eq!(
            out["messages"],
            json!([
                {"role": "system", "content": "rule one\nrule two"},
                {"role": "user", "content": "a\nb"},
                {"role": "assistant", "content": "c"},
                {"role": "user", "content": "d"},
            ])
        );
    }

    #[test]
    fn missing_or_invalid_max_tokens_is_refused() {
        let mut body = request(json!({}));
        if let Some(obj) = body.as_object_mut() {
            obj.remove("max_tokens");
        }
        let err = refused(&body);
        assert_eq!(err.kind, ErrorType::InvalidRequest);
        assert!(err.message.contains("max_tokens"), "{err}");
        for bad in [json!(0), json!("64"), json!(-1), json!(1.5)] {
            let err = refused(&request(json!({"max_tokens": bad})));
            assert_eq!(err.kind, ErrorType::InvalidRequest);
        }
    }

    #[test]
    fn stream_is_carried_over_and_asks_for_usage() {
        let out = to_openai_request(&request(json!({"stream": true})), MODEL).unwrap();
        assert_eq!(out["stream"], json!(true));
        assert_eq!(out["stream_options"], json!({"include_usage": true}));
        let out = to_openai_request(&request(json!({"stream": false})), MODEL).unwrap();
        assert_eq!(out["stream"], json!(false));
        assert!(out.get("stream_options").is_none());
        let out = to_openai_request(&request(json!({})), MODEL).unwrap();
        assert!(out.get("stream").is_none());
    }

    #[test]
    fn unknown_and_unsupported_top_level_fields_are_refused() {
        for field in [
            "container",
            "mcp_servers",
            "context_management",
            "fallbacks",
            "api_base",
        ] {
            let err = refused(&request(json!({ field: {} })));
            assert_eq!(err.kind, ErrorType::InvalidRequest);
            assert!(err.message.contains(field), "{err}");
        }
        let err = refused(&request(
            json!({"thinking": {"type": "enabled", "budget_tokens": 1024}}),
        ));
        assert!(err.message.contains("thinking"), "{err}");
        assert!(to_openai_request(&request(json!({"thinking": {"type": "disabled"}})), MODEL).is_ok());
        assert!(refused(&request(json!({"top_k": "many"}))).message.contains("top_k"));
        let err = refused(&request(json!({"thinking": {"type": "between_tools"}})));
        assert!(err.message.contains("thinking"), "{err}");
        let err = refused(&request(
            json!({"output_config": {"format": {"type": "json_schema", "schema": {}}}}),
        ));
        assert!(err.message.contains("structured outputs"), "{err}");
        let err = refused(&request(json!({"output_config": {"verbosity": "low"}})));
        assert!(err.message.contains("verbosity"), "{err}");
    }

    #[test]
    fn current_sdk_hints_are_accepted_and_never_forwarded() {
        let body = request(json!({
            "cache_control": {"type": "ephemeral", "ttl": "5m"},
            "speed": "fast",
            "inference_geo": "eu",
            "diagnostics": {"previous_message_id": "msg_1"},
            "output_config": {"effort": "low"},
            "thinking": {"type": "adaptive", "display": "omitted"},
        }));
        let out = to_openai_request(&body, MODEL).unwrap();
        assert_eq!(
            out,
            json!({"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]})
        );
        assert!(count_tokens_text(&body).is_ok());
    }

    #[test]
    fn unsupported_content_blocks_are_refused_by_type() {
        let image = json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}});
        let cases = [
            ("user", image, "image"),
            ("user", json!({"type": "document", "source": {}}), "document"),
            (
                "assistant",
                json!({"type": "thinking", "thinking": "hm", "signature": "s"}),
                "thinking",
            ),
            (
                "assistant",
                json!({"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}),
                "server_tool_use",
            ),
            ("user", json!({"type": "hologram"}), "hologram"),
        ];
        for (role, block, kind) in cases {
            let body = request(json!({"messages": [
                {"role": "user", "content": "q"},
                {"role": role, "content": [{"type": "text", "text": "x"}, block]},
            ]}));
            let err = refused(&body);
            assert_eq!(err.kind, ErrorType::InvalidRequest);
            assert!(err.message.contains(&format!("`{kind}`")), "{err}");
            assert!(err.message.contains("messages[1].content[1]"), "{err}");
        }
        let err = refused(&request(json!({"system": [{"type": "image", "source": {}}]})));
        assert!(err.message.contains("`image`"), "{err}");
    }

    #[test]
    fn misplaced_blocks_roles_and_unknown_block_fields_are_refused() {
        let cases = [
            json!([{"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "n", "input": {}}]}]),
            json!([{"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "t"}]}]),
            json!([{"role": "system", "content": "x"}]),
            json!([{"role": "user", "content": []}]),
            json!([{"role": "user", "content": "x", "name": "bob"}]),
            json!([{"role": "user", "content": [{"type": "text", "text": "x", "extra": 1}]}]),
            json!([]),
        ];
        for messages in cases {
            let err = refused(&request(json!({ "messages": messages.clone() })));
            assert_eq!(err.kind, ErrorType::InvalidRequest, "{messages}");
        }
    }

    #[test]
    fn tools_and_tool_choice_are_mapped() {
        let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
        let body = request(json!({
            "tools": [
                {"name": "weather", "description": "Get weather", "input_schema": schema,
                 "cache_control": {"type": "ephemeral"}},
                {"name": "noop", "input_schema": {"type": "object"}},
            ],
            "tool_choice": {"type": "auto"},
        }));
        let out = to_openai_request(&body, MODEL).unwrap();
        assert_eq!(
            out["tools"],
            json!([
                {"type": "function", "function": {"name": "weather", "description": "Get weather", "parameters": schema}},
                {"type": "function", "function": {"name": "noop", "parameters": {"type": "object"}}},
            ])
        );
        let choices = [
            (json!({"type": "auto"}), json!("auto")),
            (json!({"type": "any"}), json!("required")),
            (json!({"type": "none"}), json!("none")),
            (
                json!({"type": "tool", "name": "weather"}),
                json!({"type": "function", "function": {"name": "weather"}}),
            ),
        ];
        for (choice, expected) in choices {
            let out = to_openai_request(&request(json!({ "tool_choice": choice })), MODEL).unwrap();
            assert_eq!(out["tool_choice"], expected);
            assert!(out.get("parallel_tool_calls").is_none());
        }
        let out = to_openai_request(
            &request(json!({"tool_choice": {"type": "any", "disable_parallel_tool_use": true}})),
            MODEL,
        )
        .unwrap();
        assert_eq!(out["parallel_tool_calls"], json!(false));
        assert!(
            refused(&request(json!({"tool_choice": {"type": "tool"}})))
                .message
                .contains("name")
        );
        assert!(
            refused(&request(json!({"tool_choice": {"type": "sometimes"}})))
                .message
                .contains("sometimes")
        );
    }

    #[test]
    fn server_tools_and_bad_tool_definitions_are_refused() {
        let err = refused(&request(
            json!({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
        ));
        assert!(err.message.contains("web_search_20250305"), "{err}");
        let err = refused(&request(json!({"tools": [{"name": "x"}]})));
        assert!(err.message.contains("input_schema"), "{err}");
        let err = refused(&request(
            json!({"tools": [{"name": "x", "input_schema": {}, "defer_loading": true}]}),
        ));
        assert!(err.message.contains("defer_loading"), "{err}");
    }

    #[test]
    fn tool_use_and_tool_result_become_tool_calls_and_tool_messages() {
        let body = request(json!({"messages": [
            {"role": "user", "content": "weather in Paris and Rome?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "weather", "input": {"city": "Rome"}},
            ]},
            {"role": "user", "content": [
                {"type": "text", "text": "here you go"},
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": true,
                 "content": [{"type": "text", "text": "timeout"}, {"type": "text", "text": "retry later"}]},
            ]},
        ]}));
        let out = to_openai_request(&body, MODEL).unwrap();
        assert_eq!(
            out["messages"],
            json!([
                {"role": "user", "content": "weather in Paris and Rome?"},
                {"role": "assistant", "content": "Checking.", "tool_calls": [
                    {"id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "toolu_2", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}},
                ]},
                {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
                {"role": "tool", "tool_call_id": "toolu_2", "content": "[tool error] timeout\nretry later"},
                {"role": "user", "content": "here you go"},
            ])
        );
    }

    #[test]
    fn tool_only_assistant_turn_has_null_content_and_image_in_tool_result_is_refused() {
        let body = request(json!({"messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]},
        ]}));
        let out = to_openai_request(&body, MODEL).unwrap();
        assert_eq!(out["messages"][1]["content"], Value::Null);
        assert_eq!(out["messages"][1]["tool_calls"][0]["function"]["arguments"], "{}");
        assert_eq!(
            out["messages"][2],
            json!({"role": "tool", "tool_call_id": "t1", "content": ""})
        );
        assert_eq!(out["messages"].as_array().map(Vec::len), Some(3));

        let body = request(json!({"messages": [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "image", "source": {}}]},
        ]}]}));
        let err = refused(&body);
        assert!(err.message.contains("`image`"), "{err}");
    }

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
        let body = request(json!({"messages": [
            {"role": "user", "content": "read it"},
            {"role": "assistant", "content": [anthropic_turn.clone()]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_abc", "content": "fn main() {}"}]},
        ]}));
        let out = to_openai_request(&body, MODEL).unwrap();
        let assistant = out["messages"][1].clone();
        assert_eq!(out["messages"][2]["tool_call_id"], "toolu_abc");
        // The upstream answers with the same call; translating back gives the same block.
        let response = completion(assistant, "tool_calls", json!({}));
        let back = from_openai_response(&response, MODEL, "msg_r").unwrap();
        assert_eq!(back["content"], json!([anthropic_turn]));
    }

    // ---- streaming

    fn chunk(delta: Value, finish: Value) -> Value {
        json!({"id": "c", "object": "chat.completion.chunk", "model": "echo",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    }

    fn run_stream(chunks: &[Value]) -> Vec<SseEvent> {
        let mut translator = StreamTranslator::new(MODEL, "msg_s");
        let mut events = translator.start();
        for c in chunks {
            events.extend(translator.on_chunk(c).unwrap());
        }
        events.extend(translator.finish());
        events
    }

    #[test]
    fn text_stream_emits_the_full_event_sequence() {
        let events = run_stream(&[
            chunk(json!({"role": "assistant", "content": ""}), Value::Null),
            chunk(json!({"content": "Hel"}), Value::Null),
            chunk(json!({"content": "lo"}), Value::Null),
            chunk(json!({}), json!("stop")),
            json!({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}),
        ]);
        assert_eq!(
            names(&events),
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop",
            ]
        );
        for e in &events {
            assert_eq!(e.data["type"], e.event);
        }
        let message = &events[0].data["message"];
        assert_eq!(message["model"], MODEL);
        assert_eq!(message["id"], "msg_s");
        assert_eq!(message["content"], json!([]));
        assert_eq!(events[2].data["content_block"], json!({"type": "text", "text": ""}));
        assert_eq!(events[3].data["delta"], json!({"type": "text_delta", "text": "Hel"}));
        assert_eq!(events[4].data["index"], 0);
        assert_eq!(events[5].data, json!({"type": "content_block_stop", "index": 0}));
        assert_eq!(
            events[6].data,
            json!({"type": "message_delta",
                   "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                   "usage": {"input_tokens": 5, "output_tokens": 2}})
        );
    }

    #[test]
    fn events_are_emitted_as_chunks_arrive() {
        let mut translator = StreamTranslator::new(MODEL, "m");
        let first = translator
            .on_chunk(&chunk(json!({"content": "a"}), Value::Null))
            .unwrap();
        assert_eq!(
            names(&first),
            ["message_start", "ping", "content_block_start", "content_block_delta"]
        );
        let second = translator
            .on_chunk(&chunk(json!({"content": "b"}), Value::Null))
            .unwrap();
        assert_eq!(names(&second), ["content_block_delta"]);
        assert!(translator.start().is_empty());
    }

    fn tool_fragment(index: u64, id: Option<&str>, name: Option<&str>, arguments: &str) -> Value {
        let mut function = json!({"arguments": arguments});
        let mut call = json!({"index": index});
        if let Some(name) = name {
            function["name"] = json!(name);
        }
        if let Some(id) = id {
            call["id"] = json!(id);
            call["type"] = json!("function");
        }
        call["function"] = function;
        chunk(json!({"tool_calls": [call]}), Value::Null)
    }

    fn partial_json(events: &[SseEvent], index: u64) -> String {
        events
            .iter()
            .filter(|e| e.event == "content_block_delta" && e.data["index"] == index)
            .map(|e| {
                assert_eq!(e.data["delta"]["type"], "input_json_delta");
                e.data["delta"]["partial_json"].as_str().unwrap_or_default().to_owned()
            })
            .collect()
    }

    #[test]
    fn tool_arguments_split_across_three_chunks_reassemble() {
        let events = run_stream(&[
            tool_fragment(0, Some("call_1"), Some("weather"), "{\"ci"),
            tool_fragment(0, None, None, "ty\": \"Par"),
            tool_fragment(0, None, None, "is\"}"),
            chunk(json!({}), json!("tool_calls")),
        ]);
        assert_eq!(
            names(&events),
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop",
            ]
        );
        assert_eq!(
            events[2].data["content_block"],
            json!({"type": "tool_use", "id": "call_1", "name": "weather", "input": {}})
        );
        let joined = partial_json(&events, 0);
        assert_eq!(
            serde_json::from_str::<Value>(&joined).unwrap(),
            json!({"city": "Paris"})
        );
        assert_eq!(events[7].data["delta"]["stop_reason"], "tool_use");
    }

    #[test]
    fn text_then_tool_closes_the_text_block_first() {
        let events = run_stream(&[
            chunk(json!({"content": "Let me check."}), Value::Null),
            tool_fragment(0, Some("call_1"), Some("weather"), ""),
            tool_fragment(0, None, None, "{\"city\":\"Rome\"}"),
            tool_fragment(1, Some("call_2"), Some("time"), "{}"),
            chunk(json!({}), json!("tool_calls")),
        ]);
        let shape: Vec<(&str, Value)> = events
            .iter()
            .map(|e| (e.event, e.data.get("index").cloned().unwrap_or(Value::Null)))
            .collect();
        assert_eq!(
            shape,
            [
                ("message_start", Value::Null),
                ("ping", Value::Null),
                ("content_block_start", json!(0)),
                ("content_block_delta", json!(0)),
                ("content_block_stop", json!(0)),
                ("content_block_start", json!(1)),
                ("content_block_delta", json!(1)),
                ("content_block_stop", json!(1)),
                ("content_block_start", json!(2)),
                ("content_block_delta", json!(2)),
                ("content_block_stop", json!(2)),
                ("message_delta", Value::Null),
                ("message_stop", Value::Null),
            ]
        );
        assert_eq!(partial_json(&events, 1), "{\"city\":\"Rome\"}");
        assert_eq!(events[8].data["content_block"]["id"], "call_2");
    }

    #[test]
    fn tool_name_arriving_late_defers_the_block_start() {
        let events = run_stream(&[
            tool_fragment(0, Some("call_1"), None, "{\"a\":"),
            tool_fragment(0, None, Some("f"), "1}"),
            chunk(json!({}), json!("tool_calls")),
        ]);
        assert_eq!(events[2].data["content_block"]["name"], "f");
        assert_eq!(partial_json(&events, 0), "{\"a\":1}");
    }

    #[test]
    fn incomplete_or_invalid_streams_end_with_an_error_event() {
        // No finish_reason: the upstream stopped mid-answer.
        let events = run_stream(&[chunk(json!({"content": "par"}), Value::Null)]);
        assert_eq!(events.last().map(|e| e.event), Some("error"));
        assert!(!names(&events).contains(&"message_stop"));
        // Arguments that are not JSON.
        let events = run_stream(&[
            tool_fragment(0, Some("c"), Some("f"), "{\"a\":"),
            chunk(json!({}), json!("tool_calls")),
        ]);
        let last = events.last().map(|e| e.data.clone()).unwrap_or_default();
        assert_eq!(last["error"]["type"], "api_error");
        // An upstream error object mid-stream, then nothing more.
        let mut translator = StreamTranslator::new(MODEL, "m");
        let err = translator.on_chunk(&json!({"error": {"message": "oom"}})).unwrap_err();
        assert!(err.message.contains("oom"), "{err}");
        assert!(translator.finish().is_empty());
        // Fragments of a tool call after it was closed.
        let mut translator = StreamTranslator::new(MODEL, "m");
        translator
            .on_chunk(&tool_fragment(0, Some("c"), Some("f"), "{}"))
            .unwrap();
        translator
            .on_chunk(&chunk(json!({"content": "x"}), Value::Null))
            .unwrap();
        let err = translator.on_chunk(&tool_fragment(0, None, None, "{}")).unwrap_err();
        assert_eq!(err.kind, ErrorType::Api);
    }

    #[test]
    fn stream_stop_reasons_and_missing_usage() {
        let events = run_stream(&[chunk(json!({"content": "x"}), json!("length"))]);
        let delta = &events[events.len() - 2].data;
        assert_eq!(delta["delta"]["stop_reason"], "max_tokens");
        assert_eq!(delta["usage"], json!({"input_tokens": 0, "output_tokens": 0}));
        let mut last = chunk(json!({}), json!("stop"));
        last["choices"][0]["stop_reason"] = json!("END");
        let events = run_stream(&[chunk(json!({"content": "x"}), Value::Null), last]);
        let delta = &events[events.len() - 2].data["delta"];
        assert_eq!(*delta, json!({"stop_reason": "stop_sequence", "stop_sequence": "END"}));
    }

    #[test]
    fn sse_event_wire_form() {
        let event = SseEvent {
            event: "ping",
            data: json!({"type": "ping"}),
        };
        assert_eq!(&event.to_bytes()[..], b"event: ping\ndata: {\"type\":\"ping\"}\n\n");
        let error = SseEvent::error(ErrorType::Overloaded, "busy");
        assert_eq!(error.event, "error");
        assert_eq!(error.data["error"]["type"], "overloaded_error");
    }

    // ---- SSE parser

    fn parse_all(pieces: &[&[u8]]) -> Vec<SseData> {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        for piece in pieces {
            out.extend(parser.push(piece).unwrap());
        }
        out
    }

    #[test]
    fn sse_parser_handles_splits_mid_line_and_crlf() {
        let expected = vec![
            SseData::Json(json!({"a": 1})),
            SseData::Json(json!({"b": "é"})),
            SseData::Done,
        ];
        let stream = "data: {\"a\":1}\r\n\r\ndata: {\"b\":\"é\"}\n\ndata: [DONE]\n\n".as_bytes();
        // Every split point, including inside `\r\n` and inside the two-byte `é`.
        for split in 0..=stream.len() {
            let (left, right) = stream.split_at(split);
            assert_eq!(parse_all(&[left, right]), expected, "split at {split}");
        }
        // One byte at a time.
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(parse_all(&bytes), expected);
    }

    #[test]
    fn sse_parser_handles_comments_multiline_data_cr_and_other_fields() {
        let stream = b": keep-alive\n\nevent: chunk\nid: 7\ndata: {\"x\":\ndata: 2}\n\r\rdata:[DONE]\r\r\n";
        assert_eq!(
            parse_all(&[stream]),
            vec![SseData::Json(json!({"x": 2})), SseData::Done]
        );
        // A final lone `\r` ends its line only once the next byte shows it is not `\r\n`.
        let mut parser = SseParser::new();
        assert!(parser.push(b"data: 5\r\r").unwrap().is_empty());
        assert_eq!(parser.push(b":").unwrap(), vec![SseData::Json(json!(5))]);
        // An event without a trailing blank line is not complete yet.
        assert!(parse_all(&[b"data: {}\n"]).is_empty());
        // A BOM at the start is skipped even when split.
        assert_eq!(
            parse_all(&[b"\xEF\xBB", b"\xBFdata: 1\n\n"]),
            vec![SseData::Json(json!(1))]
        );
    }

    #[test]
    fn sse_parser_rejects_invalid_json_and_utf8() {
        let err = SseParser::new().push(b"data: {nope\n\n").unwrap_err();
        assert_eq!(err.kind, ErrorType::Api);
        assert!(SseParser::new().push(b"data: \xff\n\n").is_err());
    }

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
