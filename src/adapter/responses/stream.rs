//! Upstream chat-completion stream chunks → Responses stream events (pure: no I/O).
//!
//! [`ResponsesStream`] sends `response.created` and `response.in_progress` first; then, per
//! upstream chunk, a text answer as `response.output_item.added` (a `message`),
//! `response.content_part.added` and `response.output_text.delta`s, and a tool call as
//! `response.output_item.added` (a `function_call`) and
//! `response.function_call_arguments.delta`s. An item is finished (`…text.done`,
//! `…content_part.done`, `…arguments.done`, `response.output_item.done`) when the next one
//! starts or the answer ends. [`ResponsesStream::finish`] ends with `response.completed`
//! (or `response.incomplete` for `finish_reason: length`) carrying the whole response and its
//! usage. A stream that ends without a `finish_reason`, or breaks, ends with
//! `response.failed` instead: Codex must not take a cut answer for a whole one.
//! Every event carries its `type` and a `sequence_number`, as OpenAI's do.

use serde_json::{Map, Value, json};

use super::response::{
    conclude, function_call_item, message_item, new_id, text_part, upstream_error_message, usage_counts,
};
use crate::adapter::sse::SseEvent;

/// One upstream tool call (keyed by its chat `index`).
#[derive(Debug)]
struct Tool {
    chat_index: u64,
    item_id: String,
    call_id: String,
    name: Option<String>,
    /// Fragments received before the name (not yet sent).
    pending: String,
    arguments: String,
    output_index: Option<usize>,
    closed: bool,
}

/// The item currently open.
#[derive(Debug)]
enum Open {
    Text {
        item_id: String,
        output_index: usize,
        text: String,
    },
    /// Position in `ResponsesStream::tools`.
    Tool(usize),
}

/// Incremental chat-stream → Responses-stream translator (see the module docs).
#[derive(Debug)]
pub(crate) struct ResponsesStream {
    response: Value,
    sequence: u64,
    started: bool,
    finished: bool,
    output: Vec<Value>,
    open: Option<Open>,
    tools: Vec<Tool>,
    finish_reason: Option<String>,
    counts: Option<(u64, u64)>,
}

impl ResponsesStream {
    /// A translator whose answer starts as `skeleton` (see `response::skeleton`).
    pub(crate) fn new(skeleton: Value) -> Self {
        ResponsesStream {
            response: skeleton,
            sequence: 0,
            started: false,
            finished: false,
            output: Vec::new(),
            open: None,
            tools: Vec::new(),
            finish_reason: None,
            counts: None,
        }
    }

    fn event(&mut self, name: &'static str, mut data: Map<String, Value>) -> SseEvent {
        data.insert("type".to_owned(), Value::from(name));
        data.insert("sequence_number".to_owned(), Value::from(self.sequence));
        self.sequence += 1;
        SseEvent {
            event: name,
            data: Value::Object(data),
        }
    }

    fn fields(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    /// `response.created` and `response.in_progress` (once).
    pub(crate) fn start(&mut self) -> Vec<SseEvent> {
        if self.started {
            return Vec::new();
        }
        self.started = true;
        let response = self.response.clone();
        vec![
            self.event("response.created", Self::fields(json!({"response": response}))),
            self.event("response.in_progress", Self::fields(json!({"response": response}))),
        ]
    }

    /// The events one upstream `data:` object makes available; `Err` with a message when the
    /// chunk is an error or cannot be carried (then send [`ResponsesStream::fail`]).
    pub(crate) fn on_chunk(&mut self, chunk: &Value) -> Result<Vec<SseEvent>, String> {
        let mut events = self.start();
        if let Some(error) = chunk.get("error").filter(|error| !error.is_null()) {
            return Err(upstream_error_message(error));
        }
        if let Some(counts) = usage_counts(chunk.get("usage")) {
            self.counts = Some(counts);
        }
        let Some(choice) = chunk
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|choices| choices.first())
        else {
            return Ok(events);
        };
        let delta = choice.get("delta");
        if let Some(text) = delta.and_then(|delta| delta.get("content")).and_then(Value::as_str)
            && !text.is_empty()
        {
            self.text(text, &mut events);
        }
        if let Some(calls) = delta
            .and_then(|delta| delta.get("tool_calls"))
            .and_then(Value::as_array)
        {
            for call in calls {
                self.tool_fragment(call, &mut events)?;
            }
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish_reason = Some(reason.to_owned());
        }
        Ok(events)
    }

    fn text(&mut self, text: &str, events: &mut Vec<SseEvent>) {
        if !matches!(self.open, Some(Open::Text { .. })) {
            self.close(events);
            let item_id = new_id("msg");
            let output_index = self.output.len();
            let item = message_item(&item_id, "", "in_progress");
            events.push(self.event(
                "response.output_item.added",
                Self::fields(json!({"output_index": output_index, "item": item})),
            ));
            events.push(self.event(
                "response.content_part.added",
                Self::fields(
                    json!({"item_id": item_id, "output_index": output_index, "content_index": 0,
                                    "part": text_part("")}),
                ),
            ));
            self.open = Some(Open::Text {
                item_id,
                output_index,
                text: String::new(),
            });
        }
        let Some(Open::Text {
            item_id,
            output_index,
            text: all,
        }) = &mut self.open
        else {
            return;
        };
        all.push_str(text);
        let data = json!({"item_id": item_id, "output_index": output_index, "content_index": 0,
                          "delta": text, "logprobs": []});
        events.push(self.event("response.output_text.delta", Self::fields(data)));
    }

