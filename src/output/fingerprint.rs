//! The report's `upstream_fingerprint`: what the local upstream said about itself at the start
//! of a run, and whether the served model file matched the admission's `model_sha256`.
//! [`crate::fingerprint`] collects it; `verify` and `status` read it back by field, not by key.
//!
//! Fields are declared in alphabetical order: reports written before this type existed held
//! the same object as a JSON map (whose keys serialise sorted), and a report must read back
//! to the very bytes it was sealed from.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What the upstream said about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamFingerprint {
    /// Self-description endpoint (`/props`, `/api/version`, …) → the few identifying fields
    /// kept from its answer (whatever the server wrote there, hence untyped).
    pub endpoints: Map<String, Value>,
    /// The model file the server loaded, when it could be located.
    pub model_file: Option<ModelFile>,
    /// The admission's `model_sha256` against that file.
    pub model_sha256_check: Sha256Check,
    /// The upstream's `/models` entry for the admitted model, as it listed it.
    pub models_entry: Option<Value>,
    /// The server type recognised from the endpoints (`unknown` when none was).
    pub server: String,
}

/// The model file the upstream loaded, and how the harness found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// How the file was found (`/props`, the listener's command line, or both).
    pub found_by: String,
    /// Its path on this machine.
    pub path: String,
}

/// The `model_sha256_check` of a fingerprint, written `match`, `mismatch` or
/// `not_checked: <why>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Sha256Check {
    /// The served model file has the admission's digest.
    Match,
    /// It does not (or `/props` and the listener named different files): the route blocks.
    Mismatch,
    /// No comparison was possible; the text says why.
    NotChecked(String),
}

const NOT_CHECKED_PREFIX: &str = "not_checked: ";

impl Sha256Check {
    /// True only for [`Sha256Check::Match`].
    pub fn is_match(&self) -> bool {
        matches!(self, Sha256Check::Match)
    }
}

impl std::fmt::Display for Sha256Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sha256Check::Match => f.write_str("match"),
            Sha256Check::Mismatch => f.write_str("mismatch"),
            Sha256Check::NotChecked(why) => write!(f, "{NOT_CHECKED_PREFIX}{why}"),
        }
    }
}

impl From<Sha256Check> for String {
    fn from(check: Sha256Check) -> String {
        check.to_string()
    }
}

impl TryFrom<String> for Sha256Check {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        match text.as_str() {
            "match" => Ok(Sha256Check::Match),
            "mismatch" => Ok(Sha256Check::Mismatch),
            _ => match text.strip_prefix(NOT_CHECKED_PREFIX) {
                Some(why) => Ok(Sha256Check::NotChecked(why.to_owned())),
                None => Err(format!(
                    "model_sha256_check {text:?} is not \"match\", \"mismatch\" or \"not_checked: …\""
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_reads_back_as_written_and_refuses_other_words() {
        for text in ["match", "mismatch", "not_checked: the admission has no model_sha256"] {
            let check: Sha256Check = serde_json::from_value(Value::from(text)).expect("known spelling");
            assert_eq!(serde_json::to_value(&check).expect("serialise"), Value::from(text));
        }
        assert!(serde_json::from_value::<Sha256Check>(Value::from("matches")).is_err());
        assert!(serde_json::from_value::<Sha256Check>(Value::from(true)).is_err());
    }

    #[test]
    fn a_fingerprint_serialises_to_the_bytes_of_the_json_map_it_replaced() {
        // The shape `fingerprint::collect` wrote as a `json!` map before it was typed.
        let untyped = serde_json::json!({
            "server": "llama.cpp (llama-server)",
            "models_entry": { "id": "m", "object": "model" },
            "endpoints": { "/props": { "model_path": "/m.gguf", "build_info": "b1" } },
            "model_file": { "path": "/m.gguf", "found_by": "llama.cpp /props model_path" },
            "model_sha256_check": "match",
        });
        let typed: UpstreamFingerprint = serde_json::from_value(untyped.clone()).expect("typed");
        assert_eq!(
            serde_json::to_string_pretty(&typed).expect("typed text"),
            serde_json::to_string_pretty(&untyped).expect("untyped text")
        );
        let mut extra = untyped;
        extra["vendor"] = Value::from("x");
        assert!(serde_json::from_value::<UpstreamFingerprint>(extra).is_err());
    }
}
