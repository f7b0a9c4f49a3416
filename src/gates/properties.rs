//! Property tests of external-name detection: `claude` and `anthropic` are found in any ASCII
//! case, behind or before any separator, prefix or suffix, wherever they sit in a value.

use proptest::prelude::*;

use crate::external_names::external_reference;

/// `name` with each letter's case chosen by `mask`.
fn mixed_case(name: &str, mask: u64) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask >> (i % 64) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

fn external_name() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("claude"), Just("anthropic")]
}

/// Text that may stand around a name in a model id, URL, path or provider string.
fn surrounding() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z0-9]{0,8}",
        "[-_./:@ =]{1,3}[a-z0-9]{0,8}",
        "[a-z0-9]{0,8}[-_./:@ =]{1,3}",
        Just("https://api.".to_owned()),
        Just(".com/v1".to_owned()),
        Just("-sonnet-4-6-20260101".to_owned()),
        Just("bedrock/".to_owned()),
        Just("@latest".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn an_external_name_is_found_in_any_case_and_surroundings(
        name in external_name(), mask in any::<u64>(), before in surrounding(), after in surrounding(),
    ) {
        let value = format!("{before}{}{after}", mixed_case(name, mask));
        prop_assert_eq!(external_reference(&value), Some(name), "{:?}", value);
    }

    #[test]
    fn an_ollama_cloud_suffix_is_found_in_any_case(model in "[a-z0-9.]{1,12}", tag in "[a-z0-9]{0,6}", mask in any::<u64>()) {
        let with_tag = if tag.is_empty() { String::new() } else { format!("{tag}-") };
        let value = format!("{model}:{with_tag}{}", mixed_case("cloud", mask));
        prop_assume!(!value.to_ascii_lowercase().contains("claude"));
        prop_assert!(external_reference(&value).is_some(), "{:?}", value);
    }

    /// Values made of letters that cannot spell either name are never flagged.
    #[test]
    fn local_names_are_not_flagged(value in "[b-z0-9._/-]{0,24}") {
        prop_assume!(!value.contains("cloud") && !value.ends_with("-cloud"));
        prop_assert_eq!(external_reference(&value), None, "{:?}", value);
    }
}
