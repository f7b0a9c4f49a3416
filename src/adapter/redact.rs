//! Keeping the run's secrets (the upstream key, Case's per-run token) out of every byte the
//! adapter writes: answers relayed to Case, and request text recorded in the ledger.
//!
//! An upstream that echoes the `Authorization` header it was sent (a debugging proxy, a
//! hostile or broken server) would otherwise hand the upstream key to Case in a 200 answer.
//! [`Redactor`] replaces each secret, ASCII case-insensitively, with `[redacted]` and says
//! whether it found one, so that the request's ledger line can say so and the run fail.
//! [`StreamRedactor`] does the same for a stream whose chunks may split a secret anywhere:
//! it holds back only the longest chunk tail that could still begin a secret.
//!
//! Only literal occurrences are redacted. A secret an upstream spreads over two SSE events
//! (`"sk-ab"`, then `"cd"`) reaches Case in pieces; the stream watchers reassemble the
//! streamed text and record the echo, so such a run fails all the same (see
//! `docs/reliability.md`).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::secrets::SecretValue;

/// What a secret is replaced with.
pub(crate) const REDACTED: &str = "[redacted]";

/// Finds and replaces the run's secrets in text and bytes. Not `Debug`: it holds them.
#[derive(Clone)]
pub(crate) struct Redactor {
    /// `None` when there is no secret to look for.
    matcher: Option<AhoCorasick>,
    /// Lowercased secret bytes, for the stream's hold-back check.
    secrets: Vec<Vec<u8>>,
}

impl Redactor {
    pub(crate) fn new<'a>(
        secrets: impl IntoIterator<Item = &'a SecretValue>,
    ) -> Result<Redactor, aho_corasick::BuildError> {
        let secrets: Vec<Vec<u8>> = secrets
            .into_iter()
            .map(|secret| secret.expose().to_ascii_lowercase().into_bytes())
            .filter(|secret| !secret.is_empty())
            .collect();
        let matcher = if secrets.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&secrets)?,
            )
        };
        Ok(Redactor { matcher, secrets })
    }

    /// `bytes` with every secret replaced, and whether there was one.
    pub(crate) fn redact_bytes(&self, bytes: &[u8]) -> (Vec<u8>, bool) {
        let Some(matcher) = &self.matcher else {
            return (bytes.to_vec(), false);
        };
        if !matcher.is_match(bytes) {
            return (bytes.to_vec(), false);
        }
        let mut out = Vec::with_capacity(bytes.len());
        matcher.replace_all_with_bytes(bytes, &mut out, |_, _, out| {
            out.extend_from_slice(REDACTED.as_bytes());
            true
        });
        (out, true)
    }

    /// Whether `bytes` hold one of the secrets (in any ASCII case).
    pub(crate) fn finds(&self, bytes: &[u8]) -> bool {
        self.matcher.as_ref().is_some_and(|matcher| matcher.is_match(bytes))
    }

    /// `text` with every secret replaced, and whether there was one.
    pub(crate) fn redact_text(&self, text: &str) -> (String, bool) {
        match &self.matcher {
            Some(matcher) if matcher.is_match(text) => {
                (matcher.replace_all(text, &vec![REDACTED; self.secrets.len()]), true)
            }
            _ => (text.to_owned(), false),
        }
    }

    /// The length of the longest suffix of `bytes` that is a proper prefix of a secret (so
    /// the next chunk could complete it).
    fn open_tail(&self, bytes: &[u8]) -> usize {
        let longest = self.secrets.iter().map(Vec::len).max().unwrap_or(0);
        (1..longest.min(bytes.len() + 1))
            .rev()
            .find(|&len| {
                let tail = &bytes[bytes.len() - len..];
                self.secrets
                    .iter()
                    .any(|secret| secret.len() > len && secret[..len].eq_ignore_ascii_case(tail))
            })
            .unwrap_or(0)
    }
}

/// Redacts a byte stream chunk by chunk; a secret split across chunks is still replaced.
/// Not `Debug`: what it holds back may be the start of a secret.
pub(crate) struct StreamRedactor {
    redactor: Redactor,
    held: Vec<u8>,
    found: bool,
}

impl StreamRedactor {
    pub(crate) fn new(redactor: Redactor) -> StreamRedactor {
        StreamRedactor {
            redactor,
            held: Vec::new(),
            found: false,
        }
    }

    /// The bytes of `chunk` (after what was held back) that can go out now.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.held.extend_from_slice(chunk);
        let (mut redacted, found) = self.redactor.redact_bytes(&self.held);
        self.found |= found;
        let keep = self.redactor.open_tail(&redacted);
        self.held = redacted.split_off(redacted.len() - keep);
        redacted
    }

    /// What is still held back, at the end of the stream.
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }

    /// True once any secret went by.
    pub(crate) fn found(&self) -> bool {
        self.found
    }
}

/// Watches the text a stream carries across events (e.g. OpenAI `delta.content` pieces) for a
/// secret spread over several of them. Keeps only a window twice as long as the longest
/// secret. Not `Debug`: the window may hold a secret.
pub(crate) struct SpreadSecretWatch {
    redactor: Redactor,
    window: String,
    found: bool,
}

impl SpreadSecretWatch {
    pub(crate) fn new(redactor: Redactor) -> SpreadSecretWatch {
        SpreadSecretWatch {
            redactor,
            window: String::new(),
            found: false,
        }
    }

    /// Adds the text pieces of one streamed JSON payload, whichever API shaped it.
    pub(crate) fn push_payload(&mut self, payload: &serde_json::Value) {
        for text in streamed_texts(payload) {
            self.push(text);
        }
    }

