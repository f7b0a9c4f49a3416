//! The sampling pin applied to a request on its way upstream: `--temperature` and `--seed`
//! replace whatever Case sent (Claude Code sends no `temperature`, so without a pin the
//! server's defaults decide every word), and the ledger line records both.
//!
//! Where each field goes: a chat completions body (Case's own on `/v1/chat/completions`, or
//! the translation of `/v1/messages`) gets `temperature` and `seed`, which llama-server,
//! llama-cpp-python, vLLM and Ollama all read there. A pass-through Messages body gets
//! `temperature`, which the Messages API has, and `seed`, which no local server's Messages
//! route reads (docs/decisions.md): it is sent all the same rather than dropped, so a server
//! that refuses it fails the run naming it ([`rejected_field`]), and the ledger shows it sent.
//! `count_tokens` generates nothing and is never pinned.

use axum::http::StatusCode;
use serde_json::{Map, Number, Value};

use super::ledger::RequestLog;
use crate::output::{PinnedField, SamplingPin, SamplingRecord, SamplingValues};

/// Sets the pinned fields on `body` and returns what Case had asked for and what is sent.
/// `None` when nothing is pinned (the body is left as it is).
pub(crate) fn apply(pin: &SamplingPin, body: &mut Map<String, Value>, log: &mut RequestLog) {
    if let Some(record) = pinned(pin, body) {
        log.set_sampling(pin, record);
    }
}

/// [`apply`] without the ledger: sets the pinned fields, returns the record.
fn pinned(pin: &SamplingPin, body: &mut Map<String, Value>) -> Option<SamplingRecord> {
    if pin.is_empty() {
        return None;
    }
    let requested = values(body);
    if let Some(temperature) = &pin.temperature {
        body.insert("temperature".to_owned(), Value::Number(temperature.clone()));
    }
    if let Some(seed) = pin.seed {
        body.insert("seed".to_owned(), Value::Number(Number::from(seed)));
    }
    Some(SamplingRecord {
        requested,
        sent: values(body),
    })
}

/// The numeric `temperature` and `seed` of a body (anything else there is not a value the
/// ledger can compare, and is overwritten by the pin anyway).
fn values(body: &Map<String, Value>) -> SamplingValues {
    let number = |key: &str| match body.get(key) {
        Some(Value::Number(number)) => Some(number.clone()),
        _ => None,
    };
    SamplingValues {
        temperature: number("temperature"),
        seed: number("seed"),
    }
}

/// The pinned field an upstream's 400/422 answer names, if any: a server that refuses the pin
/// must fail the run naming the field, never be answered by quietly dropping it.
pub(crate) fn rejected_field(pin: &SamplingPin, status: StatusCode, body: Option<&Value>) -> Option<PinnedField> {
    if pin.is_empty() || !matches!(status.as_u16(), 400 | 422) {
        return None;
    }
    let text = body.map(Value::to_string).unwrap_or_default().to_ascii_lowercase();
    [
        (PinnedField::Temperature, pin.temperature.is_some()),
        (PinnedField::Seed, pin.seed.is_some()),
    ]
    .into_iter()
    .find(|(field, pinned)| *pinned && text.contains(field.as_str()))
    .map(|(field, _)| field)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pin() -> SamplingPin {
        SamplingPin::new(Some(0.0), Some(42)).expect("pin")
    }

    #[test]
    fn the_pin_replaces_what_case_asked_for_and_both_are_recorded() {
        let mut body = json!({"model": "m", "temperature": 1.3})
            .as_object()
            .cloned()
            .expect("object");
        let record = pinned(&pin(), &mut body).expect("pinned");
        assert_eq!(body["temperature"], json!(0.0));
        assert_eq!(body["seed"], json!(42));
        assert_eq!(record.requested.temperature, Number::from_f64(1.3));
        assert_eq!(record.requested.seed, None);
        assert!(record.departures(&pin()).is_empty());
    }

    #[test]
    fn without_a_pin_nothing_changes_or_is_recorded() {
        let mut body = json!({"temperature": 1.3}).as_object().cloned().expect("object");
        assert_eq!(pinned(&SamplingPin::default(), &mut body), None);
        assert_eq!(body["temperature"], json!(1.3));
    }

    #[test]
    fn a_refusal_naming_a_pinned_field_is_found() {
        let refusal = json!({"error": {"message": "Unsupported parameter: 'seed'"}});
        assert_eq!(
            rejected_field(&pin(), StatusCode::BAD_REQUEST, Some(&refusal)),
            Some(PinnedField::Seed)
        );
        assert_eq!(
            rejected_field(&pin(), StatusCode::INTERNAL_SERVER_ERROR, Some(&refusal)),
            None
        );
        let only_temperature = SamplingPin::new(Some(0.0), None).expect("pin");
        assert_eq!(
            rejected_field(&only_temperature, StatusCode::BAD_REQUEST, Some(&refusal)),
            None
        );
    }
}