    fn tool_fragment(&mut self, call: &Value, events: &mut Vec<SseEvent>) -> Result<(), String> {
        let chat_index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
        let position = match self.tools.iter().position(|tool| tool.chat_index == chat_index) {
            Some(position) => position,
            None => {
                self.tools.push(Tool {
                    chat_index,
                    item_id: new_id("fc"),
                    call_id: new_id("call"),
                    name: None,
                    pending: String::new(),
                    arguments: String::new(),
                    output_index: None,
                    closed: false,
                });
                self.tools.len() - 1
            }
        };
        if self.tools[position].closed {
            return Err("the local upstream sent more of a tool call after the next item began".to_owned());
        }
        if let Some(id) = call.get("id").and_then(Value::as_str).filter(|id| !id.is_empty())
            && self.tools[position].output_index.is_none()
        {
            self.tools[position].call_id = id.to_owned();
        }
        let function = call.get("function");
        if let Some(name) = function
            .and_then(|function| function.get("name"))
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty())
            && self.tools[position].name.is_none()
        {
            self.tools[position].name = Some(name.to_owned());
        }
        if let Some(fragment) = function
            .and_then(|function| function.get("arguments"))
            .and_then(Value::as_str)
        {
            self.tools[position].pending.push_str(fragment);
        }
        if self.tools[position].name.is_none() {
            return Ok(());
        }
        if !matches!(self.open, Some(Open::Tool(open)) if open == position) {
            self.close(events);
            let output_index = self.output.len();
            let tool = &mut self.tools[position];
            tool.output_index = Some(output_index);
            let item = function_call_item(
                &tool.item_id,
                &tool.call_id,
                tool.name.as_deref().unwrap_or_default(),
                "",
                "in_progress",
            );
            events.push(self.event(
                "response.output_item.added",
                Self::fields(json!({"output_index": output_index, "item": item})),
            ));
            self.open = Some(Open::Tool(position));
        }
        let tool = &mut self.tools[position];
        if tool.pending.is_empty() {
            return Ok(());
        }
        let fragment = std::mem::take(&mut tool.pending);
        tool.arguments.push_str(&fragment);
        let data = json!({"item_id": tool.item_id, "output_index": tool.output_index, "delta": fragment});
        events.push(self.event("response.function_call_arguments.delta", Self::fields(data)));
        Ok(())
    }

    /// Finishes the open item, if any.
    fn close(&mut self, events: &mut Vec<SseEvent>) {
        match self.open.take() {
            None => {}
            Some(Open::Text {
                item_id,
                output_index,
                text,
            }) => {
                let done = json!({"item_id": item_id, "output_index": output_index, "content_index": 0,
                                  "text": text, "logprobs": []});
                events.push(self.event("response.output_text.done", Self::fields(done)));
                let part = json!({"item_id": item_id, "output_index": output_index, "content_index": 0,
                                  "part": text_part(&text)});
                events.push(self.event("response.content_part.done", Self::fields(part)));
                let item = message_item(&item_id, &text, "completed");
                self.output.push(item.clone());
                let data = json!({"output_index": output_index, "item": item});
                events.push(self.event("response.output_item.done", Self::fields(data)));
            }
            Some(Open::Tool(position)) => {
                let tool = &mut self.tools[position];
                tool.closed = true;
                let name = tool.name.clone().unwrap_or_default();
                let item = function_call_item(&tool.item_id, &tool.call_id, &name, &tool.arguments, "completed");
                let done = json!({"item_id": tool.item_id, "output_index": tool.output_index,
                                  "name": name, "arguments": tool.arguments});
                let output_index = tool.output_index;
                events.push(self.event("response.function_call_arguments.done", Self::fields(done)));
                self.output.push(item.clone());
                let data = json!({"output_index": output_index, "item": item});
                events.push(self.event("response.output_item.done", Self::fields(data)));
            }
        }
    }

    /// Ends the stream (on `[DONE]` or the upstream's close): the open item finished, then
    /// `response.completed` (or `response.incomplete`) — or `response.failed` when the
    /// upstream never said the answer was finished.
    pub(crate) fn finish(&mut self) -> Vec<SseEvent> {
        if self.finished {
            return Vec::new();
        }
        let mut events = self.start();
        let Some(reason) = self.finish_reason.clone() else {
            events.extend(
                self.fail("the local upstream's stream ended without a finish_reason; the answer is incomplete"),
            );
            return events;
        };
        if let Some(tool) = self.tools.iter().find(|tool| tool.name.is_none()) {
            let message = format!(
                "the local upstream streamed a tool call (index {}) without a function name",
                tool.chat_index
            );
            events.extend(self.fail(&message));
            return events;
        }
        self.close(&mut events);
        self.finished = true;
        let output = std::mem::take(&mut self.output);
        conclude(&mut self.response, &reason, output, self.counts);
        let name = if self.response["status"] == "incomplete" {
            "response.incomplete"
        } else {
            "response.completed"
        };
        let response = self.response.clone();
        events.push(self.event(name, Self::fields(json!({"response": response}))));
        events
    }

    /// Ends the stream with `response.failed` saying `message` (already redacted by the
    /// caller when it quotes the upstream).
    pub(crate) fn fail(&mut self, message: &str) -> Vec<SseEvent> {
        if self.finished {
            return Vec::new();
        }
        let mut events = self.start();
        self.finished = true;
        self.response["status"] = Value::from("failed");
        self.response["error"] = json!({"code": "server_error", "message": format!("case-harness adapter: {message}")});
        self.response["output"] = Value::Array(std::mem::take(&mut self.output));
        let response = self.response.clone();
        events.push(self.event("response.failed", Self::fields(json!({"response": response}))));
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::responses::response::skeleton;

    fn translator() -> ResponsesStream {
        let request = Map::new();
        ResponsesStream::new(skeleton(&request, "admitted", "resp_1"))
    }

    fn names(events: &[SseEvent]) -> Vec<&'static str> {
        events.iter().map(|event| event.event).collect()
    }

    #[test]
    fn a_text_stream_gives_the_events_codex_reads_in_order() {
        let mut stream = translator();
        let mut events = stream.start();
        for chunk in [
            json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Pa"}}]}),
            json!({"choices": [{"index": 0, "delta": {"content": "ris"}, "finish_reason": "stop"}]}),
            json!({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2}}),
        ] {
            events.extend(stream.on_chunk(&chunk).expect("chunk"));
        }
        events.extend(stream.finish());
        assert_eq!(
            names(&events),
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        for (i, event) in events.iter().enumerate() {
            assert_eq!(event.data["type"], event.event);
            assert_eq!(event.data["sequence_number"], i as u64);
        }
        let done = &events.last().expect("completed").data["response"];
        assert_eq!(done["status"], "completed");
        assert_eq!(done["model"], "admitted");
        assert_eq!(done["output"][0]["content"][0]["text"], "Paris");
        assert_eq!(done["usage"]["input_tokens"], 7);
        assert_eq!(done["usage"]["output_tokens"], 2);
        assert!(stream.finish().is_empty(), "finished once");
    }

    #[test]
    fn a_stream_without_usage_completes_with_usage_null_not_zero() {
        let mut stream = translator();
        let mut events = stream.start();
        let chunk = json!({"choices": [{"index": 0, "delta": {"content": "Paris"}, "finish_reason": "stop"}]});
        events.extend(stream.on_chunk(&chunk).expect("chunk"));
        events.extend(stream.finish());
        let done = &events.last().expect("completed").data["response"];
        assert_eq!(done["status"], "completed");
        assert!(done["usage"].is_null(), "{}", done["usage"]);
    }

    #[test]
    fn a_tool_call_stream_gives_argument_deltas_and_a_function_call_item() {
        let mut stream = translator();
        let mut events = Vec::new();
        for chunk in [
            json!({"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "call_7", "type": "function",
                                                          "function": {"name": "exec_command", "arguments": ""}}]}}]}),
            json!({"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"cmd\":"}}]}}]}),
            json!({"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": "\"ls\"}"}}]},
                                "finish_reason": "tool_calls"}]}),
        ] {
            events.extend(stream.on_chunk(&chunk).expect("chunk"));
        }
        events.extend(stream.finish());
        assert_eq!(
            names(&events)[2..],
            [
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        let item = &events[events.len() - 2].data["item"];
        assert_eq!(item["type"], "function_call");
        assert_eq!(item["call_id"], "call_7");
        assert_eq!(item["name"], "exec_command");
        assert_eq!(item["arguments"], "{\"cmd\":\"ls\"}");
    }

    #[test]
    fn a_stream_without_a_finish_reason_fails_instead_of_completing() {
        let mut stream = translator();
        let mut events = stream
            .on_chunk(&json!({"choices": [{"delta": {"content": "Pa"}}]}))
            .expect("chunk");
        events.extend(stream.finish());
        let last = events.last().expect("an event");
        assert_eq!(last.event, "response.failed");
        assert_eq!(last.data["response"]["status"], "failed");
        assert!(events.iter().all(|event| event.event != "response.completed"));
        assert!(stream.on_chunk(&json!({"error": {"message": "boom"}})).is_err());
    }

    #[test]
    fn length_ends_incomplete() {
        let mut stream = translator();
        let mut events = stream
            .on_chunk(&json!({"choices": [{"delta": {"content": "Pa"}, "finish_reason": "length"}]}))
            .expect("chunk");
        events.extend(stream.finish());
        assert_eq!(events.last().map(|event| event.event), Some("response.incomplete"));
    }
}
