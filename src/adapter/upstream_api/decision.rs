//! The mode decisions: for each API Case speaks, whether the upstream serves it by
//! pass-through or the adapter translates it, and the words the trace, the report and the
//! ledger say about why.
//!
//! * OpenAI chat completions and `GET /v1/models`: always passed through (the upstream is an
//!   OpenAI-compatible server: that is what admission checked).
//! * Anthropic Messages and `count_tokens`: decided once, at start ([`decide_at_start`]):
//!   `--upstream-api anthropic` passes through, `openai` translates, `auto` (the default)
//!   passes through only when [`MESSAGES_PROBE`] found the Messages API. Pass-through keeps
//!   what translation must refuse (thinking, images, exact token counts) while pinning stays
//!   exactly the same.
//! * OpenAI Responses: decided once, by the first such request ([`ResponsesUpstream`]), so
//!   that an adapter whose Case never speaks the Responses API never asks (and the start-up
//!   probe stays the only request at start). `--upstream-api openai` means "chat completions
//!   only": translate, no probe; otherwise [`RESPONSES_PROBE`] decides.

use super::choice::UpstreamApi;
use super::probe::{Asked, Finding, MESSAGES_PROBE, RESPONSES_PROBE, probe};
use crate::output::AdapterMode;

/// The mode of the Anthropic routes for `choice`, given the probe's finding when one was made.
pub(crate) fn mode_for(choice: UpstreamApi, finding: Option<&Finding>) -> AdapterMode {
    match (choice, finding) {
        (UpstreamApi::Anthropic, _) => AdapterMode::PassThrough,
        (UpstreamApi::OpenAi, _) => AdapterMode::Translate,
        (UpstreamApi::Auto, Some(Finding::Speaks)) => AdapterMode::PassThrough,
        (UpstreamApi::Auto, _) => AdapterMode::Translate,
    }
}

/// What the trace and the report say about how the Anthropic routes' mode was chosen.
pub(crate) fn explain(choice: UpstreamApi, finding: Option<&Finding>) -> String {
    match (choice, finding) {
        (UpstreamApi::Auto, Some(finding)) => MESSAGES_PROBE.reason(finding),
        (choice, _) => format!("--upstream-api {}", choice.as_str()),
    }
}

/// The Anthropic routes' mode and why, probing the upstream first when `choice` is `Auto`.
pub(crate) async fn decide_at_start(choice: UpstreamApi, asked: Asked<'_>) -> (AdapterMode, String) {
    let finding = match choice {
        UpstreamApi::Auto => Some(probe(&MESSAGES_PROBE, asked).await),
        UpstreamApi::Anthropic | UpstreamApi::OpenAi => None,
    };
    (mode_for(choice, finding.as_ref()), explain(choice, finding.as_ref()))
}

/// How `POST /v1/responses` is served: decided once, by the first such request (see the
/// module docs); only a [`RESPONSES_PROBE`] that finds the API selects pass-through.
#[derive(Debug)]
pub(crate) struct ResponsesUpstream {
    choice: UpstreamApi,
    decided: tokio::sync::OnceCell<(AdapterMode, String)>,
}

impl ResponsesUpstream {
    pub(crate) fn new(choice: UpstreamApi) -> Self {
        ResponsesUpstream {
            choice,
            decided: tokio::sync::OnceCell::new(),
        }
    }

    /// The mode, and why (for the ledger line), asking the upstream the first time only.
    pub(crate) async fn mode(&self, asked: Asked<'_>) -> (AdapterMode, String) {
        self.mode_by(probe(&RESPONSES_PROBE, asked)).await
    }

    /// [`ResponsesUpstream::mode`] with the probe given (its future is awaited only when the
    /// decision is still open).
    async fn mode_by<F>(&self, probe: F) -> (AdapterMode, String)
    where
        F: std::future::Future<Output = Finding>,
    {
        if self.choice == UpstreamApi::OpenAi {
            return (AdapterMode::Translate, "--upstream-api openai".to_owned());
        }
        self.decided
            .get_or_init(|| async {
                let finding = probe.await;
                let mode = match finding {
                    Finding::Speaks => AdapterMode::PassThrough,
                    Finding::DoesNot(_) => AdapterMode::Translate,
                };
                (mode, RESPONSES_PROBE.reason(&finding))
            })
            .await
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_messages_answer_or_the_flag_selects_pass_through() {
        let speaks = Finding::Speaks;
        let absent = Finding::DoesNot("answered HTTP 404".to_owned());
        assert_eq!(mode_for(UpstreamApi::Auto, Some(&speaks)), AdapterMode::PassThrough);
        assert_eq!(mode_for(UpstreamApi::Auto, Some(&absent)), AdapterMode::Translate);
        assert_eq!(mode_for(UpstreamApi::Auto, None), AdapterMode::Translate);
        assert_eq!(mode_for(UpstreamApi::Anthropic, None), AdapterMode::PassThrough);
        assert_eq!(mode_for(UpstreamApi::OpenAi, Some(&speaks)), AdapterMode::Translate);
        assert_eq!(explain(UpstreamApi::OpenAi, None), "--upstream-api openai");
        assert_eq!(
            explain(UpstreamApi::Auto, Some(&absent)),
            "probe: POST /messages/count_tokens answered HTTP 404"
        );
        assert_eq!(
            explain(UpstreamApi::Auto, Some(&speaks)),
            "probe: POST /messages/count_tokens answered 200 with input_tokens"
        );
        assert_eq!(explain(UpstreamApi::Anthropic, None), "--upstream-api anthropic");
        assert_eq!(AdapterMode::PassThrough.as_str(), "pass_through");
        assert_eq!(
            serde_json::to_value(AdapterMode::PassThrough).expect("json"),
            serde_json::json!("pass_through")
        );
    }

    /// A probe that must not be asked.
    async fn never() -> Finding {
        panic!("the upstream was asked again")
    }

    #[tokio::test]
    async fn the_responses_mode_is_decided_once_and_the_flag_skips_the_probe() {
        let upstream = ResponsesUpstream::new(UpstreamApi::Auto);
        let first = upstream
            .mode_by(async { Finding::DoesNot("answered HTTP 404".to_owned()) })
            .await;
        assert_eq!(
            first,
            (
                AdapterMode::Translate,
                "probe: POST /responses answered HTTP 404".to_owned()
            )
        );
        let again = upstream.mode_by(never()).await;
        assert_eq!(again, first);
        let openai = ResponsesUpstream::new(UpstreamApi::OpenAi);
        let mode = openai.mode_by(never()).await;
        assert_eq!(mode, (AdapterMode::Translate, "--upstream-api openai".to_owned()));
    }
}
