//! Model pinning: the one decision whether a request may go upstream, shared by every API
//! route the adapter serves (OpenAI chat completions, Anthropic messages and count_tokens).
//!
//! Local servers answer to whatever model name they are asked for, so the adapter is the
//! only place a fallback can be stopped: [`pin_request`] lets a request through only when
//! its `model` is exactly the admitted name (or absent, in which case the admitted name is
//! inserted), and when it carries nothing that asks some gateway to route it elsewhere.
//! Everything else is refused before any byte goes upstream and counted as a fallback
//! attempt — except a `model` that is not a string at all and names no external provider,
//! which is a plain bad request.
//!
//! The routing rules (field and header names are compared ASCII-case-insensitively):
//! * body fields: `fallbacks`, `fallback` and anything else containing `fallback`
//!   (LiteLLM's `context_window_fallback_dict`, …), `api_base`, `base_url`, `api_key`,
//!   `api_version`, `custom_llm_provider`, `model_list`, anything starting `mock_`
//!   (LiteLLM's `mock_response`, `mock_testing_fallbacks`) or `litellm`, and OpenRouter's
//!   `models` (a fallback list), `route` and `provider`;
//! * headers: any name containing `fallback` (`x-fallback-model`, Helicone's
//!   `helicone-fallbacks`), `api-base`/`api_base`/`base-url`/`base_url`, and the gateway
//!   families `x-litellm-*`, `x-portkey-*`, `helicone-*`, `cf-aig-*` (Cloudflare AI Gateway).
//!
//! A body field other than `model` whose name equals `model` ASCII-case-insensitively
//! (`Model`, `MODEL`) is refused as a fallback attempt too: Ollama decodes field names
//! case-insensitively, so such a field could choose the model behind the adapter's back.
//!
//! A route may also name the only top-level fields it accepts (its allow-list, in
//! `adapter/upstream_api/fields.rs`): any other field is a 400 naming it, never forwarded,
//! unless it also looks like routing, in which case the request is a fallback attempt
//! (counted). Names are compared exactly: local servers may act on fields (llama.cpp's
//! `lora`, a server's `user_config`) that load other weights or settings, and an allow-list
//! is the only way to know that none of them goes up.
//!
//! `openai-organization` and `openai-project` pick a billing account, not a route, so they
//! are not refused; like every header outside the forwarding allow-list they are simply
//! never sent upstream. Only top-level body fields are judged: the upstream is a plain local
//! server, and it is these names that gateways act on.

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};

use super::ledger::Api;

/// Body fields (lower-case) that select a provider, endpoint or key.
const ROUTING_FIELDS: &[&str] = &[
    "api_base",
    "base_url",
    "api_key",
    "api_version",
    "custom_llm_provider",
    "model_list",
    "models",
    "route",
    "provider",
];

/// Body field prefixes (lower-case) of gateway-specific switches.
const ROUTING_FIELD_PREFIXES: &[&str] = &["mock_", "litellm"];

/// Header name fragments (header names are lower-case already) that name a target.
const ROUTING_HEADER_PARTS: &[&str] = &["fallback", "api-base", "api_base", "base-url", "base_url"];

/// Header prefixes of gateways whose headers configure routing, retries or fallbacks.
const ROUTING_HEADER_PREFIXES: &[&str] = &["x-litellm-", "x-portkey-", "helicone-", "cf-aig-"];

/// A request that may go upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PinnedRequest {
    /// The `model` Case named, if any.
    pub(crate) requested_model: Option<String>,
    /// True when Case named no model and the admitted one was inserted.
    pub(crate) model_inserted: bool,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefusalKind {
    /// Another model, or routing smuggled in: a fallback attempt.
    Fallback,
    /// `model` present but not a string.
    Malformed,
    /// A body field outside the route's allow-list (and not routing).
    UnsupportedField,
}

/// A refused request: nothing of it goes upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) kind: RefusalKind,
    /// The `model` Case named, when it was a string (for the ledger).
    pub(crate) requested_model: Option<String>,
    /// What to tell Case (and the ledger, after scrubbing): names, never values other than
    /// model names.
    pub(crate) message: String,
}

impl Refusal {
    pub(crate) fn is_fallback_attempt(&self) -> bool {
        self.kind == RefusalKind::Fallback
    }

