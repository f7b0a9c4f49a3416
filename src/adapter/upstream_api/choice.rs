//! What the operator said the upstream speaks (`--upstream-api`): the one input of the mode
//! decisions besides the probes' findings.

use std::str::FromStr;

/// What the operator asked for (`--upstream-api`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpstreamApi {
    /// Probe the upstream at start and pass through when it speaks the Messages API.
    #[default]
    Auto,
    /// The upstream speaks the Anthropic Messages API: pass through, no probe.
    Anthropic,
    /// The upstream speaks only OpenAI chat completions: translate, no probe.
    OpenAi,
}

impl FromStr for UpstreamApi {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "auto" => Ok(UpstreamApi::Auto),
            "anthropic" => Ok(UpstreamApi::Anthropic),
            "openai" => Ok(UpstreamApi::OpenAi),
            other => Err(format!("{other:?} is not one of auto, anthropic, openai")),
        }
    }
}

impl UpstreamApi {
    /// The flag's spelling.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            UpstreamApi::Auto => "auto",
            UpstreamApi::Anthropic => "anthropic",
            UpstreamApi::OpenAi => "openai",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_is_spelt_three_ways() {
        for choice in [UpstreamApi::Auto, UpstreamApi::Anthropic, UpstreamApi::OpenAi] {
            assert_eq!(choice.as_str().parse::<UpstreamApi>(), Ok(choice));
        }
        assert!("Anthropic".parse::<UpstreamApi>().is_err());
    }
}
