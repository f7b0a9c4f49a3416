//! The upstream's own tokenizer, for `POST /v1/messages/count_tokens`: llama.cpp's
//! `POST {origin}/tokenize` (`{"content"}` → `{"tokens":[…]}`) or llama-cpp-python's
//! `POST {origin}/extras/tokenize/count` (`{"input"}` → `{"count"}`), found by asking and
//! remembered for the adapter's lifetime ([`TokenizerProbe`]). They are asked only when the
//! base URL's path is exactly `/v1`: under any other path the server root may not be the
//! model server's. llama-cpp-python's request names the admitted model.

use std::sync::Mutex;

use axum::http::{HeaderValue, Method};
use serde_json::{Value, json};

use super::forward::{Endpoint, Forwarder, UpstreamFailure};
use super::ledger::RequestLog;
use crate::upstream::LocalBaseUrl;

/// Largest tokenizer answer read (a token list of a long prompt is a few MiB at most).
const MAX_TOKENIZER_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The upstream tokenizer endpoints `count_tokens` knows, in the order they are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tokenizer {
    /// llama.cpp's `llama-server`: `POST /tokenize` `{"content"}` → `{"tokens":[…]}`.
    LlamaCpp,
    /// llama-cpp-python's server: `POST /extras/tokenize/count` `{"input"}` → `{"count"}`.
    LlamaCppPython,
}

impl Tokenizer {
    const ALL: [Tokenizer; 2] = [Tokenizer::LlamaCpp, Tokenizer::LlamaCppPython];

    pub(crate) fn path(self) -> &'static str {
        match self {
            Tokenizer::LlamaCpp => "tokenize",
            Tokenizer::LlamaCppPython => "extras/tokenize/count",
        }
    }

    /// The request. llama.cpp's takes no `model` (it tokenizes with the one model it serves);
    /// llama-cpp-python's names the admitted one, so that a multi-model server cannot count
    /// with some default model instead.
    fn request(self, text: &str, admitted: &str) -> Value {
        match self {
            Tokenizer::LlamaCpp => json!({"content": text}),
            Tokenizer::LlamaCppPython => json!({"input": text, "model": admitted}),
        }
    }

    /// The token count in an answer, if the answer has this tokenizer's shape.
    fn count(self, answer: &Value) -> Option<u64> {
        match self {
            Tokenizer::LlamaCpp => answer.get("tokens")?.as_array().map(|tokens| tokens.len() as u64),
            Tokenizer::LlamaCppPython => answer.get("count")?.as_u64(),
        }
    }
}

/// What `count_tokens` knows about the upstream's tokenizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum TokenizerProbe {
    /// Not asked yet (or the last answers were not conclusive).
    #[default]
    Unknown,
    /// This endpoint answered with a count.
    Found(Tokenizer),
    /// Every known endpoint answered that it does not exist (404/405) or does not take our
    /// request (400/422): not asked again for the adapter's lifetime.
    Absent,
}

/// The result of one count.
pub(crate) enum TokenCount {
    Exact { tokens: u64, via: Tokenizer },
    Estimate { why: String },
}

/// Asks the upstream's tokenizer (the one found before in `probe`, or each known one in
/// turn) through `forwarder`; `admitted` is the model llama-cpp-python's request names.
pub(crate) async fn count_with_upstream(
    forwarder: &Forwarder,
    probe: &Mutex<TokenizerProbe>,
    base: &LocalBaseUrl,
    host: &str,
    admitted: &str,
    text: &str,
    log: &mut RequestLog,
) -> TokenCount {
    if !tokenizer_at_origin(base) {
        return TokenCount::Estimate {
            why: "the upstream's base URL path is not /v1, so its root may not be the model server's".to_owned(),
        };
    }
    let known = *probe.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let candidates: &[Tokenizer] = match known {
        TokenizerProbe::Absent => {
            return TokenCount::Estimate {
                why: "the upstream has no tokenizer endpoint this adapter knows".to_owned(),
            };
        }
        TokenizerProbe::Found(Tokenizer::LlamaCpp) => &[Tokenizer::LlamaCpp],
        TokenizerProbe::Found(Tokenizer::LlamaCppPython) => &[Tokenizer::LlamaCppPython],
        TokenizerProbe::Unknown => &Tokenizer::ALL,
    };
    log.set_forwarded(None, host);
    let mut all_absent = true;
    let mut why = Vec::new();
    for &tokenizer in candidates {
        match ask_tokenizer(forwarder, tokenizer, text, admitted).await {
            Ok(tokens) => {
                set_probe(probe, TokenizerProbe::Found(tokenizer));
                return TokenCount::Exact { tokens, via: tokenizer };
            }
            Err((absent, reason)) => {
                all_absent &= absent;
                why.push(format!("POST /{}: {reason}", tokenizer.path()));
            }
        }
    }
    // Only answers that say "no such endpoint" settle it; a timeout or a 5xx may pass.
    set_probe(
        probe,
        if all_absent {
            TokenizerProbe::Absent
        } else {
            TokenizerProbe::Unknown
        },
    );
    TokenCount::Estimate { why: why.join("; ") }
}

