//! The gate names and the external-name detection the gates rely on.

use crate::external_names::external_reference;
use crate::output::GateCode;

/// Regression (found by fuzzing `argv_rule`): decoding `%3a` ate the `a` of the plainly
/// written `anthropic`; the raw reading counts as much as every decoded one.
#[test]
fn a_name_written_plainly_is_found_even_where_decoding_would_eat_a_letter() {
    assert_eq!(external_reference("x%3anthropic"), Some("anthropic"));
    assert_eq!(external_reference("%2561nthropic"), Some("anthropic"));
}

#[test]
fn external_names_match_case_insensitively_anywhere() {
    for value in [
        "Anthropic",
        "anthropic-vertex",
        "claude-sonnet-4-6-20260101",
        "https://api.ANTHROPIC.com",
        "qwen3:cloud",
    ] {
        assert!(external_reference(value).is_some(), "{value}");
    }
    for value in [
        "smollm2-135m-instruct",
        "llama.cpp",
        "qwen3:8b",
        "local_case_compatible",
    ] {
        assert_eq!(external_reference(value), None, "{value}");
    }
}

/// Red-team finding 12 and the full-width low finding: an external name hidden by
/// percent-encoding, `\u` escapes, full-width letters or look-alikes is still found.
#[test]
fn finding_12_external_names_are_found_in_their_decoded_and_folded_form() {
    for value in [
        "http://127.0.0.1:8080/%61nthropic/v1",
        "http://127.0.0.1:8080/%2561nthropic/v1",
        "http://127.0.0.1:8080/%41NTHROPIC/v1",
        "\\u0063laude-3",
        "ｃｌａｕｄｅ",
        "сlaude",
        "clau\u{200B}de",
    ] {
        assert!(external_reference(value).is_some(), "{value}");
    }
    assert_eq!(external_reference("http://127.0.0.1:8080/%2Fv1"), None);
}

#[test]
fn codes_round_trip_and_are_unique() {
    for code in GateCode::ALL {
        assert_eq!(GateCode::from_code(code.as_str()), Some(code));
        assert_eq!(
            serde_json::to_value(code).ok(),
            Some(serde_json::Value::from(code.as_str()))
        );
    }
}