    /// 403 for a fallback attempt — the request is well-formed but not permitted, which is
    /// also how OpenAI answers a model a project may not use; 400 for a malformed `model`.
    pub(crate) fn status(&self) -> StatusCode {
        match self.kind {
            RefusalKind::Fallback => StatusCode::FORBIDDEN,
            RefusalKind::Malformed | RefusalKind::UnsupportedField => StatusCode::BAD_REQUEST,
        }
    }

    /// A stable machine-readable code for the error body.
    pub(crate) fn code(&self) -> &'static str {
        match self.kind {
            RefusalKind::Fallback => "model_not_admitted",
            RefusalKind::Malformed => "invalid_model",
            RefusalKind::UnsupportedField => "unsupported_field",
        }
    }
}

/// What the pinning rule found wrong with one request, in the order it is said.
#[derive(Default)]
struct Findings {
    /// Another model, or routing: each alone makes a fallback attempt.
    problems: Vec<String>,
    /// Problems that alone make a bad request, not a fallback attempt.
    bad: Vec<String>,
    /// `model` was present but not a string (and named no external provider).
    malformed: bool,
}

/// The one pinning decision. On success `body["model"]` is exactly `admitted`; on refusal
/// the body must not be forwarded. Every problem found is named in the one refusal. With
/// `allowed`, a top-level field not in it (and not routing) is refused as unsupported.
pub(crate) fn pin_request(
    api: Api,
    admitted: &str,
    allowed: Option<&[&str]>,
    headers: &HeaderMap,
    body: &mut Map<String, Value>,
) -> Result<PinnedRequest, Refusal> {
    let mut findings = Findings::default();
    let requested_model = judge_model(admitted, body, &mut findings);
    judge_fields(allowed, body, &mut findings);
    judge_headers(headers, &mut findings);
    let Findings {
        mut problems,
        bad,
        malformed,
    } = findings;
    if problems.is_empty() && bad.is_empty() {
        let model_inserted = requested_model.is_none();
        if model_inserted {
            body.insert("model".to_owned(), Value::from(admitted));
        }
        return Ok(PinnedRequest {
            requested_model,
            model_inserted,
        });
    }
    // Bad-request problems alone make a 400; together with a real routing attempt the
    // attempt wins, so it is counted.
    let kind = if !problems.is_empty() {
        RefusalKind::Fallback
    } else if malformed {
        RefusalKind::Malformed
    } else {
        RefusalKind::UnsupportedField
    };
    problems.extend(bad);
    Err(Refusal {
        kind,
        requested_model,
        message: format!(
            "case-harness adapter ({} API) refused the request: {}",
            api.as_str(),
            problems.join("; ")
        ),
    })
}

/// The `model` Case named (for the ledger), noting in `findings` when it is not `admitted`.
fn judge_model(admitted: &str, body: &Map<String, Value>, findings: &mut Findings) -> Option<String> {
    match body.get("model") {
        None => None,
        Some(Value::String(model)) => {
            if model != admitted {
                findings.problems.push(format!(
                    "model `{model}` is not the admitted model `{admitted}`; this adapter \
                     serves only `{admitted}` and never falls back to another model"
                ));
            }
            Some(model.clone())
        }
        // Not a string: a plain bad request, unless it names an external provider anyway
        // (`["claude-sonnet-4-6"]`), which is an attempt like any other.
        Some(other) => {
            let text = other.to_string();
            if let Some(name) = crate::external_names::external_reference(&text) {
                findings.problems.push(format!(
                    "`model` {text} names `{name}`; this adapter serves only `{admitted}`"
                ));
                Some(text)
            } else {
                findings.malformed = true;
                findings
                    .bad
                    .push(format!("`model` must be a string naming `{admitted}`"));
                None
            }
        }
    }
}

/// Notes every top-level field that asks for routing, then every one outside `allowed`.
fn judge_fields(allowed: Option<&[&str]>, body: &Map<String, Value>, findings: &mut Findings) {
    let mut fields: Vec<&str> = body
        .keys()
        .map(String::as_str)
        .filter(|key| is_routing_field(key))
        .collect();
    fields.sort_unstable();
    for field in fields {
        findings.problems.push(format!(
            "body field `{field}` asks for routing, which this adapter refuses"
        ));
    }
    if let Some(allowed) = allowed {
        let mut unsupported: Vec<&str> = body
            .keys()
            .map(String::as_str)
            .filter(|key| !allowed.contains(key) && !is_routing_field(key))
            .collect();
        unsupported.sort_unstable();
        for field in unsupported {
            findings.bad.push(format!(
                "body field `{field}` is not supported by this adapter and was not forwarded"
            ));
        }
    }
}

