//! The route table: every path the adapter knows, the API (ledger `api`) it belongs to and
//! the one method it accepts. Which upstream API serves each is in the `decision` module's
//! docs; what of its body may go up, in `fields`. The handler each route dispatches to is
//! `adapter/routing.rs`'s.

use axum::http::Method;

use crate::adapter::ledger::Api;

/// `GET /v1/models`.
pub(crate) const MODELS_PATH: &str = "/v1/models";
/// `POST /v1/chat/completions`.
pub(crate) const CHAT_COMPLETIONS_PATH: &str = "/v1/chat/completions";
/// `POST /v1/messages`.
pub(crate) const MESSAGES_PATH: &str = "/v1/messages";
/// `POST /v1/messages/count_tokens`.
pub(crate) const COUNT_TOKENS_PATH: &str = "/v1/messages/count_tokens";
/// `POST /v1/responses`.
pub(crate) const RESPONSES_PATH: &str = "/v1/responses";

/// Agents' telemetry endpoint (relative to `ANTHROPIC_BASE_URL`), answered locally.
const EVENT_LOGGING_PATH: &str = "/api/event_logging/batch";

/// Claude Code's connection warm-up probe (`HEAD /api/hello`, without credentials; public
/// reports of gateways that answered it 404), answered locally like `HEAD /`.
const WARM_UP_PATH: &str = "/api/hello";

/// The paths the adapter knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// `GET /v1/models`: OpenAI, passed through.
    Models,
    /// `POST /v1/chat/completions`: OpenAI, passed through.
    ChatCompletions,
    /// `POST /v1/messages`: Anthropic, passed through or translated.
    Messages,
    /// `POST /v1/messages/count_tokens`: Anthropic, passed through or counted by the
    /// upstream's tokenizer (else estimated).
    CountTokens,
    /// `POST /v1/responses`: OpenAI Responses, passed through or translated.
    Responses,
    /// `POST /api/event_logging/batch`: agent telemetry, answered locally.
    EventLogging,
    /// `HEAD /`, `HEAD /api/hello`: agents' warm-up probe, answered locally.
    WarmUp,
    /// Anything else: answered locally.
    Unknown,
}

impl Route {
    /// The route of a request path (the query string is not part of it: Anthropic's SDKs
    /// add `?beta=true` to the beta flavour of the same endpoints).
    pub(crate) fn of(path: &str) -> Route {
        match path {
            MODELS_PATH => Route::Models,
            CHAT_COMPLETIONS_PATH => Route::ChatCompletions,
            MESSAGES_PATH => Route::Messages,
            COUNT_TOKENS_PATH => Route::CountTokens,
            RESPONSES_PATH => Route::Responses,
            EVENT_LOGGING_PATH => Route::EventLogging,
            "/" | WARM_UP_PATH => Route::WarmUp,
            _ => Route::Unknown,
        }
    }

    /// The API the route belongs to (the ledger's `api`, and the shape of its errors).
    pub(crate) fn api(self) -> Api {
        match self {
            Route::Models | Route::ChatCompletions | Route::Responses => Api::OpenAi,
            Route::Messages | Route::CountTokens => Api::Anthropic,
            Route::EventLogging | Route::WarmUp | Route::Unknown => Api::Local,
        }
    }

    /// The one method the route accepts; `None` for an unknown path.
    pub(crate) fn method(self) -> Option<Method> {
        match self {
            Route::Models => Some(Method::GET),
            Route::WarmUp => Some(Method::HEAD),
            Route::ChatCompletions | Route::Messages | Route::CountTokens | Route::Responses | Route::EventLogging => {
                Some(Method::POST)
            }
            Route::Unknown => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_served_paths_are_routes() {
        assert_eq!(Route::of("/v1/models"), Route::Models);
        assert_eq!(Route::of("/v1/chat/completions"), Route::ChatCompletions);
        assert_eq!(Route::of("/api/event_logging/batch"), Route::EventLogging);
        assert_eq!(Route::of("/v1/messages"), Route::Messages);
        assert_eq!(Route::of("/v1/messages/count_tokens"), Route::CountTokens);
        assert_eq!(Route::of("/v1/responses"), Route::Responses);
        assert_eq!(Route::Responses.api(), Api::OpenAi);
        assert_eq!(Route::of("/"), Route::WarmUp);
        assert_eq!(Route::of("/api/hello"), Route::WarmUp);
        assert_eq!(Route::Messages.api(), Api::Anthropic);
        assert_eq!(Route::CountTokens.api(), Api::Anthropic);
        for unknown in [
            "/models",
            "/chat/completions",
            "/v1/models/",
            "/v1/messages/",
            "/messages",
            "/v1/complete",
            "/v1/messages/batches",
            "/v1/responses/",
            "/responses",
            "/v1//models",
            "//",
            "/api/hello/",
        ] {
            assert_eq!(Route::of(unknown), Route::Unknown, "{unknown}");
        }
    }
}
