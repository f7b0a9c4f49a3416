//! Upstream OpenAI stream chunks → Anthropic stream events (pure: no I/O).
//!
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

use serde_json::{Value, json};

use super::response::{generated_tool_id, parse_arguments, stop_reason, upstream_error_message, usage_counts};
use crate::adapter::api_error::TranslateError;
use crate::adapter::sse::SseEvent;

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
pub(crate) struct StreamTranslator {
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
    pub(crate) fn new(model: &str, message_id: &str) -> Self {
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
    pub(crate) fn start(&mut self) -> Vec<SseEvent> {
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
    pub(crate) fn on_chunk(&mut self, chunk: &Value) -> Result<Vec<SseEvent>, TranslateError> {
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
    pub(crate) fn finish(&mut self) -> Vec<SseEvent> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::anthropic::test_support::MODEL;
    use crate::adapter::api_error::ErrorType;

    fn names(events: &[SseEvent]) -> Vec<&'static str> {
        events.iter().map(|event| event.event).collect()
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
}
