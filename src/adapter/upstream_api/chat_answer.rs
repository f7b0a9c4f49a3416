//! A non-streamed OpenAI chat completion as both translations read it: the Anthropic
//! messages route and the Responses route each answer Case from its first choice.

use serde_json::Value;

/// The first choice of a chat completion (whole, for fields only one translation reads), its
/// `message` object and its `finish_reason`.
pub(crate) struct FirstChoice<'a> {
    pub(crate) choice: &'a Value,
    pub(crate) message: &'a Value,
    pub(crate) finish_reason: &'a str,
}

/// The first choice of `completion`, or the words for what it lacks. An answer without a
/// `finish_reason` is incomplete, not an answer (as for a stream). The caller has already
/// turned a non-null `error` into its own error.
pub(crate) fn first_choice(completion: &Value) -> Result<FirstChoice<'_>, &'static str> {
    let choice = completion
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|choices| choices.first())
        .ok_or("the upstream's answer has no choices")?;
    let message = choice
        .get("message")
        .filter(|message| message.is_object())
        .ok_or("the upstream's choice has no message")?;
    let finish_reason = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .ok_or("the upstream's answer has no finish_reason; the answer is incomplete")?;
    Ok(FirstChoice {
        choice,
        message,
        finish_reason,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_missing_part_is_named() {
        let cases = [
            (json!({}), "the upstream's answer has no choices"),
            (json!({"choices": []}), "the upstream's answer has no choices"),
            (
                json!({"choices": [{"finish_reason": "stop"}]}),
                "the upstream's choice has no message",
            ),
            (
                json!({"choices": [{"message": {"content": "Paris"}}]}),
                "the upstream's answer has no finish_reason; the answer is incomplete",
            ),
        ];
        for (completion, words) in cases {
            assert_eq!(first_choice(&completion).err(), Some(words), "{completion}");
        }
        let completion = json!({"choices": [{"message": {"content": "Paris"}, "finish_reason": "stop"}]});
        let choice = first_choice(&completion).expect("an answer");
        assert_eq!(
            (choice.message["content"].as_str(), choice.finish_reason),
            (Some("Paris"), "stop")
        );
    }
}