/// Notes every header that asks for routing, each name once.
fn judge_headers(headers: &HeaderMap, findings: &mut Findings) {
    let mut names: Vec<&str> = headers
        .keys()
        .map(|name| name.as_str())
        .filter(|name| is_routing_header(name))
        .collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        findings
            .problems
            .push(format!("header `{name}` asks for routing, which this adapter refuses"));
    }
}

fn is_routing_field(key: &str) -> bool {
    // `Model`, `MODEL`, …: a second model field for servers that read names case-insensitively.
    if key != "model" && key.eq_ignore_ascii_case("model") {
        return true;
    }
    let key = key.to_ascii_lowercase();
    key.contains("fallback")
        || ROUTING_FIELDS.contains(&key.as_str())
        || ROUTING_FIELD_PREFIXES.iter().any(|prefix| key.starts_with(prefix))
}

fn is_routing_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ROUTING_HEADER_PARTS.iter().any(|part| name.contains(part))
        || ROUTING_HEADER_PREFIXES.iter().any(|prefix| name.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde_json::json;

    const ADMITTED: &str = "smollm2-135m-instruct";

    fn pin(body: Value, headers: &[&str]) -> (Result<PinnedRequest, Refusal>, Map<String, Value>) {
        let Value::Object(mut body) = body else {
            panic!("test body must be an object")
        };
        let mut map = HeaderMap::new();
        for name in headers {
            map.insert(
                axum::http::HeaderName::try_from(*name).expect("header name"),
                HeaderValue::from_static("x"),
            );
        }
        (pin_request(Api::OpenAi, ADMITTED, None, &map, &mut body), body)
    }

    #[test]
    fn the_admitted_model_passes_unchanged() {
        let (result, body) = pin(json!({"model": ADMITTED, "messages": []}), &["content-type"]);
        assert_eq!(
            result,
            Ok(PinnedRequest {
                requested_model: Some(ADMITTED.to_owned()),
                model_inserted: false
            })
        );
        assert_eq!(body["model"], ADMITTED);
    }

    #[test]
    fn a_non_string_model_naming_an_external_provider_is_a_fallback_attempt() {
        let (result, _) = pin(json!({"model": ["claude-sonnet-4-6"], "messages": []}), &[]);
        assert_eq!(result.map_err(|refusal| refusal.kind), Err(RefusalKind::Fallback));
        let (result, _) = pin(json!({"model": 7, "messages": []}), &[]);
        assert_eq!(result.map_err(|refusal| refusal.kind), Err(RefusalKind::Malformed));
    }

    #[test]
    fn a_missing_model_gets_the_admitted_one() {
        let (result, body) = pin(json!({"messages": []}), &[]);
        assert_eq!(result.map(|pinned| pinned.model_inserted), Ok(true));
        assert_eq!(body["model"], ADMITTED);
    }

    #[test]
    fn any_other_model_is_a_fallback_attempt() {
        for other in [
            "claude-sonnet-4-6",
            "claude-3-5-haiku-latest",
            "SMOLLM2-135M-INSTRUCT",
            " smollm2-135m-instruct",
            "",
        ] {
            let (result, body) = pin(json!({"model": other}), &[]);
            let refusal = result.expect_err(other);
            assert!(refusal.is_fallback_attempt(), "{other}");
            assert_eq!(refusal.status(), StatusCode::FORBIDDEN);
            assert_eq!(refusal.requested_model.as_deref(), Some(other));
            assert!(
                refusal.message.contains("not the admitted model"),
                "{}",
                refusal.message
            );
            assert_eq!(body["model"], other, "a refused body is left as it was");
        }
    }

    #[test]
    fn a_model_that_is_not_a_string_is_a_bad_request() {
        for model in [json!(null), json!(7), json!([ADMITTED])] {
            let (result, _) = pin(json!({"model": model}), &[]);
            let refusal = result.expect_err("refused");
            assert_eq!(refusal.kind, RefusalKind::Malformed);
            assert_eq!(refusal.status(), StatusCode::BAD_REQUEST);
        }
        let (result, _) = pin(json!({"model": null, "fallbacks": []}), &[]);
        assert!(result.expect_err("refused").is_fallback_attempt());
    }

    #[test]
    fn smuggled_routing_fields_are_fallback_attempts() {
        for field in [
            "fallbacks",
            "fallback",
            "context_window_fallback_dict",
            "api_base",
            "base_url",
            "api_key",
            "API_KEY",
            "custom_llm_provider",
            "model_list",
            "mock_response",
            "mock_testing_fallbacks",
            "litellm_params",
            "models",
            "route",
            "provider",
        ] {
            let (result, _) = pin(json!({"model": ADMITTED, field: "x"}), &[]);
            let refusal = result.expect_err(field);
            assert!(refusal.is_fallback_attempt(), "{field}");
            assert!(refusal.message.contains(field), "{}", refusal.message);
        }
    }

    #[test]
    fn smuggled_routing_headers_are_fallback_attempts() {
        for header in [
            "x-fallback-model",
            "x-litellm-fallbacks",
            "x-portkey-config",
            "helicone-fallbacks",
            "cf-aig-custom-cost",
            "x-api-base",
        ] {
            let (result, _) = pin(json!({"model": ADMITTED}), &[header]);
            let refusal = result.expect_err(header);
            assert!(refusal.is_fallback_attempt(), "{header}");
            assert!(refusal.message.contains(header), "{}", refusal.message);
        }
    }

    #[test]
    fn ordinary_fields_and_headers_pass() {
        let (result, _) = pin(
            json!({"model": ADMITTED, "messages": [], "stream": true, "temperature": 0,
                   "max_tokens": 8, "tools": [], "user": "u", "metadata": {}}),
            &[
                "content-type",
                "accept",
                "authorization",
                "x-api-key",
                "openai-organization",
                "x-stainless-lang",
                "anthropic-version",
                "anthropic-beta",
                "user-agent",
            ],
        );
        assert!(result.is_ok(), "{result:?}");
    }

    #[test]
    fn a_case_variant_of_model_is_a_fallback_attempt() {
        for field in ["Model", "MODEL", "mOdEl"] {
            let (result, _) = pin(json!({"model": ADMITTED, field: "claude-sonnet-4-6"}), &[]);
            let refusal = result.expect_err(field);
            assert!(refusal.is_fallback_attempt(), "{field}");
            assert!(refusal.message.contains(field), "{}", refusal.message);
        }
    }

    #[test]
    fn with_an_allow_list_other_fields_are_a_bad_request_unless_routing() {
        let allowed = Some(crate::adapter::upstream_api::CHAT_COMPLETIONS.forwarded);
        let check = |body: Value| {
            let Value::Object(mut body) = body else { unreachable!() };
            pin_request(Api::OpenAi, ADMITTED, allowed, &HeaderMap::new(), &mut body)
        };
        let ok = check(json!({"model": ADMITTED, "messages": [], "top_k": 4, "stream": true}));
        assert!(ok.is_ok(), "{ok:?}");
        for field in ["lora", "user_config", "metadata", "Messages"] {
            let refusal = check(json!({"model": ADMITTED, field: 1})).expect_err(field);
            assert_eq!(refusal.kind, RefusalKind::UnsupportedField, "{field}");
            assert_eq!(refusal.status(), StatusCode::BAD_REQUEST);
            assert!(refusal.message.contains(&format!("`{field}`")), "{}", refusal.message);
        }
        // Routing and an unsupported field together: the attempt wins, and both are named.
        let refusal = check(json!({"model": ADMITTED, "lora": [], "fallbacks": []})).expect_err("both");
        assert!(refusal.is_fallback_attempt());
        assert!(refusal.message.contains("`lora`") && refusal.message.contains("`fallbacks`"));
        let refusal = check(json!({"model": ADMITTED, "Model": "x"})).expect_err("Model");
        assert!(refusal.is_fallback_attempt());
    }

    #[test]
    fn every_problem_is_named_once() {
        let (result, _) = pin(
            json!({"model": "claude-sonnet-4-6", "fallbacks": [], "api_key": "sk-x"}),
            &[],
        );
        let message = result.expect_err("refused").message;
        assert!(message.contains("claude-sonnet-4-6"));
        assert!(message.contains("`fallbacks`") && message.contains("`api_key`"));
        assert!(!message.contains("sk-x"), "field values are never echoed");
    }
}
