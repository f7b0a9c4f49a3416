//! Anthropic request → OpenAI chat request (pure: no I/O).
//!
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
//! (`output_config.format`); `container`, `mcp_servers`, `context_management` edits other than `clear_thinking_*` and **every
//! other unknown top-level field** — an
//! unknown field may carry meaning (or routing) we cannot honour. Unknown keys inside
//! messages, blocks, tools and `tool_choice` are refused likewise.
//!
//! **Accepted and ignored** (the dropped fields of `upstream_api::MESSAGES_TRANSLATION`): `metadata` (it carries a user id; never
//! forwarded), `service_tier` (no tiers locally), `top_k` (validated as an integer, then
//! dropped: the OpenAI chat API has no `top_k`, and forwarding non-standard sampling fields
//! to some servers would be refused or silently ignored anyway), and the hints current SDKs
//! (anthropic 2.x) send that change where, how fast or how cheaply Anthropic would answer but
//! not what is asked: top-level `cache_control`, `speed`, `inference_geo`, `diagnostics`, and
//! `output_config` when it carries only `effort` (there is no effort knob on a local model).

use serde_json::{Map, Value, json};

use super::fields::{check_keys, invalid, present};
use super::tools::{translate_tool_choice, translate_tools};
use super::top_level::request_object;
use crate::adapter::api_error::TranslateError;

/// Prefix of a `role: tool` message whose `tool_result` had `is_error: true`.
const TOOL_ERROR_PREFIX: &str = "[tool error] ";

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

/// A `system` turn inside `messages`: its text is appended to the preceding user message
/// when that is plain text, or becomes a user message of its own.
fn system_turn(content: &Value, ctx: &str, out: &mut Vec<Value>) -> Result<(), TranslateError> {
    let text = flat_text(content, ctx)?;
    if text.is_empty() {
        return Ok(());
    }
    if let Some(last) = out.last_mut()
        && last["role"] == "user"
        && let Some(previous) = last["content"].as_str()
    {
        last["content"] = json!(format!("{previous}\n\n{text}"));
        return Ok(());
    }
    out.push(json!({"role": "user", "content": text}));
    Ok(())
}

/// The conversation translated into OpenAI messages, tools and tool choice.
pub(super) struct Conversation {
    pub(super) messages: Vec<Value>,
    pub(super) tools: Option<Vec<Value>>,
    tool_choice: Option<(Value, bool)>,
}

pub(super) fn translate_conversation(obj: &Map<String, Value>) -> Result<Conversation, TranslateError> {
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
            // Claude Code sends its environment as a `system` turn after the first user turn.
            // llama.cpp chat templates accept a system message only first (many raise on any
            // other), so the turn's text joins the user text around it.
            Some("system") => system_turn(content, &ctx, &mut messages)?,
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
pub(crate) fn to_openai_request(body: &Value, model: &str) -> Result<Value, TranslateError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::anthropic::count_tokens_text;
    use crate::adapter::anthropic::test_support::{MODEL, refused, request};
    use crate::adapter::api_error::ErrorType;

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
        let clear_thinking = json!({"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]});
        let out = to_openai_request(&request(json!({"context_management": clear_thinking})), MODEL).unwrap();
        assert!(out.get("context_management").is_none(), "{out}");
        let err = refused(&request(
            json!({"context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]}}),
        ));
        assert!(err.message.contains("clear_tool_uses_20250919"), "{err}");
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
    fn system_turns_inside_messages_join_the_user_text() {
        let body = request(json!({"messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {"role": "system", "content": [{"type": "text", "text": "# Environment"}]},
            {"role": "assistant", "content": "ok"},
            {"role": "system", "content": "late rule"},
        ]}));
        let out = to_openai_request(&body, MODEL).unwrap();
        assert_eq!(
            out["messages"],
            json!([
                {"role": "user", "content": "hi\n\n# Environment"},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "late rule"},
            ])
        );
    }

    #[test]
    fn misplaced_blocks_roles_and_unknown_block_fields_are_refused() {
        let cases = [
            json!([{"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "n", "input": {}}]}]),
            json!([{"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "t"}]}]),
            json!([{"role": "developer", "content": "x"}]),
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
}
