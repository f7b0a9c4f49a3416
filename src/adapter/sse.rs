//! Server-sent events, both ways: [`SseParser`] reads an upstream's SSE bytes into `data:`
//! payloads (the one parser of the adapter: the OpenAI relay watches the payloads go by, the
//! Anthropic translation turns them into events), and [`SseEvent`] is one event written to
//! an Anthropic client.

use serde_json::Value;

use super::api_error::{ErrorType, TranslateError, anthropic_error_body};

/// One SSE event to send to the Anthropic client.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SseEvent {
    /// The `event:` name, e.g. `content_block_delta`.
    pub event: &'static str,
    /// The `data:` JSON (its `type` equals `event`).
    pub data: Value,
}

impl SseEvent {
    /// An Anthropic `error` event, for a failure after the stream has started.
    pub(crate) fn error(kind: ErrorType, message: &str) -> SseEvent {
        SseEvent {
            event: "error",
            data: anthropic_error_body(kind, message),
        }
    }

    /// The wire form: `event: NAME\ndata: {json}\n\n` (the JSON is compact, one line).
    pub(crate) fn to_bytes(&self) -> bytes::Bytes {
        bytes::Bytes::from(format!("event: {}\ndata: {}\n\n", self.event, self.data))
    }
}

/// One `data:` payload of an upstream SSE stream.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SseData {
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
pub(crate) struct SseParser {
    buffer: Vec<u8>,
    data: Option<String>,
    seen_start: bool,
}

impl SseParser {
    /// An empty parser.
    pub(crate) fn new() -> Self {
        SseParser::default()
    }

    /// Feeds `bytes`; returns every payload completed by them, in order. Errors
    /// (`api_error`) on invalid UTF-8, invalid JSON, or an event over 16 MiB.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseData>, TranslateError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
