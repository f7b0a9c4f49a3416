//! The per-route allow-lists of top-level request fields, one [`AllowList`] per API and mode,
//! side by side so that what each route lets go upstream can be read (and compared) in one
//! place. Names are compared exactly: local servers may act on fields (llama.cpp's `lora`, a
//! server's `user_config`) that load other weights or settings, and an allow-list is the only
//! way to know that none of them goes up. Which list a route uses is in [`Route`](super::Route).
//!
//! A field outside the list is a 400 naming it, never forwarded — unless it also looks like
//! routing, in which case the one pinning rule (`adapter/pinning.rs`) makes the request a
//! fallback attempt (counted).

/// The top-level fields one route accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AllowList {
    /// Forwarded as they are (pass-through), or translated (translation).
    pub(crate) forwarded: &'static [&'static str],
    /// Accepted and never sent.
    pub(crate) dropped: &'static [&'static str],
}

impl AllowList {
    /// Every field the route accepts: forwarded, then dropped.
    pub(crate) fn accepted(&self) -> Vec<&'static str> {
        self.forwarded.iter().chain(self.dropped).copied().collect()
    }

    /// True when `field` goes upstream (or is translated).
    pub(crate) fn forwards(&self, field: &str) -> bool {
        self.forwarded.contains(&field)
    }

    /// True when `field` is accepted and never sent.
    pub(crate) fn drops(&self, field: &str) -> bool {
        self.dropped.contains(&field)
    }
}

/// `POST /v1/chat/completions`, passed through: the OpenAI chat fields, and llama.cpp's
/// sampling knobs `top_k`, `min_p`, `repeat_penalty`, `typical_p`.
pub(crate) const CHAT_COMPLETIONS: AllowList = AllowList {
    forwarded: &[
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "n",
        "stop",
        "stream",
        "stream_options",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "user",
        // llama.cpp sampling knobs.
        "top_k",
        "min_p",
        "repeat_penalty",
        "typical_p",
    ],
    dropped: &[],
};

/// `POST /v1/messages` and `count_tokens` passed through to an upstream that speaks the
/// Messages API. Dropped: `metadata` carries a user id, the rest are hints about where, how
/// fast or how cheaply Anthropic would answer (as in translation).
pub(crate) const MESSAGES_PASS_THROUGH: AllowList = AllowList {
    forwarded: &[
        "model",
        "messages",
        "max_tokens",
        "system",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "stream",
        "tools",
        "tool_choice",
        "thinking",
        "context_management",
    ],
    dropped: &[
        "metadata",
        "service_tier",
        "cache_control",
        "speed",
        "inference_geo",
        "diagnostics",
        "output_config",
    ],
};

/// `POST /v1/messages` and `count_tokens` translated to chat completions (the rules are in
/// `adapter/anthropic/request.rs`). Dropped as in pass-through, and `top_k` (checked to be an
/// integer, then dropped: the OpenAI chat API has no `top_k`).
pub(crate) const MESSAGES_TRANSLATION: AllowList = AllowList {
    forwarded: &[
        "model",
        "messages",
        "max_tokens",
        "system",
        "temperature",
        "top_p",
        "stop_sequences",
        "stream",
        "tools",
        "tool_choice",
        "thinking",
        "context_management",
    ],
    dropped: &[
        "metadata",
        "service_tier",
        "top_k",
        "cache_control",
        "speed",
        "inference_geo",
        "diagnostics",
        "output_config",
    ],
};

/// `POST /v1/responses`, in both modes. Dropped: ids and hints for OpenAI's own service
/// (caching, tiers, account metadata) that a local server has no use for; Codex sends
/// `client_metadata` and `prompt_cache_key` on every request.
pub(crate) const RESPONSES: AllowList = AllowList {
    forwarded: &[
        "model",
        "input",
        "instructions",
        "stream",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "temperature",
        "top_p",
        "max_output_tokens",
        "text",
        "reasoning",
        "include",
        "store",
        // llama.cpp sampling knobs, as on chat completions.
        "seed",
        "top_k",
        "min_p",
    ],
    dropped: &[
        "client_metadata",
        "prompt_cache_key",
        "prompt_cache_retention",
        "metadata",
        "user",
        "safety_identifier",
        "service_tier",
        "truncation",
        "stream_options",
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [AllowList; 4] = [CHAT_COMPLETIONS, MESSAGES_PASS_THROUGH, MESSAGES_TRANSLATION, RESPONSES];

    #[test]
    fn forwarded_and_dropped_fields_do_not_overlap_and_carry_no_routing() {
        for list in ALL {
            for field in list.dropped {
                assert!(!list.forwards(field), "{field}");
            }
            for routing in [
                "fallbacks",
                "api_base",
                "base_url",
                "api_key",
                "models",
                "route",
                "provider",
                "previous_response_id",
                "conversation",
                "background",
                "prompt",
            ] {
                assert!(!list.accepted().contains(&routing), "{routing}");
            }
            assert!(list.forwards("model"));
        }
        assert!(MESSAGES_PASS_THROUGH.forwards("thinking") && MESSAGES_PASS_THROUGH.forwards("tools"));
        assert!(MESSAGES_PASS_THROUGH.forwards("top_k") && MESSAGES_TRANSLATION.drops("top_k"));
    }

    #[test]
    fn the_responses_route_accepts_what_codex_sends() {
        for field in [
            "client_metadata",
            "include",
            "input",
            "instructions",
            "model",
            "parallel_tool_calls",
            "prompt_cache_key",
            "reasoning",
            "store",
            "stream",
            "tool_choice",
            "tools",
        ] {
            assert!(RESPONSES.accepted().contains(&field), "{field}");
        }
        assert!(!RESPONSES.forwards("client_metadata") && RESPONSES.drops("prompt_cache_key"));
    }
}
