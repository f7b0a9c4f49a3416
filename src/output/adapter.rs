//! What the adapter says about itself in the trace and the report: which API a request
//! spoke, how it served Case's Anthropic routes, and the totals it counted. Defined here, below the adapter, so the trace
//! and the report can name them without depending on the adapter; the adapter computes them
//! (`LedgerTotals::add` lives beside the ledger lines it reads).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::UpstreamCause;

/// Which API a request spoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Api {
    /// OpenAI `/v1/models` and `/v1/chat/completions`.
    #[serde(rename = "openai")]
    OpenAi,
    /// Anthropic `/v1/messages` and `/v1/messages/count_tokens`.
    #[serde(rename = "anthropic")]
    Anthropic,
    /// A path the adapter answers itself (unknown paths, telemetry); never forwarded.
    #[serde(rename = "local")]
    Local,
}

impl Api {
    /// The name as written in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Api::OpenAi => "openai",
            Api::Anthropic => "anthropic",
            Api::Local => "local",
        }
    }
}

/// How the adapter serves `/v1/messages` and `/v1/messages/count_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdapterMode {
    /// Translated to and from OpenAI chat completions.
    Translate,
    /// Forwarded as Anthropic requests, pinned the same way.
    PassThrough,
}

impl AdapterMode {
    /// The report's spelling: `translate` or `pass_through`.
    pub fn as_str(self) -> &'static str {
        match self {
            AdapterMode::Translate => "translate",
            AdapterMode::PassThrough => "pass_through",
        }
    }
}

/// What the ledger proves about a run, computed only from its lines (see `adapter::summarize`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerTotals {
    /// Lines in the ledger.
    pub requests: u64,
    /// Requests sent upstream (lines with a non-null `upstream`), whatever came back.
    pub forwarded: u64,
    /// Requests that carried the admitted model upstream and got a 2xx answer back in full
    /// (`outcome` `forwarded`, 2xx `status`, non-null `forwarded_model`). A model listing
    /// forwards no model and does not count.
    pub served_by_admitted_model: u64,
    /// Requests refused as fallback attempts (another model, smuggled routing).
    pub fallback_attempts: u64,
    /// Every `requested_model` seen, refused ones included.
    pub models_requested: BTreeSet<String>,
    /// Every `upstream_model` the upstream reported.
    pub upstream_models_reported: BTreeSet<String>,
    /// Every `upstream` host:port a request was sent to.
    pub upstream_hosts: BTreeSet<String>,
    /// Answers in which the upstream echoed one of the run's secrets
    /// (ledger outcome `secret_echoed`).
    #[serde(default)]
    pub secret_echoes: u64,
    /// Every distinct [`UpstreamCause`] the upstream's error answers gave.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub upstream_errors: BTreeSet<UpstreamCause>,
}