/// True when the base URL's path is exactly `/v1` (or `/v1/`): only then is the server root
/// the model server's own (llama.cpp, llama-cpp-python mount their OpenAI API there). Under
/// any other path the root may belong to something else (a gateway, another server), so
/// nothing is sent there.
fn tokenizer_at_origin(base: &LocalBaseUrl) -> bool {
    reqwest::Url::parse(base.as_str()).is_ok_and(|url| matches!(url.path(), "/v1" | "/v1/"))
}

fn set_probe(probe: &Mutex<TokenizerProbe>, learnt: TokenizerProbe) {
    *probe.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = learnt;
}

/// One tokenizer request: the count, or (whether the endpoint is definitely absent, why).
async fn ask_tokenizer(
    forwarder: &Forwarder,
    tokenizer: Tokenizer,
    text: &str,
    admitted: &str,
) -> Result<u64, (bool, String)> {
    let body = serde_json::to_vec(&tokenizer.request(text, admitted)).map_err(|err| (false, err.to_string()))?;
    let accept = HeaderValue::from_static("application/json");
    let answer = forwarder
        .send(
            Method::POST,
            Endpoint::Origin(tokenizer.path()),
            Some(body),
            Some(&accept),
            None,
        )
        .await
        .map_err(|failure| (false, failure_text(forwarder, failure)))?;
    let status = answer.status();
    let body = forwarder
        .read_body(answer, MAX_TOKENIZER_BODY_BYTES)
        .await
        .map_err(|failure| (false, failure_text(forwarder, failure)))?;
    match status.as_u16() {
        200 => serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|value| tokenizer.count(&value))
            .ok_or((true, "answered 200 without a token count".to_owned())),
        code @ (400 | 404 | 405 | 422) => Err((true, format!("answered HTTP {code}"))),
        code => Err((false, format!("answered HTTP {code}"))),
    }
}

fn failure_text(forwarder: &Forwarder, failure: UpstreamFailure) -> String {
    match failure {
        UpstreamFailure::Timeout => format!("no answer within {} s", forwarder.timeout().as_secs_f64()),
        UpstreamFailure::Transport(err) | UpstreamFailure::NotLoopback(err) => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_answers_are_read_by_shape() {
        assert_eq!(Tokenizer::LlamaCpp.count(&json!({"tokens": [1, 2, 3]})), Some(3));
        assert_eq!(
            Tokenizer::LlamaCpp.count(&json!({"tokens": [{"id": 1, "piece": "a"}]})),
            Some(1)
        );
        assert_eq!(Tokenizer::LlamaCpp.count(&json!({"count": 3})), None);
        assert_eq!(Tokenizer::LlamaCppPython.count(&json!({"count": 7})), Some(7));
        assert_eq!(Tokenizer::LlamaCppPython.count(&json!({"tokens": [1]})), None);
        assert_eq!(Tokenizer::LlamaCpp.request("hi", "m"), json!({"content": "hi"}));
        assert_eq!(
            Tokenizer::LlamaCppPython.request("hi", "m"),
            json!({"input": "hi", "model": "m"})
        );
    }

    #[test]
    fn the_tokenizer_is_asked_only_under_a_v1_base_url() {
        for (base, asked) in [
            ("http://127.0.0.1:8080/v1", true),
            ("http://127.0.0.1:8080/v1/", true),
            ("http://127.0.0.1:8080/api/v1", false),
            ("http://127.0.0.1:8080/", false),
            ("http://127.0.0.1:8080/v1/openai", false),
        ] {
            let base = LocalBaseUrl::parse(base).expect("base");
            assert_eq!(tokenizer_at_origin(&base), asked, "{}", base.as_str());
        }
    }
}