    /// Adds one piece of streamed text.
    pub(crate) fn push(&mut self, text: &str) {
        self.window.push_str(text);
        if self.redactor.redact_text(&self.window).1 {
            self.found = true;
        }
        let longest = self.redactor.secrets.iter().map(Vec::len).max().unwrap_or(0);
        let excess = self.window.len().saturating_sub(longest * 2);
        if excess > 0 {
            let cut = (excess..=self.window.len())
                .find(|index| self.window.is_char_boundary(*index))
                .unwrap_or(self.window.len());
            self.window.drain(..cut);
        }
    }

    pub(crate) fn found(&self) -> bool {
        self.found
    }
}

/// The text pieces one streamed JSON payload carries, whichever API shaped it: OpenAI's
/// `choices[].delta.content` and tool-call arguments, Anthropic's `delta.text` and
/// `delta.partial_json`, the Responses API's string `delta` (text and function-call
/// arguments). A [`SpreadSecretWatch`] is fed these.
fn streamed_texts(chunk: &serde_json::Value) -> impl Iterator<Item = &str> {
    use serde_json::Value;
    let openai = chunk
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|choice| choice.get("delta"))
        .flat_map(|delta| {
            let content = delta.get("content").and_then(Value::as_str);
            let arguments = delta
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|call| call.get("function")?.get("arguments")?.as_str());
            content.into_iter().chain(arguments)
        });
    let anthropic = chunk.get("delta").into_iter().flat_map(|delta| {
        ["text", "partial_json"]
            .into_iter()
            .filter_map(move |key| delta.get(key)?.as_str())
    });
    let responses = chunk.get("delta").and_then(Value::as_str);
    openai.chain(anthropic).chain(responses)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        Redactor::new(&[
            SecretValue::new("sk-upstream-0123456789".to_owned()),
            SecretValue::new("chc-token-abcdef".to_owned()),
        ])
        .expect("automaton")
    }

    #[test]
    fn secrets_are_replaced_in_any_ascii_case() {
        let (out, found) = redactor().redact_bytes(b"auth: Bearer SK-UPSTREAM-0123456789; t=chc-token-abcdef");
        assert!(found);
        assert_eq!(out, b"auth: Bearer [redacted]; t=[redacted]");
        let (out, found) = redactor().redact_text("nothing here");
        assert!(!found);
        assert_eq!(out, "nothing here");
    }

    #[test]
    fn a_secret_split_at_every_point_of_a_stream_is_still_redacted() {
        let text = b"data: {\"echo\":\"Bearer sk-upstream-0123456789\"}\n\n";
        for cut in 0..=text.len() {
            for second in cut..=text.len() {
                let mut stream = StreamRedactor::new(redactor());
                let mut out = stream.push(&text[..cut]);
                out.extend(stream.push(&text[cut..second]));
                out.extend(stream.push(&text[second..]));
                out.extend(stream.finish());
                assert_eq!(
                    String::from_utf8_lossy(&out),
                    "data: {\"echo\":\"Bearer [redacted]\"}\n\n",
                    "cut at {cut}, {second}"
                );
                assert!(stream.found());
            }
        }
    }

    #[test]
    fn only_a_possible_secret_prefix_is_held_back() {
        let mut stream = StreamRedactor::new(redactor());
        assert_eq!(stream.push(b"hello sk-up"), b"hello ");
        assert_eq!(stream.push(b"per"), b"sk-upper");
        assert_eq!(stream.finish(), b"");
        assert!(!stream.found());
    }

    #[test]
    fn a_secret_spread_over_events_is_noticed() {
        let mut watch = SpreadSecretWatch::new(redactor());
        for piece in ["The key is sk-up", "stream-", "0123", "456789", " and more"] {
            watch.push(piece);
        }
        assert!(watch.found());
        let mut watch = SpreadSecretWatch::new(redactor());
        for piece in ["sk-up", "stream-", "0123", "45678", "x"] {
            watch.push(piece);
        }
        assert!(!watch.found());
    }

    /// Every API's streamed text shape feeds the watch; an event that carries no text (an
    /// Anthropic `delta` object with neither text field, a `model` name) feeds nothing.
    #[test]
    fn a_secret_spread_over_payloads_of_each_api_is_noticed() {
        let shapes: [fn(&str) -> serde_json::Value; 5] = [
            |text| serde_json::json!({"choices": [{"delta": {"content": text}}]}),
            |text| serde_json::json!({"choices": [{"delta": {"tool_calls": [{"function": {"arguments": text}}]}}]}),
            |text| serde_json::json!({"type": "content_block_delta", "delta": {"text": text}}),
            |text| serde_json::json!({"type": "content_block_delta", "delta": {"partial_json": text}}),
            |text| serde_json::json!({"type": "response.output_text.delta", "delta": text}),
        ];
        for shape in shapes {
            let mut watch = SpreadSecretWatch::new(redactor());
            for piece in ["sk-upstream-", "0123456789"] {
                watch.push_payload(&shape(piece));
            }
            assert!(watch.found(), "{}", shape("…"));
        }
        let mut watch = SpreadSecretWatch::new(redactor());
        for payload in [
            serde_json::json!({"model": "sk-upstream-0123456789"}),
            serde_json::json!({"delta": {"stop_reason": "sk-upstream-0123456789"}}),
        ] {
            watch.push_payload(&payload);
        }
        assert!(!watch.found());
    }
}
